//! The Jenkins stand-in's HTTP side: remote API (`api/json`, with `tree=`), `buildWithParameters`
//! and `build`, queue items, the queue and `cancelItem`, and builds, with Jenkins'
//! authentication answers. The exported objects are built in `jenkins_json.rs`.
//!
//! Kept from Jenkins (research/jenkins-api.md §2–4): authentication and crumbs as in
//! `jenkins_auth.rs` (API token: no crumb; password: POSTs need one); queueing answers 201 with
//! an absolute `Location: .../queue/item/N/` built from the request's host and an empty body,
//! or, when folded into an equal item still waiting (see `jenkins_store.rs`), 303 with that
//! item's `Location` from `buildWithParameters` (2.308+) and 201 from `build`; `build` on a
//! parameterized job is 400, `buildWithParameters` on an unparameterized one is 400; GET on those
//! is 405; unknown jobs are 404. API URLs are absolute (root URL, else the request's host).
//! A malformed `tree=` is an uncaught `ServletException` in Stapler, which Jenkins answers with
//! its 500 error page. `POST /queue/cancelItem?id=N` (Jenkins >= 2.211, `Queue.doCancelItem`):
//! 204 when a waiting item is cancelled; 404 "Provided id (N) not found" for an id Jenkins does
//! not know; 500 "Could not cancel run for id N" for an item that already left the queue, because
//! Jenkins still finds left items (for 5 minutes, kept forever here) and fails to cancel them; a
//! missing or non-numeric id converts to 0.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::jenkins_auth::{CRUMB_FIELD, authenticate, crumb_check, issue_crumb};
use crate::jenkins_json::{
    Detail, build_json, folder_json, job_json, queue_item_json, queue_json, root_json,
};
use crate::jenkins_store::CancelOutcome;
use crate::jenkins_tree;
use crate::util::{first, query_pairs};
use crate::world::World;

const VERSION: &str = "2.528";

pub(crate) fn router(world: World) -> Router {
    Router::new().fallback(dispatch).with_state(world)
}

/// Jenkins answers errors with an HTML page.
pub(crate) fn html_error(status: StatusCode, message: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html;charset=utf-8"),
            (header::HeaderName::from_static("x-jenkins"), VERSION),
        ],
        format!(
            "<html><head><title>Error {} {reason}</title></head><body>\
             <h2>HTTP ERROR {}</h2><p>{}</p></body></html>\n",
            status.as_u16(),
            status.as_u16(),
            // Jetty escapes the message it shows.
            message
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        ),
    )
        .into_response()
}

/// Jenkins' answer to a Basic header whose password or token is wrong.
pub(crate) fn unauthorized(user: &str) -> Response {
    let mut r = html_error(
        StatusCode::UNAUTHORIZED,
        &format!("Invalid password/token for user: {user}"),
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"Jenkins\""),
    );
    r
}

fn json_ok(value: &Value) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json;charset=utf-8"),
            (header::HeaderName::from_static("x-jenkins"), VERSION),
        ],
        value.to_string(),
    )
        .into_response()
}

/// How an `api/json` request wants its object: whole, or pruned by a `tree=` spec.
#[derive(Clone, Copy)]
struct Api<'a> {
    tree: Option<&'a str>,
}

impl Api<'_> {
    fn detail(self) -> Detail {
        match self.tree {
            Some(_) => Detail::Full,
            None => Detail::Summary,
        }
    }

    /// Answers with `value`, pruned by the tree spec if there is one. Jenkins resolves the
    /// object before it parses the spec, so an unknown object is 404 whatever the spec.
    fn answer(self, value: &Value) -> Response {
        let Some(spec) = self.tree else {
            return json_ok(value);
        };
        match jenkins_tree::parse(spec) {
            Ok(tree) => json_ok(&jenkins_tree::prune(value, &tree)),
            Err(e) => html_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("Malformed tree expression: {e}"),
            ),
        }
    }
}

fn method_not_allowed() -> Response {
    let mut r = html_error(StatusCode::METHOD_NOT_ALLOWED, "This URL requires POST");
    r.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    r
}

