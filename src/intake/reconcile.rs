//! The reconcile pass (SPEC §15): Gerrit is the truth and the mail only a hint, so every
//! `[gerrit] reconcile_interval` gmail-listener asks Gerrit which open changes of the mapped
//! projects changed since it last looked, and builds each current patch set that was never
//! built, exactly as a `newpatchset` mail would (same checks, same intent keys: a patch set a
//! mail or webhook already built is not built again). A lost or misfiled mail delays a build
//! by at most one interval; it never loses it.
//!
//! The cursor is Gerrit's own `updated` time of the newest change seen (Gerrit's clock, so the
//! bot's clock does not matter), kept in the journal so it survives restarts; each query reaches
//! back [`OVERLAP_MS`] before it, because `after:` is only as fresh as Gerrit's index. The very
//! first pass (no cursor) only records where Gerrit is: installing the bot builds no old change.

use crate::console::{self, Kind};
use crate::gerrit::OpenChange;
use crate::hint::{MessageType, Notification};
use crate::journal::{JournalError, NewEvent, now_ms};
use crate::key::HintKey;
use crate::types::ChangeRef;
use crate::types::{PatchSet, Project};

use super::{Assessed, Carried, Done, Intake};

/// The journal cursor holding the newest `updated` seen (milliseconds, Gerrit's clock); when
/// it was last set is when the last pass ended.
pub const CURSOR: &str = "gerrit_reconcile";
/// How far before the cursor each query reaches (milliseconds).
pub const OVERLAP_MS: i64 = 60_000;
/// Changes asked for per page.
pub const PAGE: usize = 100;
/// At most this many changes per pass; the rest wait for the next pass (the cursor only moves
/// past what was looked at).
pub const MAX_CHANGES: usize = 10_000;

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// The first pass: only the cursor was recorded.
    pub first: bool,
    /// Open changes Gerrit listed.
    pub listed: usize,
    /// Of those, current patch sets not yet built by all of their project's jobs.
    pub unbuilt: usize,
    /// Builds triggered.
    pub builds: usize,
    /// Changes that failed for a passing reason (tried again next pass).
    pub failed: usize,
}

/// Why a pass could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("cannot query Gerrit's open changes: {0}")]
    Gerrit(#[from] crate::gerrit::GerritError),
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl Intake {
    /// A pass if one is due (none yet, or the last ended `reconcile_interval` ago); None if
    /// not due or turned off.
    pub async fn reconcile_if_due(&self) -> Result<Option<Reconciled>, ReconcileError> {
        let every = self.config.gerrit.reconcile_interval;
        if every.is_zero() {
            return Ok(None);
        }
        let last = self
            .journal
            .cursor_with_time(CURSOR)
            .await?
            .map(|(_, set_at)| set_at);
        let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
        if last.is_some_and(|t| now_ms().saturating_sub(t) < every_ms) {
            return Ok(None);
        }
        self.reconcile().await.map(Some)
    }

    /// One pass (see the module comment).
    pub async fn reconcile(&self) -> Result<Reconciled, ReconcileError> {
        let projects: Vec<String> = self.config.presubmit.projects.keys().cloned().collect();
        let cursor = self
            .journal
            .cursor(CURSOR)
            .await?
            .and_then(|v| v.parse::<i64>().ok());
        let mut report = Reconciled::default();
        let Some(cursor) = cursor else {
            // Where Gerrit is now: just past the newest open change's update, plus the overlap
            // the next query reaches back (so it lists nothing that is already there); with no
            // open change, this machine's clock (the overlap absorbs a skew).
            let newest = self.gerrit.open_changes(&projects, None, 1, 1).await?;
            let at = newest
                .first()
                .map_or_else(now_ms, |c| c.updated + 1 + OVERLAP_MS);
            self.journal.set_cursor(CURSOR, &at.to_string()).await?;
            report.first = true;
            return Ok(report);
        };
        let after = cursor - OVERLAP_MS;
        let mut changes = self
            .gerrit
            .open_changes(&projects, Some(after), PAGE, MAX_CHANGES)
            .await?;
        report.listed = changes.len();
        // Oldest first, so the cursor can stop just before the first change that failed.
        changes.sort_by_key(|c| c.updated);
        let mut next = cursor;
        let mut stop_at: Option<i64> = None;
        for c in &changes {
            match self.reconcile_change(c, &mut report).await {
                Ok(()) => {}
                Err(error) => {
                    report.failed += 1;
                    stop_at = Some(stop_at.map_or(c.updated, |s| s.min(c.updated)));
                    tracing::warn!(change = c.number, %error, "reconcile: will try again");
                }
            }
            next = next.max(c.updated);
        }
        if changes.len() >= MAX_CHANGES {
            tracing::warn!("reconcile: {MAX_CHANGES} changes this pass; the rest come next pass");
        }
        // A change that failed is looked at again next pass: the cursor stays at it.
        let next = stop_at.map_or(next, |s| next.min(s));
        self.journal.set_cursor(CURSOR, &next.to_string()).await?;
        Ok(report)
    }

    /// Builds `c`'s current patch set unless every job of its project already built it.
    async fn reconcile_change(
        &self,
        c: &OpenChange,
        report: &mut Reconciled,
    ) -> Result<(), String> {
        let key = ChangeRef {
            project: c.project.clone(),
            number: c.number,
        };
        let built = self
            .journal
            .built_jobs(&key, c.current_patch_set)
            .await
            .map_err(|e| format!("state database: {e}"))?;
        let jobs = self.config.presubmit.jobs_for(&c.project);
        if jobs.iter().all(|j| built.contains(j)) {
            return Ok(());
        }
        report.unbuilt += 1;
        let n = hint(c);
        let ctx = n.message_type.to_string();
        let fallback = HintKey::Reconcile {
            change: key.to_string(),
            patch_set: c.current_patch_set,
        };
        match self.assess(&n, &fallback).await {
            Assessed::Plan { planned, events } => {
                if planned.iter().any(|p| p.build.is_some()) {
                    let line = NewEvent::new(
                        Kind::Check,
                        "reconcile",
                        format!(
                            "{key}: patch set {} was never built (no mail or event for it)",
                            c.current_patch_set
                        ),
                    )
                    .change(&key, Some(c.current_patch_set));
                    console::emit(&self.journal, line).await;
                }
                let mut done = Done::default();
                let carried = self.carry_out(&ctx, planned, events, &mut done).await;
                report.builds += done.builds;
                match carried {
                    Carried::Done | Carried::Waiting => Ok(()),
                    Carried::Failed(error, _) => Err(error),
                }
            }
            Assessed::Stale(e) | Assessed::Ambiguous(e) => {
                console::emit(&self.journal, e).await;
                Ok(())
            }
            Assessed::Failed(error) => Err(error),
            Assessed::DryRun => Ok(()),
        }
    }
}

/// The hint a `newpatchset` mail for `c`'s current patch set would have been.
fn hint(c: &OpenChange) -> Notification {
    let mut n = Notification::of_change(
        MessageType::NewPatchSet,
        Project(c.project.clone()),
        c.number,
        c.change_id.clone(),
        PatchSet(c.current_patch_set),
    );
    n.branch = Some(c.branch.clone());
    n.subject = c.subject.clone();
    n
}
