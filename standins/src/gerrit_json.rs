//! JSON entities of the Gerrit stand-in: ChangeInfo, RevisionInfo, CommitInfo, FileInfo,
//! LabelInfo/ApprovalInfo, ChangeMessageInfo and AccountInfo, shaped as in
//! `Documentation/rest-api-changes.txt` (research/gerrit-api.md §4). As in `ChangeJson`, every
//! AccountInfo inside a ChangeInfo (owner, revision uploader, message authors, votes) is just
//! `_account_id` unless `o=DETAILED_ACCOUNTS` asks for name, email and username; the
//! `/messages` endpoint always gives detailed authors. CommentInfo is in `gerrit_comments.rs`.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};

use crate::gerrit_comments::comment_counts;
use crate::gerrit_store::{Account, Change, GerritErr, GerritStore, LABEL_TYPES, PatchSet};
use crate::util::gerrit_time;
use axum::http::StatusCode;

/// Gerrit's `Url.encode` leaves only `A–Z a–z 0–9 . - * _` alone.
const GERRIT_URL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'.')
    .remove(b'-')
    .remove(b'*')
    .remove(b'_');

pub(crate) fn encode(s: &str) -> String {
    utf8_percent_encode(s, GERRIT_URL).to_string()
}

/// The `o=` options the stand-in acts on; other valid option names are accepted and ignored.
#[derive(Default, Clone, Copy)]
pub(crate) struct Opts {
    pub(crate) current_revision: bool,
    pub(crate) all_revisions: bool,
    pub(crate) current_commit: bool,
    pub(crate) all_commits: bool,
    pub(crate) current_files: bool,
    pub(crate) all_files: bool,
    pub(crate) labels: bool,
    pub(crate) detailed_labels: bool,
    pub(crate) detailed_accounts: bool,
    pub(crate) messages: bool,
}

const IGNORED_OPTIONS: &[&str] = &[
    "REVIEWED",
    "DOWNLOAD_COMMANDS",
    "DRAFT_COMMENTS",
    "REVIEWER_UPDATES",
    "WEB_LINKS",
    "CHECK",
    "COMMIT_FOOTERS",
    "PUSH_CERTIFICATES",
    "SUBMITTABLE",
    "TRACKING_IDS",
    "CHANGE_ACTIONS",
    "CURRENT_ACTIONS",
    "SKIP_MERGEABLE",
    "SKIP_DIFFSTAT",
    "SUBMIT_REQUIREMENTS",
    "STAR",
    "CUSTOM_KEYED_VALUES",
    "PARENTS",
    "TRACKING_IDS",
];

impl Opts {
    pub(crate) fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Opts, GerritErr> {
        let mut o = Opts::default();
        for v in values {
            match v.to_ascii_uppercase().as_str() {
                "CURRENT_REVISION" => o.current_revision = true,
                "ALL_REVISIONS" => o.all_revisions = true,
                "CURRENT_COMMIT" => o.current_commit = true,
                "ALL_COMMITS" => o.all_commits = true,
                "CURRENT_FILES" => o.current_files = true,
                "ALL_FILES" => o.all_files = true,
                "LABELS" => o.labels = true,
                "DETAILED_LABELS" => o.detailed_labels = true,
                "DETAILED_ACCOUNTS" => o.detailed_accounts = true,
                "MESSAGES" => o.messages = true,
                other if IGNORED_OPTIONS.contains(&other) => {}
                _ => {
                    return Err(GerritErr::new(
                        StatusCode::BAD_REQUEST,
                        format!("\"{v}\" is not a valid value for \"-o\""),
                    ));
                }
            }
        }
        Ok(o)
    }

    /// What `GET /changes/{id}/detail` adds.
    pub(crate) fn detail(mut self) -> Opts {
        self.labels = true;
        self.detailed_labels = true;
        self.detailed_accounts = true;
        self.messages = true;
        self
    }
}

/// Who is asking and where the server is (for `fetch` URLs).
pub(crate) struct Ctx<'a> {
    pub(crate) caller: Option<u64>,
    pub(crate) base_url: &'a str,
}

pub(crate) fn account_json(store: &GerritStore, id: u64, detailed: bool) -> Value {
    match (detailed, store.account(id)) {
        (true, Some(a)) => detailed_account(a),
        _ => json!({ "_account_id": id }),
    }
}

pub(crate) fn detailed_account(a: &Account) -> Value {
    json!({"_account_id": a.id, "name": a.name, "email": a.email, "username": a.username})
}

