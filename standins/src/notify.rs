//! Running a Jenkins build and sending the Notification plugin's callbacks, shaped exactly as
//! the plugin's `JobState`/`BuildState` serialize (research/jenkins-api.md §1.4–1.6).
//!
//! Plugin facts kept: Gson with snake_case names, null fields omitted (so `status` is absent at
//! QUEUED/STARTED and `full_url` is absent without a configured root URL), HTML-safe escaping
//! (`=` is sent as `\u003d`), job `name` is the short name while `url`s are relative;
//! `Content-Type: application/json;charset=UTF-8`; Basic auth only from the URL's userinfo; the
//! response status is not checked and only a 307 is followed; connect and read timeouts are the
//! endpoint's `timeout`. Retries (`Phase.handle`): only a transport failure (refused, timeout)
//! counts as failed, an HTTP error status never does; and `failed` is never reset, so once one
//! attempt failed every remaining retry is sent, even after a later attempt got through (the
//! receiver sees duplicates). `jenkins_run` is an endpoint with the default 0 retries.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use crate::jenkins_store::{Events, JenkinsStore};
use crate::util::{gson_escape, now_ms};
use crate::world::World;

#[derive(Serialize)]
struct JobState {
    name: String,
    display_name: String,
    url: String,
    build: BuildState,
}

#[derive(Serialize)]
struct BuildState {
    #[serde(skip_serializing_if = "Option::is_none")]
    full_url: Option<String>,
    number: u32,
    queue_id: u64,
    timestamp: i64,
    duration: i64,
    phase: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    url: String,
    scm: ScmState,
    /// Present only when the run has a ParametersAction (a parameterized job).
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BTreeMap<String, String>>,
    log: String,
    notes: String,
    artifacts: BTreeMap<String, BTreeMap<String, String>>,
}

/// No Git-plugin checkout (bionic's job fetches with `repo`), so only the two lists.
#[derive(Serialize)]
struct ScmState {
    changes: Vec<String>,
    culprits: Vec<String>,
}

/// The phases a build goes through, in order.
const PHASES: [&str; 4] = ["QUEUED", "STARTED", "COMPLETED", "FINALIZED"];

/// The Notification plugin's default endpoint timeout (`Endpoint.DEFAULT_TIMEOUT`, 30 000 ms).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// One phase of one build as the endpoint received it, after the plugin's retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub queue_id: u64,
    /// Full job path (`folder/job`).
    pub job: String,
    pub number: u32,
    /// `QUEUED`, `STARTED`, `COMPLETED` or `FINALIZED`.
    pub phase: String,
    /// The endpoint's answer: the first 2xx if an attempt got one, else the last status it
    /// answered with; `None` when no attempt was answered (refused, timed out).
    pub status: Option<u16>,
    /// Every attempt in order: `Some(status)` if answered, `None` for a transport failure.
    pub attempts: Vec<Option<u16>>,
}

impl Delivery {
    /// True when the endpoint acknowledged the phase with a 2xx.
    pub fn acknowledged(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// How one Notification-plugin endpoint is configured.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Endpoint {
    /// Connect and read timeout.
    pub(crate) timeout: Duration,
    pub(crate) retries: u32,
    /// Pause between attempts; the real plugin has none.
    pub(crate) retry_delay: Duration,
}

/// What sending one phase came to: the delivery and each transport error's text.
pub(crate) struct PhaseOutcome {
    pub(crate) delivery: Delivery,
    pub(crate) errors: Vec<String>,
}

/// `job.getUrl()`: `job/a/job/b/`.
pub(crate) fn job_url(path: &str) -> String {
    path.split('/').map(|s| format!("job/{s}/")).collect()
}

fn job_state(store: &JenkinsStore, queue_id: u64, phase: &str, status: Option<&str>) -> JobState {
    let Some(item) = store.item(queue_id) else {
        panic!("standins: no Jenkins queue item {queue_id}");
    };
    let job = store.jobs.get(&item.job);
    let number = item
        .number
        .or_else(|| job.map(|j| j.next_build))
        .unwrap_or(1);
    let build = store.build(&item.job, number);
    let start = build.map_or_else(now_ms, |b| b.timestamp);
    let duration = build.map_or(0, |b| b.duration);
    let (timestamp, duration) = match phase {
        "QUEUED" => (build.map_or(item.since, |b| b.queued_at), 0),
        "STARTED" => (start, 0),
        "COMPLETED" => (start + duration, duration),
        _ => (now_ms(), duration),
    };
    let short = item.job.rsplit('/').next().unwrap_or(&item.job).to_owned();
    let url = format!("{}{number}/", job_url(&item.job));
    JobState {
        name: short.clone(),
        display_name: short,
        url: job_url(&item.job),
        build: BuildState {
            full_url: store.root_url().map(|root| format!("{root}{url}")),
            number,
            queue_id,
            timestamp,
            duration,
            phase: phase.to_owned(),
            status: status.map(str::to_owned),
            url,
            scm: ScmState {
                changes: Vec::new(),
                culprits: Vec::new(),
            },
            parameters: item.params.as_ref().map(|p| p.iter().cloned().collect()),
            log: String::new(),
            notes: String::new(),
            artifacts: BTreeMap::new(),
        },
    }
}

impl World {
    /// The Notification-plugin payload for a queue item at `phase` (`QUEUED`, `STARTED`,
    /// `COMPLETED`, `FINALIZED`) with `status` (pass `None` at QUEUED/STARTED, as the plugin
    /// does). A build not started yet gets the number it would get. Panics on an unknown item.
    pub fn jenkins_event(&self, queue_id: u64, phase: &str, status: Option<&str>) -> Value {
        let state = job_state(&self.lock().jenkins, queue_id, phase, status);
        serde_json::to_value(state).unwrap_or(Value::Null)
    }

