//! The effectors: one attempt at one intent, per kind, turned into an [`Outcome`].

use crate::console::one_line_safe;
use crate::gerrit::{GerritError, ReviewInput, VERIFIED};
use crate::jenkins::{JenkinsError, error_chain, one_line};
use crate::journal::{BuildUpdate, EventKind, Finish, Intent, IntentKind, NewEvent, now_ms};

use super::{Effect, Effectors, Payload};

/// The outcome of a cancel that took an item out of Jenkins' queue.
const CANCELLED: &str = "cancelled";

/// How an attempt ended, with the events and the build change that go with it.
pub(super) struct Outcome {
    pub finish: Finish,
    pub events: Vec<NewEvent>,
    pub build: Option<BuildUpdate>,
}

/// What one attempt at the service gave.
pub(super) enum Attempt {
    Done(String),
    /// Worth retrying; `doubt`: the request may have taken effect.
    Retry {
        error: String,
        doubt: bool,
    },
    Failed(String),
    /// Jenkins contradicts the callback a review came from: no vote, and the build's vote is
    /// not used up.
    Contradicted(String),
}

impl Effectors {
    pub(super) async fn execute(&self, intent: &Intent) -> Outcome {
        let payload: Payload = match serde_json::from_str(&intent.payload) {
            Ok(p) => p,
            Err(e) => {
                return self.outcome(
                    intent,
                    None,
                    Attempt::Failed(format!("stored intent is unreadable: {e}")),
                );
            }
        };
        let attempt = if intent.doubt {
            match self.reconcile(intent, &payload.effect).await {
                Ok(Some(found)) => {
                    tracing::info!(key = %intent.key, found = %found,
                        "an earlier attempt had taken effect; not repeating it");
                    Attempt::Done(found)
                }
                Ok(None) => self.attempt(&payload.effect).await,
                Err(error) => Attempt::Retry { error, doubt: true },
            }
        } else {
            self.attempt(&payload.effect).await
        };
        self.outcome(intent, Some(&payload), attempt)
    }

    async fn attempt(&self, effect: &Effect) -> Attempt {
        match effect {
            Effect::Trigger { job, params } => self.trigger(job, params).await,
            Effect::Review {
                change,
                revision,
                review,
                verify,
                only_if_current,
            } => {
                if let Some(v) = verify
                    && let Err(stop) = self.confirm(v).await
                {
                    return stop;
                }
                if *only_if_current && !review.labels.is_empty() {
                    return self.review_if_current(change, revision, review).await;
                }
                self.review(change, revision, review).await
            }
            Effect::DropRejection { change, revision } => {
                self.drop_rejection(change, revision).await
            }
            Effect::DropRequest {
                change_id,
                patch_set,
            } => self.drop_request(change_id, *patch_set).await,
            Effect::MailMove {
                gmail_id,
                set_aside,
            } => self.mail_move(gmail_id, set_aside.as_ref()).await,
            Effect::Cancel { queue_id, job } => self.cancel(*queue_id, job).await,
        }
    }

