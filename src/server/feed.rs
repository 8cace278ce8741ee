//! Live events: one tailer reads new rows of the shared `events` table (both processes append
//! to it; SQLite cannot notify across processes, so it polls, which is one indexed query on
//! the primary key every [`POLL`]) and broadcasts them to `/sse` clients and the webhook.
//!
//! A client that connects with `Last-Event-ID` (or `?after=`) first reads what it missed from
//! the journal, then follows the broadcast; one that falls behind the broadcast reads from the
//! journal again. Ids only grow, so "everything above the last id sent" is exact: nothing is
//! lost and nothing is sent twice.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::{broadcast, watch};

use super::views::{event_json, param};
use super::{ApiError, AppState};
use crate::journal::{Event, Journal};

/// How often the tailer looks for new events.
pub const POLL: Duration = Duration::from_millis(200);

/// How often `/sse` sends a comment line so that proxies keep the stream open.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Events read per query, when catching up.
const PAGE: usize = 500;

/// One event, serialized once for every client.
#[derive(Debug)]
pub struct Wire {
    pub id: i64,
    pub kind: &'static str,
    pub json: String,
    pub event: Event,
}

impl Wire {
    fn new(event: Event) -> Wire {
        Wire {
            id: event.id,
            kind: event.event.kind.as_str(),
            json: event_json(&event).to_string(),
            event,
        }
    }
}

/// The broadcast of new events; cheap to clone.
#[derive(Clone)]
pub struct Feed {
    tx: broadcast::Sender<Arc<Wire>>,
    stop: Arc<watch::Sender<bool>>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            tx: broadcast::channel(1024).0,
            stop: Arc::new(watch::channel(false).0),
        }
    }
}

impl Feed {
    /// Follows the journal until `stop` completes, then ends every subscriber's stream (so
    /// that a graceful shutdown does not wait for SSE clients that never hang up).
    pub async fn tail(self, journal: Journal, stop: impl std::future::Future<Output = ()>) {
        let mut last = journal.last_event_id().await.unwrap_or(0);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(POLL) => {}
            }
            if self.tx.receiver_count() == 0 {
                // Nobody listens: skip the read, start from the newest when someone does.
                if let Ok(id) = journal.last_event_id().await {
                    last = id;
                }
                continue;
            }
            loop {
                match journal.events_since(last, PAGE).await {
                    Ok(events) => {
                        let n = events.len();
                        for e in events {
                            last = e.id;
                            let _ = self.tx.send(Arc::new(Wire::new(e)));
                        }
                        if n < PAGE {
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read new events");
                        break;
                    }
                }
            }
        }
        let _ = self.stop.send(true);
    }

    /// Every event above `after`, then each new one, until the server stops.
    pub fn subscribe(&self, journal: Journal, after: i64) -> Cursor {
        Cursor {
            journal,
            rx: self.tx.subscribe(),
            stop: self.stop.subscribe(),
            last: after,
            backlog: VecDeque::new(),
            catch_up: true,
        }
    }
}

/// One subscriber's position.
pub struct Cursor {
    journal: Journal,
    rx: broadcast::Receiver<Arc<Wire>>,
    stop: watch::Receiver<bool>,
    last: i64,
    backlog: VecDeque<Arc<Wire>>,
    catch_up: bool,
}

impl Cursor {
    /// The next event, or `None` once the server stops (or the journal cannot be read).
    pub async fn next(&mut self) -> Option<Arc<Wire>> {
        loop {
            if *self.stop.borrow() {
                return None;
            }
            if let Some(w) = self.backlog.pop_front() {
                self.last = w.id;
                return Some(w);
            }
            if self.catch_up {
                let events = self.journal.events_since(self.last, PAGE).await.ok()?;
                self.catch_up = events.len() == PAGE;
                self.backlog
                    .extend(events.into_iter().map(|e| Arc::new(Wire::new(e))));
                continue;
            }
            tokio::select! {
                r = self.rx.recv() => match r {
                    Ok(w) if w.id > self.last => {
                        self.last = w.id;
                        return Some(w);
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up = true,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.stop.wait_for(|s| *s) => return None,
            }
        }
    }
}

/// `GET /sse`: new events as `id:`, `event: <kind>`, `data: <json>`; `Last-Event-ID` (or
/// `?after=ID`) replays what came after that id first.
pub(super) async fn sse(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let from_header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = match from_header {
        Some(id) => id,
        None if q.contains_key("after") => {
            i64::try_from(param(&q, "after", 0, i64::MAX as u64)?).unwrap_or(i64::MAX)
        }
        None => app.journal.last_event_id().await?,
    };
    let cursor = app.status.feed.subscribe(app.journal.clone(), after);
    let stream = futures_util::stream::unfold(cursor, |mut c| async move {
        let w = c.next().await?;
        let event = SseEvent::default()
            .id(w.id.to_string())
            .event(w.kind)
            .data(&w.json);
        Some((Ok(event), c))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}
