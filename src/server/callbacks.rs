//! `POST /`: Jenkins' Notification plugin tells build-listener about a build's phase (SPEC §7).
//! HTTP only: read and parse the body, hand the event to the one callback handler
//! ([`crate::intake::callbacks`]), turn what it did into the answer, wake the effect runner.
//! The plugin blocks the build while it waits and never retries on an error status, so the
//! answer comes as soon as the callback is durably recorded.

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use tracing::{Instrument, field};

use crate::console;
use crate::intake::callbacks::{CallbackError, Handled};
use crate::jenkins::notification::JenkinsEvent;
use crate::journal::Accepted;
use crate::record::{EventKind, NewEvent};

use super::{ApiError, AppState, body_bytes, reply};

/// `POST /`: one Notification-plugin event.
pub(super) async fn notification(
    AxumState(app): AxumState<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let span = tracing::info_span!(
        "callback",
        job = field::Empty,
        number = field::Empty,
        phase = field::Empty,
        status = field::Empty
    );
    let _answering = app.callbacks_in_flight.enter();
    async move {
        let body = body_bytes(&app, body)?;
        let event = match JenkinsEvent::parse(&body) {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, "bad callback");
                let line = NewEvent::new(EventKind::Error, "callback", format!("bad request: {e}"));
                console::emit(&app.journal, line).await;
                return Err(e.into());
            }
        };
        let span = tracing::Span::current();
        span.record("job", event.name.as_str());
        span.record("number", event.build.number);
        span.record("phase", field::display(&event.build.phase));
        if let Some(s) = &event.build.status {
            span.record("status", field::display(s));
        }
        let handled = app.callbacks.handle(&event).await.map_err(|e| match e {
            CallbackError::Rejected(r) => ApiError::from(r),
            CallbackError::Journal(j) => ApiError::from(j),
        })?;
        if handled.queued() {
            app.wake.notify_one();
        }
        Ok(respond(handled))
    }
    .instrument(span)
    .await
}

/// The answer to a handled callback.
fn respond(handled: Handled) -> Response {
    let accepted = match handled {
        Handled::Nothing(what) => return reply(StatusCode::OK, json!({ "result": what })),
        Handled::Accepted { accepted, .. } => accepted,
    };
    match accepted {
        Accepted::Queued(id) => {
            tracing::info!(id, "review queued");
            reply(
                StatusCode::ACCEPTED,
                json!({ "result": "queued", "id": id }),
            )
        }
        Accepted::Duplicate { acted_phase } => {
            tracing::info!(acted_phase = %acted_phase, "already acted on this build: duplicate");
            reply(
                StatusCode::OK,
                json!({ "result": "duplicate", "acted_phase": acted_phase }),
            )
        }
        Accepted::Recorded => {
            tracing::debug!("recorded");
            reply(StatusCode::OK, json!({ "result": "recorded" }))
        }
    }
}
