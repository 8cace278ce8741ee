//! The operators of Gerrit's change queries (`ChangeQueryBuilder`) that the stand-in evaluates,
//! over a tree from `gerrit_query.rs`, and how each matches a change.
//!
//! Kept from Gerrit:
//! - `status:` and `is:` look the status up case-insensitively *by prefix* in the sorted names
//!   `abandoned closed merged new open pending` (`ChangeStatusPredicate.parse`: `status:op` is
//!   open, `status:m` merged); anything else is `Unrecognized value: <v>`; `is:` first checks
//!   its own words (`wip`, `private`, `visible`, ...) and then falls back to `status:`;
//! - `project:`/`p:`/`repo:`/`repository:` match the name exactly, `projects:` by prefix;
//!   `branch:` means `ref:refs/heads/<b>` unless it already starts with `refs/`;
//! - `change:` takes a number, a Change-Id prefix (`I` + at least four hex digits) or a triplet,
//!   else `Invalid change format`; `commit:` is a sha prefix of any patch set;
//! - `after:`/`since:` and `before:`/`until:` compare the change's `updated`, both ends
//!   inclusive, at millisecond precision (the index's range query); the value is read by
//!   `JavaSqlTimestampHelper.parseTimestamp`: `yyyy-MM-dd[ HH:mm:ss[.fff][ ±hhmm]]`, UTC unless
//!   an offset is given, out-of-range fields rolling over as in a lenient `Calendar`, and its
//!   error texts (`Invalid date format: ...`);
//! - a bare value is a ref when it starts with `refs/`, a change (and, with six or more digits, a
//!   commit prefix) when it looks like a number or Change-Id; an operator Gerrit does not have is
//!   `Unsupported operator <name>:<value>`.
//!
//! Operators and free-text searches Gerrit has but the stand-in does not evaluate are refused
//! with 501 and a text naming the stand-in, so a test never mistakes them for Gerrit's answer.

use crate::gerrit_query::Node;
use crate::gerrit_store::{Change, ChangeStatus};

/// Why a query cannot be run.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum QueryErr {
    /// Gerrit's `QueryParseException` text (400).
    Bad(String),
    /// Real Gerrit would answer; the stand-in cannot (501).
    Unimplemented(String),
}

/// A query as a predicate over changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pred {
    All(Vec<Pred>),
    Any(Vec<Pred>),
    Not(Box<Pred>),
    Const(bool),
    Status(&'static [ChangeStatus]),
    Project(String),
    ProjectPrefix(String),
    /// A full ref name, `refs/heads/main`.
    Ref(String),
    Number(u64),
    ChangeIdPrefix(String),
    Triplet(String, String, String),
    Commit(String),
    UpdatedFrom(i64),
    UpdatedTo(i64),
}

impl Pred {
    pub(crate) fn matches(&self, c: &Change) -> bool {
        match self {
            Pred::All(ps) => ps.iter().all(|p| p.matches(c)),
            Pred::Any(ps) => ps.iter().any(|p| p.matches(c)),
            Pred::Not(p) => !p.matches(c),
            Pred::Const(b) => *b,
            Pred::Status(set) => set.contains(&c.status),
            Pred::Project(p) => &c.project == p,
            Pred::ProjectPrefix(p) => c.project.starts_with(p.as_str()),
            Pred::Ref(r) => format!("refs/heads/{}", c.branch) == *r,
            Pred::Number(n) => c.number == *n,
            Pred::ChangeIdPrefix(p) => c.change_id.starts_with(p.as_str()),
            Pred::Triplet(project, r, id) => {
                &c.project == project
                    && format!("refs/heads/{}", c.branch) == *r
                    && c.change_id.starts_with(id.as_str())
            }
            Pred::Commit(prefix) => c
                .patch_sets
                .iter()
                .any(|p| p.sha.starts_with(prefix.as_str())),
            Pred::UpdatedFrom(t) => c.updated >= *t,
            Pred::UpdatedTo(t) => c.updated <= *t,
        }
    }
}

const OPEN: &[ChangeStatus] = &[ChangeStatus::New];
const CLOSED: &[ChangeStatus] = &[ChangeStatus::Merged, ChangeStatus::Abandoned];

/// `ChangeStatusPredicate.parse`: the first name not before the value, if it starts with it.
fn status(value: &str) -> Result<Pred, QueryErr> {
    if value.eq_ignore_ascii_case("reviewed") {
        return Err(unimplemented("status", value));
    }
    const NAMES: [(&str, &[ChangeStatus]); 6] = [
        ("abandoned", &[ChangeStatus::Abandoned]),
        ("closed", CLOSED),
        ("merged", &[ChangeStatus::Merged]),
        ("new", OPEN),
        ("open", OPEN),
        ("pending", OPEN),
    ];
    let lower = value.to_lowercase();
    match NAMES.iter().find(|(name, _)| *name >= lower.as_str()) {
        Some((name, set)) if name.starts_with(lower.as_str()) => Ok(Pred::Status(set)),
        _ => Err(QueryErr::Bad(format!("Unrecognized value: {value}"))),
    }
}

