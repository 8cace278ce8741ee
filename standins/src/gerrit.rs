//! The Gerrit REST stand-in's HTTP side: authentication, routing and response framing.
//!
//! Framing kept from `RestApiServlet` (research/gerrit-api.md §1–2): every JSON answer starts
//! with the XSSI guard `)]}'` + LF and ends with LF, typed `application/json; charset=UTF-8`;
//! errors are `text/plain; charset=UTF-8` ending in LF; `/a/` needs HTTP Basic (401 with
//! `WWW-Authenticate: Basic realm="Gerrit Code Review"`); anonymous GETs outside `/a/` are served,
//! anonymous writes get 403 `Authentication required`. Path segments are decoded like
//! `KeyUtil.decode` (`+` is a space), so `platform%2Fbionic~1234` is one id. The 401 page is
//! Jetty's, naming the path asked for. `GET /changes/` (Query Changes) is in
//! `gerrit_query_changes.rs`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::gerrit_comments::comments_json;
use crate::gerrit_json::{Ctx, Opts, change_json, commit_json, detailed_account, files_json};
use crate::gerrit_query_changes::query_changes;
use crate::gerrit_review::post_review;
use crate::gerrit_store::{GerritErr, find_revision};
use crate::util::{BasicAuth, all, basic_auth, query_pairs};
use crate::world::World;

/// Gerrit's XSSI guard: exactly these five bytes, no CR.
pub(crate) const XSSI_GUARD: &str = ")]}'\n";

pub(crate) fn router(world: World) -> Router {
    Router::new().fallback(dispatch).with_state(world)
}

/// A JSON answer with the guard line and Gerrit's headers.
pub(crate) fn json_reply(status: StatusCode, value: &Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json; charset=UTF-8"),
            (header::CONTENT_DISPOSITION, "attachment"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{XSSI_GUARD}{value}\n"),
    )
        .into_response()
}

/// A plain-text error as `RestApiServlet.replyError` sends it.
pub(crate) fn text_error(status: StatusCode, text: &str) -> Response {
    let body = if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        body,
    )
        .into_response()
}

impl IntoResponse for GerritErr {
    fn into_response(self) -> Response {
        text_error(self.status, &self.text)
    }
}

/// The servlet container's 401 page for `path`: not JSON, not the REST text format.
pub(crate) fn unauthorized(path: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [
            (
                header::WWW_AUTHENTICATE,
                "Basic realm=\"Gerrit Code Review\"",
            ),
            (header::CONTENT_TYPE, "text/html;charset=iso-8859-1"),
        ],
        format!(
            "<html>\n<head>\n<title>Error 401 Unauthorized</title>\n</head>\n\
             <body><h2>HTTP ERROR 401</h2>\n<p>Problem accessing {}. Reason:\n\
             <pre>    Unauthorized</pre></p>\n</body>\n</html>\n",
            html_escape(path)
        ),
    )
        .into_response()
}

/// Jetty escapes the path it echoes in its error page.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `KeyUtil.decode`: `+` is a space, then percent-decoding.
fn decode_segment(s: &str) -> String {
    let plus = s.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8_lossy()
        .into_owned()
}

struct Call<'a> {
    method: Method,
    segments: Vec<String>,
    pairs: Vec<(String, String)>,
    caller: Option<u64>,
    base_url: String,
    headers: &'a HeaderMap,
    body: Bytes,
}

