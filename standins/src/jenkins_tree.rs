//! Jenkins' `tree=` query parameter on `api/json`: Stapler's `NamedPathPruner` grammar and the
//! pruning it applies to the exported object graph.
//!
//! Kept from Stapler (`org.kohsuke.stapler.export.NamedPathPruner`, `Range`, `Property`): a spec
//! is `name(,name)*` where each name may be followed by `[subspec]` and then by a range
//! `{m,n}` / `{n,}` / `{,n}` / `{n}` (half-open, applied to arrays); a name is any text up to the
//! next of `,[]{}`; `*` stands for every property not named; a repeated name replaces the earlier
//! one. A property named without a subspec is written whole when it is a value and as an object
//! with only `_class` when it is an object; `_class` is always kept. The range of a property
//! applies to its array (and again to arrays nested directly in it). Parse errors are
//! `IllegalArgumentException`s whose text (`expected RBRACE at 5`) Stapler wraps as "Malformed
//! tree expression: ...", which Jenkins answers with its 500 error page.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Java's `Integer.MAX_VALUE`, `Range.ALL`'s upper bound.
const JAVA_INT_MAX: usize = 2_147_483_647;

/// Deeper specs would overflow Java's stack (a `StackOverflowError`, also a 500); here they would
/// overflow ours, so they are refused before that.
const MAX_NESTING: usize = 256;

/// A parsed tree spec: the properties to keep at this level and the range of this property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tree {
    children: BTreeMap<String, Tree>,
    /// Half-open `[min, max)` of array elements to keep.
    min: usize,
    max: usize,
}

impl Tree {
    fn new() -> Tree {
        Tree {
            children: BTreeMap::new(),
            min: 0,
            max: JAVA_INT_MAX,
        }
    }

    fn child(&self, name: &str) -> Option<&Tree> {
        self.children.get(name).or_else(|| self.children.get("*"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    Comma,
    LBrace,
    RBrace,
    QLBrace,
    QRBrace,
    Eof,
    Name(&'a str),
}

impl Token<'_> {
    /// The Java enum constant's name, as it appears in Stapler's messages.
    fn java_name(self) -> &'static str {
        match self {
            Token::Comma => "COMMA",
            Token::LBrace => "LBRACE",
            Token::RBrace => "RBRACE",
            Token::QLBrace => "QLBRACE",
            Token::QRBrace => "QRBRACE",
            Token::Eof => "EOF",
            Token::Name(_) => "NAME",
        }
    }
}

struct Reader<'a> {
    text: &'a str,
    /// Byte offsets; messages report positions in UTF-16 units, as Java's `String` indexes.
    pos: usize,
    next: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    fn peek(&mut self) -> Token<'a> {
        let rest = &self.text[self.pos..];
        let Some(c) = rest.chars().next() else {
            return Token::Eof;
        };
        let token = match c {
            ',' => Token::Comma,
            '[' => Token::LBrace,
            ']' => Token::RBrace,
            '{' => Token::QLBrace,
            '}' => Token::QRBrace,
            _ => {
                let len = rest.find([',', '[', ']', '{', '}']).unwrap_or(rest.len());
                self.next = self.pos + len;
                return Token::Name(&rest[..len]);
            }
        };
        self.next = self.pos + 1;
        token
    }

    fn advance(&mut self) {
        self.pos = self.next;
    }

    fn accept(&mut self, token: Token<'_>) -> bool {
        if self.peek() == token {
            self.advance();
            true
        } else {
            false
        }
    }

    fn error(&self, what: &str) -> String {
        let at = self.text[..self.pos].encode_utf16().count();
        format!("java.lang.IllegalArgumentException: expected {what} at {at}")
    }

    fn expect(&mut self, token: Token<'_>) -> Result<(), String> {
        if self.accept(token) {
            Ok(())
        } else {
            Err(self.error(token.java_name()))
        }
    }

    fn expect_number(&mut self) -> Result<usize, String> {
        let Token::Name(text) = self.peek() else {
            return Err(self.error("number"));
        };
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.error("number"));
        }
        self.advance();
        // `Integer.parseInt`: digits beyond an int are a NumberFormatException (also an
        // IllegalArgumentException, so also "malformed").
        match text.parse::<usize>() {
            Ok(n) if n <= JAVA_INT_MAX => Ok(n),
            _ => Err(format!(
                "java.lang.NumberFormatException: For input string: \"{text}\""
            )),
        }
    }
}

