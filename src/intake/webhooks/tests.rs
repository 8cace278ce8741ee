use serde_json::{Value, json};

use super::*;

const ID: &str = "I5e53df227fd2739ddd65c3034b2f9f789200bd89";

/// The real stream-events fixture of research/gerrit-api.md §5.1 (gerritbot-rs, Gerrit 2.16).
const STREAM_COMMENT: &str = r#"{"author":{"name":"Administrator","email":"admin@example.com","username":"admin"},"approvals":[{"type":"Code-Review","description":"Code-Review","value":"2","oldValue":"0"}],"comment":"Patch Set 1: Code-Review+2","patchSet":{"number":1,"revision":"c4f7d43450e366f9c8e4dcb94fbd91573cd40766","parents":["20332c6ee056bdf3f814c8cff9905154d443d2f0"],"ref":"refs/changes/01/1/1","uploader":{"name":"Administrator","email":"admin@example.com","username":"admin"},"createdOn":1553631812,"author":{"name":"Frank Benkstein","email":"frank@benkstein.net","username":""},"isDraft":false,"kind":"REWORK","sizeInsertions":0,"sizeDeletions":-18},"change":{"project":"gerritbot-rs","branch":"master","id":"I5e53df227fd2739ddd65c3034b2f9f789200bd89","number":1,"subject":"get rid of non-macro extern crate","owner":{"name":"Administrator","email":"admin@example.com","username":"admin"},"url":"http://localhost:8080/1","commitMessage":"…","createdOn":1553631812,"status":"NEW"},"project":"gerritbot-rs","refName":"refs/heads/master","changeKey":{"id":"I5e53df227fd2739ddd65c3034b2f9f789200bd89"},"type":"comment-added","eventCreatedOn":1553632440}"#;

fn webhook(kind: &str, comment: Option<&str>) -> Value {
    let mut v = json!({
        "uploader": {"name": "Dev", "email": "dev@google.com", "username": "dev"},
        "patchSet": {"number": 3, "revision": "abc", "ref": "refs/changes/07/7/3"},
        "change": {"project": "platform/bionic", "branch": "main", "id": ID, "number": 7,
                   "subject": "Fix strlen", "status": "NEW"},
        "project": {"name": "platform/bionic"},
        "refName": "refs/heads/main",
        "changeKey": {"key": ID},
        "type": kind,
        "eventCreatedOn": 1_764_000_000u64,
    });
    if let Some(c) = comment {
        v["comment"] = json!(c);
        v["author"] =
            json!({"name": "Dana Whitfield", "email": "dana@google.com", "username": "dana"});
    }
    v
}

fn hint(body: &[u8]) -> Notification {
    match parse(body) {
        Ok(Event::Hint(n)) => *n,
        other => panic!("not a hint: {other:?}"),
    }
}

fn error(v: &Value) -> EventError {
    parse(v.to_string().as_bytes()).expect_err("malformed")
}

#[test]
fn a_stream_events_comment_reads_like_a_mail() {
    let n = hint(STREAM_COMMENT.as_bytes());
    assert_eq!(n.message_type, MessageType::Comment);
    assert_eq!(n.change_id, ID);
    assert_eq!(n.project, Project("gerritbot-rs".into()));
    assert_eq!(n.change_number, Some(1));
    assert_eq!(n.branch.as_deref(), Some("master"));
    assert_eq!(n.comment_date, Some(1_553_632_440_000));
    let r = n.review.expect("review");
    assert_eq!(r.votes, vec!["Code-Review+2".to_string()]);
    assert_eq!(r.author.as_deref(), Some("Administrator"));
    assert_eq!(r.patch_set, Some(PatchSet(1)));
    assert!(!r.text_in_comments);
}

#[test]
fn both_webhook_spellings_and_stream_events_give_the_same_hint() {
    let text = "Patch Set 3: Verified+1\n\nbionicbb: retry";
    let modern = webhook("comment-added", Some(text));
    let mut legacy = modern.clone();
    legacy["changeKey"] = json!({"id": ID});
    let mut stream = modern.clone();
    stream["project"] = json!("platform/bionic");
    stream["changeKey"] = json!({"id": ID});
    let a = hint(modern.to_string().as_bytes());
    assert_eq!(a, hint(legacy.to_string().as_bytes()));
    assert_eq!(a, hint(stream.to_string().as_bytes()));
    assert_eq!(a.locator().plain_id(), "platform/bionic~7");
    let r = a.review.expect("review");
    assert_eq!(r.votes, vec!["Verified+1".to_string()]);
    assert!(r.command_text.contains("bionicbb: retry"));
}

#[test]
fn patch_sets_are_new_changes_or_new_patch_sets_and_old_servers_send_strings() {
    let n = hint(webhook("patchset-created", None).to_string().as_bytes());
    assert_eq!(n.message_type, MessageType::NewPatchSet);
    assert_eq!(n.patch_set, PatchSet(3));
    assert!(n.review.is_none());
    let mut first = webhook("patchset-created", None);
    first["patchSet"]["number"] = json!("1");
    first["change"]["number"] = json!("7");
    let n = hint(first.to_string().as_bytes());
    assert_eq!(n.message_type, MessageType::NewChange);
    assert_eq!(n.change_number, Some(7));
}

