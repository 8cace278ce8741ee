//! The shared in-memory World: everything the stand-ins know, behind one lock. A test arranges
//! state through it before a call and asserts effects through it afterwards, without HTTP.
//!
//! The per-service verbs (`gmail_*`, `gerrit_*`, `jenkins_*`) live beside each service's store;
//! this file holds the World itself, faults and the request log.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::gerrit_store::GerritStore;
use crate::gmail_store::GmailStore;
use crate::jenkins_store::JenkinsStore;
use crate::oauth::OAuthStore;

/// One of the stand-in services, for faults and request logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Gmail,
    OAuth,
    Gerrit,
    Jenkins,
}

/// A failure injected into one service's HTTP edge.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Fault {
    /// Answer normally.
    #[default]
    None,
    /// Every request gets 503, as when the service is down behind its front end.
    Down,
    /// The next `count` requests get `status` (in the service's own error format), then the
    /// service answers normally again.
    FailNext { count: u32, status: u16 },
    /// Every request is answered after this delay.
    Latency(Duration),
    /// Every request takes a random time in `[min, max]` (drawn from the World's seeded
    /// generator, see [`World::set_seed`]): half of it passes before the real handler runs, the
    /// other half after the handler has run and before the answer is sent. So the effect of a
    /// request is applied while its client is still waiting, and a client that gives up during
    /// the second half never learns of an effect that did happen (a lost answer, not a lost
    /// request). The request is fully read first, so a client that gives up during the first
    /// half still has its request handled, as by a real server that had already received it.
    InFlight { min: Duration, max: Duration },
    /// Every request gets `302 Found` to `location`, as from a single-sign-on proxy in front of
    /// the service when the request's credentials are not accepted (it sends browsers, and so
    /// every client, to its login page).
    Redirect { location: String },
}

/// One HTTP request as a stand-in saw it (method, path, raw query string or "").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
}

/// The state of every stand-in. Cloning shares it (`Arc`).
#[derive(Clone)]
pub struct World {
    inner: Arc<Mutex<Inner>>,
}

pub(crate) struct Inner {
    pub(crate) oauth: OAuthStore,
    pub(crate) gmail: GmailStore,
    pub(crate) gerrit: GerritStore,
    pub(crate) jenkins: JenkinsStore,
    faults: BTreeMap<Service, Fault>,
    requests: BTreeMap<Service, Vec<RecordedRequest>>,
    /// Requests being answered now, and the most ever at once, per service.
    in_flight: BTreeMap<Service, (usize, usize)>,
    /// Draws the in-flight delays; seeded so that a run is reproducible.
    rng: fastrand::Rng,
}

/// What the fault layer must do with one request.
pub(crate) enum FaultAction {
    Pass,
    Fail(u16),
    Delay(Duration),
    /// Wait half before the handler and the rest after it.
    InFlight(Duration),
    /// Answer 302 to this location.
    Redirect(String),
}

/// The seed of a fresh World's random generator.
const DEFAULT_SEED: u64 = 0;

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

impl World {
    /// A fresh world: Gmail's system labels, the OAuth client and tokens, the Gerrit bot account
    /// and the usual labels, and an empty Jenkins with no jobs.
    pub fn new() -> World {
        World {
            inner: Arc::new(Mutex::new(Inner {
                oauth: OAuthStore::new(),
                gmail: GmailStore::new(),
                gerrit: GerritStore::new(),
                jenkins: JenkinsStore::new(),
                faults: BTreeMap::new(),
                requests: BTreeMap::new(),
                in_flight: BTreeMap::new(),
                rng: fastrand::Rng::with_seed(DEFAULT_SEED),
            })),
        }
    }

    /// Locks the world. A panic elsewhere (a failed assertion in a test thread) must not make
    /// every later request fail, so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Injects `fault` into `service` (replacing any earlier fault there).
    pub fn set_fault(&self, service: Service, fault: Fault) {
        self.lock().faults.insert(service, fault);
    }

    /// The most requests `service` was answering at the same time, since the start or the
    /// last [`World::reset_max_in_flight`]: how concurrent a client really is.
    pub fn max_in_flight(&self, service: Service) -> usize {
        self.lock()
            .in_flight
            .get(&service)
            .map_or(0, |&(_, max)| max)
    }

