//! Table tests of every branch of SPEC §4–§6.

use super::*;
use crate::config::Config;
use crate::gerrit::{Account, ChangeMessage, Comment};
use crate::hint::Review;

fn cfg() -> PresubmitConfig {
    Config::parse(include_str!("../../config.example.toml"), "example")
        .expect("example")
        .presubmit
}

const BOT: u64 = 999;
const DEV: u64 = 1000;

const ME: Identity<'static> = Identity {
    bot_account: "bionicbb@android.com",
    bot_id: Some(BOT),
};

fn account(id: u64, name: &str, email: &str) -> Account {
    Account {
        id,
        name: Some(name.into()),
        email: Some(email.into()),
    }
}

fn facts() -> ChangeFacts {
    ChangeFacts {
        project: "platform/bionic".into(),
        branch: "main".into(),
        change_id: "I0123".into(),
        subject: "Fix strlen".into(),
        number: 123445,
        status: "NEW".into(),
        current_patch_set: PatchSet(3),
        current_ref: "refs/changes/45/123445/3".into(),
        current_revision: "abc".into(),
        committer_email: "dev@google.com".into(),
        files: vec!["libc/bionic/strlen.cpp".into()],
        uploader: Some(account(DEV, "Dev", "dev@google.com")),
        messages: Vec::new(),
        comments: Vec::new(),
    }
}

/// `f` with a change message by `who` on patch set `ps`, as Gerrit stores a review: the vote
/// line, then the text.
fn said(mut f: ChangeFacts, who: &Account, ps: u32, votes: &str, text: &str) -> ChangeFacts {
    let mut message = format!("Patch Set {ps}:");
    if !votes.is_empty() {
        message.push(' ');
        message.push_str(votes);
    }
    if !text.is_empty() {
        message.push_str("\n\n");
        message.push_str(text);
    }
    f.messages.push(ChangeMessage {
        id: format!("msg{}", f.messages.len() + 1),
        author: Some(who.id),
        author_account: Some(who.clone()),
        date: 1_709_662_931_000,
        message,
        patch_set: Some(ps),
        tag: None,
    });
    f
}

fn dev() -> Account {
    account(DEV, "Dev", "dev@google.com")
}

/// A comment mail by Dev on patch set 2 and the facts where Gerrit recorded it.
fn verified(votes: &[&str], text: &str) -> (Notification, ChangeFacts) {
    (
        comment(votes, text),
        said(facts(), &dev(), 2, &votes.join(" "), text),
    )
}

fn mail(t: MessageType) -> Notification {
    Notification {
        message_type: t,
        change_id: "I0123".into(),
        patch_set: PatchSet(3),
        project: Project("platform/bionic".into()),
        branch: Some("main".into()),
        change_number: Some(123445),
        sender: "noreply-gerritcodereview-x@google.com".into(),
        reply_to: vec!["dev@google.com".into()],
        subject: "s".into(),
        message_id: Some("<m@x>".into()),
        review: None,
        comment_date: None,
    }
}

fn comment(votes: &[&str], text: &str) -> Notification {
    let mut n = mail(MessageType::Comment);
    n.review = Some(Review {
        patch_set: Some(PatchSet(2)),
        votes: votes.iter().map(|v| v.to_string()).collect(),
        command_text: text.into(),
        author: Some("Dev".into()),
        text_in_comments: false,
    });
    n
}

fn run(n: &Notification, f: Option<&ChangeFacts>, built: &[&str]) -> Vec<Decision> {
    let built: Vec<String> = built.iter().map(|s| s.to_string()).collect();
    decide(n, f, &built, &cfg(), &ME)
}

fn only_build(d: &[Decision]) -> &BuildRequest {
    match d {
        [Decision::Build(b)] => b,
        other => panic!("expected one build, got {other:?}"),
    }
}

#[test]
fn new_patch_sets_build_the_current_ref_with_the_mapped_job() {
    let d = run(&mail(MessageType::NewPatchSet), Some(&facts()), &[]);
    let b = only_build(&d);
    assert_eq!(b.job, "bionic-presubmit");
    assert_eq!(b.trigger, Trigger::NewPatchSet);
    assert!(b.once);
    assert_eq!(b.change_key.to_string(), "platform/bionic~123445");
    assert_eq!(b.params["REF"], "refs/changes/45/123445/3");
    assert_eq!(b.params["CHANGE_ID"], "I0123");
    assert_eq!(b.params["PROJECT"], "bionic");
    assert!(!b.params.contains_key("LUNCH_TARGET"));
}

