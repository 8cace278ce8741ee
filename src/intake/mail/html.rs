//! HTML to plain lines, just enough to read Gerrit's footers from an HTML-only mail.
//!
//! Gerrit 2.14+ puts each footer in `<div style="display:none"> Gerrit-Key: value </div>`
//! (`FooterHtml.soy`). Hidden text is kept (that is where the footers are); block tags and `<br>`
//! end lines; `<head>`, `<style>`, `<script>` and comments are dropped; the common entities are
//! decoded. One pass, linear in the input.

/// Tags that start a new line when they open or close.
const BLOCK_TAGS: [&str; 20] = [
    "br",
    "div",
    "p",
    "tr",
    "li",
    "ul",
    "ol",
    "table",
    "pre",
    "blockquote",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "body",
    "section",
    "td",
];

/// Elements whose content is not text.
const SKIPPED: [&str; 4] = ["head", "style", "script", "title"];

pub(super) fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        push_text(&mut out, &rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else {
            // An unclosed `<`: the rest is text.
            push_text(&mut out, rest);
            return out;
        };
        let (closing, name) = tag_name(&rest[1..gt]);
        rest = &rest[gt + 1..];
        if closing || !SKIPPED.contains(&name.as_str()) {
            if BLOCK_TAGS.contains(&name.as_str()) {
                out.push('\n');
            }
            continue;
        }
        // `<script>` and friends may hold `<` and `>`: jump to their closing tag.
        let end = format!("</{name}");
        rest = match find_ignore_case(rest, &end) {
            Some(at) => rest[at..].find('>').map_or("", |gt| &rest[at + gt + 1..]),
            None => "",
        };
    }
    push_text(&mut out, rest);
    out
}

/// Byte offset of `needle` (ASCII) in `haystack`, ignoring ASCII case.
fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    (0..=h.len().checked_sub(n.len())?).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// `("/div" | "div style=...")` -> (closing, lowercase name).
fn tag_name(inner: &str) -> (bool, String) {
    let inner = inner.trim_start();
    let (closing, inner) = match inner.strip_prefix('/') {
        Some(r) => (true, r.trim_start()),
        None => (false, inner),
    };
    let name: String = inner
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .take(16)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (closing, name)
}

/// Appends text between tags with its entities decoded.
fn push_text(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest
            .char_indices()
            .take(12)
            .find(|&(_, c)| c == ';')
            .map(|(i, _)| i);
        match end.and_then(|end| entity(&rest[1..end]).map(|c| (end, c))) {
            Some((end, c)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
}

fn entity(name: &str) -> Option<char> {
    let named = match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => None,
    };
    if named.is_some() {
        return named;
    }
    let num = name.strip_prefix('#')?;
    let code = match num.strip_prefix(['x', 'X']) {
        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
        None => num.parse().ok()?,
    };
    char::from_u32(code).filter(|c| *c != '\0')
}

#[cfg(test)]
mod tests {
    use super::to_text;

    #[test]
    fn hidden_footer_divs_become_their_own_lines() {
        let html = "<p>Hello</p><div style=\"display:none\"> Gerrit-MessageType: comment </div>\n\
                    <div style=\"display:none\"> Gerrit-Project: platform/bionic </div>";
        let text = to_text(html);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(
            lines,
            [
                "Hello",
                "Gerrit-MessageType: comment",
                "Gerrit-Project: platform/bionic"
            ]
        );
    }

    #[test]
    fn head_style_script_and_comments_are_dropped() {
        let html = "<html><head><title>t</title><style>p{}</style></head><body>\
                    <!-- Gerrit-Project: x --><script>var a = 1 < 2;</script>a &amp; b &#60; &#x3e; &bogus; &</body>";
        assert_eq!(to_text(html).trim(), "a & b < > &bogus; &");
    }

    #[test]
    fn broken_html_never_panics() {
        for s in [
            "<",
            "<div",
            "&",
            "&#;",
            "&#x110000;",
            "<!--",
            "<style>",
            "</>",
            "<é>",
            "a<b>c",
        ] {
            let _ = to_text(s);
        }
    }
}
