//! Carrying out one [`Decision`]: the only place gmail-listener changes the outside world.
//!
//! Each successful action is recorded under `step_key` (the mail's Message-ID and the
//! decision's index), so when a mail is left for the next poll because a later action failed,
//! the actions that already happened are not repeated.

use crate::console::{self, Kind};
use crate::gerrit::{ChangeFacts, ReviewInput};
use crate::mail::Notification;
use crate::policy::{BuildRequest, Decision};
use crate::state::StateError;

use super::{PollReport, Poller};

/// `Err(())` means "leave the mail for the next poll"; the cause was already reported.
type Step = Result<(), ()>;

impl Poller {
    pub(super) async fn act(
        &self,
        n: &Notification,
        facts: Option<&ChangeFacts>,
        d: &Decision,
        step_key: &str,
        ctx: &str,
        report: &mut PollReport,
    ) -> Step {
        let who = facts.map_or_else(|| n.locator().plain_id(), crate::policy::change_key);
        if let Decision::Skip(reason) = d {
            let kind = if reason.is_error() {
                Kind::Error
            } else {
                Kind::Skip
            };
            console::line(kind, ctx, &format!("{who}: {reason}"));
            return Ok(());
        }
        if !self.dry_run {
            match self.state.is_answered(step_key).await {
                Ok(true) => {
                    tracing::info!(step_key, "already done on an earlier poll");
                    return Ok(());
                }
                Ok(false) => {}
                Err(e) => {
                    console::line(Kind::Error, ctx, &format!("{who}: state database: {e}"));
                    return Err(());
                }
            }
        }
        let done = match d {
            Decision::Build(b) => self.trigger(b, ctx, report).await,
            Decision::Clean {
                job,
                change_key,
                patch_set,
            } => self.clean(job, change_key, patch_set.0, ctx, report).await,
            Decision::DropRejection {
                change_id,
                patch_set,
            } => {
                self.drop_rejection(change_id, patch_set.0, ctx, report)
                    .await
            }
            Decision::Reply { message, patch_set } => {
                self.reply(n, message, patch_set.0, &who, ctx, report).await
            }
            Decision::Skip(_) => Ok(()),
        };
        if done.is_ok()
            && !self.dry_run
            && let Err(e) = self.state.mark_answered(step_key).await
        {
            tracing::warn!(error = %e, step_key, "action done but not recorded");
        }
        done
    }

    async fn trigger(&self, b: &BuildRequest, ctx: &str, report: &mut PollReport) -> Step {
        let target = b
            .params
            .get("LUNCH_TARGET")
            .map(|t| format!(" LUNCH_TARGET={t}"))
            .unwrap_or_default();
        let line = format!(
            "{} => {} {} {}{target}",
            b.change_key,
            b.job,
            self.jenkins.job_url(&b.job),
            b.params.get("CHANGE_ID").map_or("", String::as_str),
        );
        let ctx = if ctx == b.trigger.to_string() {
            ctx.to_string()
        } else {
            format!("{ctx}:{}", b.trigger)
        };
        if self.dry_run {
            console::line(Kind::Build, &ctx, &format!("{line} (dry run)"));
            return Ok(());
        }
        match self.jenkins.build_with_parameters(&b.job, &b.params).await {
            Ok(q) => {
                report.builds += 1;
                console::line(Kind::Build, &ctx, &line);
                if let Err(e) = self.record(b, q.queue_id).await {
                    tracing::error!(error = %e, "build triggered but not recorded");
                }
                Ok(())
            }
            Err(e) => {
                console::line(
                    Kind::Error,
                    &ctx,
                    &format!("{} => {}: {e}", b.change_key, b.job),
                );
                if e.is_transient() { Err(()) } else { Ok(()) }
            }
        }
    }

