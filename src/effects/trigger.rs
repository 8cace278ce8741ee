//! The trigger effector: queue a Jenkins build (`buildWithParameters`, or `build` for a job
//! without parameters). The outcome is the queue item's id, which the build row keeps.

use std::collections::BTreeMap;

use super::Effectors;
use super::outcome::{Attempt, jenkins_failure};

impl Effectors {
    pub(super) async fn trigger(&self, job: &str, params: &BTreeMap<String, String>) -> Attempt {
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
}
