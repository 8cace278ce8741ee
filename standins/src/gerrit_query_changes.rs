//! `GET /changes/?q=...` ("Query Changes", `QueryChanges` + `QueryProcessor` + `ChangeJson`).
//!
//! Kept from Gerrit:
//! - parameters as `ParameterParser`/args4j read them: `q`/`query` (repeatable), `n`/`limit`,
//!   `S`/`start`, `o` (the same ChangeInfo options as `GET /changes/{id}`), `O` (the options as
//!   hex bits), `no-limit`; an unknown parameter is 400 `"--name" is not a valid option` (`"-x"`
//!   for one letter), a bad number 400 `"abc" is not a valid value for "-n"`;
//! - no `q` means `status:open`; more than ten is 400 `limit of 10 queries`; one `q` answers a
//!   list of ChangeInfo, several answer a list of lists in the order asked;
//! - results are ordered by `updated`, newest first, then by change number, highest first (the
//!   index's sort); the limit is the smaller of `n` (when positive) and the default `queryLimit`
//!   capability, 500; `S` skips that many; when more results exist the last ChangeInfo of the
//!   list carries `"_more_changes": true` (never on an empty list); a negative start fails
//!   `QueryOptions`' precondition, a 500;
//! - a query Gerrit cannot parse is 400 with the parser's text (see `gerrit_query.rs`); a query
//!   the stand-in cannot evaluate is 501 (see `gerrit_query_ops.rs`).

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::gerrit_json::{Ctx, Opts, change_json};
use crate::gerrit_query::parse;
use crate::gerrit_query_ops::{Pred, QueryErr, build};
use crate::gerrit_store::GerritErr;
use crate::world::World;

/// The `queryLimit` capability's default maximum (`GlobalCapability.DEFAULT_MAX_QUERY_LIMIT`).
const DEFAULT_QUERY_LIMIT: i64 = 500;

/// `QueryChanges`' hard-coded maximum number of `q` parameters.
const MAX_QUERIES: usize = 10;

/// `ListChangesOption` names by their bit, for `O=`.
const OPTION_BITS: &[(u32, &str)] = &[
    (0, "LABELS"),
    (1, "CURRENT_REVISION"),
    (2, "ALL_REVISIONS"),
    (3, "CURRENT_COMMIT"),
    (4, "ALL_COMMITS"),
    (5, "CURRENT_FILES"),
    (6, "ALL_FILES"),
    (7, "DETAILED_ACCOUNTS"),
    (8, "DETAILED_LABELS"),
    (9, "MESSAGES"),
    (10, "CURRENT_ACTIONS"),
    (11, "REVIEWED"),
    (12, "DRAFT_COMMENTS"),
    (13, "DOWNLOAD_COMMANDS"),
    (14, "WEB_LINKS"),
    (15, "CHECK"),
    (16, "CHANGE_ACTIONS"),
    (17, "COMMIT_FOOTERS"),
    (18, "PUSH_CERTIFICATES"),
    (19, "REVIEWER_UPDATES"),
    (20, "SUBMITTABLE"),
    (21, "TRACKING_IDS"),
    (22, "SKIP_MERGEABLE"),
    (23, "SKIP_DIFFSTAT"),
];

/// Parameters `ParameterParser` keeps for itself instead of handing them to the view.
const RESERVED: &[&str] = &[
    "pp",
    "prettyPrint",
    "strict",
    "callback",
    "alt",
    "fields",
    "trace",
    "access_token",
    "$m",
    "$ct",
];

fn bad(text: impl Into<String>) -> GerritErr {
    GerritErr::new(StatusCode::BAD_REQUEST, text)
}

/// `CmdLineParser.makeOption`: `n` is `-n`, `limit` is `--limit`.
fn option_name(key: &str) -> String {
    if key.chars().count() == 1 {
        format!("-{key}")
    } else {
        format!("--{key}")
    }
}

/// args4j's `IntOptionHandler`.
fn int_option(key: &str, value: &str) -> Result<i64, GerritErr> {
    value.parse::<i32>().map(i64::from).map_err(|_| {
        bad(format!(
            "\"{value}\" is not a valid value for \"{}\"",
            option_name(key)
        ))
    })
}