/// Lines a file "changed", derived from its path so numbers are stable.
fn file_lines(path: &str) -> (usize, usize) {
    (1 + path.len() % 17, path.len() % 5)
}

pub(crate) fn commit_message(change: &Change) -> String {
    format!("{}\n\nChange-Id: {}\n", change.subject, change.change_id)
}

pub(crate) fn commit_json(change: &Change, ps: &PatchSet, with_sha: bool) -> Value {
    let person = |email: &str| {
        let name = email.split('@').next().unwrap_or(email);
        json!({"name": name, "email": email, "date": gerrit_time(ps.created), "tz": 0})
    };
    let mut v = json!({
        "parents": [{"commit": ps.parent, "subject": "Merge \"Previous work\""}],
        "author": person(&ps.committer_email),
        "committer": person(&ps.committer_email),
        "subject": change.subject,
        "message": commit_message(change),
    });
    if with_sha {
        v["commit"] = json!(ps.sha);
    }
    v
}

/// FileInfo map including Gerrit's magic `/COMMIT_MSG` (status "A"; `status` is absent for
/// modified files).
pub(crate) fn files_json(change: &Change, ps: &PatchSet) -> Value {
    let msg = commit_message(change);
    let mut files = Map::new();
    files.insert(
        "/COMMIT_MSG".into(),
        json!({"status": "A", "lines_inserted": msg.lines().count() + 6,
               "size_delta": msg.len(), "size": msg.len()}),
    );
    for path in &ps.files {
        let (ins, del) = file_lines(path);
        let delta = 40 * (i64::try_from(ins).unwrap_or(0) - i64::try_from(del).unwrap_or(0));
        files.insert(
            path.clone(),
            json!({"lines_inserted": ins, "lines_deleted": del,
                   "size_delta": delta, "size": 1000 + path.len() * 31}),
        );
    }
    Value::Object(files)
}

fn revision_json(
    store: &GerritStore,
    change: &Change,
    ps: &PatchSet,
    (o, ctx): (&Opts, &Ctx),
    current: bool,
) -> Value {
    let git_ref = change.git_ref(ps.number);
    let url = format!("{}/{}", ctx.base_url, change.project);
    // The download-commands plugin hides auth-requiring schemes from anonymous callers.
    let mut fetch = Map::new();
    fetch.insert("anonymous http".into(), json!({"url": url, "ref": git_ref}));
    if ctx.caller.is_some() {
        let auth_url = format!("{}/a/{}", ctx.base_url, change.project);
        fetch.insert("http".into(), json!({"url": auth_url, "ref": git_ref}));
    }
    let mut v = json!({
        "kind": "REWORK",
        "_number": ps.number,
        "created": gerrit_time(ps.created),
        "uploader": account_json(store, ps.uploader, o.detailed_accounts),
        "ref": git_ref,
        "fetch": fetch,
    });
    if o.all_commits || (o.current_commit && current) {
        v["commit"] = commit_json(change, ps, false);
    }
    if o.all_files || (o.current_files && current) {
        v["files"] = files_json(change, ps);
    }
    v
}

/// LabelInfo for the change's *current* patch set, as Gerrit always reports labels.
fn labels_json(store: &GerritStore, change: &Change, o: &Opts) -> Value {
    let ps = change.current();
    let mut labels = Map::new();
    for lt in LABEL_TYPES {
        if store.label_type(&change.project, lt.name).is_none() {
            continue;
        }
        let votes = ps.votes.get(lt.name);
        let mut info = json!({});
        let vote_of = |a: u64| votes.and_then(|v| v.get(&a));
        if let Some(v) = votes {
            let account = |id: u64| account_json(store, id, o.detailed_accounts);
            if let Some((id, _)) = v.iter().find(|(_, x)| x.value == lt.min) {
                info["rejected"] = account(*id);
            } else if let Some((id, _)) = v.iter().find(|(_, x)| x.value == lt.max) {
                info["approved"] = account(*id);
            } else if let Some((id, _)) = v.iter().find(|(_, x)| x.value < 0) {
                info["disliked"] = account(*id);
            } else if let Some((id, _)) = v.iter().find(|(_, x)| x.value > 0) {
                info["recommended"] = account(*id);
            }
        }
        if o.detailed_labels {
            let all: Vec<Value> = change
                .reviewers
                .iter()
                .map(|&id| {
                    let mut a = account_json(store, id, o.detailed_accounts);
                    match vote_of(id) {
                        Some(vote) => {
                            a["value"] = json!(vote.value);
                            a["date"] = json!(gerrit_time(vote.date));
                            if let Some(tag) = &vote.tag {
                                a["tag"] = json!(tag);
                            }
                        }
                        None => a["value"] = json!(0),
                    }
                    if store.may_vote(id, lt.name) {
                        a["permitted_voting_range"] = json!({"min": lt.min, "max": lt.max});
                    }
                    a
                })
                .collect();
            if !all.is_empty() {
                info["all"] = Value::Array(all);
            }
            let values: Map<String, Value> = lt
                .values
                .iter()
                .map(|(k, d)| ((*k).into(), json!(d)))
                .collect();
            info["values"] = Value::Object(values);
        }
        info["default_value"] = json!(0);
        labels.insert(lt.name.into(), info);
    }
    Value::Object(labels)
}

