//! The Gmail API v1 stand-in: the subset of `users.*` bionicbb calls, on the real paths
//! (`/gmail/v1/users/{userId}/...`) with the real JSON shapes.
//!
//! Wire facts kept (see research/gmail-api.md): numeric ids (`historyId`, `internalDate`) are
//! JSON strings; `messages` is absent from an empty list; `labelIds` is repeatable and ANDed and
//! is honoured on every page (page tokens carry only a position, never the query); trashed mail
//! is hidden unless `includeSpamTrash=true`; every call needs `Authorization: Bearer`; errors use
//! Google's envelope; unknown query parameters (`alt=json`, `q`, ...) are accepted.
//!
//! This file holds routing, authorization, errors, labels, history and profile; the
//! `users.messages` methods are in `gmail_messages.rs`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::gmail_messages as messages;
use crate::gmail_store::{GmailStore, HistoryChange, HistoryRecord, StoredMessage};
use crate::util::{all, first, query_pairs};
use crate::world::World;

pub(crate) type Reply = Result<Response, GmailErr>;

/// An error a handler returns; rendered in Google's envelope.
pub(crate) struct GmailErr {
    code: StatusCode,
    message: String,
    reason: &'static str,
}

impl IntoResponse for GmailErr {
    fn into_response(self) -> Response {
        google_error(self.code, &self.message, self.reason)
    }
}

/// Google's JSON error envelope, which google-gmail1 surfaces as `Error::BadRequest(value)`.
pub(crate) fn google_error(code: StatusCode, message: &str, reason: &str) -> Response {
    let status = match code.as_u16() {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ALREADY_EXISTS",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    };
    let body = json!({"error": {
        "code": code.as_u16(),
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": status,
    }});
    let mut response = ok_json_status(code, &body);
    if code == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static(
                "Bearer realm=\"https://accounts.google.com/\", error=\"invalid_token\"",
            ),
        );
    }
    response
}

pub(crate) fn bad_request(message: &str) -> GmailErr {
    GmailErr {
        code: StatusCode::BAD_REQUEST,
        message: message.to_owned(),
        reason: "invalidArgument",
    }
}

pub(crate) fn not_found() -> GmailErr {
    GmailErr {
        code: StatusCode::NOT_FOUND,
        message: "Requested entity was not found.".to_owned(),
        reason: "notFound",
    }
}

pub(crate) fn ok_json(body: &Value) -> Response {
    ok_json_status(StatusCode::OK, body)
}

fn ok_json_status(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        format!("{body:#}"),
    )
        .into_response()
}

pub(crate) fn router(world: World) -> Router {
    const USER: &str = "/gmail/v1/users/{user}";
    let route = |rest: &str| format!("{USER}{rest}");
    Router::new()
        .route(&route("/labels"), get(list_labels).post(create_label))
        .route(&route("/labels/{id}"), get(get_label))
        .route(&route("/messages"), get(messages::list))
        .route(
            &route("/messages/batchModify"),
            post(messages::batch_modify),
        )
        .route(&route("/messages/{id}"), get(messages::get))
        .route(&route("/messages/{id}/trash"), post(messages::trash))
        .route(&route("/messages/{id}/untrash"), post(messages::untrash))
        .route(&route("/messages/{id}/modify"), post(messages::modify))
        .route(&route("/history"), get(list_history))
        .route(&route("/profile"), get(profile))
        .route_layer(middleware::from_fn_with_state(world.clone(), authorize))
        .fallback(unknown_path)
        .with_state(world)
}

/// Google's front end answers unknown paths with an HTML page, not the JSON envelope.
async fn unknown_path() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
        "<!DOCTYPE html>\n<html lang=en><title>Error 404 (Not Found)!!1</title>\
         <p><b>404.</b> <ins>That’s an error.</ins>\n",
    )
        .into_response()
}

