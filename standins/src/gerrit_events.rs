//! Gerrit's `patchset-created` and `comment-added` events, as the webhooks plugin POSTs them
//! (and, in another spelling, as `gerrit stream-events` prints them). Every patch set upload and
//! every review that writes a change message fires one, at that moment, into the store's event
//! log; `gerrit_webhooks.rs` delivers them.
//!
//! Shapes kept from Gerrit (`server/events/*Event.java`, `server/data/*Attribute.java`,
//! `EventFactory`, `StreamEventsApiListener`; checked against payloads captured from a 3.x
//! server in cdevents' `rfc/gerrit-cdevents.md`):
//! - Gson writes a class's own fields before its superclass's, in declaration order, and leaves
//!   nulls out: `uploader` | `author, approvals, comment`, then `patchSet, change, project,
//!   refName, changeKey, type, eventCreatedOn`; `instanceId` only when configured (never here);
//! - accounts are `{name, email, username}`, with no numeric id (`asAccountAttribute`); the
//!   patch set's `author` is the commit author's account when one has that email, otherwise
//!   `{name, email, "username": ""}` from the commit;
//! - `change` is `{project, branch, id, number, subject, owner, url, commitMessage, createdOn,
//!   status}` (`topic`, `hashtags`, `wip`, `private` only when set); `url` is
//!   `<canonicalWebUrl>c/<project>/+/<number>`, left out when the server does not know its URL;
//! - `patchSet` is `{number, revision, parents, ref, uploader, createdOn, author, kind,
//!   sizeInsertions, sizeDeletions}`; times are Unix seconds;
//! - `comment-added`'s `approvals` has one entry per label of the project (`PostReviewOp` starts
//!   every label at 0): `type`, `description` (the label name), `value` as a string, and
//!   `oldValue` only for labels this review changed (`"0"` when there was no vote). A review of a
//!   closed change that sends no labels leaves `approvals` out. The array is in Java `HashMap`
//!   order (`Verified` before `Code-Review`); `comment` is the whole change message;
//! - the webhooks plugin serializes with a plain `Gson` (only a `Supplier` adapter), so the
//!   top-level `project` is `{"name": ...}` and `changeKey` is the AutoValue field, `{"key":
//!   ...}`; before Gerrit 3.1 (gwtorm keys) it was `{"id": ...}`; core's `@EventGson`
//!   (stream-events) writes `"project": "<name>"` and `{"id": ...}`. [`EventSpelling`] picks one;
//! - Gson's default HTML-safe escaping (`=` is `\u003d`) in the bytes sent.

use serde::Serialize;
use serde_json::Value;

use crate::gerrit_json::{commit_message, files_json};
use crate::gerrit_store::{Account, GerritStore};
use crate::util::gson_escape;
use crate::world::World;

/// How the top-level `project` and `changeKey` of an event are spelled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventSpelling {
    /// The webhooks plugin on Gerrit 3.1 and later: `"project":{"name":"p"}`,
    /// `"changeKey":{"key":"I..."}`.
    #[default]
    Webhooks,
    /// The webhooks plugin on Gerrit 2.14–3.0: `"project":{"name":"p"}`,
    /// `"changeKey":{"id":"I..."}`.
    WebhooksLegacy,
    /// `gerrit stream-events`: `"project":"p"`, `"changeKey":{"id":"I..."}`.
    StreamEvents,
}

