//! `[status] webhook_url` (SPEC §14): every change of a build's status (`pending` included)
//! is POSTed as `{"payload": <the change as /api/v1/changes shows it>}`, the change as it was
//! at that status change ([`crate::journal::Journal::change_as_of`]).
//!
//! It follows the same feed as `/sse` (the journal's `status` events, of both processes) and
//! sends each POST from a task of its own with a 10 s timeout, once: a slow or dead receiver
//! never delays a callback, a vote or the next webhook, and a failure is only logged. At most
//! [`IN_FLIGHT`] POSTs wait at once; past that a POST is dropped with a warning rather than
//! piling up tasks behind a receiver that hangs.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::Semaphore;

use super::AppState;
use super::views::{change_json, parse_change};
use crate::effects::StatusWebhook;
use crate::journal::EventKind;

/// POSTs waiting for an answer at most.
pub const IN_FLIGHT: usize = 64;

/// Sends the webhook for every status event from now on, until the server stops.
pub(super) async fn run(app: AppState, url: String) {
    let client = match StatusWebhook::new(&url) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook's HTTP client: no webhooks");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let start = app.journal.last_event_id().await.unwrap_or(0);
    let mut cursor = app.status.feed.subscribe(app.journal.clone(), start);
    while let Some(w) = cursor.next().await {
        let e = &w.event.event;
        if e.kind != EventKind::Status {
            continue;
        }
        let Some(Ok((_, number))) = e.change.as_deref().map(parse_change) else {
            continue;
        };
        // The change as it was at this event, not as it is now: a build that went `pending`,
        // `building`, `failed` within one tail of the feed is posted three times, each with
        // its status then.
        let view = match app.journal.change_as_of(number, w.id, w.event.at).await {
            Ok(Some(view)) => view,
            Ok(None) => continue,
            Err(err) => {
                tracing::warn!(error = %err, "webhook: cannot read the change");
                continue;
            }
        };
        let body = json!({ "payload": change_json(&app.config, &view) });
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(change = %view.key(), "webhook: {IN_FLIGHT} POSTs already waiting; \
                this status change is not sent");
            continue;
        };
        let (client, key) = (client.clone(), view.key());
        let status = e.status.clone().unwrap_or_default();
        tokio::spawn(async move {
            let _permit = permit;
            match client.post(&body).await {
                Ok(()) => tracing::debug!(change = %key, status = %status, "webhook sent"),
                Err(err) => tracing::warn!(change = %key, error = %err, "webhook failed"),
            }
        });
    }
}
