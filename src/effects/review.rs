//! The review effector: post a review (votes, result messages, replies) on one revision.
//! A review that reports a build is first confirmed with Jenkins (SPEC §11), and its vote is
//! left out when the revision is no longer the change's current patch set (SPEC §15).

use crate::gerrit::{ReviewInput, VERIFIED};
use crate::jenkins::JenkinsError;
use crate::journal::Effected;

use super::outcome::{Attempt, gerrit_failure, no_client};
use super::{Effectors, Verify};

impl Effectors {
    /// Reads the build from Jenkins and checks the callback against it (SPEC §11): the job,
    /// the number, a finished result equal to the reported status, the `REF`. `Err` says
    /// what to do instead of voting: wait (Jenkins unreachable, the build still running) or
    /// drop the vote (Jenkins contradicts the callback).
    pub(super) async fn confirm(&self, v: &Verify) -> Result<(), Attempt> {
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
    pub(super) async fn review_if_current(
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
            Attempt::Done(outcome) | Attempt::DoneAs(outcome, _) => Attempt::DoneAs(
                format!(
                    "{outcome} without a vote: patch set {revision} is superseded{}",
                    current
                        .current_patch_set
                        .map_or_else(String::new, |p| format!(" by {p}"))
                ),
                Effected::default(),
            ),
            other => other,
        }
    }

    pub(super) async fn review(
        &self,
        change: &str,
        revision: &str,
        review: &ReviewInput,
    ) -> Attempt {
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
                let verified_dropped = dropped.iter().any(|l| l.eq_ignore_ascii_case(VERIFIED));
                let applied = Effected {
                    vote: review
                        .labels
                        .get(VERIFIED)
                        .copied()
                        .filter(|_| !verified_dropped),
                    ..Effected::default()
                };
                Attempt::DoneAs(
                    format!("posted; Gerrit dropped {}", dropped.join(", ")),
                    applied,
                )
            }
            Err(e) => gerrit_failure(e),
        }
    }
}