    /// Remembers a triggered build. A build for a lunch target is another configuration: it
    /// does not stand in for the patch set's ordinary presubmit build, so only its queue id is
    /// kept.
    async fn record(&self, b: &BuildRequest, queue_id: Option<u64>) -> Result<(), StateError> {
        let (key, ps) = (&b.change_key, b.patch_set.0);
        if !b.params.contains_key("LUNCH_TARGET") {
            return self.state.record_build(key, ps, &b.job, queue_id).await;
        }
        match queue_id {
            Some(id) => {
                self.state
                    .record_triggered(Poller::triggered(id, &b.job, key, ps))
                    .await
            }
            None => Ok(()),
        }
    }

    async fn clean(
        &self,
        job: &str,
        change_key: &str,
        patch_set: u32,
        ctx: &str,
        report: &mut PollReport,
    ) -> Step {
        let line = format!("{change_key} => {job} {}", self.jenkins.job_url(job));
        if self.dry_run {
            console::line(Kind::Clean, ctx, &format!("{line} (dry run)"));
            return Ok(());
        }
        match self.jenkins.build(job).await {
            Ok(q) => {
                report.cleans += 1;
                console::line(Kind::Clean, ctx, &line);
                match q.queue_id {
                    Some(id) => {
                        let t = Poller::triggered(id, job, change_key, patch_set);
                        if let Err(e) = self.state.record_triggered(t).await {
                            tracing::error!(error = %e, "clean triggered but not recorded");
                        }
                    }
                    None => tracing::warn!(
                        "Jenkins gave no queue item for the clean build; its result cannot be reported"
                    ),
                }
                Ok(())
            }
            Err(e) => {
                console::line(Kind::Error, ctx, &format!("{change_key} => {job}: {e}"));
                if e.is_transient() { Err(()) } else { Ok(()) }
            }
        }
    }

    async fn drop_rejection(
        &self,
        change_id: &str,
        patch_set: u32,
        ctx: &str,
        report: &mut PollReport,
    ) -> Step {
        let line =
            format!("{change_id}/{patch_set}: Verified+1 by a person; dropping the bot's -1");
        if self.dry_run {
            console::line(Kind::Check, ctx, &format!("{line} (dry run)"));
            return Ok(());
        }
        let url = format!(
            "{}/drop-rejection",
            self.config.build_listener.url.trim_end_matches('/')
        );
        let mut req = self
            .http
            .post(url)
            .json(&serde_json::json!({ "changeid": change_id, "patchset": patch_set }));
        if let Some(t) = &self.listener_token {
            req = req.bearer_auth(t.expose());
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => {
                report.drop_rejections += 1;
                console::line(Kind::Check, ctx, &line);
                Ok(())
            }
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                console::line(
                    Kind::Error,
                    ctx,
                    &format!(
                        "{change_id}: build-listener answered {status}: {}",
                        crate::jenkins::one_line(&body, 200)
                    ),
                );
                // 4xx (bad token, bad request) will not heal by retrying; 5xx might.
                if status.is_server_error() {
                    Err(())
                } else {
                    Ok(())
                }
            }
            Err(e) => {
                console::line(
                    Kind::Error,
                    ctx,
                    &format!(
                        "{change_id}: cannot reach build-listener: {}",
                        crate::jenkins::error_chain(&e)
                    ),
                );
                Err(())
            }
        }
    }

    async fn reply(
        &self,
        n: &Notification,
        message: &str,
        patch_set: u32,
        who: &str,
        ctx: &str,
        report: &mut PollReport,
    ) -> Step {
        let line = format!("{who}/{patch_set}: unknown command; replying with the valid ones");
        if self.dry_run {
            console::line(Kind::Reply, ctx, &format!("{line} (dry run)"));
            return Ok(());
        }
        let review = ReviewInput::bot(Some(message.to_string()), Default::default());
        match self
            .gerrit
            .post_review(&n.locator().rest_id(), &patch_set.to_string(), &review)
            .await
        {
            Ok(_) => {
                report.replies += 1;
                console::line(Kind::Reply, ctx, &line);
                Ok(())
            }
            Err(e) => {
                console::line(Kind::Error, ctx, &format!("{who}: cannot reply: {e}"));
                if e.is_transient() { Err(()) } else { Ok(()) }
            }
        }
    }
}
