//! `POST /gerrit-events`: Gerrit's webhooks plugin tells build-listener about a new patch set
//! or a comment the moment it happens (SPEC §15).
//!
//! An event is a hint handled like the matching mail ([`crate::intake`]): Gerrit's facts, the
//! same checks, the same intent keys, so a patch set announced by a webhook, a mail and the
//! reconcile pass is built once. Unlike Jenkins' plugin, the webhooks plugin retries any answer
//! but 200/201/202/204 (`maxTries`, default 5, every `retryInterval`), so the facts are read
//! from Gerrit in the request: a passing Gerrit failure is a 503 the plugin tries again, and
//! the event is answered 2xx only once its intents are in the journal. The builds are then
//! triggered in the background; one that fails is retried here a few times and otherwise
//! carried out by the next mail or reconcile pass that finds the patch set (same key).

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::console;
use crate::hint::Notification;
use crate::intake::webhooks::{self, Event};
use crate::intake::{Assessed, Intake};
use crate::journal::{IntentKind, NewEvent};
use crate::key::IntentKey;
use tracing::Instrument;

use super::{ApiError, AppState, body_bytes, reply};

/// How many times the background task tries a failed build before leaving it to the next
/// mail or reconcile pass.
const ATTEMPTS: u32 = 5;

pub(super) async fn receive(
    AxumState(app): AxumState<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body_bytes(&app, body)?;
    let n = match webhooks::parse(&body) {
        Ok(Event::Hint(n)) => n,
        Ok(Event::Ignored(kind)) => {
            tracing::debug!(%kind, "a Gerrit event the bot does not act on");
            return Ok(reply(
                StatusCode::OK,
                json!({ "result": "ignored", "type": kind }),
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "bad Gerrit event");
            let line = NewEvent::new(
                console::Kind::Error,
                "gerrit-events",
                format!("bad request: {e}"),
            );
            console::emit(&app.journal, line).await;
            return Err(ApiError::new(StatusCode::BAD_REQUEST, e.to_string()));
        }
    };
    let Some(intake) = &app.intake else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "build-listener has no Jenkins credentials: add a netrc entry for [jenkins] url",
        ));
    };
    let span =
        tracing::info_span!("gerrit_event", change = %n.locator(), patch_set = n.patch_set.0);
    handle(&app, intake, &n).instrument(span).await
}

async fn handle(app: &AppState, intake: &Intake, n: &Notification) -> Result<Response, ApiError> {
    let ctx = n.message_type.to_string();
    let (planned, events) = match intake.assess(n, &webhooks::fallback_key(n)).await {
        Assessed::Plan { planned, events } => (planned, events),
        Assessed::Stale(e) | Assessed::Ambiguous(e) => {
            console::emit(&app.journal, e).await;
            return Ok(reply(StatusCode::OK, json!({ "result": "nothing to do" })));
        }
        Assessed::Failed(error) => {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error));
        }
        Assessed::DryRun => return Ok(reply(StatusCode::OK, json!({ "result": "dry run" }))),
    };
    let keys = intake
        .record(&ctx, planned, events)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e))?;
    // Reviews and drop-rejections are the runner's; builds and cancels are carried out here.
    app.wake.notify_one();
    let jenkins_keys: Vec<IntentKey> = keys
        .iter()
        .filter(|(_, k)| matches!(k, IntentKind::Trigger | IntentKind::Cancel))
        .map(|(key, _)| key.clone())
        .collect();
    if !jenkins_keys.is_empty() {
        intake.effectors.run_soon(jenkins_keys, ATTEMPTS);
    }
    Ok(reply(
        StatusCode::ACCEPTED,
        json!({ "result": "recorded", "intents": keys.len() }),
    ))
}