    pub fn reset_max_in_flight(&self, service: Service) {
        if let Some(entry) = self.lock().in_flight.get_mut(&service) {
            entry.1 = entry.0;
        }
    }

    pub(crate) fn enter(&self, service: Service) {
        let mut inner = self.lock();
        let entry = inner.in_flight.entry(service).or_default();
        entry.0 += 1;
        entry.1 = entry.1.max(entry.0);
    }

    pub(crate) fn leave(&self, service: Service) {
        if let Some(entry) = self.lock().in_flight.get_mut(&service) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }

    /// Re-seeds the generator behind random faults ([`Fault::InFlight`]); a fresh World uses a
    /// fixed seed, so the same test sees the same delays on every run.
    pub fn set_seed(&self, seed: u64) {
        self.lock().rng = fastrand::Rng::with_seed(seed);
    }

    /// Every request the Gmail API stand-in received, in order (also the failed ones).
    pub fn gmail_requests(&self) -> Vec<RecordedRequest> {
        self.requests(Service::Gmail)
    }

    /// Every request `service` received, in order.
    pub fn requests(&self, service: Service) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .get(&service)
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn record(&self, service: Service, request: RecordedRequest) {
        self.lock()
            .requests
            .entry(service)
            .or_default()
            .push(request);
    }

    /// Consumes one unit of the service's fault, if any.
    pub(crate) fn fault_action(&self, service: Service) -> FaultAction {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let Some(fault) = inner.faults.get_mut(&service) else {
            return FaultAction::Pass;
        };
        match fault {
            Fault::None => FaultAction::Pass,
            Fault::Down => FaultAction::Fail(503),
            Fault::Latency(d) => FaultAction::Delay(*d),
            Fault::InFlight { min, max } => FaultAction::InFlight(draw(&mut inner.rng, *min, *max)),
            Fault::Redirect { location } => FaultAction::Redirect(location.clone()),
            Fault::FailNext { count: 0, .. } => {
                *fault = Fault::None;
                FaultAction::Pass
            }
            Fault::FailNext { count, status } => {
                let status = *status;
                if *count <= 1 {
                    *fault = Fault::None;
                } else {
                    *count -= 1;
                }
                FaultAction::Fail(status)
            }
        }
    }
}

/// A duration drawn uniformly from `[min, max]` (just `min` when the range is empty).
fn draw(rng: &mut fastrand::Rng, min: Duration, max: Duration) -> Duration {
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let (lo, hi) = (nanos(min), nanos(max));
    if hi <= lo {
        return min;
    }
    Duration::from_nanos(rng.u64(lo..=hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delays(world: &World, n: usize) -> Vec<Duration> {
        (0..n)
            .map(|_| match world.fault_action(Service::Jenkins) {
                FaultAction::InFlight(d) => d,
                _ => panic!("expected an in-flight delay"),
            })
            .collect()
    }

    #[test]
    fn in_flight_delays_are_in_range_and_reproducible() {
        let (min, max) = (Duration::from_millis(10), Duration::from_millis(50));
        let a = World::new();
        a.set_fault(Service::Jenkins, Fault::InFlight { min, max });
        let b = World::new();
        b.set_fault(Service::Jenkins, Fault::InFlight { min, max });
        let first = delays(&a, 20);
        assert!(first.iter().all(|d| (min..=max).contains(d)));
        assert_eq!(first, delays(&b, 20), "same default seed, same delays");
        assert!(first.iter().any(|d| *d != first[0]), "delays vary");
        a.set_seed(7);
        b.set_seed(7);
        assert_eq!(delays(&a, 5), delays(&b, 5));
        b.set_seed(8);
        assert_ne!(delays(&a, 5), delays(&b, 5));
    }

    #[test]
    fn an_empty_range_is_its_minimum() {
        let w = World::new();
        let d = Duration::from_millis(30);
        w.set_fault(Service::Gerrit, Fault::InFlight { min: d, max: d });
        assert!(matches!(w.fault_action(Service::Gerrit), FaultAction::InFlight(x) if x == d));
        w.set_fault(
            Service::Gerrit,
            Fault::InFlight {
                min: d,
                max: Duration::ZERO,
            },
        );
        assert!(matches!(w.fault_action(Service::Gerrit), FaultAction::InFlight(x) if x == d));
    }
}
