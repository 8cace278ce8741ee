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
}

/// What the fault layer must do with one request.
pub(crate) enum FaultAction {
    Pass,
    Fail(u16),
    Delay(Duration),
}

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
        let mut inner = self.lock();
        let Some(fault) = inner.faults.get_mut(&service) else {
            return FaultAction::Pass;
        };
        match fault {
            Fault::None => FaultAction::Pass,
            Fault::Down => FaultAction::Fail(503),
            Fault::Latency(d) => FaultAction::Delay(*d),
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