/// One event Gerrit fired, in one spelling.
#[derive(Clone, Debug, PartialEq)]
pub struct GerritEvent {
    /// `patchset-created` or `comment-added`.
    pub kind: String,
    pub change: u64,
    pub patch_set: u32,
    /// The change message the review wrote (`comment-added` only).
    pub message_id: Option<String>,
    /// The event as JSON.
    pub json: Value,
    /// The exact bytes sent: Gson's field order and escaping.
    pub body: String,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct AccountAttr {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
}

impl AccountAttr {
    fn of(a: &Account) -> AccountAttr {
        AccountAttr {
            name: Some(a.name.clone()),
            email: Some(a.email.clone()),
            username: Some(a.username.clone()),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PatchSetAttr {
    number: u32,
    revision: String,
    parents: Vec<String>,
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    uploader: Option<AccountAttr>,
    created_on: i64,
    author: AccountAttr,
    kind: &'static str,
    size_insertions: i64,
    size_deletions: i64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeAttr {
    project: String,
    branch: String,
    id: String,
    number: u64,
    subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<AccountAttr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    commit_message: String,
    created_on: i64,
    status: &'static str,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApprovalAttr {
    #[serde(rename = "type")]
    label: String,
    description: String,
    value: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_value: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
enum ProjectField {
    Name(String),
    Object { name: String },
}

#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
enum ChangeKeyField {
    Id { id: String },
    Key { key: String },
}

/// An event as Gson would serialize it (field order is Gson's).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    #[serde(skip_serializing_if = "Option::is_none")]
    uploader: Option<AccountAttr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<AccountAttr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    approvals: Option<Vec<ApprovalAttr>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
    patch_set: PatchSetAttr,
    change: ChangeAttr,
    project: ProjectField,
    ref_name: String,
    change_key: ChangeKeyField,
    #[serde(rename = "type")]
    kind: &'static str,
    event_created_on: i64,
}

/// An event in the store's log, spelling-neutral.
#[derive(Clone, Debug)]
pub(crate) struct FiredEvent {
    payload: Payload,
    change: u64,
    patch_set: u32,
    message_id: Option<String>,
}

impl FiredEvent {
    pub(crate) fn kind(&self) -> &'static str {
        self.payload.kind
    }

    pub(crate) fn render(&self, spelling: EventSpelling) -> GerritEvent {
        let mut p = self.payload.clone();
        let project = p.change.project.clone();
        let key = p.change.id.clone();
        (p.project, p.change_key) = match spelling {
            EventSpelling::Webhooks => (
                ProjectField::Object { name: project },
                ChangeKeyField::Key { key },
            ),
            EventSpelling::WebhooksLegacy => (
                ProjectField::Object { name: project },
                ChangeKeyField::Id { id: key },
            ),
            EventSpelling::StreamEvents => {
                (ProjectField::Name(project), ChangeKeyField::Id { id: key })
            }
        };
        GerritEvent {
            kind: p.kind.to_owned(),
            change: self.change,
            patch_set: self.patch_set,
            message_id: self.message_id.clone(),
            json: serde_json::to_value(&p).unwrap_or(Value::Null),
            body: gson_escape(&serde_json::to_string(&p).unwrap_or_default()),
        }
    }
}

fn account(store: &GerritStore, id: u64) -> Option<AccountAttr> {
    store.account(id).map(AccountAttr::of)
}

/// Everything but the event-specific head, for patch set `ps_index` of change `change_index`.
fn base(
    store: &GerritStore,
    change_index: usize,
    ps_index: usize,
    kind: &'static str,
    now: i64,
) -> Payload {
    let c = &store.changes[change_index];
    let ps = &c.patch_sets[ps_index];
    // `Emails.toUserIdentity`: the commit author's account if one has the address.
    let author = store
        .accounts
        .iter()
        .find(|a| a.email == ps.committer_email)
        .map_or_else(
            || AccountAttr {
                name: ps.committer_email.split('@').next().map(str::to_owned),
                email: Some(ps.committer_email.clone()),
                username: Some(String::new()),
            },
            AccountAttr::of,
        );
    // `listModifiedFilesAgainstParent` counts the magic `/COMMIT_MSG` too.
    let files = files_json(c, ps);
    let sum = |key: &str| -> i64 {
        files
            .as_object()
            .map(|m| m.values().filter_map(|f| f[key].as_i64()).sum())
            .unwrap_or_default()
    };
    Payload {
        uploader: None,
        author: None,
        approvals: None,
        comment: None,
        patch_set: PatchSetAttr {
            number: ps.number,
            revision: ps.sha.clone(),
            parents: vec![ps.parent.clone()],
            git_ref: c.git_ref(ps.number),
            uploader: account(store, ps.uploader),
            created_on: ps.created.div_euclid(1000),
            author,
            kind: "REWORK",
            size_insertions: sum("lines_inserted"),
            size_deletions: sum("lines_deleted"),
        },
        change: ChangeAttr {
            project: c.project.clone(),
            branch: c.branch.clone(),
            id: c.change_id.clone(),
            number: c.number,
            subject: c.subject.clone(),
            owner: account(store, c.owner),
            url: store
                .own_url
                .as_ref()
                .map(|u| format!("{u}c/{}/+/{}", c.project, c.number)),
            commit_message: commit_message(c),
            created_on: c.created.div_euclid(1000),
            status: c.status.wire(),
        },
        project: ProjectField::Name(c.project.clone()),
        ref_name: format!("refs/heads/{}", c.branch),
        change_key: ChangeKeyField::Id {
            id: c.change_id.clone(),
        },
        kind,
        event_created_on: now.div_euclid(1000),
    }
}

/// Logs an event and hands it to the automatic webhook, if one is on.
fn fire(store: &mut GerritStore, event: FiredEvent) {
    if let Some(tx) = &store.webhook {
        // A stopped dispatcher has dropped its receiver; Gerrit then has no remote to post to.
        let _ = tx.send(event.clone());
    }
    store.events.push(event);
}

/// `patchset-created` for a patch set just uploaded at `now` (ms).
pub(crate) fn patchset_created(store: &mut GerritStore, change_index: usize, now: i64) {
    let ps_index = store.changes[change_index].patch_sets.len() - 1;
    let mut payload = base(store, change_index, ps_index, "patchset-created", now);
    payload.uploader = payload.patch_set.uploader.clone();
    let c = &store.changes[change_index];
    let event = FiredEvent {
        change: c.number,
        patch_set: c.patch_sets[ps_index].number,
        message_id: None,
        payload,
    };
    fire(store, event);
}

/// What a review did, for its `comment-added`.
pub(crate) struct Review<'a> {
    pub(crate) author: u64,
    /// The change message written.
    pub(crate) message: &'a str,
    pub(crate) message_id: &'a str,
    /// Labels this review changed, with the value before (0 for none).
    pub(crate) changed: Vec<(String, i32)>,
    /// False for a review of a closed change that sent no labels (no label work at all).
    pub(crate) labels_examined: bool,
}

/// Java's `HashMap` bucket of a string key in a table of `capacity` (a power of two).
fn java_bucket(key: &str, capacity: u32) -> u32 {
    let h = key
        .encode_utf16()
        .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c)));
    (h ^ (h >> 16)) & (capacity - 1)
}

