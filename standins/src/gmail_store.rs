//! The mailbox behind the Gmail stand-in: labels, messages (kept as their raw RFC 5322 bytes)
//! and the history log, plus the World verbs tests use to deliver mail and inspect it.
//!
//! Gmail semantics kept here: user labels get ids `Label_N` while system labels use their name
//! as id; trashing is just the `TRASH` label; history ids grow with gaps.

use crate::util::now_ms;
use crate::world::World;

/// Gmail's system labels (id == name).
pub(crate) const SYSTEM_LABELS: &[&str] = &[
    "CHAT",
    "SENT",
    "INBOX",
    "IMPORTANT",
    "TRASH",
    "DRAFT",
    "SPAM",
    "CATEGORY_FORUMS",
    "CATEGORY_UPDATES",
    "CATEGORY_PERSONAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_SOCIAL",
    "STARRED",
    "UNREAD",
];

/// What a test sees of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GmailMessageView {
    pub id: String,
    /// Label names (system labels by their id, which is their name), in the order applied.
    pub label_names: Vec<String>,
    pub trashed: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Label {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) system: bool,
}

pub(crate) struct StoredMessage {
    pub(crate) id: String,
    pub(crate) thread_id: String,
    /// Delivery order; page tokens are built from it.
    pub(crate) seq: u64,
    pub(crate) raw: Vec<u8>,
    pub(crate) labels: Vec<String>,
    pub(crate) internal_date: i64,
    pub(crate) history_id: u64,
}

pub(crate) enum HistoryChange {
    Added,
    LabelsAdded(Vec<String>),
    LabelsRemoved(Vec<String>),
}

pub(crate) struct HistoryRecord {
    pub(crate) id: u64,
    pub(crate) message_id: String,
    pub(crate) change: HistoryChange,
    /// The message's labels right after this change (what `messagesAdded.message` shows).
    pub(crate) labels_after: Vec<String>,
}

pub(crate) struct GmailStore {
    pub(crate) labels: Vec<Label>,
    next_label: u64,
    pub(crate) messages: Vec<StoredMessage>,
    next_seq: u64,
    pub(crate) history: Vec<HistoryRecord>,
    pub(crate) history_id: u64,
    /// `startHistoryId` below this answers 404, as after Google dropped old records.
    pub(crate) oldest_history: u64,
    pub(crate) email: String,
}

impl GmailStore {
    pub(crate) fn new() -> GmailStore {
        GmailStore {
            labels: SYSTEM_LABELS
                .iter()
                .map(|n| Label {
                    id: (*n).into(),
                    name: (*n).into(),
                    system: true,
                })
                .collect(),
            next_label: 1,
            messages: Vec::new(),
            next_seq: 1,
            history: Vec::new(),
            history_id: 734_002,
            oldest_history: 734_002,
            email: "bionicbb@example.com".into(),
        }
    }

    /// Label names are unique case-insensitively at Gmail; an exact match wins.
    pub(crate) fn label_by_name(&self, name: &str) -> Option<&Label> {
        self.labels.iter().find(|l| l.name == name).or_else(|| {
            self.labels
                .iter()
                .find(|l| l.name.eq_ignore_ascii_case(name))
        })
    }

    pub(crate) fn label_by_id(&self, id: &str) -> Option<&Label> {
        self.labels.iter().find(|l| l.id == id)
    }

    /// Creates a user label; `None` when the name is taken ("Label name exists or conflicts").
    pub(crate) fn create_label(&mut self, name: &str) -> Option<Label> {
        if self.label_by_name(name).is_some() {
            return None;
        }
        let label = Label {
            id: format!("Label_{}", self.next_label),
            name: name.to_owned(),
            system: false,
        };
        self.next_label += 1;
        self.labels.push(label.clone());
        Some(label)
    }

    fn ensure_label(&mut self, name: &str) -> String {
        match self.label_by_name(name) {
            Some(l) => l.id.clone(),
            None => self.create_label(name).map(|l| l.id).unwrap_or_default(),
        }
    }

    /// Advances the mailbox's history id; real ids "are not contiguous with random gaps".
    fn bump_history(&mut self) -> u64 {
        self.history_id += 1 + (self.history_id * 7919) % 5;
        self.history_id
    }

