//! The runner: carries out due intents of the kinds a process handles, in the background,
//! retrying failures with jittered exponential backoff, renewing its owner's lease, and giving
//! intents back when it is stopped before it could finish them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
// tokio's clock, so a test with paused time sees the runner's waits as they are.
use tokio::time::Instant;

use crate::console;
use crate::journal::{EventKind, IntentKind, NewEvent, now_ms};

use super::Effectors;

/// Jittered exponential backoff: attempt n waits between half and all of
/// `first * 2^(n-1)`, capped at `max`. The jitter keeps a backlog from hitting a service that
/// just came back all at the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    /// An hour-long outage costs at most five minutes of extra delay once it is over.
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(2),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// No wait: the caller decides when to try again (gmail-listener retries with the mail).
    pub const NONE: Backoff = Backoff {
        first: Duration::ZERO,
        max: Duration::ZERO,
    };

    /// The wait after the `attempt`-th failure (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(30));
        let full = self.first.saturating_mul(factor).min(self.max);
        full / 2 + full.mul_f64(fastrand::f64() / 2.0)
    }
}

/// Requests that go before the runner: while more than `busy` of them are being answered,
/// the runner starts no new attempt, for at most `max_wait` in a row.
///
/// Why: Jenkins' Notification plugin makes its call from the build's own thread and waits for
/// the answer, while a review reaches Gerrit just as well a few hundred milliseconds later.
/// In a burst of callbacks (Jenkins flushing its notifications after a restart, say) the
/// attempts' HTTP and journal work would otherwise share the cores with the answers; each
/// review costs about as much CPU as ten callbacks.
#[derive(Clone, Debug)]
pub struct Foreground {
    in_flight: Arc<AtomicUsize>,
    busy: usize,
    max_wait: Duration,
}

/// Counts one foreground request for as long as it lives.
pub struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Foreground {
    pub fn new(busy: usize, max_wait: Duration) -> Foreground {
        Foreground {
            in_flight: Arc::default(),
            busy,
            max_wait,
        }
    }

    /// Marks a request as being answered until the returned guard is dropped.
    pub fn enter(&self) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.in_flight.clone())
    }

    fn is_busy(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > self.busy
    }
}

/// How often a yielding runner looks again.
const YIELD_POLL: Duration = Duration::from_millis(5);

/// A background runner of one process's intent kinds.
pub struct Runner {
    pub effectors: Effectors,
    pub kinds: Vec<IntentKind>,
    /// Wakes the runner when something was recorded.
    pub wake: Arc<Notify>,
    /// Reviews and drop-rejections still not done this long after they were accepted are
    /// marked failed (SPEC §12 `give_up_after`).
    pub give_up_after: Option<Duration>,
    /// How long a stop waits for attempts in flight before giving them back.
    pub shutdown_timeout: Duration,
    /// Requests whose answers go first (build-listener: the Jenkins callbacks).
    pub yield_to: Option<Foreground>,
}

/// At most this many intents are attempted at once (distinct order keys run concurrently).
const CONCURRENCY: usize = 16;

