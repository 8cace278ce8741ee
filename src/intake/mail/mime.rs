//! From a parsed MIME message to the one text the footers and the review are read from.
//!
//! `mail-parser` has already undone the transfer encodings (quoted-printable, base64, 8bit) and
//! the charset. Here we pick the part, refuse what could not be decoded, normalise line ends and
//! undo `format=flowed` (RFC 3676), which Google's mailer uses for GoB's plain-text mails.

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{ContentType, Message, MessagePart, MimeHeaders, PartType};

use super::{SetAside, excerpt, html};

/// Where the text came from. Gerrit always sends a `text/plain` part; an HTML-only mail is read
/// for its footers only (they sit in `<div style="display:none">` blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    Plain,
    Html,
}

pub(super) struct BodyText {
    pub text: String,
    pub source: Source,
}

/// The decoded body: the first inline `text/plain` part, else the first HTML part as text.
pub(super) fn body_text(message: &Message<'_>) -> Result<BodyText, SetAside> {
    check_multipart(message)?;
    let part = |id: &u32| message.parts.get(*id as usize);
    let plain = message
        .text_body
        .iter()
        .filter_map(part)
        .find_map(|p| match &p.body {
            PartType::Text(text) if is_plain(p.content_type()) => Some((p, text)),
            _ => None,
        });
    if let Some((p, text)) = plain {
        check_decoded(p, text)?;
        let mut text = normalise_newlines(text);
        if let Some(delsp) = flowed(p.content_type()) {
            text = unflow(&text, delsp);
        }
        return Ok(BodyText {
            text,
            source: Source::Plain,
        });
    }
    let html = message
        .html_body
        .iter()
        .chain(&message.text_body)
        .filter_map(part)
        .find_map(|p| match &p.body {
            PartType::Html(h) => Some((p, h)),
            _ => None,
        });
    match html {
        Some((p, h)) => {
            check_decoded(p, h)?;
            Ok(BodyText {
                text: normalise_newlines(&html::to_text(h)),
                source: Source::Html,
            })
        }
        None => Err(SetAside::Malformed(
            "no text/plain or text/html body".into(),
        )),
    }
}

fn is_plain(ct: Option<&ContentType<'_>>) -> bool {
    ct.is_none_or(|ct| {
        ct.ctype().eq_ignore_ascii_case("text")
            && ct.subtype().is_none_or(|s| s.eq_ignore_ascii_case("plain"))
    })
}

/// `Some(delsp)` when the part is `format=flowed`.
fn flowed(ct: Option<&ContentType<'_>>) -> Option<bool> {
    let ct = ct?;
    let format = ct.attribute("format")?;
    format.trim().eq_ignore_ascii_case("flowed").then(|| {
        ct.attribute("delsp")
            .is_some_and(|d| d.trim().eq_ignore_ascii_case("yes"))
    })
}

/// A multipart mail whose boundary never appears, or that lacks its closing delimiter, was
/// damaged or cut short in transit: its text cannot be trusted to be whole.
fn check_multipart(message: &Message<'_>) -> Result<(), SetAside> {
    let root = message.root_part();
    let Some(ct) = root.content_type() else {
        return Ok(());
    };
    if !ct.ctype().eq_ignore_ascii_case("multipart") {
        return Ok(());
    }
    let Some(boundary) = ct.attribute("boundary") else {
        return Err(SetAside::Malformed("multipart without a boundary".into()));
    };
    if !matches!(root.body, PartType::Multipart(_)) {
        return Err(SetAside::Malformed(format!(
            "multipart boundary `{}` never appears",
            excerpt(boundary)
        )));
    }
    let closing = format!("--{boundary}--");
    // `str::contains` is linear (two-way search); the lossy copy only happens for non-UTF-8.
    if !String::from_utf8_lossy(message.raw_message()).contains(&closing) {
        return Err(SetAside::Malformed(format!(
            "truncated: no closing `{}`",
            excerpt(&closing)
        )));
    }
    Ok(())
}

/// Refuses a part whose transfer encoding was broken or whose charset we cannot decode (then
/// `mail-parser` falls back to lossy UTF-8, and we would read replacement characters).
fn check_decoded(part: &MessagePart<'_>, text: &str) -> Result<(), SetAside> {
    if part.is_encoding_problem {
        return Err(SetAside::Malformed(
            "the text part's Content-Transfer-Encoding does not decode".into(),
        ));
    }
    let charset = part.content_type().and_then(|ct| ct.attribute("charset"));
    if let Some(cs) = charset {
        let known = is_utf8_label(cs) || charset_decoder(cs.trim().as_bytes()).is_some();
        if !known && text.contains('\u{FFFD}') {
            return Err(SetAside::Malformed(format!(
                "undecodable charset `{}`",
                excerpt(cs)
            )));
        }
    }
    Ok(())
}

fn is_utf8_label(cs: &str) -> bool {
    let cs = cs.trim();
    ["utf-8", "utf8", "unicode-1-1-utf-8"]
        .iter()
        .any(|l| l.eq_ignore_ascii_case(cs))
}

/// CRLF -> LF. A lone CR is kept: it does not start a line, so it cannot make a command.
pub(super) fn normalise_newlines(s: &str) -> String {
    s.replace("\r\n", "\n")
}

/// Undoes RFC 3676 `format=flowed`: a line ending in a space continues on the next line of the
/// same quote depth; with `delsp=yes` that one space is deleted. The signature separator `-- `
/// is never flowed (§4.3). Quote markers stay on the joined line.
///
/// Space-stuffing is deliberately not removed: a stuffed line was indented (or began with
/// `From `) in the original, and keeping it indented is what the command rules need.
pub(super) fn unflow(text: &str, delsp: bool) -> String {
    let mut out = String::with_capacity(text.len());
    // The quote depth of the flowed paragraph still being joined, if any.
    let mut open: Option<usize> = None;
    for line in text.split('\n') {
        let depth = line.bytes().take_while(|&b| b == b'>').count();
        let content = &line[depth..];
        match open {
            Some(d) if d == depth => out.push_str(content),
            Some(_) => {
                out.push('\n');
                out.push_str(line);
            }
            None => out.push_str(line),
        }
        let is_signature = content == "-- ";
        if content.ends_with(' ') && !is_signature {
            if delsp {
                out.pop();
            }
            open = Some(depth);
        } else {
            out.push('\n');
            open = None;
        }
    }
    // `split` yields one line after a final newline; drop the newline we added after it.
    if open.is_none() {
        out.pop();
    }
    out
}