/// `is:` words Gerrit knows that the stand-in cannot answer (stars, watches, attention, ...).
const IS_UNIMPLEMENTED: &[&str] = &[
    "starred",
    "watched",
    "reviewed",
    "owner",
    "uploader",
    "reviewer",
    "cc",
    "mergeable",
    "merge",
    "attention",
    "assigned",
    "unassigned",
    "pure-revert",
    "submittable",
    "cherrypick",
];

fn is(value: &str) -> Result<Pred, QueryErr> {
    let lower = value.to_ascii_lowercase();
    match lower.as_str() {
        // Stand-in changes are never work in progress or private, are visible to everyone and
        // have started review.
        "wip" | "private" => Ok(Pred::Const(false)),
        "visible" | "started" => Ok(Pred::Const(true)),
        v if IS_UNIMPLEMENTED.contains(&v) => Err(unimplemented("is", value)),
        _ => status(value),
    }
}

/// Operators of `ChangeQueryBuilder` the stand-in does not evaluate.
const KNOWN_UNIMPLEMENTED: &[&str] = &[
    "age",
    "mergedbefore",
    "mergedafter",
    "comment",
    "rule",
    "has",
    "conflicts",
    "parentof",
    "parentproject",
    "parentrepository",
    "parentrepo",
    "hashtag",
    "inhashtag",
    "prefixhashtag",
    "topic",
    "intopic",
    "prefixtopic",
    "f",
    "file",
    "path",
    "ext",
    "extension",
    "onlyexts",
    "onlyextensions",
    "footer",
    "hasfooter",
    "dir",
    "directory",
    "label",
    "message",
    "starredby",
    "watchedby",
    "draftby",
    "visibleto",
    "o",
    "owner",
    "ownerin",
    "uploader",
    "uploaderin",
    "attention",
    "r",
    "reviewer",
    "cc",
    "reviewerin",
    "destination",
    "query",
    "tr",
    "bug",
    "limit",
    "added",
    "deleted",
    "size",
    "delta",
    "commentby",
    "from",
    "reviewedby",
    "author",
    "committer",
    "unresolved",
    "revertof",
    "submissionid",
    "cherrypickof",
    "assignee",
];

fn unimplemented(name: &str, value: &str) -> QueryErr {
    QueryErr::Unimplemented(format!(
        "standins: the Gerrit stand-in does not evaluate {name}:{value}"
    ))
}

/// `RefNames.fullName`.
fn full_ref(name: &str) -> String {
    if name.starts_with("refs/") || name == "HEAD" {
        name.to_owned()
    } else {
        format!("refs/heads/{name}")
    }
}

/// `^[1-9][0-9]*$`.
fn is_legacy_id(s: &str) -> bool {
    s.starts_with(|c: char| ('1'..='9').contains(&c)) && s.chars().all(|c| c.is_ascii_digit())
}

/// `^[iI][0-9a-f]{4,}.*$`.
fn is_change_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('i' | 'I'))
        && chars
            .take(4)
            .filter(|c| c.is_ascii_digit() || ('a'..='f').contains(c))
            .count()
            == 4
}