    fn outcome(&self, intent: &Intent, payload: Option<&Payload>, attempt: Attempt) -> Outcome {
        let context = payload.map_or("effect", |p| p.context.as_str());
        let trigger = intent.kind == IntentKind::Trigger;
        match attempt {
            Attempt::Done(outcome) => {
                let mut events = Vec::new();
                if let Some(mut e) = payload.and_then(|p| p.done.clone()) {
                    e.text = e.text.replace("{outcome}", &outcome);
                    events.push(e);
                }
                let build = if trigger {
                    Some(BuildUpdate::Queued {
                        intent_key: intent.key.clone(),
                        queue_id: outcome.parse().ok(),
                    })
                } else {
                    match payload.map(|p| &p.effect) {
                        Some(Effect::Cancel { queue_id, .. }) if outcome == CANCELLED => {
                            Some(BuildUpdate::Cancelled {
                                queue_id: *queue_id,
                            })
                        }
                        _ => None,
                    }
                };
                Outcome {
                    finish: Finish::Done { outcome },
                    events,
                    build,
                }
            }
            Attempt::Retry { error, doubt } => {
                let wait = self.backoff.delay(intent.attempts);
                tracing::warn!(key = %intent.key, attempts = intent.attempts, error = %error,
                    retry_in = ?wait, "attempt failed; will retry");
                let mut events = Vec::new();
                if intent.attempts == 1 || intent.attempts.is_multiple_of(10) {
                    events.push(self.error_event(intent, context, &format!("{error}; will retry")));
                }
                Outcome {
                    finish: Finish::Retry {
                        error,
                        at: now_ms().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(0)),
                        doubt,
                    },
                    events,
                    build: None,
                }
            }
            Attempt::Contradicted(error) => {
                let verify = payload.and_then(|p| match &p.effect {
                    Effect::Review {
                        verify: Some(v), ..
                    } => Some(v.clone()),
                    _ => None,
                });
                Outcome {
                    events: vec![self.error_event(
                        intent,
                        "callback",
                        &format!("{error}: no vote"),
                    )],
                    finish: Finish::Failed { error },
                    build: verify.map(|v| BuildUpdate::Contradicted {
                        job: v.job,
                        number: v.number,
                    }),
                }
            }
            Attempt::Failed(error) => Outcome {
                events: vec![self.error_event(intent, context, &format!("{error} (not retried)"))],
                finish: Finish::Failed { error },
                build: trigger.then(|| BuildUpdate::NotTriggered {
                    intent_key: intent.key.clone(),
                }),
            },
        }
    }

    fn error_event(&self, intent: &Intent, context: &str, what: &str) -> NewEvent {
        let who = match (&intent.change, intent.patch_set) {
            (Some(c), Some(ps)) => format!("{c} patch set {ps}"),
            (Some(c), None) => c.clone(),
            _ => intent.key.clone(),
        };
        let mut e = NewEvent::new(
            EventKind::Error,
            context,
            format!("{} => {who}: {}", intent.source, one_line_safe(what, 300)),
        );
        e.change = intent.change.clone();
        e.patch_set = intent.patch_set;
        e
    }

    async fn trigger(
        &self,
        job: &str,
        params: &std::collections::BTreeMap<String, String>,
    ) -> Attempt {
        let Some(jenkins) = &self.jenkins else {
            return Attempt::Retry {
                error: "this process has no Jenkins client".into(),
                doubt: false,
            };
        };
        let result = if params.is_empty() {
            jenkins.build(job).await
        } else {
            jenkins.build_with_parameters(job, params).await
        };
        match result {
            Ok(q) => Attempt::Done(q.queue_id.map_or_else(String::new, |q| q.to_string())),
            Err(e) => jenkins_failure(&e),
        }
    }

    /// Reads the build from Jenkins and checks the callback against it (SPEC §11): the job,
    /// the number, a finished result equal to the reported status, the `REF`. `Err` says
    /// what to do instead of voting: wait (Jenkins unreachable, the build still running) or
    /// drop the vote (Jenkins contradicts the callback).
    async fn confirm(&self, v: &super::Verify) -> Result<(), Attempt> {
        let Some(jenkins) = &self.jenkins else {
            return Err(no_client("Jenkins"));
        };
        let build = format!("{} #{}", v.job, v.number);
        let info = match jenkins.build_info(&v.job, v.number).await {
            Ok(info) => info,
            Err(JenkinsError::UnknownJob(_)) => {
                return Err(Attempt::Contradicted(format!(
                    "Jenkins has no build {build}: the callback is not genuine"
                )));
            }
            Err(e) => {
                return Err(Attempt::Retry {
                    error: format!("cannot confirm {build} with Jenkins: {e}"),
                    doubt: false,
                });
            }
        };
        if info.running || info.result.is_none() {
            return Err(Attempt::Retry {
                error: format!("Jenkins still shows {build} as running"),
                doubt: false,
            });
        }
        let result = info.result.unwrap_or_default();
        let contradiction = if info.number != Some(v.number) {
            Some(format!("Jenkins reports build number {:?}", info.number))
        } else if result != v.status {
            Some(format!(
                "Jenkins reports {result}, the callback said {}",
                v.status
            ))
        } else if v.git_ref.is_some() && info.parameters.get("REF") != v.git_ref.as_ref() {
            Some(format!(
                "Jenkins built REF {}, the callback said {}",
                info.parameters.get("REF").map_or("(none)", String::as_str),
                v.git_ref.as_deref().unwrap_or_default()
            ))
        } else {
            None
        };
        match contradiction {
            Some(why) => Err(Attempt::Contradicted(format!(
                "Jenkins contradicts the callback for {build}: {why}"
            ))),
            None => Ok(()),
        }
    }

    /// Posts `review`, without its labels when `revision` is no longer the change's current
    /// patch set: a result for a superseded patch set must not vote (SPEC §15).
    async fn review_if_current(
        &self,
        change: &str,
        revision: &str,
        review: &ReviewInput,
    ) -> Attempt {
        let Some(gerrit) = &self.gerrit else {
            return no_client("Gerrit");
        };
        let current = match gerrit.revision_votes(change, revision).await {
            Ok(v) => v,
            Err(e) => return gerrit_failure(e),
        };
        if current.asked_is_current {
            return self.review(change, revision, review).await;
        }
        let mut unlabelled = review.clone();
        unlabelled.labels.clear();
        match self.review(change, revision, &unlabelled).await {
            Attempt::Done(outcome) => Attempt::Done(format!(
                "{outcome} without a vote: patch set {revision} is superseded{}",
                current
                    .current_patch_set
                    .map_or_else(String::new, |p| format!(" by {p}"))
            )),
            other => other,
        }
    }

    async fn review(&self, change: &str, revision: &str, review: &ReviewInput) -> Attempt {
        let Some(gerrit) = &self.gerrit else {
            return no_client("Gerrit");
        };
        match gerrit.post_review(change, revision, review).await {
            Ok(result) => {
                let dropped = result.dropped_labels(review);
                if dropped.is_empty() {
                    return Attempt::Done("posted".into());
                }
                tracing::warn!(labels = ?dropped,
                    "Gerrit accepted the review but did not apply these labels: the project has \
                     no such label or the bot's account may not vote on it");
                Attempt::Done(format!("posted; Gerrit dropped {}", dropped.join(", ")))
            }
            Err(e) => gerrit_failure(e),
        }
    }

    async fn drop_rejection(&self, change: &str, revision: &str) -> Attempt {
        let Some(gerrit) = &self.gerrit else {
            return no_client("Gerrit");
        };
        let result = async {
            let me = gerrit.self_account_id().await?;
            let votes = gerrit.revision_votes(change, revision).await?;
            if !votes.asked_is_current {
                tracing::warn!(current = ?votes.current_patch_set.map(|p| p.0),
                    "patch set {revision} is not current: Gerrit reports the current patch set's \
                     labels only, so the decision follows those");
            }
            if !votes.label_exists {
                return Ok("no Verified label on the change: nothing to drop".to_string());
            }
            let others_plus_one = if votes.asked_is_current {
                votes.votes.iter().any(|&(a, v)| a != me && v > 0)
            } else {
                // Gerrit reports only the current patch set's labels: on an older one, the
                // change message is the record of the vote.
                gerrit.messages(change).await?.iter().any(|m| {
                    m.author.is_some_and(|a| a != me)
                        && m.patch_set.map(|p| p.to_string()).as_deref() == Some(revision)
                        && crate::policy::comment::header_votes(m)
                            .iter()
                            .any(|t| t == "Verified+1")
                })
            };
            if !others_plus_one {
                return Ok(format!(
                    "Gerrit shows no Verified+1 by another account on patch set {revision}: \
                     the bot's vote is kept"
                ));
            }
            match votes.votes.iter().find(|(account, _)| *account == me) {
                Some(&(_, value)) if value < 0 => {
                    let review = ReviewInput::bot(None, [(VERIFIED.to_string(), 0)].into());
                    gerrit.post_review(change, revision, &review).await?;
                    Ok(format!("removed the bot's Verified{value}"))
                }
                Some(&(_, value)) => Ok(format!("the bot's vote is Verified+{value}: kept")),
                None => Ok("the bot has no Verified vote: nothing to drop".to_string()),
            }
        }
        .await;
        match result {
            Ok(outcome) => Attempt::Done(outcome),
            Err(e) => gerrit_failure(e),
        }
    }

    async fn drop_request(&self, change_id: &str, patch_set: u32) -> Attempt {
        let Some(l) = &self.listener else {
            return no_client("build-listener");
        };
        let url = format!("{}/drop-rejection", l.url.trim_end_matches('/'));
        let mut req = l
            .http
            .post(url)
            .json(&serde_json::json!({ "changeid": change_id, "patchset": patch_set }));
        if let Some(t) = &l.token {
            req = req.bearer_auth(t.expose());
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => Attempt::Done("requested".into()),
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                // A 4xx (a token mismatch) will not heal by itself, but the mail that asked
                // must not be lost: it is kept and counted (SPEC §12 poison mail).
                Attempt::Retry {
                    error: format!("build-listener answered {status}: {}", one_line(&body, 200)),
                    doubt: false,
                }
            }
            Err(e) => Attempt::Retry {
                error: format!("cannot reach build-listener: {}", error_chain(&e)),
                doubt: false,
            },
        }
    }

    async fn cancel(&self, queue_id: u64, job: &str) -> Attempt {
        let Some(jenkins) = &self.jenkins else {
            return no_client("Jenkins");
        };
        match jenkins.cancel(queue_id, job).await {
            Ok(true) => Attempt::Done(CANCELLED.into()),
            // It started meanwhile (running builds are left alone), or is gone.
            Ok(false) => Attempt::Done("not waiting any more: left alone".into()),
            Err(e) => jenkins_failure(&e),
        }
    }
}

pub(super) fn no_client(service: &str) -> Attempt {
    Attempt::Retry {
        error: format!("this process cannot reach {service}"),
        doubt: false,
    }
}

fn jenkins_failure(e: &JenkinsError) -> Attempt {
    match e {
        // No answer at all: the request may or may not have been queued.
        JenkinsError::Transport(_) => Attempt::Retry {
            error: e.to_string(),
            doubt: true,
        },
        e if e.is_transient() => Attempt::Retry {
            error: e.to_string(),
            doubt: false,
        },
        e => Attempt::Failed(e.to_string()),
    }
}

fn gerrit_failure(e: GerritError) -> Attempt {
    match e {
        GerritError::Transport(_) => Attempt::Retry {
            error: e.to_string(),
            doubt: true,
        },
        // 3xx, 401, 403: the operator can fix the credentials, URL or permissions: keep it.
        e if e.is_transient() || e.is_operator_fixable() => Attempt::Retry {
            error: e.to_string(),
            doubt: false,
        },
        e => Attempt::Failed(e.to_string()),
    }
}
