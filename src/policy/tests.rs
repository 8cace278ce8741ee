//! Table tests of every branch of SPEC §4–§6.

use super::*;
use crate::config::Config;
use crate::mail::Review;

fn cfg() -> PresubmitConfig {
    Config::parse(include_str!("../../config.example.toml"), "example")
        .expect("example")
        .presubmit
}

const ME: Identity<'static> = Identity {
    bot_account: "bionicbb@android.com",
};

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
    }
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
    }
}

fn comment(votes: &[&str], text: &str) -> Notification {
    let mut n = mail(MessageType::Comment);
    n.review = Some(Review {
        patch_set: Some(PatchSet(2)),
        votes: votes.iter().map(|v| v.to_string()).collect(),
        command_text: text.into(),
        author: Some("Dev".into()),
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
    assert_eq!(b.change_key, "platform/bionic~123445");
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
    let d = run(&comment(&["Code-Review+1", "Verified+1"], ""), None, &[]);
    assert_eq!(
        d,
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
    let d = run(
        &comment(&[], "bionicbb: retry\nbionicbb: arm\nbionicbb: clean"),
        Some(&facts()),
        &["bionic-presubmit"],
    );
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
            assert_eq!(change_key, "platform/bionic~123445");
            assert_eq!(*patch_set, PatchSet(3));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_commands_get_one_reply_after_the_known_ones() {
    let d = run(
        &comment(&[], "bionicbb: frobnicate\nbionicbb: retry\nbionicbb: mips"),
        Some(&facts()),
        &[],
    );
    assert!(matches!(d[0], Decision::Build(_)), "{d:?}");
    match &d[1..] {
        [Decision::Reply { message, patch_set }] => {
            assert!(
                message.contains("frobnicate") && message.contains("mips"),
                "{message}"
            );
            assert_eq!(*patch_set, PatchSet(2));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn commands_obey_the_skip_rules() {
    let mut f = facts();
    f.committer_email = "x@evil.com".into();
    let d = run(&comment(&["Verified+1"], "bionicbb: retry"), Some(&f), &[]);
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
    let mut n = comment(&["Verified+1"], "bionicbb: retry");
    n.reply_to = vec!["BionicBB@android.com".into(), "dev@google.com".into()];
    assert!(!needs_facts(&n, &cfg(), &ME));
    assert_eq!(
        run(&n, Some(&facts()), &[]),
        vec![Decision::Skip(SkipReason::OwnComment)]
    );
    // The bot as a mere recipient (3.x lists everyone in Reply-To) is not the author.
    n.reply_to = vec!["dev@google.com".into(), "bionicbb@android.com".into()];
    assert!(needs_facts(&n, &cfg(), &ME));
}

#[test]
fn facts_are_fetched_only_when_something_may_be_built() {
    assert!(needs_facts(&mail(MessageType::NewChange), &cfg(), &ME));
    assert!(!needs_facts(&mail(MessageType::Merged), &cfg(), &ME));
    assert!(!needs_facts(
        &comment(&["Verified+1"], "looks good"),
        &cfg(),
        &ME
    ));
    assert!(needs_facts(&comment(&[], "bionicbb: retry"), &cfg(), &ME));
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
