//! The Jenkins stand-in's model: jobs (possibly in folders), the queue and builds, plus the World
//! verbs to arrange them. Running a build and its Notification-plugin callbacks are in
//! `notify.rs`.
//!
//! Kept from Jenkins: queue ids are global and increasing; build numbers are per job; a build
//! only has the parameters its job declares (declared-but-missing ones get their default, "");
//! a queued item stays queued until a test runs it (or [`World::jenkins_autorun`] does), so
//! tests decide when builds happen; a cancelled item leaves the queue and never runs.
//!
//! Queue folding as `Queue.scheduleInternal` does it: a request to schedule a job that already
//! has an item *waiting* (not started, not cancelled) with the same parameter set (compared as a
//! set of name/value pairs, `ParametersAction.shouldSchedule`; an unparameterized job's items
//! all match) creates nothing and gets that item back. Items already running do not count.

use std::collections::BTreeMap;

use crate::notify::Delivery;
use crate::util::now_ms;
use crate::world::World;

/// One queue item as a test sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedBuild {
    pub queue_id: u64,
    /// Full job path, `folder/job` for jobs in folders.
    pub job: String,
    pub params: BTreeMap<String, String>,
    /// The build number once [`World::jenkins_run`] started it.
    pub number: Option<u32>,
    /// True once the item was cancelled (`POST /queue/cancelItem` or
    /// [`World::jenkins_cancel`]) before it started; it then never runs.
    pub cancelled: bool,
}

impl QueuedBuild {
    /// Still waiting in the queue: neither started nor cancelled.
    pub fn is_waiting(&self) -> bool {
        self.number.is_none() && !self.cancelled
    }
}

/// Which Notification-plugin phases [`World::jenkins_run`] POSTs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Events {
    /// QUEUED, STARTED, COMPLETED, FINALIZED: an endpoint configured with event "all".
    All,
    /// Only COMPLETED.
    Completed,
    /// Only FINALIZED.
    Finalized,
}

pub(crate) struct Job {
    /// Declared string parameters; `None` for an unparameterized job.
    pub(crate) params: Option<Vec<String>>,
    pub(crate) next_build: u32,
    pub(crate) builds: Vec<Build>,
}

pub(crate) struct Build {
    pub(crate) number: u32,
    pub(crate) queue_id: u64,
    pub(crate) params: Option<Vec<(String, String)>>,
    pub(crate) queued_at: i64,
    pub(crate) timestamp: i64,
    pub(crate) duration: i64,
    pub(crate) result: Option<String>,
    /// True until the build reaches post-production (COMPLETED).
    pub(crate) building: bool,
    /// True until FINALIZED.
    pub(crate) in_progress: bool,
}

pub(crate) struct QueueItem {
    pub(crate) id: u64,
    pub(crate) job: String,
    pub(crate) params: Option<Vec<(String, String)>>,
    pub(crate) since: i64,
    pub(crate) number: Option<u32>,
    pub(crate) cancelled: bool,
}

impl QueueItem {
    /// Still in the queue (Jenkins' `BuildableItem`), not yet a `LeftItem`.
    pub(crate) fn waiting(&self) -> bool {
        self.number.is_none() && !self.cancelled
    }
}

/// What scheduling a build came to (`ScheduleResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scheduled {
    pub(crate) id: u64,
    /// False when the request was folded into an item already waiting.
    pub(crate) created: bool,
}

/// What `Queue.doCancelItem` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CancelOutcome {
    /// A waiting item, now cancelled.
    Cancelled,
    /// The item already left the queue (started, or cancelled before): Jenkins still finds it
    /// among its left items but cannot cancel it.
    AlreadyLeft,
    Unknown,
}

