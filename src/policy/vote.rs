//! The one Verified vote of a patch set built by several jobs (SPEC §15): every finished build
//! posts its message at once, without a label, while others still run; the last voting build to
//! finish posts one line per job and the label: −1 if any failed, +1 if all succeeded, none
//! otherwise. Non-voting jobs report on their own and are never waited for. A project with one
//! job votes exactly as SPEC §7 says.

use std::collections::BTreeMap;

use crate::config::PresubmitConfig;
use crate::gerrit::{ReviewInput, VERIFIED};
use crate::types::{BuildResult, BuildStatus, Sibling};

use crate::text::sanitize;

/// The line SPEC §7 adds to a FAILURE message.
pub const FAILURE_HINT: &str = "If you believe this Verified-1 was in error, +1 the change and bionicbb will remove the -1 shortly.";

/// `<job> #<number> checkbuild <STATUS>: <link>`, Verified +1 on SUCCESS, -1 and the hint on
/// FAILURE, no vote otherwise.
pub fn presubmit_review(job: &str, number: u64, status: &BuildResult, link: &str) -> ReviewInput {
    let line = checkbuild(job, &number.to_string(), &status.to_string(), link);
    let vote = match status {
        BuildResult::Success => Some(1),
        BuildResult::Failure => Some(-1),
        _ => None,
    };
    voted(vec![line], vote)
}

/// `<job> #<number> checkbuild <STATUS>: <link>`, the one line per build.
fn checkbuild(job: &str, number: &str, status: &str, link: &str) -> String {
    format!(
        "{job} #{number} checkbuild {}: {}",
        sanitize(status),
        sanitize(link)
    )
}

/// The review of `lines` with `vote` (and, for a -1, the hint that says how to lift it).
fn voted(mut lines: Vec<String>, vote: Option<i32>) -> ReviewInput {
    if vote == Some(-1) {
        lines.push(FAILURE_HINT.to_string());
    }
    let labels = vote
        .map(|v| (VERIFIED.to_string(), v))
        .into_iter()
        .collect();
    ReviewInput::bot(Some(lines.join("\n")), labels)
}

/// What the finished build `job #number` (reporting `status` at `link`) posts, given the
/// latest build of each job of its patch set (`None`: not a build the bot triggered).
pub fn presubmit_post(
    job: &str,
    number: u64,
    status: &BuildResult,
    link: &str,
    siblings: Option<&[Sibling]>,
    cfg: &PresubmitConfig,
) -> ReviewInput {
    let line = checkbuild(job, &number.to_string(), &status.to_string(), link);
    let unlabelled = || ReviewInput::bot(Some(line.clone()), BTreeMap::new());
    if !cfg.is_voting_job(job) {
        return unlabelled();
    }
    let voting: Vec<&Sibling> = siblings
        .unwrap_or_default()
        .iter()
        .filter(|s| cfg.is_voting_job(&s.job))
        .collect();
    if voting.len() <= 1 {
        return presubmit_review(job, number, status, link);
    }
    let Some(statuses) = voting
        .iter()
        .map(|s| s.status.filter(|s| s.is_finished()))
        .collect::<Option<Vec<_>>>()
    else {
        return unlabelled();
    };
    let lines = voting
        .iter()
        .map(|s| {
            if s.job == job {
                return line.clone();
            }
            let number = s.number.map_or_else(|| "?".into(), |n| n.to_string());
            let status = s.status.map_or("RUNNING", BuildStatus::result_name);
            checkbuild(&s.job, &number, status, s.url.as_deref().unwrap_or(""))
        })
        .collect();
    voted(lines, aggregate(&statuses))
}

/// The patch set's vote from its voting jobs' results: -1 if any failed, +1 if all
/// succeeded, none otherwise.
fn aggregate(statuses: &[BuildStatus]) -> Option<i32> {
    if statuses.contains(&BuildStatus::Failed) {
        Some(-1)
    } else if statuses.iter().all(|s| *s == BuildStatus::Successful) {
        Some(1)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Jobs};

    fn cfg() -> PresubmitConfig {
        let mut c = Config::parse(include_str!("../../config.example.toml"), "example")
            .expect("example")
            .presubmit;
        c.projects.insert(
            "platform/bionic".into(),
            Jobs::Many(vec!["build".into(), "tests".into(), "lint".into()]),
        );
        c.non_voting_jobs = vec!["lint".into()];
        c
    }

    fn sib(job: &str, number: u64, status: Option<BuildStatus>) -> Sibling {
        Sibling {
            job: job.into(),
            number: Some(number),
            status,
            url: Some(format!("http://j/{job}/{number}/")),
        }
    }

    #[test]
    fn one_vote_when_every_voting_job_finished() {
        let c = cfg();
        let running = [
            sib("build", 1, Some(BuildStatus::Successful)),
            sib("tests", 2, Some(BuildStatus::Building)),
            sib("lint", 3, None),
        ];
        let first = presubmit_post(
            "build",
            1,
            &BuildResult::Success,
            "http://j/build/1/",
            Some(&running),
            &c,
        );
        assert!(first.labels.is_empty(), "{first:?}");
        assert_eq!(
            first.message.as_deref(),
            Some("build #1 checkbuild SUCCESS: http://j/build/1/")
        );
        let done = [
            sib("build", 1, Some(BuildStatus::Successful)),
            sib("tests", 2, Some(BuildStatus::Failed)),
            sib("lint", 3, None),
        ];
        let last = presubmit_post(
            "tests",
            2,
            &BuildResult::Failure,
            "http://j/tests/2/",
            Some(&done),
            &c,
        );
        assert_eq!(last.labels.get("Verified"), Some(&-1));
        let message = last.message.unwrap_or_default();
        assert_eq!(
            message.lines().collect::<Vec<_>>(),
            [
                "build #1 checkbuild SUCCESS: http://j/build/1/",
                "tests #2 checkbuild FAILURE: http://j/tests/2/",
                FAILURE_HINT
            ]
        );
        let all_good = [
            sib("build", 1, Some(BuildStatus::Successful)),
            sib("tests", 4, Some(BuildStatus::Successful)),
        ];
        let plus = presubmit_post("tests", 4, &BuildResult::Success, "l", Some(&all_good), &c);
        assert_eq!(plus.labels.get("Verified"), Some(&1));
        let unstable = [
            sib("build", 1, Some(BuildStatus::Successful)),
            sib("tests", 5, Some(BuildStatus::Unstable)),
        ];
        let none = presubmit_post("tests", 5, &BuildResult::Unstable, "l", Some(&unstable), &c);
        assert!(none.labels.is_empty(), "{none:?}");
    }

    #[test]
    fn non_voting_jobs_report_alone_and_a_single_job_votes_as_before() {
        let c = cfg();
        let lint = presubmit_post("lint", 3, &BuildResult::Failure, "l", Some(&[]), &c);
        assert!(lint.labels.is_empty());
        assert_eq!(
            lint.message.as_deref(),
            Some("lint #3 checkbuild FAILURE: l")
        );
        let single = presubmit_post("bionic-presubmit", 9, &BuildResult::Failure, "l", None, &c);
        assert_eq!(
            single,
            presubmit_review("bionic-presubmit", 9, &BuildResult::Failure, "l")
        );
    }
}
