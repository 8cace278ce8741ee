//! The Gerrit change-query language's syntax, as `antlr3/.../index/query/Query.g` defines it,
//! turned into a tree by a hand-written parser that follows the grammar rule by rule (operators
//! are applied in `gerrit_query_ops.rs`).
//!
//! Kept from the grammar and `QueryBuilder`:
//! - tokens: `AND`/`and`, `OR`/`or`, `NOT`/`not`, `:`, `-`, `(`, `)`, `FIELD_NAME` (lower-case
//!   letters and `_`, groups joined by `-`), `SINGLE_WORD` (any run of characters outside the
//!   grammar's `NON_WORD` set, not starting with `-`), `EXACT_PHRASE` (`"..."` or `{...}` with
//!   `\` escapes); spaces, tabs, CR and LF separate tokens;
//! - precedence: `OR` binds loosest, then `AND` or plain juxtaposition, then `-`/`NOT`;
//!   parentheses group; a field value may itself contain colons (`project:a:b` is `a:b`);
//! - the `query` rule has no `EOF` anchor, so whatever follows a complete expression that cannot
//!   continue it (a stray `)`, a `:`) is ignored, as it is by Gerrit;
//! - the whole input is tokenized before parsing, so a lexer error anywhere wins;
//! - errors are `QueryParseException` texts: `line L:C <ANTLR 3 message>` for syntax errors (the
//!   messages `BaseRecognizer`/`Lexer` build), and `query is empty` for an empty string.

/// A parsed query: the tree `QueryBuilder.toPredicate` walks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// `name:value` (the name is a `FIELD_NAME`, so lower case).
    Field(String, String),
    /// A value without an operator (`DEFAULT_FIELD`).
    Default(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    And,
    Or,
    Not,
    Colon,
    Minus,
    LParen,
    RParen,
    FieldName,
    Word,
    Phrase,
    Eof,
}

#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    /// The token's text (a phrase without its quotes, escapes applied).
    text: String,
    line: usize,
    col: usize,
}

/// The grammar's `NON_WORD` fragment: characters that end a `SINGLE_WORD`.
fn non_word(c: char) -> bool {
    c <= ' '
        || matches!(
            c,
            '!' | '"' | '$' | '%' | '\'' | '(' | ')' | ':' | ';' | '?' | '[' | ']' | '{' | '}'
        )
}

/// `FIELD_NAME: LOWERCASE_AND_UNDERSCORE ('-' LOWERCASE_AND_UNDERSCORE)*`.
fn is_field_name(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_lowercase() || c == '_')
        })
}

/// `Lexer.getCharErrorDisplay`.
fn char_display(c: Option<char>) -> String {
    match c {
        None => "'<EOF>'".into(),
        Some('\n') => "'\\n'".into(),
        Some('\t') => "'\\t'".into(),
        Some('\r') => "'\\r'".into(),
        Some(c) => format!("'{c}'"),
    }
}

/// `BaseRecognizer.getTokenErrorDisplay`.
fn token_display(t: &Token) -> String {
    if t.kind == Kind::Eof {
        return "'<EOF>'".into();
    }
    let s = t
        .text
        .replace('\n', "\\n")
        .replace('\r', "\\r")
        .replace('\t', "\\t");
    format!("'{s}'")
}

struct Lexer<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    col: usize,
}