impl Runner {
    /// Runs until `shutdown` completes; then waits up to `shutdown_timeout` for attempts in
    /// flight and gives back (as intents in doubt) whatever did not finish.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let renew = tokio::spawn(renew_lease(self.effectors.clone()));
        let mut inflight = JoinSet::new();
        let mut last_give_up = 0;
        let mut deferred_since: Option<Instant> = None;
        loop {
            if now_ms() - last_give_up > 1000 {
                self.give_up().await;
                last_give_up = now_ms();
            }
            // Every slot busy: nothing can be claimed, so wakes (one per accepted callback
            // under load) are not worth a query; the next finished attempt frees a slot.
            if inflight.len() >= CONCURRENCY {
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    Some(_) = inflight.join_next() => {}
                }
                while inflight.try_join_next().is_some() {}
                continue;
            }
            if let Some(f) = &self.yield_to
                && f.is_busy()
                && deferred_since.get_or_insert_with(Instant::now).elapsed() < f.max_wait
            {
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(YIELD_POLL) => {}
                }
                continue;
            }
            deferred_since = None;
            let claimed_all = self.start_due(&mut inflight).await;
            if claimed_all {
                continue;
            }
            let wait = self.next_wait().await;
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
                () = self.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        self.stop(inflight).await;
        renew.abort();
    }

    /// Claims as many due intents as there are free slots and starts them; whether it got
    /// all it asked for (fewer: the rest is not due yet, or waits behind an attempt in
    /// flight, whose end wakes the loop).
    async fn start_due(&self, inflight: &mut JoinSet<()>) -> bool {
        let room = CONCURRENCY - inflight.len();
        let claimed = match self
            .effectors
            .journal
            .claim_due(&self.kinds, &self.effectors.owner, room)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim intents");
                Vec::new()
            }
        };
        let claimed_all = claimed.len() == room;
        for intent in claimed {
            let effectors = self.effectors.clone();
            inflight.spawn(async move {
                if let Err(e) = effectors.run(&intent).await {
                    tracing::error!(error = %e, key = %intent.key, "cannot record an outcome");
                }
            });
        }
        claimed_all
    }

    async fn stop(&self, mut inflight: JoinSet<()>) {
        let deadline = tokio::time::sleep(self.shutdown_timeout);
        tokio::pin!(deadline);
        while !inflight.is_empty() {
            tokio::select! {
                _ = inflight.join_next() => {}
                () = &mut deadline => {
                    tracing::warn!(left = inflight.len(),
                        "shutdown timeout: giving back attempts still in flight");
                    inflight.abort_all();
                    break;
                }
            }
        }
        match self.effectors.journal.abandon(&self.effectors.owner).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(n, "gave back unfinished intents; they will be reconciled"),
            Err(e) => tracing::error!(error = %e, "cannot give back unfinished intents"),
        }
        tracing::info!("effect runner stopped");
    }

    async fn next_wait(&self) -> Duration {
        let cap = Duration::from_secs(1);
        match self.effectors.journal.next_due(&self.kinds).await {
            Ok(Some(at)) => {
                Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)).min(cap)
            }
            Ok(None) => cap,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the intents");
                cap
            }
        }
    }

    async fn give_up(&self) {
        let Some(after) = self.give_up_after else {
            return;
        };
        let before = now_ms().saturating_sub(i64::try_from(after.as_millis()).unwrap_or(i64::MAX));
        for kind in [IntentKind::Review, IntentKind::DropRejection] {
            if !self.kinds.contains(&kind) {
                continue;
            }
            let why = format!(
                "gave up: not posted within [build_listener] give_up_after ({})",
                humantime::format_duration(after)
            );
            match self.effectors.journal.give_up(kind, before, &why).await {
                Ok(given_up) => {
                    let events: Vec<NewEvent> = given_up
                        .iter()
                        .map(|i| {
                            let mut e = NewEvent::new(
                                EventKind::Error,
                                "gerrit",
                                format!(
                                    "{} => {}: {why}",
                                    i.source,
                                    i.change.as_deref().unwrap_or("?")
                                ),
                            );
                            e.change = i.change.clone();
                            e.patch_set = i.patch_set;
                            e
                        })
                        .collect();
                    if events.is_empty() {
                        continue;
                    }
                    for e in &events {
                        console::event(e);
                    }
                    if let Err(e) = self.effectors.journal.append_events(events).await {
                        tracing::error!(error = %e, "cannot record give-up events");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot give up old intents"),
            }
        }
    }
}

/// Renews the owner's lease a few times per lease period, for as long as the process runs.
pub async fn renew_lease(effectors: Effectors) {
    let every = (effectors.owner.lease / 3).max(Duration::from_millis(100));
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = effectors.journal.renew(&effectors.owner).await {
            tracing::warn!(error = %e, "cannot renew the intent lease");
        }
    }
}
