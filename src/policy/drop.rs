//! A person's Verified+1 lifts the bot's Verified-1 (SPEC §6): the intent of checking the
//! bot's vote on a patch set and dropping it if it is negative.

use crate::intent::{self, Effect, Payload};
use crate::key::IntentKey;
use crate::record::{EventKind as Kind, NewEvent, Planned};
use crate::types::rest_id_from_plain;

/// The intent, made at `at` (ms), of lifting the bot's Verified-1 from `change`'s patch set (the effector checks
/// Gerrit for a person's Verified+1 first), and the line saying it is queued.
pub fn drop_rejection(change: &str, patch_set: u32, at: i64) -> (Planned, NewEvent) {
    let rest = rest_id_from_plain(change);
    let queued = NewEvent::new(
        Kind::Check,
        "drop-rejection",
        format!("{change} patch set {patch_set}: queued"),
    )
    .change(change, Some(patch_set));
    let done = NewEvent::new(
        Kind::Check,
        "gerrit",
        format!("drop-rejection => {change} patch set {patch_set}: {{outcome}}"),
    )
    .change(change, Some(patch_set));
    let planned = intent::plan(
        // A unique key: the same request made again later is a new request (only an
        // identical one still pending is merged, by `record_deduped`).
        IntentKey::Drop {
            change: rest.clone(),
            patch_set,
            at,
        },
        Payload {
            effect: Effect::DropRejection {
                change: rest,
                revision: patch_set.to_string(),
            },
            context: "gerrit".into(),
            done: Some(done),
        },
        Some(change.to_string()),
        Some(patch_set),
        "drop-rejection",
    );
    (planned, queued)
}