/// Every call needs a valid bearer token, and `userId` must be `me` or the mailbox's address.
async fn authorize(State(world): State<World>, request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let valid = token.is_some_and(|t| world.lock().oauth.access_token_valid(t));
    if !valid {
        return google_error(
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, \
             login cookie or other valid authentication credential. See \
             https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "authError",
        );
    }
    let user = request
        .uri()
        .path()
        .strip_prefix("/gmail/v1/users/")
        .and_then(|p| p.split('/').next())
        .map(|u| {
            percent_encoding::percent_decode_str(u)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    if user != "me" && !user.eq_ignore_ascii_case(&world.gmail_address()) {
        return google_error(
            StatusCode::FORBIDDEN,
            &format!("Delegation denied for {}", world.gmail_address()),
            "forbidden",
        );
    }
    next.run(request).await
}

pub(crate) fn pairs(query: Option<&str>) -> Result<Vec<(String, String)>, GmailErr> {
    query_pairs(query).ok_or_else(|| bad_request("Invalid query string"))
}

/// `maxResults`: default 100, at most 500 (larger values are capped).
pub(crate) fn max_results(pairs: &[(String, String)]) -> Result<usize, GmailErr> {
    match first(pairs, "maxResults") {
        None => Ok(100),
        Some(v) => match v.parse::<u32>() {
            Ok(0) => Ok(100),
            Ok(n) => Ok(usize::try_from(n.min(500)).unwrap_or(500)),
            Err(_) => Err(bad_request(&format!(
                "Invalid value '{v}'. Values must match the following regular expression: '[0-9]+'"
            ))),
        },
    }
}

/// Page tokens are 20-digit positions (what real tokens look like: long digit strings).
pub(crate) fn page_cursor(pairs: &[(String, String)]) -> Result<Option<u64>, GmailErr> {
    match first(pairs, "pageToken") {
        None | Some("") => Ok(None),
        Some(t) => t
            .parse::<u64>()
            .map(Some)
            .map_err(|_| bad_request("Invalid pageToken")),
    }
}

pub(crate) fn page_token(position: u64) -> String {
    format!("{position:020}")
}

async fn list_labels(State(world): State<World>) -> Response {
    let inner = world.lock();
    let labels: Vec<Value> = inner.gmail.labels.iter().map(label_json).collect();
    ok_json(&json!({ "labels": labels }))
}

fn label_json(l: &crate::gmail_store::Label) -> Value {
    if l.system {
        json!({"id": l.id, "name": l.name, "type": "system"})
    } else {
        json!({"id": l.id, "name": l.name, "messageListVisibility": "show",
               "labelListVisibility": "labelShow", "type": "user"})
    }
}

async fn get_label(State(world): State<World>, Path((_, id)): Path<(String, String)>) -> Response {
    let inner = world.lock();
    let g = &inner.gmail;
    let Some(label) = g.label_by_id(&id) else {
        return not_found().into_response();
    };
    let with: Vec<&StoredMessage> = g
        .messages
        .iter()
        .filter(|m| m.labels.contains(&label.id))
        .collect();
    let unread = with
        .iter()
        .filter(|m| m.labels.iter().any(|l| l == "UNREAD"))
        .count();
    let mut body = label_json(label);
    body["messagesTotal"] = json!(with.len());
    body["messagesUnread"] = json!(unread);
    body["threadsTotal"] = json!(with.len());
    body["threadsUnread"] = json!(unread);
    ok_json(&body)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewLabel {
    name: Option<String>,
}

async fn create_label(State(world): State<World>, body: Bytes) -> Response {
    let Ok(input) = serde_json::from_slice::<NewLabel>(&body) else {
        return bad_request("Invalid JSON payload received.").into_response();
    };
    let name = input.name.unwrap_or_default();
    let name = name.trim();
    if name.is_empty() {
        return bad_request("Invalid label name").into_response();
    }
    let mut inner = world.lock();
    match inner.gmail.create_label(name) {
        Some(label) => ok_json(&label_json(&label)),
        None => google_error(
            StatusCode::CONFLICT,
            "Label name exists or conflicts",
            "duplicate",
        ),
    }
}

fn history_json(g: &GmailStore, r: &HistoryRecord) -> Value {
    let thread = g
        .message_index(&r.message_id)
        .map_or(r.message_id.clone(), |i| g.messages[i].thread_id.clone());
    let short = json!({"id": r.message_id, "threadId": thread});
    let full = json!({"id": r.message_id, "threadId": thread, "labelIds": r.labels_after});
    let mut v = json!({"id": r.id.to_string(), "messages": [short]});
    match &r.change {
        HistoryChange::Added => v["messagesAdded"] = json!([{ "message": full }]),
        HistoryChange::LabelsAdded(l) => {
            v["labelsAdded"] = json!([{ "message": full, "labelIds": l }]);
        }
        HistoryChange::LabelsRemoved(l) => {
            v["labelsRemoved"] = json!([{ "message": full, "labelIds": l }]);
        }
    }
    v
}

fn history_type_matches(change: &HistoryChange, types: &[&str]) -> bool {
    types.is_empty()
        || types.iter().any(|t| {
            matches!(
                (*t, change),
                ("messageAdded", HistoryChange::Added)
                    | ("labelAdded", HistoryChange::LabelsAdded(_))
                    | ("labelRemoved", HistoryChange::LabelsRemoved(_))
            )
        })
}

async fn list_history(State(world): State<World>, RawQuery(query): RawQuery) -> Reply {
    let pairs = pairs(query.as_deref())?;
    let Some(start) = first(&pairs, "startHistoryId") else {
        return Err(bad_request("Required parameter: startHistoryId"));
    };
    let start: u64 = start
        .parse()
        .map_err(|_| bad_request(&format!("Invalid value '{start}' for startHistoryId")))?;
    let max = max_results(&pairs)?;
    let cursor = page_cursor(&pairs)?;
    let types = all(&pairs, "historyTypes");
    for t in &types {
        if !matches!(
            *t,
            "messageAdded" | "messageDeleted" | "labelAdded" | "labelRemoved"
        ) {
            return Err(bad_request(&format!("Invalid value for historyTypes: {t}")));
        }
    }
    let label = first(&pairs, "labelId");
    let inner = world.lock();
    let g = &inner.gmail;
    // An id that is too old (or 0) "typically returns an HTTP 404": the client must full-sync.
    if start == 0 || start < g.oldest_history {
        return Err(not_found());
    }
    let selected: Vec<&HistoryRecord> = g
        .history
        .iter()
        .filter(|r| r.id > start && cursor.is_none_or(|c| r.id > c))
        .filter(|r| history_type_matches(&r.change, &types))
        .filter(|r| label.is_none_or(|l| r.labels_after.iter().any(|x| x == l) || changed(r, l)))
        .collect();
    let page: Vec<Value> = selected
        .iter()
        .take(max)
        .map(|r| history_json(g, r))
        .collect();
    let mut body = json!({ "historyId": g.history_id.to_string() });
    if selected.len() > max
        && let Some(last) = selected.get(max - 1)
    {
        body["nextPageToken"] = json!(page_token(last.id));
    }
    if !page.is_empty() {
        body["history"] = Value::Array(page);
    }
    Ok(ok_json(&body))
}

fn changed(r: &HistoryRecord, label: &str) -> bool {
    match &r.change {
        HistoryChange::LabelsAdded(l) | HistoryChange::LabelsRemoved(l) => {
            l.iter().any(|x| x == label)
        }
        HistoryChange::Added => false,
    }
}

async fn profile(State(world): State<World>, _headers: HeaderMap) -> Response {
    let inner = world.lock();
    let g = &inner.gmail;
    ok_json(&json!({
        "emailAddress": g.email,
        "messagesTotal": g.messages.len(),
        "threadsTotal": g.messages.len(),
        "historyId": g.history_id.to_string(),
    }))
}