async fn dispatch(
    State(world): State<World>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let caller = match authenticate(&world.lock().jenkins, &headers) {
        Ok(caller) => caller,
        Err(refused) => return refused.response(),
    };
    let query = query_pairs(uri.query()).unwrap_or_default();
    if method == Method::POST {
        // `CrumbFilter` runs before Stapler finds the object, so even a POST to an unknown URL
        // is refused for want of a crumb.
        let mut fields = query.clone();
        fields.extend(form_pairs(&headers, &body));
        if let Err(refused) = crumb_check(&world.lock().jenkins, caller, &headers, &fields) {
            return refused.response();
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let request_root = format!("http://{host}/");
    let mut segments: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    // `/job/a/job/b/rest...` names job "a/b".
    let mut job = Vec::new();
    while segments.len() >= 2 && segments[0] == "job" {
        job.push(segments[1].clone());
        segments.drain(..2);
    }
    let rest: Vec<&str> = segments.iter().map(String::as_str).collect();
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    let api = Api {
        tree: first(&query, "tree"),
    };
    if job.is_empty() {
        let mut inner = world.lock();
        let store = &mut inner.jenkins;
        let root = store.root_url().unwrap_or(request_root);
        return match rest.as_slice() {
            ["api", "json"] if get => api.answer(&root_json(store, &root, api.detail())),
            // API-token clients need no crumb, but clients that ask get one.
            ["crumbIssuer", "api", "json"] if get => {
                let (crumb, cookie) = issue_crumb(store, &headers);
                let mut r = api.answer(&json!({
                    "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                    "crumb": crumb,
                    "crumbRequestField": CRUMB_FIELD,
                }));
                if let Some(cookie) = cookie {
                    r.headers_mut().insert(header::SET_COOKIE, cookie);
                }
                r
            }
            ["queue", "api", "json"] if get => api.answer(&queue_json(store, &root, api.detail())),
            ["queue", "item", id, "api", "json"] if get => {
                match id.parse().ok().and_then(|id| store.item(id)) {
                    Some(item) => api.answer(&queue_item_json(store, item, &root, api.detail())),
                    None => html_error(StatusCode::NOT_FOUND, "Not Found"),
                }
            }
            ["queue", "cancelItem"] if !post => method_not_allowed(),
            ["queue", "cancelItem"] => {
                let mut sent = query.clone();
                sent.extend(form_pairs(&headers, &body));
                // Stapler converts a missing or unparseable `long` parameter to 0.
                let id = first(&sent, "id")
                    .and_then(|id| id.parse::<i64>().ok())
                    .unwrap_or(0);
                let outcome = match u64::try_from(id) {
                    Ok(id) => store.cancel(id),
                    Err(_) => CancelOutcome::Unknown,
                };
                cancel_item(outcome, id)
            }
            _ => html_error(StatusCode::NOT_FOUND, "Not Found"),
        };
    }
    let path = job.join("/");
    let mut inner = world.lock();
    let store = &mut inner.jenkins;
    let root = store.root_url().unwrap_or_else(|| request_root.clone());
    let is_job = store.jobs.contains_key(&path);
    if !is_job && !store.is_folder(&path) {
        return html_error(StatusCode::NOT_FOUND, "Not Found");
    }
    match rest.as_slice() {
        ["api", "json"] if get => api.answer(&if is_job {
            job_json(store, &path, &root, api.detail())
        } else {
            folder_json(store, &path, &root, api.detail())
        }),
        ["buildWithParameters" | "build"] if !post => method_not_allowed(),
        ["buildWithParameters"] if is_job => {
            let parameterized = store.jobs.get(&path).is_some_and(|j| j.params.is_some());
            if !parameterized {
                return html_error(
                    StatusCode::BAD_REQUEST,
                    &format!("{path} is not parameterized"),
                );
            }
            let mut sent = query.clone();
            sent.extend(form_pairs(&headers, &body));
            let scheduled = store.enqueue(&path, &sent);
            // `ParametersDefinitionProperty.buildWithParameters`: 303 when folded (2.308+).
            let status = if scheduled.created {
                StatusCode::CREATED
            } else {
                StatusCode::SEE_OTHER
            };
            queued(status, scheduled.id, &request_root)
        }
        ["build"] if is_job => {
            if store.jobs.get(&path).is_some_and(|j| j.params.is_some()) {
                return html_error(StatusCode::BAD_REQUEST, "Nothing is submitted");
            }
            // `ParameterizedJobMixIn.doBuild` answers 201 even when the request was folded into
            // a waiting item (its "TODO JENKINS-66105 use SC_SEE_OTHER if !created").
            let scheduled = store.enqueue(&path, &[]);
            queued(StatusCode::CREATED, scheduled.id, &request_root)
        }
        [number, "api", "json"] if get && is_job => {
            match number.parse().ok().and_then(|n| store.build(&path, n)) {
                Some(b) => api.answer(&build_json(&path, b, &root)),
                None => html_error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        _ => html_error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// Form fields of a `application/x-www-form-urlencoded` body (read like query parameters).
fn form_pairs(headers: &HeaderMap, body: &[u8]) -> Vec<(String, String)> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Vec::new();
    }
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// 201 Created (or 303 See Other), absolute Location of the queue item, empty body.
fn queued(status: StatusCode, id: u64, request_root: &str) -> Response {
    (
        status,
        [
            (header::LOCATION, format!("{request_root}queue/item/{id}/")),
            (
                header::HeaderName::from_static("x-jenkins"),
                VERSION.to_owned(),
            ),
        ],
    )
        .into_response()
}

/// `Queue.doCancelItem`'s answer.
fn cancel_item(outcome: CancelOutcome, id: i64) -> Response {
    match outcome {
        CancelOutcome::Cancelled => (
            StatusCode::NO_CONTENT,
            [(header::HeaderName::from_static("x-jenkins"), VERSION)],
        )
            .into_response(),
        CancelOutcome::AlreadyLeft => html_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("Could not cancel run for id {id}"),
        ),
        CancelOutcome::Unknown => html_error(
            StatusCode::NOT_FOUND,
            &format!("Provided id ({id}) not found"),
        ),
    }
}