#[test]
fn unlisted_projects_use_the_default_job() {
    let mut f = facts();
    f.project = "platform/system/core".into();
    let d = run(&mail(MessageType::NewChange), Some(&f), &[]);
    let b = only_build(&d);
    assert_eq!(b.job, "bionic-presubmit");
    assert_eq!(b.params["PROJECT"], "system/core");
}

#[test]
fn a_patch_set_already_built_by_its_job_is_not_built_again() {
    let d = run(
        &mail(MessageType::NewChange),
        Some(&facts()),
        &["bionic-presubmit"],
    );
    assert!(
        matches!(
            d.as_slice(),
            [Decision::Skip(SkipReason::AlreadyBuilt { .. })]
        ),
        "{d:?}"
    );
    // ...but a build by another job does not count.
    let d = run(
        &mail(MessageType::NewChange),
        Some(&facts()),
        &["other-job"],
    );
    only_build(&d);
}

#[test]
fn skip_rules_each_prevent_a_build() {
    type Case = (fn(&mut ChangeFacts), fn(&SkipReason) -> bool);
    let cases: Vec<Case> = vec![
        (
            |f| f.committer_email = "a@google.com.evil.com".into(),
            |r| matches!(r, SkipReason::UntrustedCommitter(_)),
        ),
        (
            |f| f.committer_email = "a@evilgoogle.com".into(),
            |r| matches!(r, SkipReason::UntrustedCommitter(_)),
        ),
        (
            |f| f.committer_email = "no-at-sign".into(),
            |r| matches!(r, SkipReason::UntrustedCommitter(_)),
        ),
        (
            |f| f.committer_email = "@google.com".into(),
            |r| matches!(r, SkipReason::UntrustedCommitter(_)),
        ),
        (
            |f| f.files.push("libc/CleanSpec.mk".into()),
            |r| matches!(r, SkipReason::SkipFile(_)),
        ),
        (
            |f| f.files.push("CleanSpec.mk".into()),
            |r| matches!(r, SkipReason::SkipFile(_)),
        ),
        (
            |f| f.files.push("tools/bionicbb/gmail.py".into()),
            |r| matches!(r, SkipReason::SkipPath(_)),
        ),
        (
            |f| f.status = "MERGED".into(),
            |r| matches!(r, SkipReason::ChangeClosed(_)),
        ),
        (
            |f| f.project = "bionic".into(),
            |r| matches!(r, SkipReason::BadProject(_)),
        ),
        (
            |f| f.project = "platform/platform/x".into(),
            |r| matches!(r, SkipReason::BadProject(_)),
        ),
    ];
    for (i, (change, expect)) in cases.into_iter().enumerate() {
        let mut f = facts();
        change(&mut f);
        let d = run(&mail(MessageType::NewPatchSet), Some(&f), &[]);
        match d.as_slice() {
            [Decision::Skip(r)] if expect(r) => {}
            other => panic!("case {i}: {other:?}"),
        }
    }
}

#[test]
fn similar_paths_and_names_are_not_skipped() {
    let mut f = facts();
    f.files = vec!["tools/bionicbb2/x.py".into(), "libc/NotCleanSpec.mk".into()];
    f.committer_email = "Dev@GOOGLE.COM".into();
    only_build(&run(&mail(MessageType::NewChange), Some(&f), &[]));
}

#[test]
fn mails_without_facts_build_nothing() {
    assert!(run(&mail(MessageType::NewChange), None, &[]).is_empty());
}

#[test]
fn other_message_types_are_skipped() {
    for t in [
        MessageType::Abandon,
        MessageType::Merged,
        MessageType::MergeFailed,
        MessageType::Restore,
        MessageType::Revert,
        MessageType::DeleteVote,
        MessageType::DeleteReviewer,
        MessageType::SetAssignee,
        MessageType::AddToAttentionSet,
        MessageType::RemoveFromAttentionSet,
    ] {
        let d = run(&mail(t.clone()), Some(&facts()), &[]);
        assert_eq!(d, vec![Decision::Skip(SkipReason::MessageType(t))]);
    }
}