#[test]
fn a_reply_whose_words_are_patch_set_level_comments_says_so() {
    let n = hint(
        webhook("comment-added", Some("Patch Set 3:\n\n(1 comment)"))
            .to_string()
            .as_bytes(),
    );
    let r = n.review.expect("review");
    assert!(r.text_in_comments);
    assert!(r.may_concern_the_bot());
    // Without the count line, a bare vote line is nothing for the bot.
    let n = hint(
        webhook("comment-added", Some("Patch Set 3: Code-Review+1"))
            .to_string()
            .as_bytes(),
    );
    assert!(!n.review.expect("review").may_concern_the_bot());
}

#[test]
fn other_event_types_are_well_formed_and_ignored() {
    for kind in ["ref-updated", "change-merged", "reviewer-added", "x\u{7}y"] {
        let v = json!({"type": kind, "project": {"name": "p"}});
        let want = kind.replace('\u{7}', "");
        assert_eq!(parse(v.to_string().as_bytes()), Ok(Event::Ignored(want)));
    }
}

#[test]
fn malformed_events_are_named() {
    assert_eq!(parse(b""), Err(EventError::Empty));
    assert_eq!(parse(b"  \n"), Err(EventError::Empty));
    assert!(matches!(parse(b"{\"type\":"), Err(EventError::NotJson(_))));
    assert!(matches!(parse(b"[1,2]"), Err(EventError::NotJson(_))));
    assert!(matches!(
        parse(b"{\"type\":\"comment-added\",\"change\":\xff}"),
        Err(EventError::NotJson(_))
    ));
    assert_eq!(parse(b"{}"), Err(EventError::NoType));
    let full = webhook("comment-added", Some("Patch Set 3:\n\nbionicbb: retry")).to_string();
    let truncated = &full.as_bytes()[..full.len() / 2];
    assert!(matches!(parse(truncated), Err(EventError::NotJson(_))));

    let mut v = webhook("patchset-created", None);
    v.as_object_mut().expect("object").remove("change");
    assert!(matches!(
        error(&v),
        EventError::Missing {
            field: "change",
            ..
        }
    ));
    for (path, value, field) in [
        ("id", json!("Ixyz"), "change.id"),
        ("id", json!(format!("I{}", "é".repeat(20))), "change.id"),
        ("number", json!(-7), "change.number"),
        ("number", json!(0), "change.number"),
        ("number", json!("7a"), "change.number"),
        ("number", json!(1.5), "change.number"),
        ("project", json!(""), "change.project"),
        ("project", json!("a\nb"), "change.project"),
    ] {
        let mut v = webhook("patchset-created", None);
        v["change"][path] = value;
        v["project"] = v["change"]["project"].clone();
        v["project"] = json!({"name": v["change"]["project"].clone()});
        let e = error(&v);
        assert!(
            matches!(&e, EventError::Invalid { field: f, .. } if *f == field),
            "{path}: {e}"
        );
    }
    let mut v = webhook("patchset-created", None);
    v["patchSet"]["number"] = json!(u64::MAX);
    assert!(matches!(
        error(&v),
        EventError::Invalid {
            field: "patchSet.number",
            ..
        }
    ));
    let mut v = webhook("patchset-created", None);
    v["project"] = json!({"name": "platform/other"});
    assert!(matches!(
        error(&v),
        EventError::Invalid {
            field: "project",
            ..
        }
    ));
    let mut v = webhook("patchset-created", None);
    v["changeKey"] = json!({"key": "I0000000000000000000000000000000000000000"});
    assert!(matches!(
        error(&v),
        EventError::Invalid {
            field: "changeKey",
            ..
        }
    ));
    let mut v = webhook("comment-added", Some("hi"));
    v.as_object_mut().expect("object").remove("eventCreatedOn");
    assert!(matches!(
        error(&v),
        EventError::Missing {
            field: "eventCreatedOn",
            ..
        }
    ));
    let mut v = webhook("comment-added", Some("hi"));
    v.as_object_mut().expect("object").remove("author");
    assert!(matches!(
        error(&v),
        EventError::Missing {
            field: "author.name",
            ..
        }
    ));
    let mut v = webhook("comment-added", None);
    v["author"] = json!({"name": "Dana"});
    assert!(matches!(
        error(&v),
        EventError::Missing {
            field: "comment",
            ..
        }
    ));
}

#[test]
fn an_oversized_event_is_refused_before_it_is_read() {
    let mut v = webhook("comment-added", Some("x"));
    v["change"]["commitMessage"] = json!("y".repeat(MAX_EVENT_BYTES));
    assert_eq!(parse(v.to_string().as_bytes()), Err(EventError::TooLarge));
}

#[test]
fn every_error_is_one_line() {
    let bodies: Vec<Vec<u8>> = vec![
        b"{\n\"type\": 3\n}".to_vec(),
        b"{\"type\":\"comment-added\"}".to_vec(),
        b"nul\0".to_vec(),
    ];
    for b in bodies {
        let e = parse(&b).expect_err("malformed");
        assert!(!e.to_string().contains('\n'), "{e}");
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = fastrand::Rng::with_seed(7);
    let base = webhook("comment-added", Some("Patch Set 3:\n\nbionicbb: retry")).to_string();
    for _ in 0..2000 {
        let mut b = base.clone().into_bytes();
        for _ in 0..rng.usize(1..8) {
            let i = rng.usize(..b.len());
            b[i] = rng.u8(..);
        }
        let _ = parse(&b);
    }
}