    /// The same payload as the exact bytes the plugin sends (field order, Gson escaping).
    pub fn jenkins_event_body(&self, queue_id: u64, phase: &str, status: Option<&str>) -> String {
        let state = job_state(&self.lock().jenkins, queue_id, phase, status);
        gson_escape(&serde_json::to_string(&state).unwrap_or_default())
    }

    /// Runs a queued build to `status` and POSTs the plugin's events to `notify_url`, in phase
    /// order, returning each HTTP status. The build finishes whatever the endpoint answers; a
    /// transport failure is reported as `Err` after all phases were tried. Each phase is also
    /// recorded in [`World::jenkins_deliveries`].
    pub async fn jenkins_run(
        &self,
        queue_id: u64,
        status: &str,
        notify_url: &str,
        events: Events,
    ) -> Result<Vec<u16>, String> {
        self.lock().jenkins.start(queue_id)?;
        let endpoint = Endpoint {
            timeout: DEFAULT_TIMEOUT,
            retries: 0,
            retry_delay: Duration::ZERO,
        };
        let outcomes = self
            .run_started(
                queue_id,
                status,
                notify_url,
                events,
                endpoint,
                Duration::ZERO,
            )
            .await;
        let mut statuses = Vec::new();
        let mut failures = Vec::new();
        for outcome in outcomes {
            statuses.extend(outcome.delivery.attempts.iter().flatten());
            for e in outcome.errors {
                failures.push(format!("{}: {e}", outcome.delivery.phase));
            }
        }
        if failures.is_empty() {
            Ok(statuses)
        } else {
            Err(format!(
                "notification failed ({}); statuses so far {statuses:?}",
                failures.join("; ")
            ))
        }
    }

    /// Every Notification-plugin delivery so far (from [`World::jenkins_run`] and
    /// [`World::jenkins_autorun`]), one per queue item and phase, in the order they finished.
    pub fn jenkins_deliveries(&self) -> Vec<Delivery> {
        self.lock().jenkins.deliveries.clone()
    }

    /// Takes a started build through its phases (the build itself lasting `build_time`),
    /// sending the phases `events` selects to `url` as `endpoint` is configured.
    pub(crate) async fn run_started(
        &self,
        queue_id: u64,
        status: &str,
        url: &str,
        events: Events,
        endpoint: Endpoint,
        build_time: Duration,
    ) -> Vec<PhaseOutcome> {
        let wanted: &[&str] = match events {
            Events::All => &PHASES,
            Events::Completed => &["COMPLETED"],
            Events::Finalized => &["FINALIZED"],
        };
        let mut outcomes = Vec::new();
        for phase in PHASES {
            if phase == "COMPLETED" && !build_time.is_zero() {
                tokio::time::sleep(build_time).await;
            }
            self.advance(queue_id, phase, status);
            if !wanted.contains(&phase) {
                continue;
            }
            let shown = matches!(phase, "COMPLETED" | "FINALIZED").then_some(status);
            // Built once per phase: the plugin serializes the state once and resends the same.
            let body = self.jenkins_event_body(queue_id, phase, shown);
            outcomes.push(self.deliver(queue_id, phase, url, &body, endpoint).await);
        }
        outcomes
    }

