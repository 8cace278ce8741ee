//! Intent keys: the stable name of every effect (SPEC §12). The same decision made again, by
//! this or another process, from the same hint or a different one, has the same key, and the
//! journal records a key once. Keys are made only here and stored as text, so `Display` and
//! `FromStr` are kept in sync: every key written by this release reads back as the same value,
//! and a key of an older release that fits no shape reads back as [`IntentKey::Other`].

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

/// What one hint's effects are keyed by (the `<hint>` of `<hint>#<step>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HintKey {
    /// `cmd:<Gerrit message id>`: a comment Gerrit recorded, however it was announced.
    Comment { message_id: String },
    /// `mail:<Message-ID>` (or `mail:gmail:<id>` for a mail without one).
    Mail { message_id: String },
    /// `webhook:<type>:<project~number>:<patch set>`: a webhook event that is not a comment.
    Webhook {
        kind: String,
        change: String,
        patch_set: u32,
    },
    /// `reconcile:<project~number>:<patch set>`: a patch set the query pass found unbuilt.
    Reconcile { change: String, patch_set: u32 },
}

impl fmt::Display for HintKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HintKey::Comment { message_id } => write!(f, "cmd:{message_id}"),
            HintKey::Mail { message_id } => write!(f, "mail:{message_id}"),
            HintKey::Webhook {
                kind,
                change,
                patch_set,
            } => write!(f, "webhook:{kind}:{change}:{patch_set}"),
            HintKey::Reconcile { change, patch_set } => {
                write!(f, "reconcile:{change}:{patch_set}")
            }
        }
    }
}

impl HintKey {
    fn parse(s: &str) -> Option<HintKey> {
        let (prefix, rest) = s.split_once(':')?;
        Some(match prefix {
            "cmd" => HintKey::Comment {
                message_id: rest.to_string(),
            },
            "mail" => HintKey::Mail {
                message_id: rest.to_string(),
            },
            "webhook" => {
                let (kind, rest) = rest.split_once(':')?;
                let (change, patch_set) = rest.rsplit_once(':')?;
                HintKey::Webhook {
                    kind: kind.to_string(),
                    change: change.to_string(),
                    patch_set: patch_set.parse().ok()?,
                }
            }
            "reconcile" => {
                let (change, patch_set) = rest.rsplit_once(':')?;
                HintKey::Reconcile {
                    change: change.to_string(),
                    patch_set: patch_set.parse().ok()?,
                }
            }
            _ => return None,
        })
    }

    /// The key of the `step`-th effect decided from this hint.
    pub fn step(&self, step: usize) -> IntentKey {
        IntentKey::Step {
            hint: self.clone(),
            step,
        }
    }
}

/// The stable key of one intent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntentKey {
    /// `trigger:auto:<project~number>:<patch set>:<job>`: a patch set is built automatically
    /// once per job, whatever announced it.
    AutoBuild {
        change: String,
        patch_set: u32,
        job: String,
    },
    /// `<hint>#<step>`: the step-th effect decided from one hint.
    Step { hint: HintKey, step: usize },
    /// `cancel:<queue id>`: a queue item is cancelled once.
    Cancel { queue_id: u64 },
    /// `move:<Gmail id>`: filing a mail (repeatable: a mail seen again is moved again).
    MailMove { gmail_id: String },
    /// `review:<job>#<number>:<change>:<revision>:<status>`: one finished build's review;
    /// `change` as the callback named it (REST id), `status` the result it reported, so a
    /// callback Jenkins contradicted does not stand in the way of the genuine one.
    Review {
        job: String,
        number: u64,
        change: String,
        revision: String,
        status: String,
    },
    /// `start:<job>#<number>:<change number>:<patch set>`: the "started" message of a build.
    Start {
        job: String,
        number: u64,
        change: u64,
        patch_set: u32,
    },
    /// `drop:<change REST id>:<patch set>:<ms>`: one drop-rejection request; the same request
    /// made again later is a new one.
    Drop {
        change: String,
        patch_set: u32,
        at: i64,
    },
    /// A key of an earlier release in a shape no longer made (`outbox:<id>`, `mail:<key>`).
    Other(String),
}

impl fmt::Display for IntentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntentKey::AutoBuild {
                change,
                patch_set,
                job,
            } => write!(f, "trigger:auto:{change}:{patch_set}:{job}"),
            IntentKey::Step { hint, step } => write!(f, "{hint}#{step}"),
            IntentKey::Cancel { queue_id } => write!(f, "cancel:{queue_id}"),
            IntentKey::MailMove { gmail_id } => write!(f, "move:{gmail_id}"),
            IntentKey::Review {
                job,
                number,
                change,
                revision,
                status,
            } => write!(f, "review:{job}#{number}:{change}:{revision}:{status}"),
            IntentKey::Start {
                job,
                number,
                change,
                patch_set,
            } => write!(f, "start:{job}#{number}:{change}:{patch_set}"),
            IntentKey::Drop {
                change,
                patch_set,
                at,
            } => write!(f, "drop:{change}:{patch_set}:{at}"),
            IntentKey::Other(s) => f.write_str(s),
        }
    }
}

/// `<job>#<number>:<rest>` (job names cannot hold `#` in Jenkins).
fn build_and_rest(s: &str) -> Option<(String, u64, &str)> {
    let (job, rest) = s.split_once('#')?;
    let (number, rest) = rest.split_once(':')?;
    Some((job.to_string(), number.parse().ok()?, rest))
}