/// The parsed parameters of one call.
struct Params {
    queries: Vec<String>,
    limit: i64,
    start: i64,
    no_limit: bool,
    options: Vec<String>,
}

fn parse_params(pairs: &[(String, String)]) -> Result<Params, GerritErr> {
    let mut p = Params {
        queries: Vec::new(),
        limit: 0,
        start: 0,
        no_limit: false,
        options: Vec::new(),
    };
    for (key, value) in pairs {
        match key.as_str() {
            "q" | "query" => p.queries.push(value.clone()),
            "n" | "limit" => p.limit = int_option(key, value)?,
            "S" | "start" => p.start = int_option(key, value)?,
            "o" => p.options.push(value.clone()),
            "O" => {
                // `Integer.parseInt(hex, 16)`; its NumberFormatException text is the answer.
                let bits = i32::from_str_radix(value, 16)
                    .map_err(|_| bad(format!("For input string: \"{value}\" under radix 16")))?;
                for (bit, name) in OPTION_BITS {
                    if bits & (1 << bit) != 0 {
                        p.options.push((*name).to_owned());
                    }
                }
            }
            "no-limit" => {
                p.no_limit = match value.to_ascii_lowercase().as_str() {
                    "" | "true" | "t" | "yes" | "y" | "on" | "1" => true,
                    "false" | "f" | "no" | "n" | "off" | "0" => false,
                    _ => return Err(bad(format!("invalid boolean \"{key}={value}\""))),
                }
            }
            k if RESERVED.contains(&k) => {}
            k => {
                return Err(bad(format!("\"{}\" is not a valid option", option_name(k))));
            }
        }
    }
    Ok(p)
}

fn query_error(e: QueryErr) -> GerritErr {
    match e {
        QueryErr::Bad(text) => bad(text),
        QueryErr::Unimplemented(text) => GerritErr::new(StatusCode::NOT_IMPLEMENTED, text),
    }
}

/// Answers `GET /changes/` for `caller` (None when anonymous).
pub(crate) fn query_changes(
    world: &World,
    pairs: &[(String, String)],
    caller: Option<u64>,
    base_url: &str,
) -> Result<Value, GerritErr> {
    let params = parse_params(pairs)?;
    let opts = Opts::parse(params.options.iter().map(String::as_str))?;
    let queries = if params.queries.is_empty() {
        vec!["status:open".to_owned()]
    } else if params.queries.len() > MAX_QUERIES {
        return Err(bad("limit of 10 queries"));
    } else {
        params.queries
    };
    // Every query is parsed before any runs, so the first bad one decides the answer.
    let preds: Vec<Pred> = queries
        .iter()
        .map(|q| parse(q).map_err(QueryErr::Bad).and_then(|n| build(&n)))
        .collect::<Result<_, _>>()
        .map_err(query_error)?;
    let limit = if params.no_limit {
        i64::from(i32::MAX)
    } else if params.limit > 0 {
        params.limit.min(DEFAULT_QUERY_LIMIT)
    } else {
        DEFAULT_QUERY_LIMIT
    };
    if params.start < 0 {
        return Err(GerritErr::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error",
        ));
    }
    let start = usize::try_from(params.start).unwrap_or(usize::MAX);
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);

    let inner = world.lock();
    let g = &inner.gerrit;
    let mut order: Vec<usize> = (0..g.changes.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&g.changes[a], &g.changes[b]);
        b.updated.cmp(&a.updated).then(b.number.cmp(&a.number))
    });
    let ctx = Ctx { caller, base_url };
    let mut lists = Vec::new();
    for pred in &preds {
        let hits: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&i| pred.matches(&g.changes[i]))
            .skip(start)
            .take(limit.saturating_add(1))
            .collect();
        let more = hits.len() > limit;
        let mut list: Vec<Value> = hits
            .iter()
            .take(limit)
            .map(|&i| change_json(g, &g.changes[i], &opts, &ctx, None))
            .collect();
        if more && let Some(last) = list.last_mut() {
            last["_more_changes"] = json!(true);
        }
        lists.push(Value::Array(list));
    }
    Ok(if lists.len() == 1 {
        lists.remove(0)
    } else {
        Value::Array(lists)
    })
}