    fn deliver(&mut self, raw: &[u8], label_ids: Vec<String>) -> String {
        let seq = self.next_seq;
        self.next_seq += 1;
        let id = format!("{:016x}", 0x18c4_a2f0_0000_0000_u64 + seq * 0x1_0f3d);
        let history_id = self.bump_history();
        self.history.push(HistoryRecord {
            id: history_id,
            message_id: id.clone(),
            change: HistoryChange::Added,
            labels_after: label_ids.clone(),
        });
        self.messages.push(StoredMessage {
            id: id.clone(),
            thread_id: id.clone(),
            seq,
            raw: raw.to_vec(),
            labels: label_ids,
            internal_date: now_ms(),
            history_id,
        });
        id
    }

    pub(crate) fn message_index(&self, id: &str) -> Option<usize> {
        self.messages.iter().position(|m| m.id == id)
    }

    /// Adds then removes labels on one message, logging only the labels that really changed.
    pub(crate) fn change_labels(&mut self, index: usize, add: &[String], remove: &[String]) {
        let Some(current) = self.messages.get(index).map(|m| m.labels.clone()) else {
            return;
        };
        let mut labels = current.clone();
        let added: Vec<String> =
            add.iter()
                .filter(|l| !labels.contains(l))
                .cloned()
                .fold(Vec::new(), |mut acc, l| {
                    if !acc.contains(&l) {
                        acc.push(l);
                    }
                    acc
                });
        labels.extend(added.iter().cloned());
        let removed: Vec<String> = remove
            .iter()
            .filter(|l| labels.contains(l))
            .cloned()
            .collect();
        labels.retain(|l| !removed.contains(l));
        let message_id = self.messages[index].id.clone();
        for (change, changed) in [
            (HistoryChange::LabelsAdded(added.clone()), !added.is_empty()),
            (
                HistoryChange::LabelsRemoved(removed.clone()),
                !removed.is_empty(),
            ),
        ] {
            if changed {
                let id = self.bump_history();
                self.history.push(HistoryRecord {
                    id,
                    message_id: message_id.clone(),
                    change,
                    labels_after: labels.clone(),
                });
                self.messages[index].history_id = id;
            }
        }
        self.messages[index].labels = labels;
    }

    fn view(&self, m: &StoredMessage) -> GmailMessageView {
        GmailMessageView {
            id: m.id.clone(),
            label_names: m
                .labels
                .iter()
                .map(|id| self.label_by_id(id).map_or(id.clone(), |l| l.name.clone()))
                .collect(),
            trashed: m.labels.iter().any(|l| l == "TRASH"),
        }
    }
}

impl World {
    /// The id of the label called `name`, creating a user label (`Label_N`) if there is none.
    pub fn gmail_label(&self, name: &str) -> String {
        self.lock().gmail.ensure_label(name)
    }

    /// Delivers raw RFC 5322 bytes carrying the labels `labels` (names; missing user labels are
    /// created). Nothing is added implicitly: pass "INBOX"/"UNREAD" if the test wants them.
    /// Returns the message id.
    pub fn gmail_deliver(&self, raw: &[u8], labels: &[&str]) -> String {
        let mut inner = self.lock();
        let g = &mut inner.gmail;
        let mut ids: Vec<String> = Vec::new();
        for name in labels {
            let id = g.ensure_label(name);
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        g.deliver(raw, ids)
    }

    /// Every message, in delivery order (trashed ones included, marked `trashed`).
    pub fn gmail_messages(&self) -> Vec<GmailMessageView> {
        let inner = self.lock();
        inner
            .gmail
            .messages
            .iter()
            .map(|m| inner.gmail.view(m))
            .collect()
    }

    pub fn gmail_message(&self, id: &str) -> Option<GmailMessageView> {
        let inner = self.lock();
        let g = &inner.gmail;
        g.message_index(id).map(|i| g.view(&g.messages[i]))
    }

    /// The mailbox's current history id (what `users.getProfile` reports).
    pub fn gmail_history_id(&self) -> u64 {
        self.lock().gmail.history_id
    }

    /// Forgets all history so far: any earlier `startHistoryId` now answers 404.
    pub fn gmail_expire_history(&self) {
        let mut inner = self.lock();
        let g = &mut inner.gmail;
        g.history.clear();
        g.oldest_history = g.history_id;
    }

    /// The mailbox's address (`users.getProfile`'s `emailAddress`; also accepted as userId).
    pub fn gmail_address(&self) -> String {
        self.lock().gmail.email.clone()
    }
}
