//! The Jenkins client: triggers builds and reports the queue item id Jenkins assigned.
//!
//! One `POST` per trigger, authenticated pre-emptively with user + API token (Jenkins never
//! challenges, and API-token POSTs are exempt from CSRF crumbs since 2.96). The queue item id
//! from the `Location` header is what the Notification plugin later reports as
//! `build.queue_id`, which is how a clean build's callback finds its change.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use thiserror::Error;

use crate::credentials::Credentials;
use crate::metrics::{Service, Timings};
use crate::text::encode_segment;
use crate::text::{error_chain, one_line};

/// Why a trigger failed. [`JenkinsError::is_transient`] says whether the next poll may succeed.
#[derive(Debug, Error)]
pub enum JenkinsError {
    #[error("Jenkins has no job `{0}` (or the bot's account cannot see it)")]
    UnknownJob(String),
    #[error(
        "Jenkins at {host} refused the credentials (HTTP {status}): check the netrc entry for \
         {host} (its login and API token)"
    )]
    Auth { host: String, status: u16 },
    /// 403 "No valid crumb": the netrc holds the account's password. API-token requests need no
    /// CSRF crumb; password requests do.
    #[error(
        "Jenkins at {host} wants a CSRF crumb (403 No valid crumb): the netrc entry for {host} \
         holds a password; put an API token there instead (User > Configure > API Token)"
    )]
    Crumb { host: String },
    /// A 3xx other than the queue's: API calls never follow redirects.
    #[error(
        "Jenkins at {host} answered HTTP {status} redirect to {location}: check [jenkins] url \
         (a login page or proxy in front of Jenkins?) and the netrc entry for {host}"
    )]
    Redirect {
        host: String,
        status: u16,
        location: String,
    },
    #[error("Jenkins answered HTTP {status} for job `{job}`: {body}")]
    Status {
        job: String,
        status: u16,
        body: String,
    },
    #[error("cannot reach Jenkins: {0}")]
    Transport(String),
    #[error("invalid Jenkins URL: {0}")]
    BadUrl(String),
}

impl JenkinsError {
    /// Failures worth retrying on a later poll: network trouble, 5xx and 429.
    /// An unknown job is not transient by nature, but it is a configuration error the operator
    /// can fix, so the mail is left too (SPEC §8: "other failures leave the mail").
    pub fn is_transient(&self) -> bool {
        match self {
            JenkinsError::Transport(_)
            | JenkinsError::UnknownJob(_)
            | JenkinsError::Auth { .. }
            | JenkinsError::Crumb { .. }
            | JenkinsError::Redirect { .. } => true,
            JenkinsError::Status { status, .. } => *status == 429 || *status >= 500,
            JenkinsError::BadUrl(_) => false,
        }
    }
}

/// A build as Jenkins reports it (`/job/<job>/<n>/api/json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    pub number: Option<u64>,
    /// `SUCCESS`, `FAILURE`...; None while it runs.
    pub result: Option<String>,
    pub running: bool,
    pub parameters: BTreeMap<String, String>,
}

/// A queued build: the queue item id (None when Jenkins gave no parsable `Location`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queued {
    pub queue_id: Option<u64>,
    /// Jenkins folded the request into an identical item already waiting (303).
    pub merged: bool,
}

/// A Jenkins server.
#[derive(Clone, Debug)]
pub struct Jenkins {
    base: String,
    credentials: Credentials,
    http: reqwest::Client,
    /// Request durations, for `/metrics`.
    timings: Timings,
}

