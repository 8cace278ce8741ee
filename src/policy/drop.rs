//! A person's Verified+1 lifts the bot's Verified-1 (SPEC §6): the intent of checking the
//! bot's vote on a patch set and dropping it if it is negative.

use crate::intent::{self, Effect, Payload};
use crate::key::IntentKey;
use crate::record::{EventKind as Kind, NewEvent, Planned};

/// The intent, made at `at` (ms), of lifting the bot's Verified-1 from `change`'s patch set (the effector checks
/// Gerrit for a person's Verified+1 first), and the line saying it is queued.
pub fn drop_rejection(change: &str, patch_set: u32, at: i64) -> (Planned, NewEvent) {
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
            change: change.to_string(),
            patch_set,
            at,
        },
        Payload {
            effect: Effect::DropRejection {
                change: change.to_string(),
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

/// What the drop-rejection check decides from what Gerrit shows (SPEC §6): the bot's
/// negative Verified vote goes only when another account gave Verified+1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropVerdict {
    /// The change has no Verified label.
    NoLabel,
    /// No Verified+1 by another account: the bot's vote stays.
    NoPersonsPlusOne,
    /// Set the bot's vote to 0.
    Drop,
    /// The bot's vote is not negative.
    NotNegative,
    /// The bot has not voted.
    NoVote,
}

/// Decides a drop: `person_plus_one` is whether another account gave Verified+1 on the
/// patch set, `bot_vote` the bot's own Verified vote.
pub fn drop_verdict(
    label_exists: bool,
    person_plus_one: bool,
    bot_vote: Option<i32>,
) -> DropVerdict {
    match (label_exists, person_plus_one, bot_vote) {
        (false, _, _) => DropVerdict::NoLabel,
        (true, false, _) => DropVerdict::NoPersonsPlusOne,
        (true, true, Some(v)) if v < 0 => DropVerdict::Drop,
        (true, true, Some(_)) => DropVerdict::NotNegative,
        (true, true, None) => DropVerdict::NoVote,
    }
}

impl DropVerdict {
    /// The outcome line of the check on patch set `revision`.
    pub fn outcome(self, revision: &str, bot_vote: Option<i32>) -> String {
        let value = bot_vote.unwrap_or(0);
        match self {
            DropVerdict::NoLabel => "no Verified label on the change: nothing to drop".into(),
            DropVerdict::NoPersonsPlusOne => format!(
                "Gerrit shows no Verified+1 by another account on patch set {revision}: \
                 the bot's vote is kept"
            ),
            DropVerdict::Drop => format!("removed the bot's Verified{value}"),
            DropVerdict::NotNegative => format!("the bot's vote is Verified+{value}: kept"),
            DropVerdict::NoVote => "the bot has no Verified vote: nothing to drop".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_negative_bot_vote_after_a_persons_plus_one_is_dropped() {
        let table = [
            (false, true, Some(-1), DropVerdict::NoLabel),
            (true, false, Some(-1), DropVerdict::NoPersonsPlusOne),
            (true, true, Some(-1), DropVerdict::Drop),
            (true, true, Some(-2), DropVerdict::Drop),
            (true, true, Some(0), DropVerdict::NotNegative),
            (true, true, Some(1), DropVerdict::NotNegative),
            (true, true, None, DropVerdict::NoVote),
        ];
        for (label, plus_one, vote, want) in table {
            assert_eq!(
                drop_verdict(label, plus_one, vote),
                want,
                "{label} {plus_one} {vote:?}"
            );
        }
        assert_eq!(
            DropVerdict::Drop.outcome("2", Some(-1)),
            "removed the bot's Verified-1"
        );
    }
}
