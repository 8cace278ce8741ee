//! A small MIME splitter that turns a raw RFC 5322 message into Gmail's `MessagePart` tree
//! (`format=full`/`metadata`) and its `snippet`.
//!
//! Gmail's `full` payload has the transfer encoding (base64/quoted-printable) already undone but
//! keeps the charset; `body.data` is padded base64url (google-gmail1 rejects unpadded data);
//! `multipart/*` parts carry `parts` and a `{size: 0}` body. Header values are unfolded and
//! RFC 2047 encoded words are decoded, as Gmail shows them.

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE};
use base64::engine::{DecodePaddingMode, general_purpose};
use serde_json::{Value, json};

/// Lenient base64 for mail bodies: padding optional, line breaks stripped beforehand.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Splits at the first empty line. A message without one is all headers.
fn split_head(raw: &[u8]) -> (&[u8], &[u8]) {
    if let Some(body) = raw
        .strip_prefix(b"\r\n")
        .or_else(|| raw.strip_prefix(b"\n"))
    {
        return (&[], body);
    }
    for i in 0..raw.len() {
        if raw[i] == b'\n' {
            let rest = &raw[i + 1..];
            if rest.starts_with(b"\r\n") {
                return (&raw[..=i], &rest[2..]);
            }
            if rest.starts_with(b"\n") {
                return (&raw[..=i], &rest[1..]);
            }
        }
    }
    (raw, &[])
}

/// Header fields in order, unfolded (a line starting with space or tab continues the last one).
pub(crate) fn headers(head: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(head);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = out.last_mut() {
                value.push(' ');
                value.push_str(line.trim_start());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            out.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    out
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A parameter of a structured header (`boundary`, `name`, `filename`), quotes removed.
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn mime_type(headers: &[(String, String)], parent_is_digest: bool) -> String {
    match header(headers, "Content-Type") {
        Some(v) => v
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
        None if parent_is_digest => "message/rfc822".into(),
        None => "text/plain".into(),
    }
}

/// The body parts between `--boundary` lines; preamble and epilogue are dropped.
fn split_multipart<'a>(body: &'a [u8], boundary: &str) -> Vec<&'a [u8]> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut line_start = 0;
    while line_start < body.len() {
        let line_end = body[line_start..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(body.len(), |p| line_start + p + 1);
        let line = &body[line_start..line_end];
        if line.starts_with(delimiter) {
            if let Some(s) = start {
                // The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
                let mut end = line_start.max(s);
                if end > s && body[end - 1] == b'\n' {
                    end -= 1;
                    if end > s && body[end - 1] == b'\r' {
                        end -= 1;
                    }
                }
                parts.push(&body[s..end]);
            }
            if line[delimiter.len()..].starts_with(b"--") {
                return parts;
            }
            start = Some(line_end);
        }
        line_start = line_end;
    }
    parts
}

/// Undoes a Content-Transfer-Encoding; undecodable content is returned as it was.
fn decode_transfer(body: &[u8], encoding: Option<&str>) -> Vec<u8> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        Some("base64") => {
            let compact: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            LENIENT.decode(&compact).unwrap_or_else(|_| body.to_vec())
        }
        Some("quoted-printable") => decode_qp(body, false),
        _ => body.to_vec(),
    }
}

/// Quoted-printable (RFC 2045 §6.7); with `underscore_space`, the RFC 2047 "Q" variant.
fn decode_qp(input: &[u8], underscore_space: bool) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'=' if input[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' if input[i + 1..].starts_with(b"\n") => i += 2,
            b'=' if i + 2 < input.len() => match (hex(input[i + 1]), hex(input[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            },
            b'_' if underscore_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Decodes RFC 2047 encoded words (`=?UTF-8?B?...?=`) in a header value. Charsets other than
/// UTF-8/ASCII/Latin-1 are left encoded; whitespace between adjacent encoded words is dropped.
pub(crate) fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut last_was_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        let decoded = encoded_word(candidate);
        match decoded {
            Some((text, used)) => {
                if !(last_was_word && before.trim().is_empty()) {
                    out.push_str(before);
                }
                out.push_str(&text);
                rest = &candidate[used..];
                last_was_word = true;
            }
            None => {
                out.push_str(before);
                out.push_str("=?");
                rest = &candidate[2..];
                last_was_word = false;
            }
        }
    }
    out.push_str(rest);
    out
}

/// One encoded word at the start of `s`: the decoded text and the bytes consumed.
fn encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let text = &inner[..end];
    if text.contains(' ') {
        return None;
    }
    let used = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    let bytes = match encoding.to_ascii_lowercase().as_str() {
        "b" => LENIENT.decode(text).ok()?,
        "q" => decode_qp(text.as_bytes(), true),
        _ => return None,
    };
    let charset = charset.split('*').next().unwrap_or("").to_ascii_lowercase();
    let text = match charset.as_str() {
        "utf-8" | "utf8" | "us-ascii" => String::from_utf8_lossy(&bytes).into_owned(),
        "iso-8859-1" | "latin1" => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => return None,
    };
    Some((text, used))
}

/// What `format` asks of the payload tree.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// Headers and bodies (`format=full`).
    Full,
    /// Top-level headers only (`format=metadata`).
    Metadata,
}

/// The `payload` MessagePart for `raw`.
pub(crate) fn payload(raw: &[u8], detail: Detail) -> Value {
    part(raw, String::new(), detail, false, 0)
}