fn parse_known(s: &str) -> Option<IntentKey> {
    if let Some(rest) = s.strip_prefix("trigger:auto:") {
        let (rest, job) = rest.rsplit_once(':')?;
        let (change, patch_set) = rest.rsplit_once(':')?;
        return Some(IntentKey::AutoBuild {
            change: change.to_string(),
            patch_set: patch_set.parse().ok()?,
            job: job.to_string(),
        });
    }
    let (prefix, rest) = s.split_once(':')?;
    Some(match prefix {
        "cancel" => IntentKey::Cancel {
            queue_id: rest.parse().ok()?,
        },
        "move" => IntentKey::MailMove {
            gmail_id: rest.to_string(),
        },
        "review" => {
            let (job, number, rest) = build_and_rest(rest)?;
            let mut parts = rest.splitn(3, ':');
            let (change, revision, status) = (parts.next()?, parts.next()?, parts.next()?);
            IntentKey::Review {
                job,
                number,
                change: change.to_string(),
                revision: revision.to_string(),
                status: status.to_string(),
            }
        }
        "start" => {
            let (job, number, rest) = build_and_rest(rest)?;
            let (change, patch_set) = rest.split_once(':')?;
            IntentKey::Start {
                job,
                number,
                change: change.parse().ok()?,
                patch_set: patch_set.parse().ok()?,
            }
        }
        "drop" => {
            let (rest, at) = rest.rsplit_once(':')?;
            let (change, patch_set) = rest.rsplit_once(':')?;
            IntentKey::Drop {
                change: change.to_string(),
                patch_set: patch_set.parse().ok()?,
                at: at.parse().ok()?,
            }
        }
        _ => {
            let (hint, step) = s.rsplit_once('#')?;
            IntentKey::Step {
                hint: HintKey::parse(hint)?,
                step: step.parse().ok()?,
            }
        }
    })
}

impl FromStr for IntentKey {
    type Err = Infallible;

    /// Never fails: a key that does not read back exactly as written is [`IntentKey::Other`].
    fn from_str(s: &str) -> Result<IntentKey, Infallible> {
        Ok(match parse_known(s) {
            Some(k) if k.to_string() == s => k,
            _ => IntentKey::Other(s.to_string()),
        })
    }
}

impl From<&str> for IntentKey {
    /// Reads a stored key (see [`IntentKey::read`]).
    fn from(s: &str) -> IntentKey {
        IntentKey::read(s)
    }
}

impl IntentKey {
    /// Reads a stored key.
    pub fn read(s: &str) -> IntentKey {
        match s.parse() {
            Ok(k) => k,
            Err(never) => match never {},
        }
    }

    /// An automatic build: skipped, with a line saying so, when its patch set was built.
    pub fn is_auto_build(&self) -> bool {
        matches!(self, IntentKey::AutoBuild { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_reads_back_as_written() {
        let hint = HintKey::Webhook {
            kind: "newpatchset".into(),
            change: "platform/bionic~5".into(),
            patch_set: 2,
        };
        let keys = [
            IntentKey::AutoBuild {
                change: "platform/bionic~5".into(),
                patch_set: 2,
                job: "android/bionic-presubmit".into(),
            },
            HintKey::Comment {
                message_id: "abc123".into(),
            }
            .step(0),
            HintKey::Mail {
                message_id: "<x#1:y@example.com>".into(),
            }
            .step(3),
            hint.step(1),
            HintKey::Reconcile {
                change: "p:q~7".into(),
                patch_set: 1,
            }
            .step(0),
            IntentKey::Cancel { queue_id: 42 },
            IntentKey::MailMove {
                gmail_id: "18c0ffee".into(),
            },
            IntentKey::Review {
                job: "bionic-presubmit".into(),
                number: 42,
                change: "platform%2Fbionic~5".into(),
                revision: "2".into(),
                status: "SUCCESS".into(),
            },
            IntentKey::Start {
                job: "f/j".into(),
                number: 1,
                change: 5,
                patch_set: 2,
            },
            IntentKey::Drop {
                change: "platform%2Fbionic~5".into(),
                patch_set: 2,
                at: 1_700_000_000_000,
            },
        ];
        for key in keys {
            let text = key.to_string();
            assert_eq!(IntentKey::read(&text), key, "{text}");
        }
    }

    #[test]
    fn the_text_of_each_shape_is_what_earlier_releases_stored() {
        let k = IntentKey::AutoBuild {
            change: "platform/bionic~5".into(),
            patch_set: 2,
            job: "bionic-presubmit".into(),
        };
        assert_eq!(
            k.to_string(),
            "trigger:auto:platform/bionic~5:2:bionic-presubmit"
        );
        let r = IntentKey::Review {
            job: "bionic-presubmit".into(),
            number: 42,
            change: "5".into(),
            revision: "2".into(),
            status: "FAILURE".into(),
        };
        assert_eq!(r.to_string(), "review:bionic-presubmit#42:5:2:FAILURE");
        let c = HintKey::Comment {
            message_id: "m1".into(),
        };
        assert_eq!(c.step(1).to_string(), "cmd:m1#1");
    }

    #[test]
    fn keys_of_no_known_shape_are_kept_as_they_are() {
        for s in [
            "outbox:5",
            "mail:legacy-key",
            "",
            "review:x",
            "cancel:abc",
            "trigger:auto:5",
            "cmd:m#x",
            "drop:5:2:noon",
            "mail:a#01",
        ] {
            let k = IntentKey::read(s);
            assert_eq!(k.to_string(), s);
            assert_eq!(k, IntentKey::Other(s.to_string()), "{s}");
        }
    }
}
