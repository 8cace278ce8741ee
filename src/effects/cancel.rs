//! The cancel effector: take a build the bot triggered out of Jenkins' queue while it still
//! waits there; a build that started meanwhile is left alone.

use super::Effectors;
use super::outcome::{Attempt, CANCELLED, jenkins_failure, no_client};

impl Effectors {
    pub(super) async fn cancel(&self, queue_id: u64, job: &str) -> Attempt {
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