/// Parses a `tree=` spec. The error is the text of the Java exception Stapler would throw.
pub(crate) fn parse(spec: &str) -> Result<Tree, String> {
    let mut reader = Reader {
        text: spec,
        pos: 0,
        next: 0,
        depth: 0,
    };
    let mut tree = Tree::new();
    list(&mut reader, &mut tree)?;
    reader.expect(Token::Eof)?;
    Ok(tree)
}

fn list(r: &mut Reader<'_>, tree: &mut Tree) -> Result<(), String> {
    loop {
        node(r, tree)?;
        if !r.accept(Token::Comma) {
            return Ok(());
        }
    }
}

fn node(r: &mut Reader<'_>, tree: &mut Tree) -> Result<(), String> {
    let Token::Name(name) = r.peek() else {
        return Err(r.error("name"));
    };
    r.advance();
    let mut subtree = Tree::new();
    if r.accept(Token::LBrace) {
        r.depth += 1;
        if r.depth > MAX_NESTING {
            return Err("java.lang.StackOverflowError".to_owned());
        }
        list(r, &mut subtree)?;
        r.expect(Token::RBrace)?;
        r.depth -= 1;
    }
    if r.accept(Token::QLBrace) {
        (subtree.min, subtree.max) = range(r)?;
        r.expect(Token::QRBrace)?;
    }
    tree.children.insert(name.to_owned(), subtree);
    Ok(())
}

/// `{,M}` = [0, M), `{N}` = [N, N+1), `{N,}` = [N, ∞), `{N,M}` = [N, M).
fn range(r: &mut Reader<'_>) -> Result<(usize, usize), String> {
    if r.accept(Token::Comma) {
        return Ok((0, r.expect_number()?));
    }
    let min = r.expect_number()?;
    if r.peek() == Token::QRBrace {
        return Ok((min, min.saturating_add(1)));
    }
    r.expect(Token::Comma)?;
    if r.peek() == Token::QRBrace {
        Ok((min, JAVA_INT_MAX))
    } else {
        Ok((min, r.expect_number()?))
    }
}