#[test]
fn verified_plus_one_on_the_vote_line_drops_the_rejection_of_that_patch_set() {
    let (n, f) = verified(&["Code-Review+1", "Verified+1"], "");
    assert_eq!(
        run(&n, Some(&f), &[]),
        vec![Decision::DropRejection {
            change_id: "platform/bionic~123445".into(),
            patch_set: PatchSet(2)
        }]
    );
    let d = run(
        &comment(&["Verified-1"], "I would Verified+1 this"),
        None,
        &[],
    );
    assert_eq!(d, vec![Decision::Skip(SkipReason::NoCommands)]);
}

#[test]
fn commands_run_in_order_on_the_current_patch_set() {
    let (n, f) = verified(&[], "bionicbb: retry\nbionicbb: arm\nbionicbb: clean");
    let d = run(&n, Some(&f), &["bionic-presubmit"]);
    match d.as_slice() {
        [
            Decision::Build(retry),
            Decision::Build(arm),
            Decision::Clean {
                job,
                change_key,
                patch_set,
            },
        ] => {
            assert_eq!(retry.trigger, Trigger::Retry);
            assert!(!retry.once, "retry always builds");
            assert_eq!(arm.params["LUNCH_TARGET"], "aosp_arm-eng");
            assert_eq!(arm.params["REF"], "refs/changes/45/123445/3");
            assert_eq!(job, "clean-bionic-presubmit");
            assert_eq!(change_key.to_string(), "platform/bionic~123445");
            assert_eq!(*patch_set, PatchSet(3));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_commands_get_one_reply_after_the_known_ones() {
    let (n, f) = verified(&[], "bionicbb: frobnicate\nbionicbb: retry\nbionicbb: mips");
    let d = run(&n, Some(&f), &[]);
    assert!(matches!(d[0], Decision::Build(_)), "{d:?}");
    match &d[1..] {
        [Decision::Reply { message, patch_set }] => {
            assert!(
                message.contains("frobnicate") && message.contains("mips"),
                "{message}"
            );
            assert!(message.contains("ok-to-test"), "{message}");
            assert_eq!(*patch_set, PatchSet(2));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn commands_obey_the_skip_rules() {
    let (n, mut f) = verified(&["Verified+1"], "bionicbb: retry");
    f.committer_email = "x@evil.com".into();
    let d = run(&n, Some(&f), &[]);
    assert!(
        matches!(
            d.as_slice(),
            [
                Decision::DropRejection { .. },
                Decision::Skip(SkipReason::UntrustedCommitter(_))
            ]
        ),
        "{d:?}"
    );
}

#[test]
fn the_bots_own_comments_do_nothing() {
    let bot = account(BOT, "Dana Whitfield", "bionicbb@android.com");
    let mut n = comment(&["Verified+1"], "bionicbb: retry");
    let f = said(facts(), &bot, 2, "Verified+1", "bionicbb: retry");
    // Recognised by the account id Gerrit gives, whatever the mail's headers say.
    n.reply_to = vec![];
    n.review.as_mut().unwrap().author = Some("Dana Whitfield".into());
    assert!(needs_facts(&n));
    assert_eq!(
        run(&n, Some(&f), &[]),
        vec![Decision::Skip(SkipReason::OwnComment)]
    );
}

#[test]
fn facts_are_fetched_only_when_something_may_be_built_or_dropped() {
    assert!(needs_facts(&mail(MessageType::NewChange)));
    assert!(!needs_facts(&mail(MessageType::Merged)));
    assert!(!needs_facts(&comment(&["Code-Review+1"], "looks good")));
    assert!(needs_facts(&comment(&["Verified+1"], "looks good")));
    assert!(needs_facts(&comment(&[], "bionicbb: retry")));
}

#[test]
fn a_comment_gerrit_has_no_record_of_does_nothing() {
    let n = comment(&["Verified+1"], "bionicbb: retry");
    let cases: Vec<(&str, ChangeFacts)> = vec![
        ("no messages at all", facts()),
        (
            "another text",
            said(facts(), &dev(), 2, "", "bionicbb: clean"),
        ),
        (
            "another patch set",
            said(facts(), &dev(), 3, "Verified+1", "bionicbb: retry"),
        ),
        (
            "another author",
            said(
                facts(),
                &account(5, "Mallory", "m@google.com"),
                2,
                "Verified+1",
                "bionicbb: retry",
            ),
        ),
        (
            "a quote only",
            said(facts(), &dev(), 2, "", "> bionicbb: retry"),
        ),
    ];
    for (what, f) in cases {
        assert_eq!(
            run(&n, Some(&f), &[]),
            vec![Decision::Skip(SkipReason::NotInGerrit)],
            "{what}"
        );
    }
    // A vote-only comment must match the recorded vote line.
    let n = comment(&["Verified+1"], "");
    let f = said(facts(), &dev(), 2, "Code-Review+1", "");
    assert_eq!(
        run(&n, Some(&f), &[]),
        vec![Decision::Skip(SkipReason::NotInGerrit)]
    );
}

#[test]
fn the_comment_date_picks_the_message_the_mail_announces() {
    let (mut n, f) = verified(&[], "bionicbb: retry");
    n.comment_date = Some(1_709_662_931_000 + 1_000);
    assert!(matches!(run(&n, Some(&f), &[])[0], Decision::Build(_)));
    n.comment_date = Some(1_709_662_931_000 - 60_000);
    assert_eq!(
        run(&n, Some(&f), &[]),
        vec![Decision::Skip(SkipReason::NotInGerrit)]
    );
}

#[test]
fn commands_come_from_gerrits_text_not_the_mail() {
    // The mail (a forgery or a stale copy) shows one command; Gerrit recorded two.
    let n = comment(&[], "bionicbb: retry");
    let f = said(facts(), &dev(), 2, "", "bionicbb: retry\nbionicbb: arm");
    let d = run(&n, Some(&f), &[]);
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!(
        comment_key(&n, Some(&f)).map(|k| k.to_string()).as_deref(),
        Some("cmd:msg1")
    );
}

#[test]
fn a_patchset_level_comment_holds_the_commands_modern_uis_post() {
    let n = comment(&[], "bionicbb: arm");
    let mut f = said(facts(), &dev(), 2, "", "(1 comment)");
    f.comments.push(Comment {
        id: "c1".into(),
        path: "/PATCHSET_LEVEL".into(),
        author: Some(DEV),
        patch_set: Some(2),
        message: "bionicbb: arm".into(),
        date: 1_709_662_931_000,
        change_message_id: Some("msg1".into()),
    });
    assert!(matches!(
        run(&n, Some(&f), &[]).as_slice(),
        [Decision::Build(b)] if b.params["LUNCH_TARGET"] == "aosp_arm-eng"
    ));
}

#[test]
fn untrusted_commenters_do_not_command_the_bot_and_get_no_reply() {
    let n = {
        let mut n = comment(&["Verified+1"], "bionicbb: retry\nbionicbb: nope");
        n.review.as_mut().unwrap().author = Some("Eve".into());
        n
    };
    let eve = account(7, "Eve", "eve@example.org");
    let f = said(
        facts(),
        &eve,
        2,
        "Verified+1",
        "bionicbb: retry\nbionicbb: nope",
    );
    let d = run(&n, Some(&f), &[]);
    assert_eq!(
        d,
        vec![
            Decision::DropRejection {
                change_id: "platform/bionic~123445".into(),
                patch_set: PatchSet(2)
            },
            Decision::Skip(SkipReason::UntrustedCommenter("eve@example.org".into()))
        ]
    );
    // ... unless [presubmit] trusted_accounts names them.
    let mut c = cfg();
    c.trusted_accounts = vec!["EVE@example.org".into()];
    let d = decide(&n, Some(&f), &[], &c, &ME);
    assert!(matches!(d[1], Decision::Build(_)), "{d:?}");
}

#[test]
fn commands_are_bounded_and_each_runs_once() {
    let (n, f) = verified(
        &[],
        "bionicbb: retry\nbionicbb: retry\nbionicbb: RETRY\nbionicbb: arm",
    );
    let d = run(&n, Some(&f), &[]);
    assert_eq!(d.len(), 2, "{d:?}");
    let fifty = "bionicbb: retry\n".repeat(50);
    let (n, f) = verified(&[], &fifty);
    match run(&n, Some(&f), &[]).as_slice() {
        [Decision::Reply { message, .. }] => {
            assert!(message.contains("none of the 50"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let six = "bionicbb: retry\nbionicbb: arm\nbionicbb: x86\nbionicbb: clean\nbionicbb: x86_64\nbionicbb: aarch64";
    let (n, f) = verified(&[], six);
    assert!(matches!(
        run(&n, Some(&f), &[]).as_slice(),
        [Decision::Reply { .. }]
    ));
}

#[test]
fn automatic_builds_need_a_trusted_uploader_too() {
    let mut f = facts();
    f.uploader = Some(account(7, "Eve", "eve@example.org"));
    assert_eq!(
        run(&mail(MessageType::NewPatchSet), Some(&f), &[]),
        vec![Decision::Skip(SkipReason::UntrustedUploader(
            "eve@example.org".into()
        ))]
    );
    f.uploader = None;
    assert!(matches!(
        run(&mail(MessageType::NewPatchSet), Some(&f), &[])[0],
        Decision::Skip(SkipReason::UntrustedUploader(_))
    ));
}

fn untrusted() -> ChangeFacts {
    let mut f = facts();
    f.committer_email = "eve@example.org".into();
    f.uploader = Some(account(7, "Eve", "eve@example.org"));
    f
}

#[test]
fn ok_to_test_builds_the_current_patch_set_of_an_outside_contributor_once() {
    let n = {
        let mut n = comment(&[], "bionicbb: ok-to-test");
        n.patch_set = PatchSet(3);
        n.review.as_mut().unwrap().patch_set = Some(PatchSet(3));
        n
    };
    let f = said(untrusted(), &dev(), 3, "", "bionicbb: ok-to-test");
    match run(&n, Some(&f), &[]).as_slice() {
        [Decision::Build(b)] => {
            assert_eq!(b.trigger, Trigger::OkToTest);
            assert!(b.once, "built as a new patch set would be: once");
            assert_eq!(b.patch_set, PatchSet(3));
        }
        other => panic!("{other:?}"),
    }
    // Approved: a later newpatchset mail for the same patch set builds it, and trusted
    // reviewers' commands run on it.
    assert!(matches!(
        run(&mail(MessageType::NewPatchSet), Some(&f), &[])[0],
        Decision::Build(_)
    ));
    let mut m = comment(&[], "bionicbb: arm");
    m.patch_set = PatchSet(3);
    m.review.as_mut().unwrap().patch_set = Some(PatchSet(3));
    let g = said(f.clone(), &dev(), 3, "", "bionicbb: arm");
    assert!(matches!(run(&m, Some(&g), &[])[0], Decision::Build(_)));
    // The file rules still hold.
    let mut h = f.clone();
    h.files.push("CleanSpec.mk".into());
    assert_eq!(
        run(&n, Some(&h), &[]),
        vec![Decision::Skip(SkipReason::SkipFile("CleanSpec.mk".into()))]
    );
}

#[test]
fn ok_to_test_approves_only_the_current_patch_set_and_only_from_the_trusted() {
    // On an older patch set: approves nothing.
    let (n, f) = verified(&[], "bionicbb: ok-to-test");
    let mut f = f;
    f.committer_email = "eve@example.org".into();
    assert_eq!(
        run(&n, Some(&f), &[]),
        vec![Decision::Skip(SkipReason::OkToTestOutdated {
            commented: PatchSet(2),
            current: PatchSet(3)
        })]
    );
    // A new patch set needs a new ok-to-test.
    let f = said(untrusted(), &dev(), 2, "", "bionicbb: ok-to-test");
    assert!(matches!(
        run(&mail(MessageType::NewPatchSet), Some(&f), &[])[0],
        Decision::Skip(SkipReason::UntrustedCommitter(_))
    ));
    // From an untrusted account it is just another command that does not run.
    let eve = account(7, "Eve", "eve@example.org");
    let f = said(untrusted(), &eve, 3, "", "bionicbb: ok-to-test");
    assert!(matches!(
        run(&mail(MessageType::NewPatchSet), Some(&f), &[])[0],
        Decision::Skip(SkipReason::UntrustedCommitter(_))
    ));
    // On a trusted change there is nothing to approve.
    let mut n = comment(&[], "bionicbb: ok-to-test");
    n.review.as_mut().unwrap().patch_set = Some(PatchSet(3));
    let f = said(facts(), &dev(), 3, "", "bionicbb: ok-to-test");
    assert_eq!(
        run(&n, Some(&f), &[]),
        vec![Decision::Skip(SkipReason::AlreadyTrusted)]
    );
}

#[test]
fn trust_is_an_exact_domain_match() {
    let t = vec!["google.com".to_string()];
    assert!(is_trusted("a@google.com", &t));
    assert!(is_trusted("a@GOOGLE.com", &t));
    assert!(is_trusted("\"a@b\"@google.com", &t));
    assert!(!is_trusted("a@google.com.evil.com", &t));
    assert!(!is_trusted("a@sub.google.com", &t));
    assert!(!is_trusted("a@google.com@evil.com", &t));
    assert!(!is_trusted("", &t));
}