impl Jenkins {
    pub fn new(
        base_url: &str,
        credentials: Credentials,
        timeout: Duration,
    ) -> Result<Jenkins, JenkinsError> {
        reqwest::Url::parse(base_url)
            .map_err(|e| JenkinsError::BadUrl(format!("{base_url}: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // A 303 to the existing queue item must be seen, not followed.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("bionicbb/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JenkinsError::Transport(e.to_string()))?;
        Ok(Jenkins {
            base: base_url.trim_end_matches('/').to_string(),
            credentials,
            http,
            timings: Timings::default(),
        })
    }

    /// Records request durations into `timings` (shared with the process's other clients).
    pub fn with_timings(mut self, timings: Timings) -> Jenkins {
        self.timings = timings;
        self
    }

    /// `job/a/job/b` for `a/b`: folders are nested `job/` segments.
    fn job_path(job: &str) -> String {
        job.split('/')
            .filter(|s| !s.is_empty())
            .map(|s| format!("job/{}", encode_segment(s)))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The absolute URL of a job page, for console lines.
    pub fn job_url(&self, job: &str) -> String {
        format!("{}/{}/", self.base, Self::job_path(job))
    }

    /// `POST /job/<job>/buildWithParameters` with the parameters as form fields.
    pub async fn build_with_parameters(
        &self,
        job: &str,
        params: &BTreeMap<String, String>,
    ) -> Result<Queued, JenkinsError> {
        let url = format!("{}/{}/buildWithParameters", self.base, Self::job_path(job));
        self.post(job, self.http.post(url).form(params)).await
    }

    /// `POST /job/<job>/build` for a job without parameters (the clean job).
    pub async fn build(&self, job: &str) -> Result<Queued, JenkinsError> {
        let url = format!("{}/{}/build", self.base, Self::job_path(job));
        self.post(job, self.http.post(url)).await
    }

    /// Looks for the effect of a trigger whose outcome was never recorded (SPEC §12): a queue
    /// item still waiting, or a build, of `job` with the same `REF` and `LUNCH_TARGET` as
    /// `params`, queued or started at or after `since_ms`, whose queue id is not in `exclude`
    /// (already accounted for by another trigger). Returns its queue id.
    pub async fn find_trigger(
        &self,
        job: &str,
        params: &BTreeMap<String, String>,
        since_ms: i64,
        exclude: &[u64],
    ) -> Result<Option<u64>, JenkinsError> {
        let job_path = Self::job_path(job);
        let queue = self
            .get_json(
                job,
                &format!(
                    "{}/queue/api/json?tree=items[id,inQueueSince,task[url],actions[parameters[name,value]]]",
                    self.base
                ),
            )
            .await?;
        let wanted = |p: &serde_json::Value| same_trigger(params, &parameters_of(p));
        let free = |id: u64| !exclude.contains(&id);
        for item in queue["items"].as_array().into_iter().flatten() {
            let of_job = item["task"]["url"]
                .as_str()
                .is_some_and(|u| u.trim_end_matches('/').ends_with(&job_path));
            let (Some(id), Some(since)) = (item["id"].as_u64(), item["inQueueSince"].as_i64())
            else {
                continue;
            };
            if of_job && since >= since_ms && free(id) && wanted(item) {
                return Ok(Some(id));
            }
        }
        let builds = self
            .get_json(
                job,
                &format!(
                    "{}/{job_path}/api/json?tree=builds[number,queueId,timestamp,actions[parameters[name,value]]]{{0,100}}",
                    self.base
                ),
            )
            .await?;
        for b in builds["builds"].as_array().into_iter().flatten() {
            let (Some(id), Some(started)) = (b["queueId"].as_u64(), b["timestamp"].as_i64()) else {
                continue;
            };
            if started >= since_ms && free(id) && wanted(b) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Cancels queue item `queue_id` (`POST /queue/cancelItem?id=N`, Jenkins ≥ 2.211): true
    /// when Jenkins took it out of the queue, false when it was not waiting any more (404: no
    /// such item; 500 "Could not cancel": it already left the queue, started or cancelled).
    pub async fn cancel(&self, queue_id: u64, job: &str) -> Result<bool, JenkinsError> {
        let url = format!("{}/queue/cancelItem?id={queue_id}", self.base);
        let resp = self.send(self.http.post(url)).await?;
        match resp.status() {
            StatusCode::NO_CONTENT | StatusCode::OK => Ok(true),
            // Before 2.211 Jenkins redirected to the previous page whatever happened.
            StatusCode::FOUND | StatusCode::SEE_OTHER => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            StatusCode::INTERNAL_SERVER_ERROR => {
                let body = resp.text().await.unwrap_or_default();
                if body.contains("Could not cancel") {
                    Ok(false)
                } else {
                    Err(JenkinsError::Status {
                        job: job.to_string(),
                        status: 500,
                        body: one_line(&body, 200),
                    })
                }
            }
            _ => Err(self.failure(job, resp).await),
        }
    }

    /// One build as Jenkins reports it, read from `[jenkins] url` + the job's path + the number
    /// (never from a URL a callback gave: that would send the bot's credentials anywhere).
    pub async fn build_info(&self, job: &str, number: u64) -> Result<BuildInfo, JenkinsError> {
        let url = format!(
            "{}/{}/{number}/api/json?tree=number,result,building,inProgress,queueId,\
             actions[parameters[name,value]]",
            self.base,
            Self::job_path(job)
        );
        let v = self.get_json(job, &url).await?;
        Ok(BuildInfo {
            number: v["number"].as_u64(),
            result: v["result"].as_str().map(str::to_string),
            running: v["building"].as_bool().unwrap_or(false)
                || v["inProgress"].as_bool().unwrap_or(false),
            parameters: parameters_of(&v),
        })
    }

    async fn get_json(&self, job: &str, url: &str) -> Result<serde_json::Value, JenkinsError> {
        let resp = self.send(self.http.get(url)).await?;
        if resp.status() == StatusCode::OK {
            return resp
                .json()
                .await
                .map_err(|e| JenkinsError::Transport(error_chain(&e)));
        }
        Err(self.failure(job, resp).await)
    }

    /// The error for a status that is not what the call wanted.
    async fn failure(&self, job: &str, resp: reqwest::Response) -> JenkinsError {
        let status = resp.status();
        let host = self.host();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| one_line(l, 200));
        let body = resp.text().await.unwrap_or_default();
        match status {
            StatusCode::NOT_FOUND => JenkinsError::UnknownJob(job.to_string()),
            StatusCode::FORBIDDEN if body.contains("No valid crumb") => {
                JenkinsError::Crumb { host }
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => JenkinsError::Auth {
                host,
                status: status.as_u16(),
            },
            s if s.is_redirection() => JenkinsError::Redirect {
                host,
                status: s.as_u16(),
                location: location.unwrap_or_else(|| "(no Location)".into()),
            },
            _ => JenkinsError::Status {
                job: job.to_string(),
                status: status.as_u16(),
                body: one_line(&body, 200),
            },
        }
    }

    /// `host[:port]` of Jenkins, for errors that must name it.
    pub fn host(&self) -> String {
        reqwest::Url::parse(&self.base)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_string();
                Some(match u.port() {
                    Some(p) => format!("{host}:{p}"),
                    None => host,
                })
            })
            .unwrap_or_else(|| self.base.clone())
    }

    /// Sends `req` with the bot's credentials, timing it for `/metrics`.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, JenkinsError> {
        let started = std::time::Instant::now();
        let resp = req
            .basic_auth(
                &self.credentials.login,
                Some(self.credentials.password.expose()),
            )
            .send()
            .await;
        self.timings.observe(Service::Jenkins, started.elapsed());
        resp.map_err(|e| JenkinsError::Transport(error_chain(&e)))
    }

    async fn post(&self, job: &str, req: reqwest::RequestBuilder) -> Result<Queued, JenkinsError> {
        let resp = self.send(req).await?;
        let status = resp.status();
        let queue_id = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(queue_id_from_location);
        match status {
            StatusCode::CREATED | StatusCode::OK => Ok(Queued {
                queue_id,
                merged: false,
            }),
            // An identical request already waiting: Jenkins folded this one into it.
            StatusCode::SEE_OTHER if queue_id.is_some() => Ok(Queued {
                queue_id,
                merged: true,
            }),
            _ => Err(self.failure(job, resp).await),
        }
    }
}

/// The parameters of a queue item or build (`actions[].parameters[]`), by name.
fn parameters_of(v: &serde_json::Value) -> BTreeMap<String, String> {
    v["actions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["parameters"].as_array())
        .flatten()
        .filter_map(|p| {
            Some((
                p["name"].as_str()?.to_string(),
                p["value"].as_str()?.to_string(),
            ))
        })
        .collect()
}

/// Whether a build with parameters `found` is the one `wanted` asked for: the same `REF` and
/// `LUNCH_TARGET` (a parameter not sent is the job's default, `""`).
fn same_trigger(wanted: &BTreeMap<String, String>, found: &BTreeMap<String, String>) -> bool {
    ["REF", "LUNCH_TARGET"].iter().all(|k| {
        wanted.get(*k).map_or("", String::as_str) == found.get(*k).map_or("", String::as_str)
    })
}

/// `http://host/queue/item/123/` -> 123.
pub fn queue_id_from_location(location: &str) -> Option<u64> {
    let path = location.trim_end_matches('/');
    let (rest, id) = path.rsplit_once('/')?;
    if !rest.ends_with("/queue/item") && rest != "queue/item" {
        return None;
    }
    id.parse().ok()
}

mod setup;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_ids_come_from_the_location_path() {
        assert_eq!(
            queue_id_from_location("https://j.example/queue/item/98765/"),
            Some(98765)
        );
        assert_eq!(
            queue_id_from_location("http://127.0.0.1:1/ci/queue/item/7"),
            Some(7)
        );
        assert_eq!(queue_id_from_location("https://j.example/job/x/"), None);
        assert_eq!(
            queue_id_from_location("https://j.example/queue/item/abc/"),
            None
        );
        assert_eq!(queue_id_from_location(""), None);
    }

    #[test]
    fn folder_jobs_nest_job_segments() {
        assert_eq!(
            Jenkins::job_path("bionic-presubmit"),
            "job/bionic-presubmit"
        );
        assert_eq!(
            Jenkins::job_path("android/bionic presubmit"),
            "job/android/job/bionic%20presubmit"
        );
    }

    #[test]
    fn a_trigger_is_the_same_when_ref_and_target_match() {
        let m = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let asked = m(&[("REF", "refs/changes/45/123445/3"), ("PROJECT", "bionic")]);
        assert!(same_trigger(
            &asked,
            &m(&[("REF", "refs/changes/45/123445/3"), ("LUNCH_TARGET", "")])
        ));
        assert!(!same_trigger(
            &asked,
            &m(&[
                ("REF", "refs/changes/45/123445/3"),
                ("LUNCH_TARGET", "aosp_arm-eng")
            ])
        ));
        assert!(!same_trigger(
            &asked,
            &m(&[("REF", "refs/changes/45/123445/2")])
        ));
        assert!(same_trigger(&m(&[]), &m(&[])));
    }
}
