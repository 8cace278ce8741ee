//! Text helpers shared by every layer: what goes into a Gerrit message, a log line or a console
//! line from outside is made safe here, once.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Characters left unescaped in one URL path segment (RFC 3986 unreserved).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes one URL path segment (`platform/bionic` -> `platform%2Fbionic`): a Gerrit
/// REST id's parts, a Jenkins job's folders.
pub fn encode_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Longest link or status from a callback put into a Gerrit message.
pub const MAX_WIRE_TEXT: usize = 1_000;

/// What a callback says, made safe for a Gerrit message: control characters removed (a CR/LF
/// in a link would start new lines, even command lines, in the bot's own message), cut to
/// [`MAX_WIRE_TEXT`] characters.
pub fn sanitize(s: &str) -> String {
    sanitize_to(s, MAX_WIRE_TEXT)
}

/// `s` without control characters, cut to `max` characters.
pub fn sanitize_to(s: &str, max: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max).collect()
}

/// First `max` characters of `s` with whitespace runs collapsed (newlines too), and `…` when
/// cut: safe inside one log or console line.
pub fn one_line(s: &str, max: usize) -> String {
    let collapsed = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.chars().count() > max {
        collapsed.chars().take(max).collect::<String>() + "…"
    } else {
        collapsed
    }
}

/// `s` with every control character (CR, LF, NUL...) a space, cut to `max` characters: a
/// header or a command echoed back keeps its shape but cannot start a new line.
pub fn printable(s: &str, max: usize) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect()
}

/// The error and its causes on one line (reqwest hides "connection refused" in the source).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_collapses_and_truncates() {
        assert_eq!(one_line("a\n\n b  c", 10), "a b c");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }

    #[test]
    fn printable_text_has_no_control_characters() {
        assert_eq!(printable("a\r\nb\0c", 100), "a  b c");
        assert_eq!(printable("abcdef", 3), "abc");
        assert_eq!(sanitize("a\r\nb"), "ab");
    }
}