/// The part of `value` that `tree` selects (the top-level object's properties are `tree`'s
/// children, as for any nested object).
pub(crate) fn prune(value: &Value, tree: &Tree) -> Value {
    match value {
        Value::Object(object) => {
            let mut kept = Map::new();
            if let Some(class) = object.get("_class") {
                kept.insert("_class".to_owned(), class.clone());
            }
            for (name, v) in object {
                if name == "_class" {
                    continue;
                }
                if let Some(subtree) = tree.child(name) {
                    kept.insert(name.clone(), prune(v, subtree));
                }
            }
            Value::Object(kept)
        }
        Value::Array(items) => {
            let end = items.len().min(tree.max);
            let start = tree.min.min(end);
            Value::Array(items[start..end].iter().map(|v| prune(v, tree)).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The parsed shape as Stapler's `Tree.toString()` prints it (`{a={}, b={c={}}}`).
    fn shape(tree: &Tree) -> String {
        let inner: Vec<String> = tree
            .children
            .iter()
            .map(|(k, v)| format!("{k}={}", shape(v)))
            .collect();
        format!("{{{}}}", inner.join(", "))
    }

    fn parsed(spec: &str) -> String {
        match parse(spec) {
            Ok(t) => shape(&t),
            Err(e) => panic!("{spec}: {e}"),
        }
    }

    #[test]
    fn parses_what_stapler_parses() {
        assert_eq!(parsed("a,b[c]"), "{a={}, b={c={}}}");
        assert_eq!(parsed("a,b[c,d]"), "{a={}, b={c={}, d={}}}");
        assert_eq!(parsed("a,b[c,d],e"), "{a={}, b={c={}, d={}}, e={}}");
        assert_eq!(parsed("a,b[c,d]{,10},e"), "{a={}, b={c={}, d={}}, e={}}");
        assert_eq!(parsed("a[b[c[d]]]"), "{a={b={c={d={}}}}}");
        assert_eq!(parsed("a[x],a"), "{a={}}", "a repeated name replaces");
        assert_eq!(parsed("na me"), "{na me={}}", "names are not trimmed");
    }

    #[test]
    fn ranges_are_half_open() {
        let range_of = |spec: &str| {
            let t = parse(spec).unwrap();
            let a = &t.children["a"];
            (a.min, a.max)
        };
        assert_eq!(range_of("a"), (0, JAVA_INT_MAX));
        assert_eq!(range_of("a{,3}"), (0, 3));
        assert_eq!(range_of("a[b]{3,6}"), (3, 6));
        assert_eq!(range_of("a{38}"), (38, 39));
        assert_eq!(range_of("a{97,}"), (97, JAVA_INT_MAX));
    }

    #[test]
    fn rejects_what_stapler_rejects() {
        for (spec, message) in [
            ("", "expected name at 0"),
            ("a,", "expected name at 2"),
            (",b", "expected name at 0"),
            ("a[", "expected name at 2"),
            ("a[b,c", "expected RBRACE at 5"),
            ("a[]", "expected name at 2"),
            ("a[b,,]", "expected name at 4"),
            ("a]", "expected EOF at 1"),
            ("a{}", "expected number at 2"),
            ("a{b}", "expected number at 2"),
            ("a{1,2", "expected QRBRACE at 5"),
            ("a{1;2}", "expected number at 2"),
            ("a{-1}", "expected number at 2"),
        ] {
            assert_eq!(
                parse(spec),
                Err(format!("java.lang.IllegalArgumentException: {message}")),
                "{spec}"
            );
        }
        assert_eq!(
            parse("a{99999999999}"),
            Err("java.lang.NumberFormatException: For input string: \"99999999999\"".into())
        );
        let deep = format!("{}x{}", "a[".repeat(300), "]".repeat(300));
        assert!(parse(&deep).is_err(), "nesting is bounded");
        let ok = format!("{}x{}", "a[".repeat(100), "]".repeat(100));
        assert!(parse(&ok).is_ok());
    }

    fn pruned(spec: &str, value: &Value) -> Value {
        prune(value, &parse(spec).unwrap())
    }

    #[test]
    fn prunes_like_stapler() {
        let job = json!({
            "_class": "hudson.model.FreeStyleProject",
            "name": "p",
            "color": "blue",
            "lastBuild": {"_class": "hudson.model.FreeStyleBuild", "number": 3, "url": "u3"},
            "builds": [
                {"_class": "B", "number": 3, "result": null, "actions": [
                    {"_class": "hudson.model.ParametersAction",
                     "parameters": [{"_class": "S", "name": "REF", "value": "r3"}]},
                    {"_class": "hudson.model.CauseAction", "causes": []}]},
                {"_class": "B", "number": 2, "result": "SUCCESS", "actions": []},
                {"_class": "B", "number": 1, "result": "FAILURE", "actions": []},
            ],
        });
        assert_eq!(
            pruned("name", &job),
            json!({"_class": "hudson.model.FreeStyleProject", "name": "p"})
        );
        assert_eq!(
            pruned("lastBuild,nope", &job),
            json!({"_class": "hudson.model.FreeStyleProject",
                   "lastBuild": {"_class": "hudson.model.FreeStyleBuild"}}),
            "an object named without a subspec keeps only _class; unknown names are ignored"
        );
        assert_eq!(
            pruned(
                "builds[number,result,actions[parameters[name,value]]]{,2}",
                &job
            ),
            json!({"_class": "hudson.model.FreeStyleProject", "builds": [
                {"_class": "B", "number": 3, "result": null, "actions": [
                    {"_class": "hudson.model.ParametersAction",
                     "parameters": [{"_class": "S", "name": "REF", "value": "r3"}]},
                    {"_class": "hudson.model.CauseAction"}]},
                {"_class": "B", "number": 2, "result": "SUCCESS", "actions": []},
            ]})
        );
        assert_eq!(
            pruned("builds[number]{1}", &job)["builds"],
            json!([{"_class": "B", "number": 2}])
        );
        assert_eq!(
            pruned("builds[number]{2,}", &job)["builds"],
            json!([{"_class": "B", "number": 1}])
        );
        assert_eq!(pruned("builds[number]{5,}", &job)["builds"], json!([]));
        assert_eq!(pruned("builds[number]{2,1}", &job)["builds"], json!([]));
        let star = pruned("*", &job);
        assert_eq!(star["name"], "p");
        assert_eq!(
            star["lastBuild"],
            json!({"_class": "hudson.model.FreeStyleBuild"})
        );
        assert_eq!(
            pruned("lastBuild[*]", &job)["lastBuild"],
            job["lastBuild"],
            "* keeps every property"
        );
    }
}