async fn dispatch(
    State(world): State<World>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let (authenticated, rest) = match path.strip_prefix("/a/") {
        Some(rest) => (true, rest),
        None => (false, path.trim_start_matches('/')),
    };
    let caller = if authenticated {
        match basic_auth(&headers) {
            BasicAuth::Credentials(user, password) if !password.is_empty() => {
                match world.lock().gerrit.login(&user, &password) {
                    Some(id) => Some(id),
                    None => return unauthorized(path),
                }
            }
            _ => return unauthorized(path),
        }
    } else {
        None
    };
    if caller.is_none() && method != Method::GET && method != Method::HEAD {
        return text_error(StatusCode::FORBIDDEN, "Authentication required");
    }
    let mut segments: Vec<String> = rest.split('/').map(decode_segment).collect();
    // The servlet drops an empty last segment, so `/files/` and `/files` are the same.
    if segments.last().is_some_and(String::is_empty) {
        segments.pop();
    }
    let Some(pairs) = query_pairs(uri.query()) else {
        return text_error(StatusCode::BAD_REQUEST, "Invalid query string");
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let call = Call {
        method,
        segments,
        pairs,
        caller,
        base_url: format!("http://{host}"),
        headers: &headers,
        body,
    };
    match route(&world, &call) {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

fn route(world: &World, call: &Call) -> Result<Response, GerritErr> {
    let segs: Vec<&str> = call.segments.iter().map(String::as_str).collect();
    let get = call.method == Method::GET || call.method == Method::HEAD;
    let post = call.method == Method::POST;
    match segs.as_slice() {
        ["changes"] if get => {
            let list = query_changes(world, &call.pairs, call.caller, &call.base_url)?;
            Ok(json_reply(StatusCode::OK, &list))
        }
        ["changes", id] if get => get_change(world, call, id, false),
        ["changes", id, "detail"] if get => get_change(world, call, id, true),
        ["changes", id, "messages"] if get => {
            let inner = world.lock();
            let g = &inner.gerrit;
            let c = &g.changes[g.find_change(id)?];
            Ok(json_reply(
                StatusCode::OK,
                &crate::gerrit_json::messages_json(g, c, true),
            ))
        }
        ["changes", id, "comments"] if get => {
            let inner = world.lock();
            let g = &inner.gerrit;
            let c = &g.changes[g.find_change(id)?];
            Ok(json_reply(StatusCode::OK, &comments_json(g, c, None)))
        }
        ["changes", id, "revisions", rev, "comments"] if get => {
            let inner = world.lock();
            let g = &inner.gerrit;
            let c = &g.changes[g.find_change(id)?];
            let ps = c.patch_sets[find_revision(c, rev)?].number;
            Ok(json_reply(StatusCode::OK, &comments_json(g, c, Some(ps))))
        }
        ["changes", id, "revisions", rev, "commit"] if get => {
            let inner = world.lock();
            let g = &inner.gerrit;
            let c = &g.changes[g.find_change(id)?];
            let ps = &c.patch_sets[find_revision(c, rev)?];
            Ok(json_reply(StatusCode::OK, &commit_json(c, ps, true)))
        }
        ["changes", id, "revisions", rev, "files"] if get => {
            let inner = world.lock();
            let g = &inner.gerrit;
            let c = &g.changes[g.find_change(id)?];
            let ps = &c.patch_sets[find_revision(c, rev)?];
            Ok(json_reply(StatusCode::OK, &files_json(c, ps)))
        }
        ["changes", id, "revisions", rev, "review"] if get => {
            let inner = world.lock();
            let g = &inner.gerrit;
            let c = &g.changes[g.find_change(id)?];
            let ps = find_revision(c, rev)?;
            let opts = Opts::parse(all(&call.pairs, "o"))?.detail();
            let opts = Opts {
                messages: false,
                ..opts
            };
            let ctx = Ctx {
                caller: call.caller,
                base_url: &call.base_url,
            };
            Ok(json_reply(
                StatusCode::OK,
                &change_json(g, c, &opts, &ctx, Some(ps)),
            ))
        }
        ["changes", id, "revisions", rev, "review"] if post => set_review(world, call, id, rev),
        ["accounts", "self" | "me"] if get => {
            let Some(caller) = call.caller else {
                return Err(GerritErr::new(
                    StatusCode::FORBIDDEN,
                    "Resolving account 'self' requires login",
                ));
            };
            let inner = world.lock();
            let account = inner
                .gerrit
                .account(caller)
                .ok_or_else(|| GerritErr::not_found("self"))?;
            Ok(json_reply(StatusCode::OK, &detailed_account(account)))
        }
        ["config", "server", "version"] if get => {
            Ok(json_reply(StatusCode::OK, &Value::String("3.13.1".into())))
        }
        ["changes"]
        | ["changes", _]
        | ["changes", _, "detail" | "messages" | "comments"]
        | [
            "changes",
            _,
            "revisions",
            _,
            "commit" | "files" | "review" | "comments",
        ]
        | ["accounts", _] => Err(GerritErr::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "Method Not Allowed",
        )),
        _ => Err(GerritErr::new(StatusCode::NOT_FOUND, "Not Found")),
    }
}

fn get_change(world: &World, call: &Call, id: &str, detail: bool) -> Result<Response, GerritErr> {
    let mut opts = Opts::parse(all(&call.pairs, "o"))?;
    if detail {
        opts = opts.detail();
    }
    let inner = world.lock();
    let g = &inner.gerrit;
    let c = &g.changes[g.find_change(id)?];
    let ctx = Ctx {
        caller: call.caller,
        base_url: &call.base_url,
    };
    Ok(json_reply(
        StatusCode::OK,
        &change_json(g, c, &opts, &ctx, None),
    ))
}

fn set_review(world: &World, call: &Call, id: &str, rev: &str) -> Result<Response, GerritErr> {
    let Some(account) = call.caller else {
        return Err(GerritErr::new(
            StatusCode::FORBIDDEN,
            "Authentication required",
        ));
    };
    let content_type = call
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !content_type.starts_with("application/json") {
        return Err(GerritErr::new(
            StatusCode::BAD_REQUEST,
            "Expected Content-Type: application/json",
        ));
    }
    let body: Value = if call.body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(serde_json::Map::new())
    } else {
        serde_json::from_slice(&call.body).map_err(|_| {
            GerritErr::new(
                StatusCode::BAD_REQUEST,
                "Invalid application/json in request",
            )
        })?
    };
    let mut inner = world.lock();
    let g = &mut inner.gerrit;
    let index = g.find_change(id)?;
    let mut result = post_review(g, index, rev, account, &body)?.result;
    let ctx = Ctx {
        caller: Some(account),
        base_url: &call.base_url,
    };
    // ReviewResult.change_info is always present since 3.9.
    result["change_info"] = change_json(g, &g.changes[index], &Opts::default(), &ctx, None);
    Ok(json_reply(StatusCode::OK, &result))
}