pub(crate) struct JenkinsStore {
    pub(crate) jobs: BTreeMap<String, Job>,
    pub(crate) queue: Vec<QueueItem>,
    next_queue_id: u64,
    /// `Some(x)`: set by a test (x = None means "Jenkins URL not configured").
    root_override: Option<Option<String>>,
    /// The stand-in's own URL, the default root URL.
    pub(crate) own_url: Option<String>,
    pub(crate) user: String,
    pub(crate) token: String,
    /// The user's real password: authenticates, but is not exempt from crumbs.
    pub(crate) password: String,
    /// HTTP sessions opened by crumb requests.
    pub(crate) sessions: Vec<String>,
    /// Notification-plugin deliveries so far, one per queue item and phase.
    pub(crate) deliveries: Vec<Delivery>,
}

impl JenkinsStore {
    pub(crate) fn new() -> JenkinsStore {
        JenkinsStore {
            jobs: BTreeMap::new(),
            queue: Vec::new(),
            next_queue_id: 1042,
            root_override: None,
            own_url: None,
            user: "bionicbb".into(),
            token: "11d3c0ffee5tandin0a0b0c0d0e0f0a0b".into(),
            password: "standin-jenkins-password".into(),
            sessions: Vec::new(),
            deliveries: Vec::new(),
        }
    }

    /// `Jenkins.getRootUrl()` as configured (with trailing slash), or None when not set.
    pub(crate) fn root_url(&self) -> Option<String> {
        match &self.root_override {
            Some(set) => set.clone(),
            None => self.own_url.clone(),
        }
    }

    pub(crate) fn is_folder(&self, path: &str) -> bool {
        let prefix = format!("{path}/");
        self.jobs.keys().any(|k| k.starts_with(&prefix))
    }

    /// A seed for a new session id.
    pub(crate) fn next_session_seed(&self) -> u64 {
        0x5E55_0000_0000 + u64::try_from(self.sessions.len()).unwrap_or(u64::MAX >> 1)
    }

    /// Schedules a build of `job` with the parameters it declares (missing ones default to ""),
    /// or folds the request into an equal item still waiting.
    pub(crate) fn enqueue(&mut self, job: &str, sent: &[(String, String)]) -> Scheduled {
        let params = self
            .jobs
            .get(job)
            .and_then(|j| j.params.as_ref())
            .map(|declared| {
                declared
                    .iter()
                    .map(|name| {
                        let value = sent
                            .iter()
                            .find(|(k, _)| k == name)
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default();
                        (name.clone(), value)
                    })
                    .collect::<Vec<_>>()
            });
        // The same parameters in any order (Jenkins compares them as a set); compared in
        // place, because a backlog of thousands of waiting items is scanned on every request.
        let same = |a: &Option<Vec<(String, String)>>| match (a, &params) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                a.len() == b.len()
                    && a.iter().all(|p| b.contains(p))
                    && b.iter().all(|p| a.contains(p))
            }
            _ => false,
        };
        if let Some(existing) = self
            .queue
            .iter()
            .find(|q| q.job == job && q.waiting() && same(&q.params))
        {
            return Scheduled {
                id: existing.id,
                created: false,
            };
        }
        let id = self.next_queue_id;
        self.next_queue_id += 1;
        self.queue.push(QueueItem {
            id,
            job: job.to_owned(),
            params,
            since: now_ms(),
            number: None,
            cancelled: false,
        });
        Scheduled { id, created: true }
    }

    /// Cancels a waiting item (`Queue.cancel(Item)`): it leaves the queue without a build.
    pub(crate) fn cancel(&mut self, queue_id: u64) -> CancelOutcome {
        match self.queue.iter_mut().find(|q| q.id == queue_id) {
            None => CancelOutcome::Unknown,
            Some(item) if !item.waiting() => CancelOutcome::AlreadyLeft,
            Some(item) => {
                item.cancelled = true;
                CancelOutcome::Cancelled
            }
        }
    }

    pub(crate) fn item(&self, queue_id: u64) -> Option<&QueueItem> {
        self.queue.iter().find(|q| q.id == queue_id)
    }

    pub(crate) fn build(&self, job: &str, number: u32) -> Option<&Build> {
        self.jobs
            .get(job)?
            .builds
            .iter()
            .find(|b| b.number == number)
    }

    pub(crate) fn build_mut(&mut self, job: &str, number: u32) -> Option<&mut Build> {
        self.jobs
            .get_mut(job)?
            .builds
            .iter_mut()
            .find(|b| b.number == number)
    }

    /// Starts the build of a queue item: assigns the job's next build number.
    pub(crate) fn start(&mut self, queue_id: u64) -> Result<(String, u32), String> {
        let item = self
            .queue
            .iter_mut()
            .find(|q| q.id == queue_id)
            .ok_or_else(|| format!("no Jenkins queue item {queue_id}"))?;
        if let Some(n) = item.number {
            return Err(format!("queue item {queue_id} already ran as build #{n}"));
        }
        if item.cancelled {
            return Err(format!("queue item {queue_id} was cancelled"));
        }
        let job = self
            .jobs
            .get_mut(&item.job)
            .ok_or_else(|| format!("job {} no longer exists", item.job))?;
        let number = job.next_build;
        job.next_build += 1;
        item.number = Some(number);
        job.builds.push(Build {
            number,
            queue_id,
            params: item.params.clone(),
            queued_at: item.since,
            timestamp: now_ms(),
            duration: 0,
            result: None,
            building: true,
            in_progress: true,
        });
        Ok((item.job.clone(), number))
    }
}

