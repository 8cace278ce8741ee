//! An executor for the Jenkins stand-in: takes waiting queue items by itself, runs them and
//! sends the Notification plugin's callbacks, as Jenkins with a configured endpoint would. For
//! tests that want builds to "just happen", and for `bionicbb-standins --notify-url`.
//!
//! Kept from Jenkins: items are taken in queue order; a cancelled item never runs; without
//! "Execute concurrent builds if necessary" (the freestyle default) a job's next item waits while
//! its previous build is still building, while other jobs' items go ahead on free executors;
//! QUEUED and STARTED are sent when the build starts, COMPLETED and FINALIZED when it ends, each
//! with the endpoint's timeout and retry rule (see `notify.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::task::{JoinHandle, JoinSet};

use crate::jenkins_store::{Events, JenkinsStore};
use crate::notify::{DEFAULT_TIMEOUT, Endpoint};
use crate::world::World;

/// How [`World::jenkins_autorun`] runs builds. Start from [`AutoRun::new`] and change fields.
#[derive(Clone, Debug)]
pub struct AutoRun {
    /// The Notification-plugin endpoint URL (userinfo becomes Basic auth).
    pub notify_url: String,
    /// Which phases the endpoint is configured for (default: all).
    pub events: Events,
    /// The result every build ends with (default `SUCCESS`)...
    pub status: String,
    /// ...unless its job (full path) is listed here.
    pub job_status: BTreeMap<String, String>,
    /// How often the queue is looked at for items to start (default 1 s).
    pub pick_interval: Duration,
    /// How long each build runs between STARTED and COMPLETED (default 0).
    pub build_duration: Duration,
    /// Executors: how many builds run at once (default 1).
    pub parallel: usize,
    /// Whether one job may have several builds running ("Execute concurrent builds if
    /// necessary"; default false, as for a new freestyle job).
    pub concurrent_builds: bool,
    /// The endpoint's connect and read timeout (default 30 s, the plugin's).
    pub timeout: Duration,
    /// The endpoint's retries after a transport failure (default 0, the plugin's).
    pub retries: u32,
    /// Pause between attempts (default 0: the real plugin resends at once).
    pub retry_delay: Duration,
}

impl AutoRun {
    /// Every build succeeds; one executor; the plugin's defaults for the endpoint.
    pub fn new(notify_url: impl Into<String>) -> AutoRun {
        AutoRun {
            notify_url: notify_url.into(),
            events: Events::All,
            status: "SUCCESS".into(),
            job_status: BTreeMap::new(),
            pick_interval: Duration::from_secs(1),
            build_duration: Duration::ZERO,
            parallel: 1,
            concurrent_builds: false,
            timeout: DEFAULT_TIMEOUT,
            retries: 0,
            retry_delay: Duration::ZERO,
        }
    }

    /// The result a build of `job` ends with.
    pub fn status_for(&self, job: &str) -> &str {
        self.job_status.get(job).unwrap_or(&self.status)
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint {
            timeout: self.timeout,
            retries: self.retries,
            retry_delay: self.retry_delay,
        }
    }
}

impl World {
    /// Starts an executor that keeps taking waiting queue items and running them as
    /// [`World::jenkins_run`] does, with `opts`' endpoint retries, until the returned task is
    /// aborted (which also stops the builds it is running). Every phase sent is recorded in
    /// [`World::jenkins_deliveries`]. Must be called inside a Tokio runtime.
    pub fn jenkins_autorun(&self, opts: AutoRun) -> JoinHandle<()> {
        let world = self.clone();
        tokio::spawn(async move {
            let executors = opts.parallel.max(1);
            // Owned by this task, so aborting it drops (and aborts) the running builds.
            let mut running = JoinSet::new();
            loop {
                while running.try_join_next().is_some() {}
                while running.len() < executors {
                    let Some((queue_id, job)) = world.take_next(opts.concurrent_builds) else {
                        break;
                    };
                    let world = world.clone();
                    let opts = opts.clone();
                    running.spawn(async move {
                        let status = opts.status_for(&job).to_owned();
                        let outcomes = world
                            .run_started(
                                queue_id,
                                &status,
                                &opts.notify_url,
                                opts.events,
                                opts.endpoint(),
                                opts.build_duration,
                            )
                            .await;
                        for o in outcomes.iter().filter(|o| !o.errors.is_empty()) {
                            tracing::warn!(queue_id, %job, phase = %o.delivery.phase,
                                errors = ?o.errors, "notification not delivered");
                        }
                        tracing::info!(queue_id, %job, %status, "build ran");
                    });
                }
                tokio::time::sleep(opts.pick_interval).await;
            }
        })
    }

    /// Starts the first waiting item an executor may take: its job is not building, unless
    /// concurrent builds are allowed. Returns (queue id, job).
    fn take_next(&self, concurrent_builds: bool) -> Option<(u64, String)> {
        let mut inner = self.lock();
        let store = &mut inner.jenkins;
        let next = store
            .queue
            .iter()
            // An item of a deleted job cannot start; it must not hold up the others.
            .filter(|q| q.waiting() && store.jobs.contains_key(&q.job))
            .find(|q| concurrent_builds || !building(store, &q.job))
            .map(|q| q.id)?;
        store.start(next).ok().map(|(job, _)| (next, job))
    }
}

/// `Job.isBuilding()`: the job's last build has not reached post-production.
fn building(store: &JenkinsStore, job: &str) -> bool {
    store
        .jobs
        .get(job)
        .and_then(|j| j.builds.last())
        .is_some_and(|b| b.building)
}