fn part(raw: &[u8], part_id: String, detail: Detail, in_digest: bool, depth: usize) -> Value {
    let (head, body) = split_head(raw);
    let headers = headers(head);
    let mime = mime_type(&headers, in_digest);
    let headers_json: Vec<Value> = headers
        .iter()
        .map(|(n, v)| json!({"name": n, "value": decode_words(v)}))
        .collect();
    if detail == Detail::Metadata {
        return json!({"partId": part_id, "mimeType": mime, "filename": "",
                      "headers": headers_json});
    }
    let filename = header(&headers, "Content-Disposition")
        .and_then(|v| parameter(v, "filename"))
        .or_else(|| header(&headers, "Content-Type").and_then(|v| parameter(v, "name")))
        .map(|f| decode_words(&f))
        .unwrap_or_default();
    let boundary = header(&headers, "Content-Type").and_then(|v| parameter(v, "boundary"));
    if let (true, Some(boundary), true) = (mime.starts_with("multipart/"), boundary, depth < 16) {
        let digest = mime == "multipart/digest";
        let prefix = if part_id.is_empty() {
            String::new()
        } else {
            format!("{part_id}.")
        };
        let parts: Vec<Value> = split_multipart(body, &boundary)
            .into_iter()
            .enumerate()
            .map(|(i, p)| part(p, format!("{prefix}{i}"), detail, digest, depth + 1))
            .collect();
        return json!({"partId": part_id, "mimeType": mime, "filename": filename,
                      "headers": headers_json, "body": {"size": 0}, "parts": parts});
    }
    let data = decode_transfer(body, header(&headers, "Content-Transfer-Encoding"));
    let body_json = if data.is_empty() {
        json!({"size": 0})
    } else {
        json!({"size": data.len(), "data": URL_SAFE.encode(&data)})
    };
    json!({"partId": part_id, "mimeType": mime, "filename": filename,
           "headers": headers_json, "body": body_json})
}

/// The decoded headers of the top-level part, for `format=metadata`'s `metadataHeaders`.
pub(crate) fn top_headers(raw: &[u8]) -> Vec<(String, String)> {
    headers(split_head(raw).0)
        .into_iter()
        .map(|(n, v)| {
            let v = decode_words(&v);
            (n, v)
        })
        .collect()
}

/// Gmail's `snippet`: the start of the first text part, whitespace collapsed, HTML-escaped.
pub(crate) fn snippet(raw: &[u8]) -> String {
    let text = first_text(raw, 0).unwrap_or_default();
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let short: String = collapsed.chars().take(200).collect();
    short
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn first_text(raw: &[u8], depth: usize) -> Option<String> {
    let (head, body) = split_head(raw);
    let headers = headers(head);
    let mime = mime_type(&headers, false);
    if mime.starts_with("multipart/") && depth < 16 {
        let boundary = header(&headers, "Content-Type").and_then(|v| parameter(v, "boundary"))?;
        return split_multipart(body, &boundary)
            .into_iter()
            .find_map(|p| first_text(p, depth + 1));
    }
    (mime == "text/plain").then(|| {
        let data = decode_transfer(body, header(&headers, "Content-Transfer-Encoding"));
        String::from_utf8_lossy(&data).into_owned()
    })
}

/// Padded base64url, the encoding of Gmail's `raw` and `body.data`.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    general_purpose::URL_SAFE.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTI: &[u8] = b"From: Gerrit <noreply-gerritcodereview@google.com>\r\n\
Subject: =?UTF-8?Q?Change_in_bionic=3A_caf=C3=A9?=\r\n\
Content-Type: multipart/alternative;\r\n boundary=\"b1\"\r\n\r\npreamble\r\n\
--b1\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
Hello =\r\nworld=3D\r\nGerrit-MessageType: newchange\r\n\
--b1\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
PGI+aGk8L2I+\r\n--b1--\r\nepilogue\r\n";

    #[test]
    fn multipart_becomes_a_part_tree_with_decoded_padded_bodies() {
        let p = payload(MULTI, Detail::Full);
        assert_eq!(p["mimeType"], "multipart/alternative");
        assert_eq!(p["partId"], "");
        assert_eq!(p["body"], json!({"size": 0}));
        assert_eq!(p["headers"][1]["value"], "Change in bionic: café");
        let text = &p["parts"][0];
        assert_eq!(text["partId"], "0");
        assert_eq!(text["mimeType"], "text/plain");
        let data = URL_SAFE
            .decode(text["body"]["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(data, b"Hello world=\r\nGerrit-MessageType: newchange");
        let html = URL_SAFE
            .decode(p["parts"][1]["body"]["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(html, b"<b>hi</b>");
        assert_eq!(p["parts"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn single_part_lf_mail_has_data_on_the_top_part() {
        let raw = b"Subject: x\nFrom: a@b\n\nline one\nline two\n";
        let p = payload(raw, Detail::Full);
        assert_eq!(p["mimeType"], "text/plain");
        assert!(p.get("parts").is_none());
        let data = p["body"]["data"].as_str().unwrap();
        assert!(data.len().is_multiple_of(4));
        assert_eq!(URL_SAFE.decode(data).unwrap(), b"line one\nline two\n");
        assert_eq!(snippet(raw), "line one line two");
    }

    #[test]
    fn encoded_words_decode_and_join() {
        assert_eq!(
            decode_words("=?utf-8?B?aGk=?= =?utf-8?Q?_there?="),
            "hi there"
        );
        assert_eq!(decode_words("plain =?x"), "plain =?x");
    }
}