fn permitted_labels(store: &GerritStore, change: &Change, caller: u64) -> Value {
    let mut out = Map::new();
    for lt in LABEL_TYPES {
        if store.label_type(&change.project, lt.name).is_none() {
            continue;
        }
        let values: Vec<&str> = if store.may_vote(caller, lt.name) {
            lt.values.iter().map(|(k, _)| *k).collect()
        } else {
            vec![" 0"]
        };
        out.insert(lt.name.into(), json!(values));
    }
    Value::Object(out)
}

/// ChangeMessageInfos, oldest first; `detailed` gives authors' name, email and username.
pub(crate) fn messages_json(store: &GerritStore, change: &Change, detailed: bool) -> Value {
    let list: Vec<Value> = change
        .messages
        .iter()
        .map(|m| {
            let mut v = json!({
                "id": m.id,
                "date": gerrit_time(m.date),
                "message": m.message,
                "_revision_number": m.revision,
            });
            if let Some(author) = m.author {
                v["author"] = account_json(store, author, detailed);
            }
            if let Some(tag) = &m.tag {
                v["tag"] = json!(tag);
            }
            v
        })
        .collect();
    Value::Array(list)
}

/// A ChangeInfo. `only` restricts `revisions` to one patch-set index (as `/review` does).
pub(crate) fn change_json(
    store: &GerritStore,
    change: &Change,
    o: &Opts,
    ctx: &Ctx,
    only: Option<usize>,
) -> Value {
    let current = change.current();
    let (ins, del) = current.files.iter().fold((0, 0), |(i, d), p| {
        let (a, b) = file_lines(p);
        (i + a, d + b)
    });
    let (total_comments, unresolved_comments) = comment_counts(change);
    let mut v = json!({
        "id": format!("{}~{}", encode(&change.project), change.number),
        "triplet_id": format!("{}~{}~{}", encode(&change.project), encode(&change.branch),
                              change.change_id),
        "project": change.project,
        "branch": change.branch,
        "change_id": change.change_id,
        "subject": change.subject,
        "status": change.status.wire(),
        "created": gerrit_time(change.created),
        "updated": gerrit_time(change.updated),
        "submit_type": "MERGE_IF_NECESSARY",
        "insertions": ins,
        "deletions": del,
        "total_comment_count": total_comments,
        "unresolved_comment_count": unresolved_comments,
        "has_review_started": true,
        "_number": change.number,
        "owner": account_json(store, change.owner, o.detailed_accounts),
        "current_revision_number": current.number,
    });
    let wants_revisions = o.current_revision || o.all_revisions || only.is_some();
    if wants_revisions {
        let mut revisions = Map::new();
        for (i, ps) in change.patch_sets.iter().enumerate() {
            let is_current = i + 1 == change.patch_sets.len();
            let selected = match only {
                Some(index) => index == i,
                None => o.all_revisions || is_current,
            };
            if selected {
                revisions.insert(
                    ps.sha.clone(),
                    revision_json(store, change, ps, (o, ctx), is_current),
                );
            }
        }
        // `/review` sets current_revision only when the revision asked for is the current one.
        if only.is_none_or(|i| i + 1 == change.patch_sets.len()) {
            v["current_revision"] = json!(current.sha);
        }
        v["revisions"] = Value::Object(revisions);
    }
    if o.labels || o.detailed_labels {
        v["labels"] = labels_json(store, change, o);
    }
    if let (true, Some(caller)) = (o.detailed_labels, ctx.caller) {
        v["permitted_labels"] = permitted_labels(store, change, caller);
    }
    if o.messages {
        v["messages"] = messages_json(store, change, o.detailed_accounts);
    }
    v
}