impl World {
    /// (user, API token) Jenkins accepts as HTTP Basic.
    pub fn jenkins_credentials(&self) -> (String, String) {
        let inner = self.lock();
        (inner.jenkins.user.clone(), inner.jenkins.token.clone())
    }

    /// The same user's real password: Basic with it authenticates, but a POST with it needs a
    /// crumb (and its session cookie), unlike one with the API token.
    pub fn jenkins_password(&self) -> String {
        self.lock().jenkins.password.clone()
    }

    /// Adds a job at `path` ("job" or "folder/job"); `params` are its string parameters,
    /// `[]` makes an unparameterized job (only `/build` works).
    pub fn jenkins_add_job(&self, path: &str, params: &[&str]) {
        let params = (!params.is_empty()).then(|| params.iter().map(|p| (*p).to_owned()).collect());
        self.lock().jenkins.jobs.insert(
            path.trim_matches('/').to_owned(),
            Job {
                params,
                next_build: 1,
                builds: Vec::new(),
            },
        );
    }

    /// Deletes the job at `path` (later triggers get 404); its queue items stay.
    pub fn jenkins_remove_job(&self, path: &str) {
        self.lock().jenkins.jobs.remove(path.trim_matches('/'));
    }

    /// Sets Jenkins' configured root URL (default: the stand-in's own URL). `None` makes the
    /// Notification plugin leave `build.full_url` out, as on an unconfigured Jenkins.
    pub fn jenkins_set_root_url(&self, url: Option<String>) {
        self.lock().jenkins.root_override = Some(url);
    }

    /// Every queue item so far, in queue-id order (started ones keep their build number,
    /// cancelled ones are marked).
    pub fn jenkins_queue(&self) -> Vec<QueuedBuild> {
        self.lock()
            .jenkins
            .queue
            .iter()
            .map(|q| QueuedBuild {
                queue_id: q.id,
                job: q.job.clone(),
                params: q.params.iter().flatten().cloned().collect(),
                number: q.number,
                cancelled: q.cancelled,
            })
            .collect()
    }

    /// Cancels a waiting queue item, as a user pressing the queue's cancel button would. Errors
    /// when the item is unknown or already left the queue (started or cancelled).
    pub fn jenkins_cancel(&self, queue_id: u64) -> Result<(), String> {
        match self.lock().jenkins.cancel(queue_id) {
            CancelOutcome::Cancelled => Ok(()),
            CancelOutcome::AlreadyLeft => {
                Err(format!("queue item {queue_id} already left the queue"))
            }
            CancelOutcome::Unknown => Err(format!("no Jenkins queue item {queue_id}")),
        }
    }

    /// The result of a build (`None` while running or if there is no such build).
    pub fn jenkins_build_result(&self, job: &str, number: u32) -> Option<String> {
        self.lock().jenkins.build(job, number)?.result.clone()
    }
}