    /// Sends one phase with `Phase.handle`'s retry loop and records the delivery.
    async fn deliver(
        &self,
        queue_id: u64,
        phase: &str,
        url: &str,
        body: &str,
        endpoint: Endpoint,
    ) -> PhaseOutcome {
        let mut attempts = Vec::new();
        let mut errors = Vec::new();
        let mut tries_remaining = i64::from(endpoint.retries);
        let mut failed = false;
        loop {
            match post_event(url, body.to_owned(), endpoint.timeout).await {
                Ok(code) => attempts.push(Some(code)),
                Err(e) => {
                    failed = true;
                    attempts.push(None);
                    errors.push(e);
                }
            }
            // `while (failed && --triesRemaining >= 0)`: `failed` stays true once set.
            tries_remaining -= 1;
            if !(failed && tries_remaining >= 0) {
                break;
            }
            if !endpoint.retry_delay.is_zero() {
                tokio::time::sleep(endpoint.retry_delay).await;
            }
        }
        let answered = attempts.iter().flatten().copied();
        let status = answered
            .clone()
            .find(|s| (200..300).contains(s))
            .or_else(|| answered.last());
        let mut inner = self.lock();
        let store = &mut inner.jenkins;
        let (job, number) = store
            .item(queue_id)
            .map(|q| (q.job.clone(), q.number.unwrap_or_default()))
            .unwrap_or_default();
        let delivery = Delivery {
            queue_id,
            job,
            number,
            phase: phase.to_owned(),
            status,
            attempts,
        };
        store.deliveries.push(delivery.clone());
        PhaseOutcome { delivery, errors }
    }

    /// Starts a queued build (an executor took it) without sending any notification: for
    /// scenarios where a callback arrives while Jenkins still runs the build.
    pub fn jenkins_start(&self, queue_id: u64) -> Result<u32, String> {
        self.lock()
            .jenkins
            .start(queue_id)
            .map(|(_, number)| number)
    }

    /// Ends a started build with `status` without sending any notification.
    pub fn jenkins_finish(&self, queue_id: u64, status: &str) -> Result<(), String> {
        let started = self
            .lock()
            .jenkins
            .item(queue_id)
            .is_some_and(|q| q.number.is_some());
        if !started {
            return Err(format!("queue item {queue_id} has not started"));
        }
        self.advance(queue_id, "COMPLETED", status);
        self.advance(queue_id, "FINALIZED", status);
        Ok(())
    }

    /// Moves the build's state to `phase` (result and duration at COMPLETED).
    fn advance(&self, queue_id: u64, phase: &str, status: &str) {
        let mut inner = self.lock();
        let store = &mut inner.jenkins;
        let Some((job, Some(number))) = store.item(queue_id).map(|q| (q.job.clone(), q.number))
        else {
            return;
        };
        let Some(build) = store.build_mut(&job, number) else {
            return;
        };
        match phase {
            "COMPLETED" => {
                build.duration = (now_ms() - build.timestamp).max(1);
                build.result = Some(status.to_owned());
                build.building = false;
            }
            "FINALIZED" => build.in_progress = false,
            _ => {}
        }
    }
}

/// One POST as `Protocol.HTTP` sends it; `Err` is a transport failure (the plugin's exception).
async fn post_event(url: &str, body: String, timeout: Duration) -> Result<u16, String> {
    let mut url = reqwest::Url::parse(url).map_err(|e| format!("bad URL {url}: {e}"))?;
    // Basic auth from userinfo, not percent-decoded (`url.getUserInfo()`).
    let auth = (!url.username().is_empty()).then(|| {
        let userinfo = format!("{}:{}", url.username(), url.password().unwrap_or_default());
        base64::engine::general_purpose::STANDARD.encode(userinfo)
    });
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let client = reqwest::Client::builder()
        .connect_timeout(timeout)
        .read_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    let mut target = url.to_string();
    // The plugin re-POSTs once to a 307's Location; other redirects are not followed.
    for _ in 0..2 {
        let mut request = client
            .post(&target)
            .header("Content-Type", "application/json;charset=UTF-8")
            .body(body.clone());
        if let Some(auth) = &auth {
            request = request.header("Authorization", format!("Basic {auth}"));
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let code = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        match (code, location) {
            (307, Some(next)) => target = next,
            _ => return Ok(code),
        }
    }
    Ok(307)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_urls_nest_folders() {
        assert_eq!(job_url("bionic-presubmit"), "job/bionic-presubmit/");
        assert_eq!(job_url("a/b"), "job/a/job/b/");
    }

    #[test]
    fn gson_escapes_html_characters() {
        assert_eq!(
            gson_escape(r#"{"a":"x=1&y<2"}"#),
            r#"{"a":"x\u003d1\u0026y\u003c2"}"#
        );
    }
}
