//! What build-listener runs beside the HTTP server for SPEC §14: the event feed's tailer
//! (`feed`), the webhook (`webhook`) and the flush of this process's request
//! durations into the journal ([`crate::metrics`]).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use super::AppState;
use super::feed::Feed;
use crate::metrics::Timings;

/// How often build-listener moves its request durations into the journal.
const FLUSH_EVERY: Duration = Duration::from_secs(5);

/// The status views' shared parts; cheap to clone.
#[derive(Clone, Default)]
pub struct Status {
    pub feed: Feed,
    /// This process's request durations (shared with its Gerrit client).
    pub timings: Timings,
}

/// Runs the tailer, the webhook (when configured) and the flusher until `stop` completes; the
/// returned task ends once all three have (after a last flush).
pub(super) fn spawn(
    app: AppState,
    stop: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (tx, rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let tail = tokio::spawn(
            app.status
                .feed
                .clone()
                .tail(app.journal.clone(), stopped(rx.clone())),
        );
        let webhook = app
            .config
            .status
            .webhook_url
            .clone()
            .map(|url| tokio::spawn(super::webhook::run(app.clone(), url)));
        let flush = tokio::spawn(flush(app.clone(), stopped(rx)));
        stop.await;
        let _ = tx.send(true);
        for task in [Some(tail), webhook, Some(flush)].into_iter().flatten() {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "status task panicked");
            }
        }
    })
}

async fn flush(app: AppState, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        let stopping = tokio::select! {
            () = &mut stop => true,
            () = tokio::time::sleep(FLUSH_EVERY) => false,
        };
        if let Err(e) = app.status.timings.flush(&app.journal).await {
            tracing::warn!(error = %e, "cannot record request durations");
        }
        if stopping {
            return;
        }
    }
}
