//! `POST /drop-rejection`: gmail-listener asks build-listener to lift the bot's Verified-1
//! from a patch set a person gave Verified+1 (SPEC §7). The request is recorded as an intent
//! and answered at once; the effect runner checks Gerrit and drops the vote.

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use tracing::Instrument;

use crate::console;
use crate::jenkins::notification::{self, BodyError};
use crate::journal::now_ms;
use crate::policy;

use super::{ApiError, AppState, body_bytes, reply};

/// `POST /drop-rejection {"changeid": "...", "patchset": N}`: queue a check of the bot's
/// Verified vote on that revision, set to 0 by the worker if it is negative.
pub(super) async fn drop_rejection(
    AxumState(app): AxumState<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(&app, body)?;
    let (change, patch_set) = parse_drop_request(&body)
        .inspect_err(|e| tracing::warn!(error = %e, "bad drop-rejection request"))?;
    let span = tracing::info_span!("drop_rejection", change = %change, patch_set);
    let (planned, queued) = policy::drop_rejection(&change, patch_set, now_ms());
    let (id, new) = app
        .journal
        .record_deduped(planned, vec![queued.clone()])
        .instrument(span.clone())
        .await?;
    span.in_scope(|| tracing::info!(id, new, "drop-rejection queued"));
    if new {
        console::event(&queued);
    }
    app.wake.notify_one();
    Ok(reply(
        StatusCode::ACCEPTED,
        json!({ "result": "queued", "id": id }),
    ))
}

fn parse_drop_request(body: &[u8]) -> Result<(String, u32), BodyError> {
    let obj = notification::parse_object(body)?;
    let change = notification::required(
        notification::get(&obj, "changeid", "changeid", "a non-empty string", |v| {
            v.as_str()
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
        }),
        "changeid",
    )?;
    let patch_set = notification::required(
        notification::get(&obj, "patchset", "patchset", "a positive integer", |v| {
            v.as_u64()
                .filter(|&n| n > 0)
                .and_then(|n| u32::try_from(n).ok())
        }),
        "patchset",
    )?;
    Ok((change.to_string(), patch_set))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_requests_are_validated() {
        assert_eq!(
            parse_drop_request(br#"{"changeid":"platform/bionic~5","patchset":2}"#),
            Ok(("platform/bionic~5".to_string(), 2))
        );
        let rendered: Vec<String> = [
            "",
            "[]",
            r#"{"patchset":2}"#,
            r#"{"changeid":"p~5"}"#,
            r#"{"changeid":"","patchset":2}"#,
            r#"{"changeid":5,"patchset":2}"#,
            r#"{"changeid":"p~5","patchset":"2"}"#,
            r#"{"changeid":"p~5","patchset":0}"#,
            r#"{"changeid":"p~5","patchset":1.5}"#,
        ]
        .iter()
        .map(|b| format!("{b}  =>  {}", parse_drop_request(b.as_bytes()).unwrap_err()))
        .collect();
        insta::assert_snapshot!(rendered.join("\n"));
    }
}
