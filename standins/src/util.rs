//! Small helpers shared by the stand-ins: the clock, deterministic ids, Basic-auth parsing and
//! query-string splitting. Nothing here knows about a particular service.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;

/// Milliseconds since the Unix epoch (what Gmail's `internalDate` and Jenkins' timestamps use).
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Gerrit's timestamp format: UTC, a space instead of `T`, no zone, nine fractional digits
/// (`2013-02-01 09:59:32.126000000`), as `Documentation/rest-api.txt` §Timestamp says.
pub(crate) fn gerrit_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{millis:03}000000",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Gson's default HTML-safe escaping (Jenkins' Notification plugin and Gerrit both serialize
/// with it). These characters only occur inside JSON strings, so replacing them in the
/// serialized text is exact.
pub(crate) fn gson_escape(json: &str) -> String {
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('=', "\\u003d")
        .replace('\'', "\\u0027")
}

/// SplitMix64: a tiny, well-mixed hash so generated shas and Change-Ids look random but are
/// reproducible from run to run.
fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 40 lower-case hex digits derived from `seed` (a git sha or the tail of a Change-Id).
pub(crate) fn hex40(seed: u64) -> String {
    let a = splitmix(seed);
    let b = splitmix(a ^ 0x5555_5555_5555_5555);
    let c = splitmix(b);
    format!("{a:016x}{b:016x}{:08x}", c >> 32)
}

/// What an `Authorization` header said, for services that take HTTP Basic.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BasicAuth {
    Absent,
    /// Present but not `Basic base64(user:password)`.
    Malformed,
    Credentials(String, String),
}

pub(crate) fn basic_auth(headers: &HeaderMap) -> BasicAuth {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return BasicAuth::Absent;
    };
    let Ok(value) = value.to_str() else {
        return BasicAuth::Malformed;
    };
    let Some((scheme, encoded)) = value.trim().split_once(' ') else {
        return BasicAuth::Malformed;
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return BasicAuth::Malformed;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return BasicAuth::Malformed;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return BasicAuth::Malformed;
    };
    match decoded.split_once(':') {
        Some((user, password)) => BasicAuth::Credentials(user.to_owned(), password.to_owned()),
        None => BasicAuth::Malformed,
    }
}

/// Splits a raw query string into ordered pairs, keeping repeated keys (`labelIds=a&labelIds=b`),
/// which serde's struct extractors cannot express. Undecodable input yields `None`.
pub(crate) fn query_pairs(raw: Option<&str>) -> Option<Vec<(String, String)>> {
    match raw {
        None | Some("") => Some(Vec::new()),
        Some(q) => serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok(),
    }
}

/// The first value of `key` in `pairs`.
pub(crate) fn first<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Every value of `key` in `pairs`, in order.
pub(crate) fn all<'a>(pairs: &'a [(String, String)], key: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gerrit_time_matches_the_documented_shape() {
        assert_eq!(
            gerrit_time(1_359_712_772_126),
            "2013-02-01 09:59:32.126000000"
        );
        assert_eq!(gerrit_time(0), "1970-01-01 00:00:00.000000000");
    }

    #[test]
    fn hex40_is_forty_hex_digits_and_stable() {
        let h = hex40(7);
        assert_eq!(h.len(), 40);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(h, hex40(7));
        assert_ne!(h, hex40(8));
    }

    #[test]
    fn basic_auth_parses_user_and_password() {
        let mut h = HeaderMap::new();
        assert_eq!(basic_auth(&h), BasicAuth::Absent);
        h.insert(AUTHORIZATION, "Basic dXNlcjpwOnc=".parse().unwrap());
        assert_eq!(
            basic_auth(&h),
            BasicAuth::Credentials("user".into(), "p:w".into())
        );
        h.insert(AUTHORIZATION, "Bearer x".parse().unwrap());
        assert_eq!(basic_auth(&h), BasicAuth::Malformed);
    }
}
