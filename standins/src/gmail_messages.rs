//! Gmail's `users.messages` methods: list (paged, `labelIds` ANDed and re-applied on every
//! page), get (`full`, `raw`, `minimal`, `metadata`), trash/untrash, modify and batchModify.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::gmail::{
    GmailErr, Reply, bad_request, max_results, not_found, ok_json, page_cursor, page_token, pairs,
};
use crate::gmail_store::{GmailStore, StoredMessage};
use crate::mime::{self, Detail};
use crate::util::{all, first};
use crate::world::World;

pub(crate) async fn list(State(world): State<World>, RawQuery(query): RawQuery) -> Reply {
    let pairs = pairs(query.as_deref())?;
    let max = max_results(&pairs)?;
    let cursor = page_cursor(&pairs)?;
    let label_ids = all(&pairs, "labelIds");
    let spam_trash = first(&pairs, "includeSpamTrash") == Some("true");
    let inner = world.lock();
    // Newest first, as Gmail lists; the filter is re-applied from this request's query.
    let matching: Vec<&StoredMessage> = inner
        .gmail
        .messages
        .iter()
        .rev()
        .filter(|m| spam_trash || !m.labels.iter().any(|l| l == "TRASH" || l == "SPAM"))
        .filter(|m| label_ids.iter().all(|id| m.labels.iter().any(|l| l == id)))
        .collect();
    let remaining: Vec<&&StoredMessage> = matching
        .iter()
        .filter(|m| cursor.is_none_or(|c| m.seq < c))
        .collect();
    let page: Vec<Value> = remaining
        .iter()
        .take(max)
        .map(|m| json!({"id": m.id, "threadId": m.thread_id}))
        .collect();
    let mut body = json!({ "resultSizeEstimate": matching.len() });
    if remaining.len() > max
        && let Some(last) = remaining.get(max - 1)
    {
        body["nextPageToken"] = json!(page_token(last.seq));
    }
    if !page.is_empty() {
        body["messages"] = Value::Array(page);
    }
    Ok(ok_json(&body))
}

fn valid_message_id(id: &str) -> Result<(), GmailErr> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad_request("Invalid id value"));
    }
    Ok(())
}

/// The parts of a Message every format shows.
fn message_head(m: &StoredMessage) -> Value {
    let mut v = json!({
        "id": m.id,
        "threadId": m.thread_id,
        "snippet": mime::snippet(&m.raw),
        "sizeEstimate": m.raw.len(),
        "historyId": m.history_id.to_string(),
        "internalDate": m.internal_date.to_string(),
    });
    if !m.labels.is_empty() {
        v["labelIds"] = json!(m.labels);
    }
    v
}

/// What `trash`, `untrash` and `modify` return: id, threadId and the new labels.
fn message_labels(m: &StoredMessage) -> Value {
    let mut v = json!({"id": m.id, "threadId": m.thread_id});
    if !m.labels.is_empty() {
        v["labelIds"] = json!(m.labels);
    }
    v
}

pub(crate) async fn get(
    State(world): State<World>,
    Path((_, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Reply {
    let pairs = pairs(query.as_deref())?;
    valid_message_id(&id)?;
    let inner = world.lock();
    let g = &inner.gmail;
    let m = g
        .message_index(&id)
        .map(|i| &g.messages[i])
        .ok_or_else(not_found)?;
    let mut body = message_head(m);
    match first(&pairs, "format").unwrap_or("full") {
        "full" => body["payload"] = mime::payload(&m.raw, Detail::Full),
        "raw" => body["raw"] = json!(mime::base64url(&m.raw)),
        "minimal" => {}
        "metadata" => {
            let wanted = all(&pairs, "metadataHeaders");
            let mut payload = mime::payload(&m.raw, Detail::Metadata);
            let headers: Vec<Value> = mime::top_headers(&m.raw)
                .into_iter()
                .filter(|(n, _)| {
                    wanted.is_empty() || wanted.iter().any(|w| w.eq_ignore_ascii_case(n))
                })
                .map(|(n, v)| json!({"name": n, "value": v}))
                .collect();
            payload["headers"] = Value::Array(headers);
            body["payload"] = payload;
        }
        other => {
            return Err(bad_request(&format!(
                "Invalid value at 'format' (type.googleapis.com/google.apps.gmail.v1.Format), \"{other}\""
            )));
        }
    }
    Ok(ok_json(&body))
}

/// Applies a label change to one message and answers with its labels (or 404).
fn relabel(world: &World, id: &str, add: &[String], remove: &[String]) -> Reply {
    valid_message_id(id)?;
    let mut inner = world.lock();
    let g = &mut inner.gmail;
    let index = g.message_index(id).ok_or_else(not_found)?;
    g.change_labels(index, add, remove);
    Ok(ok_json(&message_labels(&g.messages[index])))
}

pub(crate) async fn trash(
    State(world): State<World>,
    Path((_, id)): Path<(String, String)>,
) -> Reply {
    relabel(&world, &id, &["TRASH".to_owned()], &[])
}

pub(crate) async fn untrash(
    State(world): State<World>,
    Path((_, id)): Path<(String, String)>,
) -> Reply {
    relabel(&world, &id, &[], &["TRASH".to_owned()])
}

#[derive(Default)]
struct ModifyRequest {
    ids: Vec<String>,
    add_label_ids: Vec<String>,
    remove_label_ids: Vec<String>,
}

/// The wire form: google-gmail1 serializes every unset field as `null`, so all are optional.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ModifyWire {
    ids: Option<Vec<String>>,
    add_label_ids: Option<Vec<String>>,
    remove_label_ids: Option<Vec<String>>,
}

/// Parses a modify body and checks its label ids exist (Gmail: 400 "Invalid label").
fn modify_request(g: &GmailStore, body: &[u8]) -> Result<ModifyRequest, GmailErr> {
    let input: ModifyRequest = if body.is_empty() {
        ModifyRequest::default()
    } else {
        let wire: ModifyWire = serde_json::from_slice(body)
            .map_err(|_| bad_request("Invalid JSON payload received."))?;
        ModifyRequest {
            ids: wire.ids.unwrap_or_default(),
            add_label_ids: wire.add_label_ids.unwrap_or_default(),
            remove_label_ids: wire.remove_label_ids.unwrap_or_default(),
        }
    };
    if input.add_label_ids.len() > 100 || input.remove_label_ids.len() > 100 {
        return Err(bad_request(
            "Too many label ids (at most 100 may be added or removed)",
        ));
    }
    for id in input.add_label_ids.iter().chain(&input.remove_label_ids) {
        if g.label_by_id(id).is_none() {
            return Err(bad_request(&format!("Invalid label: {id}")));
        }
    }
    Ok(input)
}

pub(crate) async fn modify(
    State(world): State<World>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Reply {
    let input = modify_request(&world.lock().gmail, &body)?;
    relabel(&world, &id, &input.add_label_ids, &input.remove_label_ids)
}

pub(crate) async fn batch_modify(State(world): State<World>, body: Bytes) -> Reply {
    let mut inner = world.lock();
    let g = &mut inner.gmail;
    let input = modify_request(g, &body)?;
    if input.ids.len() > 1000 {
        return Err(bad_request("Too many ids (at most 1000)"));
    }
    for id in &input.ids {
        if let Some(index) = g.message_index(id) {
            g.change_labels(index, &input.add_label_ids, &input.remove_label_ids);
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