/// `comment-added` for a review of patch set `ps_index` just written at `now` (ms).
pub(crate) fn comment_added(
    store: &mut GerritStore,
    change_index: usize,
    ps_index: usize,
    review: &Review,
    now: i64,
) {
    let mut payload = base(store, change_index, ps_index, "comment-added", now);
    let c = &store.changes[change_index];
    let ps = &c.patch_sets[ps_index];
    if review.labels_examined {
        let mut approvals: Vec<ApprovalAttr> = crate::gerrit_store::LABEL_TYPES
            .iter()
            .filter(|lt| store.label_type(&c.project, lt.name).is_some())
            .map(|lt| {
                let value = ps
                    .votes
                    .get(lt.name)
                    .and_then(|v| v.get(&review.author))
                    .map_or(0, |v| v.value);
                let old = review.changed.iter().find(|(l, _)| l == lt.name);
                ApprovalAttr {
                    label: lt.name.to_owned(),
                    description: lt.name.to_owned(),
                    value: value.to_string(),
                    old_value: old.map(|(_, v)| v.to_string()),
                }
            })
            .collect();
        // The labels pass through several default-sized HashMaps on their way to the event.
        let capacity = if approvals.len() <= 12 { 16 } else { 64 };
        approvals.sort_by_key(|a| java_bucket(&a.label, capacity));
        payload.approvals = (!approvals.is_empty()).then_some(approvals);
    }
    payload.author = account(store, review.author);
    payload.comment = Some(review.message.to_owned());
    let event = FiredEvent {
        change: c.number,
        patch_set: ps.number,
        message_id: Some(review.message_id.to_owned()),
        payload,
    };
    fire(store, event);
}

impl World {
    /// Every `patchset-created` and `comment-added` Gerrit fired so far, oldest first.
    pub fn gerrit_events(&self, spelling: EventSpelling) -> Vec<GerritEvent> {
        let inner = self.lock();
        inner
            .gerrit
            .events
            .iter()
            .map(|e| e.render(spelling))
            .collect()
    }

    /// The `patchset-created` fired when patch set `patch_set` of change `number` was uploaded.
    pub fn gerrit_patchset_created_event(
        &self,
        number: u64,
        patch_set: u32,
        spelling: EventSpelling,
    ) -> Option<GerritEvent> {
        let inner = self.lock();
        inner
            .gerrit
            .events
            .iter()
            .find(|e| {
                e.kind() == "patchset-created" && e.change == number && e.patch_set == patch_set
            })
            .map(|e| e.render(spelling))
    }

    /// The `comment-added` fired by the review that wrote change message `message_id` (what
    /// [`World::gerrit_post_comment`] returns).
    pub fn gerrit_comment_added_event(
        &self,
        number: u64,
        message_id: &str,
        spelling: EventSpelling,
    ) -> Option<GerritEvent> {
        let inner = self.lock();
        inner
            .gerrit
            .events
            .iter()
            .find(|e| e.change == number && e.message_id.as_deref() == Some(message_id))
            .map(|e| e.render(spelling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_map_puts_verified_before_code_review() {
        assert_eq!(java_bucket("Verified", 16), 2);
        assert_eq!(java_bucket("Code-Review", 16), 9);
    }
}