impl Lexer<'_> {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.col = 0;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn error(&self, msg: String) -> String {
        format!("line {}:{} {msg}", self.line, self.col)
    }

    /// `EXACT_PHRASE` after its opening `open`, up to `close`; `\t`, `\n`, `\r` and `\x` escapes.
    fn phrase(&mut self, close: char, forbidden: Option<char>) -> Result<String, String> {
        let mut buf = String::new();
        loop {
            match self.chars.peek().copied() {
                Some(c) if c == close => {
                    self.bump();
                    return Ok(buf);
                }
                Some('\\') => {
                    self.bump();
                    match self.bump() {
                        Some('t') => buf.push('\t'),
                        Some('n') => buf.push('\n'),
                        Some('r') => buf.push('\r'),
                        Some(c) => buf.push(c),
                        None => return Err(self.error("mismatched character '<EOF>'".into())),
                    }
                }
                Some(c) if Some(c) != forbidden => {
                    self.bump();
                    buf.push(c);
                }
                other => {
                    return Err(self.error(format!(
                        "mismatched character {} expecting {}",
                        char_display(other),
                        char_display(Some(close))
                    )));
                }
            }
        }
    }

    fn tokens(mut self) -> Result<Vec<Token>, String> {
        let mut out = Vec::new();
        loop {
            let (line, col) = (self.line, self.col);
            let Some(c) = self.chars.peek().copied() else {
                out.push(Token {
                    kind: Kind::Eof,
                    text: String::new(),
                    line,
                    col,
                });
                return Ok(out);
            };
            let simple = match c {
                ' ' | '\r' | '\t' | '\n' => {
                    self.bump();
                    continue;
                }
                ':' => Some(Kind::Colon),
                '-' => Some(Kind::Minus),
                '(' => Some(Kind::LParen),
                ')' => Some(Kind::RParen),
                _ => None,
            };
            let (kind, text) = if let Some(kind) = simple {
                self.bump();
                (kind, c.to_string())
            } else if c == '"' || c == '{' {
                self.bump();
                let text = if c == '"' {
                    self.phrase('"', None)?
                } else {
                    self.phrase('}', Some('{'))?
                };
                (Kind::Phrase, text)
            } else if non_word(c) {
                return Err(self.error(format!(
                    "no viable alternative at character {}",
                    char_display(Some(c))
                )));
            } else {
                // The lexer's DFA takes the longest match: `android` is a word, not `and`.
                let mut word = String::new();
                while let Some(&c) = self.chars.peek() {
                    if non_word(c) {
                        break;
                    }
                    word.push(c);
                    self.bump();
                }
                let kind = match word.as_str() {
                    "AND" | "and" => Kind::And,
                    "OR" | "or" => Kind::Or,
                    "NOT" | "not" => Kind::Not,
                    w if is_field_name(w) => Kind::FieldName,
                    _ => Kind::Word,
                };
                (kind, word)
            };
            out.push(Token {
                kind,
                text,
                line,
                col,
            });
        }
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with EOF, and the parser never moves past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek2(&self) -> &Token {
        &self.tokens[(self.pos + 1).min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if t.kind != Kind::Eof {
            self.pos += 1;
        }
        t
    }

    fn error_at(t: &Token, msg: String) -> String {
        format!("line {}:{} {msg}", t.line, t.col)
    }

    fn no_viable(&self) -> String {
        let t = self.peek();
        Parser::error_at(
            t,
            format!("no viable alternative at input {}", token_display(t)),
        )
    }

    fn starts_condition(&self) -> bool {
        matches!(
            self.peek().kind,
            Kind::Minus | Kind::Not | Kind::LParen | Kind::FieldName | Kind::Word | Kind::Phrase
        )
    }

    fn condition_or(&mut self) -> Result<Node, String> {
        let mut items = vec![self.condition_and()?];
        while self.peek().kind == Kind::Or {
            self.advance();
            items.push(self.condition_and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Or(items)
        })
    }

    fn condition_and(&mut self) -> Result<Node, String> {
        let mut items = vec![self.condition_not()?];
        loop {
            if self.peek().kind == Kind::And {
                self.advance();
                items.push(self.condition_not()?);
            } else if self.starts_condition() {
                items.push(self.condition_not()?);
            } else {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::And(items)
        })
    }

    fn condition_not(&mut self) -> Result<Node, String> {
        if matches!(self.peek().kind, Kind::Minus | Kind::Not) {
            self.advance();
            return Ok(Node::Not(Box::new(self.condition_base()?)));
        }
        self.condition_base()
    }

    fn condition_base(&mut self) -> Result<Node, String> {
        match self.peek().kind {
            Kind::LParen => {
                self.advance();
                let inner = self.condition_or()?;
                self.expect_rparen()?;
                Ok(inner)
            }
            Kind::FieldName if self.peek2().kind == Kind::Colon => {
                let name = self.advance().text;
                self.advance();
                Ok(Node::Field(name, self.field_value()?))
            }
            _ => Ok(Node::Default(self.field_value()?)),
        }
    }

    /// `match(')')` and `recoverFromMismatchedToken`: an unwanted token just before the `)` is
    /// "extraneous"; otherwise the token is "mismatched" (no token that can end a complete
    /// expression inside parentheses is in the follow set, so "missing" never applies).
    fn expect_rparen(&mut self) -> Result<(), String> {
        if self.peek().kind == Kind::RParen {
            self.advance();
            return Ok(());
        }
        let t = self.peek();
        let what = if self.peek2().kind == Kind::RParen && t.kind != Kind::Eof {
            "extraneous input"
        } else {
            "mismatched input"
        };
        Err(Parser::error_at(
            t,
            format!("{what} {} expecting ')'", token_display(t)),
        ))
    }

    fn field_value(&mut self) -> Result<String, String> {
        match self.peek().kind {
            Kind::FieldName | Kind::Word => {
                let mut text = self.advance().text;
                if self.peek().kind == Kind::Colon {
                    self.advance();
                    text.push(':');
                    text.push_str(&self.field_value()?);
                }
                Ok(text)
            }
            Kind::Phrase => Ok(self.advance().text),
            _ => Err(self.no_viable()),
        }
    }
}

/// `QueryBuilder.parse`: the tree of `query`, or Gerrit's error text.
pub(crate) fn parse(query: &str) -> Result<Node, String> {
    if query.is_empty() {
        return Err("query is empty".into());
    }
    let lexer = Lexer {
        chars: query.chars().peekable(),
        line: 1,
        col: 0,
    };
    let mut parser = Parser {
        tokens: lexer.tokens()?,
        pos: 0,
    };
    parser.condition_or()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(n: &str, v: &str) -> Node {
        Node::Field(n.into(), v.into())
    }

    #[test]
    fn precedence_and_grouping() {
        let q = parse("status:open (project:a OR project:b) after:\"2024-01-02 03:04:05\"");
        assert_eq!(
            q,
            Ok(Node::And(vec![
                field("status", "open"),
                Node::Or(vec![field("project", "a"), field("project", "b")]),
                field("after", "2024-01-02 03:04:05"),
            ]))
        );
        assert_eq!(
            parse("a:1 OR b:2 c:3"),
            Ok(Node::Or(vec![
                field("a", "1"),
                Node::And(vec![field("b", "2"), field("c", "3")]),
            ]))
        );
        assert_eq!(
            parse("-is:wip AND NOT project:x"),
            Ok(Node::And(vec![
                Node::Not(Box::new(field("is", "wip"))),
                Node::Not(Box::new(field("project", "x"))),
            ]))
        );
    }

    #[test]
    fn values_and_words() {
        assert_eq!(
            parse("project:platform/bionic"),
            Ok(field("project", "platform/bionic"))
        );
        assert_eq!(parse("project:a:b"), Ok(field("project", "a:b")));
        assert_eq!(parse("{x y}"), Ok(Node::Default("x y".into())));
        assert_eq!(
            parse("Status:open"),
            Ok(Node::Default("Status:open".into()))
        );
        assert_eq!(parse("android"), Ok(Node::Default("android".into())));
        assert_eq!(parse("\"a\\\"b\""), Ok(Node::Default("a\"b".into())));
    }

    #[test]
    fn trailing_garbage_is_ignored_as_by_gerrit() {
        assert_eq!(
            parse("status:open ) project:x"),
            Ok(field("status", "open"))
        );
    }

    #[test]
    fn errors_are_antlr_messages() {
        assert_eq!(parse(""), Err("query is empty".into()));
        assert_eq!(
            parse("(status:open"),
            Err("line 1:12 mismatched input '<EOF>' expecting ')'".into())
        );
        assert_eq!(
            parse("status:"),
            Err("line 1:7 no viable alternative at input '<EOF>'".into())
        );
        assert_eq!(
            parse("OR x"),
            Err("line 1:0 no viable alternative at input 'OR'".into())
        );
        assert_eq!(
            parse("after:\"2024"),
            Err("line 1:11 mismatched character '<EOF>' expecting '\"'".into())
        );
        assert_eq!(
            parse("status:open !"),
            Err("line 1:12 no viable alternative at character '!'".into())
        );
        assert_eq!(
            parse("(\"x\" : )"),
            Err("line 1:5 extraneous input ':' expecting ')'".into())
        );
    }
}