/// `parseChangeId`: a lower-case `i` is read as `I`.
fn change_id_prefix(s: &str) -> String {
    match s.strip_prefix('i') {
        Some(rest) => format!("I{rest}"),
        None => s.to_owned(),
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// `change:` (`ChangeTriplet.parse`, then a number, then a Change-Id).
fn change(value: &str) -> Result<Pred, QueryErr> {
    if let Some((rest, id)) = value.rsplit_once('~')
        && let Some((project, branch)) = rest.rsplit_once('~')
    {
        let branch = full_ref(&decode(branch));
        return Ok(Pred::Triplet(
            decode(project),
            branch,
            change_id_prefix(&decode(id)),
        ));
    }
    if is_legacy_id(value) {
        if let Ok(n) = value.parse::<i32>() {
            return Ok(Pred::Number(u64::try_from(n).unwrap_or_default()));
        }
    } else if is_change_id(value) {
        return Ok(Pred::ChangeIdPrefix(change_id_prefix(value)));
    }
    Err(QueryErr::Bad("Invalid change format".into()))
}

/// `DEF_CHANGE`: `^(?:[1-9][0-9]*|(?:[^~]+~[^~]+~)?[iI][0-9a-f]{4,}.*)$`.
fn looks_like_change(s: &str) -> bool {
    if is_legacy_id(s) {
        return true;
    }
    let parts: Vec<&str> = s.splitn(3, '~').collect();
    match parts.as_slice() {
        [project, branch, id] if !project.is_empty() && !branch.is_empty() => is_change_id(id),
        _ => is_change_id(s),
    }
}

/// `ChangeQueryBuilder.defaultField`, for the forms the stand-in can evaluate.
fn default_field(text: &str) -> Result<Pred, QueryErr> {
    if text.starts_with("refs/") {
        return Ok(Pred::Ref(text.to_owned()));
    }
    if looks_like_change(text) {
        let mut any: Vec<Pred> = change(text).into_iter().collect();
        if text.len() >= 6 && is_legacy_id(text) {
            any.push(Pred::Commit(text.to_owned()));
        }
        return Ok(Pred::Any(any));
    }
    Err(QueryErr::Unimplemented(format!(
        "standins: the Gerrit stand-in does not evaluate free-text searches ({text})"
    )))
}

fn operator(name: &str, value: &str) -> Result<Pred, QueryErr> {
    let regex = || {
        QueryErr::Unimplemented(format!(
            "standins: the Gerrit stand-in does not evaluate regular expressions ({name}:{value})"
        ))
    };
    match name {
        "status" => status(value),
        "is" => is(value),
        "project" | "p" | "repo" | "repository" if value.starts_with('^') => Err(regex()),
        "project" | "p" | "repo" | "repository" => Ok(Pred::Project(value.to_owned())),
        "projects" | "repos" | "repositories" => Ok(Pred::ProjectPrefix(value.to_owned())),
        "branch" | "ref" if value.starts_with('^') => Err(regex()),
        "branch" => Ok(Pred::Ref(full_ref(value))),
        "ref" => Ok(Pred::Ref(value.to_owned())),
        "change" => change(value),
        "commit" => Ok(Pred::Commit(value.to_owned())),
        "after" | "since" => parse_timestamp(value)
            .map(Pred::UpdatedFrom)
            .map_err(QueryErr::Bad),
        "before" | "until" => parse_timestamp(value)
            .map(Pred::UpdatedTo)
            .map_err(QueryErr::Bad),
        n if KNOWN_UNIMPLEMENTED.contains(&n) => Err(unimplemented(name, value)),
        _ => Err(QueryErr::Bad(format!(
            "Unsupported operator {name}:{value}"
        ))),
    }
}

/// `QueryBuilder.toPredicate`.
pub(crate) fn build(node: &Node) -> Result<Pred, QueryErr> {
    Ok(match node {
        Node::And(items) => Pred::All(items.iter().map(build).collect::<Result<_, _>>()?),
        Node::Or(items) => Pred::Any(items.iter().map(build).collect::<Result<_, _>>()?),
        Node::Not(inner) => Pred::Not(Box::new(build(inner)?)),
        Node::Field(name, value) => operator(name, value)?,
        Node::Default(text) => default_field(text)?,
    })
}

/// Howard Hinnant's days-from-civil (proleptic Gregorian), month 1–12.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `Integer.parseInt`: an optional sign and decimal digits.
fn java_int(s: &str) -> Option<i64> {
    s.parse::<i32>().ok().map(i64::from)
}

/// `JavaSqlTimestampHelper.parseTimeZone`: `±hhmm` as milliseconds.
fn parse_zone(s: &str) -> Result<i64, String> {
    let bad = || format!("Invalid time zone: {s}");
    let bytes = s.as_bytes();
    if bytes.len() != 5 || !matches!(bytes[0], b'+' | b'-') {
        return Err(bad());
    }
    if !bytes[1..].iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let hours = java_int(&s[1..3]).ok_or_else(bad)?;
    let minutes = java_int(&s[3..5]).ok_or_else(bad)?;
    let sign = if bytes[0] == b'-' { -1 } else { 1 };
    Ok(sign * 60 * 1000 * (60 * hours + minutes))
}

/// `JavaSqlTimestampHelper.parseTimestamp` as milliseconds since the epoch (what
/// `Timestamp.getTime()` gives the index query).
pub(crate) fn parse_timestamp(s: &str) -> Result<i64, String> {
    let parts: Vec<&str> = s.split(' ').collect();
    if parts.len() > 3 {
        return Err(format!("Expected date and optional time: {s}"));
    }
    let date = parts[0];
    let offset = match parts.get(2) {
        Some(zone) => parse_zone(zone)?,
        None => 0,
    };
    let bad_date = || format!("Invalid date format: {date}");
    let d: Vec<&str> = date.split('-').collect();
    let [yy, mm, dd] = d.as_slice() else {
        return Err(bad_date());
    };
    let (yy, mm, dd) = (
        java_int(yy).ok_or_else(bad_date)?,
        java_int(mm).ok_or_else(bad_date)? - 1,
        java_int(dd).ok_or_else(bad_date)?,
    );
    let (mut hh, mut mi, mut ss, mut nanos) = (0, 0, 0, 0);
    if let Some(time) = parts.get(1) {
        let bad_time = || format!("Invalid time format: {time}");
        let (t, fraction) = match time.split_once('.') {
            Some((t, f)) => (t, format!("0.{f}").parse::<f64>().map_err(|_| bad_time())?),
            None => (*time, 0.0),
        };
        let t: Vec<&str> = t.split(':').collect();
        let [h, m, sec] = t.as_slice() else {
            return Err(bad_time());
        };
        hh = java_int(h).ok_or_else(bad_time)?;
        mi = java_int(m).ok_or_else(bad_time)?;
        ss = java_int(sec).ok_or_else(bad_time)?;
        // `(int) Math.round(f * 1e9)`; the fraction is below one, so this fits.
        nanos = (fraction * 1e9).round() as i64;
    }
    // A lenient Calendar: months, days and times out of range roll over.
    let year = yy + mm.div_euclid(12);
    let month = mm.rem_euclid(12) + 1;
    let days = days_from_civil(year, month, 1) + dd - 1;
    let seconds = days * 86_400 + hh * 3600 + mi * 60 + ss;
    // `new Timestamp(ms - off)` then `setNanos(ns)`: whole seconds plus the fraction.
    let ms = seconds * 1000 - offset;
    Ok(ms.div_euclid(1000) * 1000 + nanos / 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gerrit_query::parse;

    fn pred(q: &str) -> Result<Pred, QueryErr> {
        build(&parse(q).map_err(QueryErr::Bad)?)
    }

    #[test]
    fn timestamps_parse_like_java_sql_timestamp_helper() {
        assert_eq!(parse_timestamp("1970-01-01"), Ok(0));
        assert_eq!(
            parse_timestamp("2013-02-01 09:59:32.126"),
            Ok(1_359_712_772_126)
        );
        assert_eq!(
            parse_timestamp("2013-02-01 09:59:32.126000000"),
            Ok(1_359_712_772_126)
        );
        assert_eq!(
            parse_timestamp("2013-02-01 04:59:32 -0500"),
            Ok(1_359_712_772_000)
        );
        // Lenient: the 32nd of January is the 1st of February.
        assert_eq!(
            parse_timestamp("2013-01-32 09:59:32.126"),
            Ok(1_359_712_772_126)
        );
        assert_eq!(
            parse_timestamp("2013-02-01T09:59:32"),
            Err("Invalid date format: 2013-02-01T09:59:32".into())
        );
        assert_eq!(
            parse_timestamp("2013-02-01 09:59"),
            Err("Invalid time format: 09:59".into())
        );
        assert_eq!(
            parse_timestamp("2013-02-01 09:59:32 UTC"),
            Err("Invalid time zone: UTC".into())
        );
        assert_eq!(
            parse_timestamp("a b c d"),
            Err("Expected date and optional time: a b c d".into())
        );
    }

    #[test]
    fn statuses_are_prefixes() {
        assert_eq!(pred("status:open"), Ok(Pred::Status(OPEN)));
        assert_eq!(pred("status:OP"), Ok(Pred::Status(OPEN)));
        assert_eq!(pred("is:closed"), Ok(Pred::Status(CLOSED)));
        assert_eq!(pred("status:m"), Ok(Pred::Status(&[ChangeStatus::Merged])));
        assert_eq!(
            pred("status:x"),
            Err(QueryErr::Bad("Unrecognized value: x".into()))
        );
        assert_eq!(pred("is:wip"), Ok(Pred::Const(false)));
    }

    #[test]
    fn operators_and_defaults() {
        assert_eq!(pred("branch:main"), Ok(Pred::Ref("refs/heads/main".into())));
        assert_eq!(
            pred("foo:bar"),
            Err(QueryErr::Bad("Unsupported operator foo:bar".into()))
        );
        assert!(matches!(
            pred("owner:self"),
            Err(QueryErr::Unimplemented(_))
        ));
        assert_eq!(
            pred("change:x"),
            Err(QueryErr::Bad("Invalid change format".into()))
        );
        assert_eq!(
            pred("123456"),
            Ok(Pred::Any(vec![
                Pred::Number(123_456),
                Pred::Commit("123456".into())
            ]))
        );
        assert_eq!(
            pred("p~main~ia1b2c3"),
            Ok(Pred::Any(vec![Pred::Triplet(
                "p".into(),
                "refs/heads/main".into(),
                "Ia1b2c3".into()
            )]))
        );
    }
}
