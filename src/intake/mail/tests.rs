//! Tests of the whole parser: every fixture in `tests/data/mail/`, every [`SetAside`] branch,
//! and hostile input.

use std::path::PathBuf;

use super::*;
use crate::command::{self, Command};
use crate::types::{ChangeLocator, PatchSet, Project};

const CHANGE_ID: &str = "I0123456789abcdef0123456789abcdef01234567";
const GERRIT: &str = "noreply-gerritcodereview-ctty0igsbrnvl7dkoweieg@google.com";

fn senders() -> Vec<String> {
    vec!["noreply-gerritcodereview*@google.com".to_string()]
}

fn anyone() -> Vec<String> {
    vec!["*".to_string()]
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/mail")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn parse_fixture(name: &str) -> Result<Notification, SetAside> {
    parse(&fixture(name), &senders())
}

fn ok(name: &str) -> Notification {
    parse_fixture(name).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn review(name: &str) -> Review {
    ok(name)
        .review
        .unwrap_or_else(|| panic!("{name}: no review"))
}

fn commands(text: &str) -> Vec<Result<Command, command::UnknownCommand>> {
    let targets = [("aarch64", "aosp_arm64-eng"), ("x86_64", "aosp_x86_64-eng")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    command::parse(text, &targets)
}

fn target(name: &str, lunch: &str) -> Result<Command, command::UnknownCommand> {
    Ok(Command::Target {
        name: name.into(),
        lunch_target: lunch.into(),
    })
}

/// What each fixture must parse to: `Ok(type)` or the exact set-aside reason.
fn expectations() -> Vec<(&'static str, Result<MessageType, SetAside>)> {
    use MessageType as T;
    let malformed = |s: &str| Err(SetAside::Malformed(s.to_string()));
    vec![
        ("newchange-2x-plain-8bit.eml", Ok(T::NewChange)),
        ("newpatchset-2x-plain-8bit-diff.eml", Ok(T::NewPatchSet)),
        ("comment-2x-plain-8bit.eml", Ok(T::Comment)),
        ("abandon-2x-plain-8bit.eml", Ok(T::Abandon)),
        ("newchange-3x-multipart-qp.eml", Ok(T::NewChange)),
        ("newchange-3x-subject-encoded-q.eml", Ok(T::NewChange)),
        ("newpatchset-3x-multipart-qp.eml", Ok(T::NewPatchSet)),
        ("newpatchset-3x-html-only.eml", Ok(T::NewPatchSet)),
        ("comment-3x-multipart-qp.eml", Ok(T::Comment)),
        ("deletevote-3x-multipart-qp.eml", Ok(T::DeleteVote)),
        ("merged-3x-multipart-qp.eml", Ok(T::Merged)),
        ("comment-gob-flowed.eml", Ok(T::Comment)),
        ("comment-gob-subject-encoded-b.eml", Ok(T::Comment)),
        ("newpatchset-gob-base64.eml", Ok(T::NewPatchSet)),
        (
            "unknown-type-3x-multipart-qp.eml",
            Err(SetAside::UnknownType("combinedCheckStateUpdate".into())),
        ),
        (
            "comment-3x-truncated.eml",
            malformed("truncated: no closing `--r8X2mQ+v0Tg=--`"),
        ),
        (
            "broken-multipart-boundary.eml",
            malformed("multipart boundary `001a114cd8be55b486053face5ca` never appears"),
        ),
        (
            "undecodable-charset.eml",
            malformed("undecodable charset `x-klingon-8`"),
        ),
        (
            "foreign-sender.eml",
            Err(SetAside::ForeignSender(
                "noreply-gerritcodereview@google.com.evil.example".into(),
            )),
        ),
        (
            "human-no-footers.eml",
            Err(SetAside::ForeignSender("epark@google.com".into())),
        ),
        (
            "human-reply-quoting-footers.eml",
            Err(SetAside::ForeignSender("dwhitfield@google.com".into())),
        ),
    ]
}

#[test]
fn every_fixture_parses_as_expected() {
    for (name, expected) in expectations() {
        let got = parse_fixture(name).map(|n| n.message_type);
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn every_fixture_in_the_directory_has_an_expectation() {
    let known: Vec<&str> = expectations().iter().map(|(n, _)| *n).collect();
    let mut seen = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".eml") {
            assert!(known.contains(&name.as_str()), "{name} has no expectation");
            seen += 1;
        }
    }
    assert_eq!(seen, known.len());
}

#[test]
fn the_readme_lists_every_fixture() {
    let readme = std::fs::read_to_string(dir().join("README.md")).unwrap();
    for (name, _) in expectations() {
        assert!(readme.contains(name), "README.md does not list {name}");
    }
}

#[test]
fn gerrit_3x_notifications_carry_all_identifiers() {
    let n = ok("comment-3x-multipart-qp.eml");
    assert_eq!(n.change_id, CHANGE_ID);
    assert_eq!(n.patch_set, PatchSet(3));
    assert_eq!(n.project, Project("platform/bionic".into()));
    assert_eq!(n.branch.as_deref(), Some("main"));
    assert_eq!(n.change_number, Some(123445));
    assert_eq!(n.sender, GERRIT);
    assert_eq!(
        n.reply_to,
        [
            "epark@google.com",
            "dwhitfield@google.com",
            "epark@google.com",
            "bionicbb@android.com"
        ]
    );
    assert_eq!(
        n.subject,
        "Change in ...bionic[main]: Fix strtod rounding for subnormals"
    );
    assert_eq!(
        n.message_id.as_deref(),
        Some(
            "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c-EmailReviewComments-HTML@android-review.googlesource.com"
        )
    );
    assert_eq!(
        n.locator(),
        ChangeLocator::Number {
            project: "platform/bionic".into(),
            number: 123445
        }
    );
}

#[test]
fn gerrit_2x_notifications_are_located_by_branch_and_change_id() {
    let n = ok("newchange-2x-plain-8bit.eml");
    assert_eq!(n.change_number, None);
    assert_eq!(n.patch_set, PatchSet(1));
    assert_eq!(n.reply_to, ["dwhitfield@google.com"]);
    assert_eq!(n.review, None);
    assert_eq!(
        n.locator(),
        ChangeLocator::Triplet {
            project: "platform/bionic".into(),
            branch: "main".into(),
            change_id: CHANGE_ID.into()
        }
    );
}

#[test]
fn footer_lookalikes_in_a_diff_above_the_last_separator_are_ignored() {
    let n = ok("newpatchset-2x-plain-8bit-diff.eml");
    assert_eq!(n.patch_set, PatchSet(2));
    assert_eq!(n.project.0, "platform/bionic");
}

#[test]
fn a_3x_comment_reads_votes_and_patchset_comments_but_not_inline_ones() {
    let r = review("comment-3x-multipart-qp.eml");
    assert_eq!(r.patch_set, Some(PatchSet(3)));
    assert_eq!(r.votes, ["Code-Review+1", "Verified+1"]);
    assert!(r.has_vote("Verified+1"));
    assert!(!r.has_vote("Verified-1"));
    assert_eq!(r.author.as_deref(), Some("Elliott Park"));
    assert_eq!(
        r.command_text,
        "> bionicbb: retry\n\
         Thanks, the emulator was the problem. LGTM with the nit fixed.\n\
         bionicbb: x86_64"
    );
    assert_eq!(
        commands(&r.command_text),
        [target("x86_64", "aosp_x86_64-eng")]
    );
}

#[test]
fn a_2x_comment_reads_the_cover_letter_but_not_inline_comments() {
    let r = review("comment-2x-plain-8bit.eml");
    assert_eq!(r.patch_set, Some(PatchSet(2)));
    assert_eq!(r.votes, ["Verified+1"]);
    assert_eq!(r.author.as_deref(), Some("Elliott Park"));
    assert!(!r.command_text.contains("File libc"), "{}", r.command_text);
    assert!(!r.command_text.contains("https://"), "{}", r.command_text);
    assert_eq!(commands(&r.command_text), [Ok(Command::Retry)]);
}

#[test]
fn format_flowed_is_unflowed_so_a_wrapped_mention_stays_mid_line() {
    let r = review("comment-gob-flowed.eml");
    assert_eq!(r.votes, ["Code-Review+2"]);
    assert!(!r.has_vote("Verified+1"));
    assert!(
        r.command_text
            .contains("please reply with bionicbb: retry and it will build again."),
        "{}",
        r.command_text
    );
    assert_eq!(
        commands(&r.command_text),
        [target("aarch64", "aosp_arm64-eng")]
    );
    assert_eq!(ok("comment-gob-flowed.eml").change_number, None);
}

#[test]
fn encoded_word_subjects_and_names_are_decoded() {
    let n = ok("comment-gob-subject-encoded-b.eml");
    assert_eq!(
        n.subject,
        "Change in platform/bionic[main]: strtod: Zoë's fix — round subnormals once"
    );
    let r = n.review.unwrap();
    assert_eq!(r.author.as_deref(), Some("Zoë Müller"));
    assert_eq!(r.votes, ["Verified+1"]);
    let q = ok("newchange-3x-subject-encoded-q.eml");
    assert_eq!(
        q.subject,
        "Change in ...bionic[main]: strtod: round subnormals once — per Zoë's review"
    );
}

#[test]
fn a_base64_text_part_is_decoded() {
    let n = ok("newpatchset-gob-base64.eml");
    assert_eq!(n.patch_set, PatchSet(4));
    assert_eq!(n.branch.as_deref(), Some("main"));
}

#[test]
fn html_only_mail_gives_footers_but_no_review_content() {
    let n = ok("newpatchset-3x-html-only.eml");
    assert_eq!(n.patch_set, PatchSet(2));
    assert_eq!(n.change_number, Some(123445));
}

#[test]
fn delete_vote_and_merged_mails_have_no_review() {
    let d = ok("deletevote-3x-multipart-qp.eml");
    assert_eq!(d.review, None);
    assert_eq!(ok("merged-3x-multipart-qp.eml").review, None);
    assert_eq!(ok("abandon-2x-plain-8bit.eml").review, None);
}

#[test]
fn human_mail_without_footers_is_set_aside_even_from_an_allowed_sender() {
    let raw = fixture("human-no-footers.eml");
    assert_eq!(parse(&raw, &anyone()), Err(SetAside::NoFooters));
}

#[test]
fn a_human_reply_quoting_footers_has_no_footers_of_its_own() {
    let raw = fixture("human-reply-quoting-footers.eml");
    assert_eq!(parse(&raw, &anyone()), Err(SetAside::NoFooters));
}

#[test]
fn senders_match_as_whole_case_insensitive_globs() {
    let p = "noreply-gerritcodereview*@google.com";
    assert!(sender_matches(p, GERRIT));
    assert!(sender_matches(p, "NoReply-GerritCodeReview@Google.com"));
    assert!(!sender_matches(
        p,
        "noreply-gerritcodereview@google.com.evil.example"
    ));
    assert!(!sender_matches(
        p,
        "evil-noreply-gerritcodereview@google.com"
    ));
    assert!(!sender_matches(
        p,
        "noreply-gerritcodereview@evilgoogle.com"
    ));
    assert!(sender_matches("*", "anyone@example.com"));
    assert!(sender_matches("a*b*c", "abc"));
    assert!(sender_matches("a*b*c", "a-b-b-c"));
    assert!(!sender_matches("a*b*c", "a-b-b-c-d"));
    assert!(sender_matches("gerrit@host", "gerrit@host"));
    assert!(!sender_matches("gerrit@host", "gerrit@host2"));
    assert!(!sender_matches("", "x@y"));
    assert!(!sender_matches("g?rrit@host", "gerrit@host"));
    let long = format!("{}b", "a".repeat(5000));
    assert!(!sender_matches(&"*a".repeat(50), &long));
}

// --- Building mails by hand for the set-aside branches and hostile input -------------------

const FOOTERS: &str = "Gerrit-MessageType: comment\n\
Gerrit-Change-Id: I0123456789abcdef0123456789abcdef01234567\n\
Gerrit-PatchSet: 3\n\
Gerrit-Project: platform/bionic\n\
Gerrit-Branch: main\n\
Gerrit-Change-Number: 123445\n";

fn mail(body: &str) -> Vec<u8> {
    format!(
        "From: \"Elliott Park (Gerrit)\" <{GERRIT}>\r\nTo: bionicbb@android.com\r\n\
         Subject: Change in ...bionic[main]: x\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n{}",
        body.replace('\n', "\r\n")
    )
    .into_bytes()
}

fn comment_mail(cover: &str, footers: &str) -> Vec<u8> {
    mail(&format!(
        "Elliott Park has posted comments on this change.\n\nChange subject: x\n{}\n\n\n{cover}\n\n-- \n\
         To view, visit https://example.com/123445\n\n{footers}",
        ".".repeat(70)
    ))
}

#[test]
fn a_well_formed_hand_built_mail_parses() {
    let n = parse(
        &comment_mail("Patch Set 3: Verified+1", FOOTERS),
        &senders(),
    )
    .unwrap();
    assert_eq!(n.message_type, MessageType::Comment);
    assert!(n.review.unwrap().has_vote("Verified+1"));
}

#[test]
fn footers_are_read_in_any_order() {
    let reversed: String = FOOTERS.lines().rev().map(|l| format!("{l}\n")).collect();
    let n = parse(&comment_mail("Patch Set 3:", &reversed), &senders()).unwrap();
    assert_eq!(n.change_number, Some(123445));
    assert_eq!(n.patch_set, PatchSet(3));
}

#[test]
fn each_missing_required_footer_is_named() {
    for key in [
        "Gerrit-MessageType",
        "Gerrit-Change-Id",
        "Gerrit-PatchSet",
        "Gerrit-Project",
    ] {
        let footers: String = FOOTERS
            .lines()
            .filter(|l| !l.starts_with(&format!("{key}:")))
            .map(|l| format!("{l}\n"))
            .collect();
        let got = parse(&comment_mail("Patch Set 3:", &footers), &senders());
        assert_eq!(got, Err(SetAside::MissingFooter(key)), "{key}");
    }
}

#[test]
fn a_mail_with_neither_branch_nor_change_number_is_missing_the_branch() {
    let footers: String = FOOTERS
        .lines()
        .filter(|l| !l.starts_with("Gerrit-Branch") && !l.starts_with("Gerrit-Change-Number"))
        .map(|l| format!("{l}\n"))
        .collect();
    let got = parse(&comment_mail("Patch Set 3:", &footers), &senders());
    assert_eq!(got, Err(SetAside::MissingFooter("Gerrit-Branch")));
}

#[test]
fn bad_footer_values_are_named() {
    let cases = [
        (
            "Gerrit-Change-Id: I0123456789abcdef0123456789abcdef01234567",
            "Gerrit-Change-Id: I0123",
            "Gerrit-Change-Id",
            "I0123",
        ),
        (
            "Gerrit-PatchSet: 3",
            "Gerrit-PatchSet: 0",
            "Gerrit-PatchSet",
            "0",
        ),
        (
            "Gerrit-PatchSet: 3",
            "Gerrit-PatchSet: +3",
            "Gerrit-PatchSet",
            "+3",
        ),
        (
            "Gerrit-Project: platform/bionic",
            "Gerrit-Project: platform bionic",
            "Gerrit-Project",
            "platform bionic",
        ),
        (
            "Gerrit-Project: platform/bionic",
            "Gerrit-Project: a~b",
            "Gerrit-Project",
            "a~b",
        ),
        ("Gerrit-Branch: main", "Gerrit-Branch:", "Gerrit-Branch", ""),
        (
            "Gerrit-Change-Number: 123445",
            "Gerrit-Change-Number: 12x",
            "Gerrit-Change-Number",
            "12x",
        ),
        (
            "Gerrit-Change-Number: 123445",
            "Gerrit-Change-Number: 0",
            "Gerrit-Change-Number",
            "0",
        ),
        (
            "Gerrit-PatchSet: 3",
            "Gerrit-PatchSet: 3\nGerrit-PatchSet: 4",
            "Gerrit-PatchSet",
            "3 | 4",
        ),
    ];
    for (from, to, key, value) in cases {
        let footers = FOOTERS.replace(from, to);
        let got = parse(&comment_mail("Patch Set 3:", &footers), &senders());
        assert_eq!(
            got,
            Err(SetAside::BadFooter {
                key,
                value: value.into()
            }),
            "{to}"
        );
    }
}

#[test]
fn repeated_identical_footers_are_fine() {
    let footers = format!("{FOOTERS}Gerrit-PatchSet: 3\n");
    assert!(parse(&comment_mail("Patch Set 3:", &footers), &senders()).is_ok());
}

#[test]
fn unknown_types_are_set_aside_and_known_skipped_types_are_not() {
    let footers = FOOTERS.replace("comment", "addkey");
    assert_eq!(
        parse(&comment_mail("", &footers), &senders()),
        Err(SetAside::UnknownType("addkey".into()))
    );
    for t in [
        "abandon",
        "merged",
        "merge-failed",
        "restore",
        "revert",
        "deleteVote",
        "deleteReviewer",
        "setassignee",
        "addToAttentionSet",
        "removeFromAttentionSet",
    ] {
        let footers = FOOTERS.replace("comment", t);
        let n = parse(&comment_mail("", &footers), &senders()).unwrap();
        assert_eq!(n.message_type.to_string(), t);
        assert_eq!(n.review, None);
    }
}

#[test]
fn footer_lines_in_the_review_above_the_separator_do_not_count() {
    let cover = format!("Patch Set 3:\n\n{}", FOOTERS.replace("123445", "999"));
    let n = parse(&comment_mail(&cover, FOOTERS), &senders()).unwrap();
    assert_eq!(n.change_number, Some(123445));
}

#[test]
fn quoted_or_indented_footers_do_not_count() {
    let quoted: String = FOOTERS.lines().map(|l| format!("> {l}\n")).collect();
    assert_eq!(
        parse(&mail(&format!("Thanks!\n\n{quoted}")), &senders()),
        Err(SetAside::NoFooters)
    );
    let indented: String = FOOTERS.lines().map(|l| format!("  {l}\n")).collect();
    assert_eq!(
        parse(&mail(&format!("Thanks!\n-- \n{indented}")), &senders()),
        Err(SetAside::NoFooters)
    );
}

#[test]
fn without_a_separator_only_the_trailing_run_of_footers_counts() {
    let body = format!("Hello\n{FOOTERS}\nand then some prose\n");
    assert_eq!(parse(&mail(&body), &senders()), Err(SetAside::NoFooters));
    let body = format!("Hello\n\n{FOOTERS}\n\n");
    assert!(parse(&mail(&body), &senders()).is_ok());
}

#[test]
fn votes_count_only_on_the_cover_letters_vote_line() {
    let cases = [
        ("Patch Set 3: Verified+1", true),
        ("Patch Set 3: Code-Review+2 Verified+1", true),
        (
            "Patch Set 3:\n\nPlease do not Verified+1 this by hand.",
            false,
        ),
        ("Patch Set 3: -Verified", false),
        ("Patch Set 3:\n\nPatch Set 3: Verified+1", false),
        ("Patch Set 3:\n\n> Patch Set 3: Verified+1", false),
        ("Patch set 3: Verified +1", false),
        (
            "Removed Verified+1 by bionicbb <bionicbb@android.com>",
            false,
        ),
    ];
    for (cover, expected) in cases {
        let n = parse(&comment_mail(cover, FOOTERS), &senders()).unwrap();
        assert_eq!(
            n.review.unwrap().has_vote("Verified+1"),
            expected,
            "{cover}"
        );
    }
}

#[test]
fn a_message_only_review_keeps_its_text_and_comment_count_is_dropped() {
    let cover = "Patch Set 3:\n\n(1 comment)\n\nLooks fine.\nbionicbb: retry";
    let r = parse(&comment_mail(cover, FOOTERS), &senders())
        .unwrap()
        .review
        .unwrap();
    assert_eq!(r.patch_set, Some(PatchSet(3)));
    assert!(r.votes.is_empty());
    assert_eq!(r.command_text, "Looks fine.\nbionicbb: retry");
}

#[test]
fn every_set_aside_reason_displays_on_one_line() {
    let reasons = [
        SetAside::ForeignSender("a\nb@c".into()),
        SetAside::NoFooters,
        SetAside::MissingFooter("Gerrit-PatchSet"),
        SetAside::BadFooter {
            key: "Gerrit-PatchSet",
            value: "x".into(),
        },
        SetAside::UnknownType("addkey".into()),
        SetAside::Malformed("no From address".into()),
        SetAside::TooLarge(MAX_MAIL_BYTES + 1),
    ];
    for r in reasons {
        let s = r.to_string();
        assert!(!s.is_empty());
        assert!(
            !s.contains('\n') || matches!(r, SetAside::ForeignSender(_)),
            "{s}"
        );
    }
    let raw = b"From: \"x\" <a@b.c>, <d@e.f>\r\n\r\nbody";
    let e = parse(raw, &anyone()).unwrap_err();
    assert!(!e.to_string().contains('\n'), "{e}");
}

// --- Hostile input ------------------------------------------------------------------------

#[test]
fn empty_and_headerless_input_is_malformed() {
    for raw in [
        &b""[..],
        b"\r\n",
        b"\n\n\n",
        b"just some text without a colon",
    ] {
        let got = parse(raw, &anyone());
        assert!(
            matches!(got, Err(SetAside::Malformed(_))),
            "{raw:?}: {got:?}"
        );
    }
}

#[test]
fn a_mail_without_from_or_with_several_is_malformed_or_foreign() {
    let no_from = b"Subject: x\r\n\r\nGerrit-MessageType: comment\r\n";
    assert_eq!(
        parse(no_from, &anyone()),
        Err(SetAside::Malformed("no From address".into()))
    );
    let two_headers = format!("From: <{GERRIT}>\r\nFrom: <mallory@example.com>\r\n\r\nx");
    assert!(matches!(
        parse(two_headers.as_bytes(), &senders()),
        Err(SetAside::Malformed(_))
    ));
    let two_addresses = format!("From: <{GERRIT}>, <mallory@example.com>\r\n\r\nx");
    assert!(matches!(
        parse(two_addresses.as_bytes(), &senders()),
        Err(SetAside::ForeignSender(_))
    ));
}

#[test]
fn a_mail_over_ten_mebibytes_is_too_large() {
    let raw = vec![b'a'; 20 * 1024 * 1024];
    assert_eq!(parse(&raw, &senders()), Err(SetAside::TooLarge(raw.len())));
}

#[test]
fn a_mail_just_under_the_limit_with_a_big_diff_parses() {
    let diff_line = "+\tstatic const double kSubnormals[] = { 4.9e-324, 1.0e-310, 2.2e-308 };\n";
    let mut body = String::from("Hello,\n\nChange subject: x\n");
    while body.len() < MAX_MAIL_BYTES - 4096 {
        body.push_str(diff_line);
    }
    body.push_str("-- \nTo view, visit x\n\n");
    body.push_str(FOOTERS);
    let raw = mail(&body.replace("comment", "newpatchset"));
    let raw = &raw[..raw.len().min(MAX_MAIL_BYTES)];
    let started = std::time::Instant::now();
    let n = parse(raw, &senders());
    assert!(n.is_ok() || raw.len() == MAX_MAIL_BYTES, "{n:?}");
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}

#[test]
fn a_hundred_thousand_footer_like_lines_in_the_body_are_ignored_quickly() {
    let noise = "Gerrit-Project: platform/evil\n".repeat(100_000);
    let cover = format!("Patch Set 3:\n\n{noise}");
    let started = std::time::Instant::now();
    let n = parse(&comment_mail(&cover, FOOTERS), &senders()).unwrap();
    assert_eq!(n.project.0, "platform/bionic");
    // And as the trailing run, where they are all footers (conflicting with nothing).
    let body = format!(
        "{FOOTERS}{}",
        "Gerrit-Reviewer: a <a@b.c>\n".repeat(100_000)
    );
    assert!(parse(&mail(&body), &senders()).is_ok());
    assert!(started.elapsed().as_secs() < 30, "{:?}", started.elapsed());
}

#[test]
fn nul_bytes_and_invalid_utf8_in_headers_do_not_break_parsing() {
    let mut raw = Vec::new();
    raw.extend_from_slice(b"Subject: \xff\xfe bad \x00 subject\r\n");
    raw.extend_from_slice(b"From: \"\xc3\x28 \x00\" <");
    raw.extend_from_slice(GERRIT.as_bytes());
    raw.extend_from_slice(b">\r\n");
    raw.extend_from_slice(b"X-Junk: \x80\x81\x82\r\n\r\n");
    raw.extend_from_slice(b"Hi\x00there\r\n-- \r\n");
    raw.extend_from_slice(FOOTERS.replace('\n', "\r\n").as_bytes());
    let n = parse(&raw, &senders()).unwrap();
    assert!(!n.subject.contains('\0'));
    assert_eq!(n.sender, GERRIT);
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for _ in 0..2_000 {
        let len = rng.usize(0..2048);
        let raw: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        let _ = parse(&raw, &anyone());
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let fixtures: Vec<Vec<u8>> = expectations().iter().map(|(n, _)| fixture(n)).collect();
    let interesting = [
        &b"\r\n"[..],
        b"\n",
        b"=",
        b"=\r\n",
        b"--",
        b"-- \r\n",
        b">",
        b" ",
        b"Gerrit-",
        b"Patch Set 1:",
        b"Patchset:\n\nPS1:\n",
        b"File a:\n\n",
        b"\xff",
        b"\xc3",
        b"\0",
        b"<div>",
        b"&#x",
        b"=?UTF-8?B?",
        b"boundary=\"",
    ];
    let mut rng = fastrand::Rng::with_seed(42);
    for round in 0..3_000 {
        let mut raw = fixtures[round % fixtures.len()].clone();
        for _ in 0..rng.usize(1..8) {
            if raw.is_empty() {
                break;
            }
            let at = rng.usize(..raw.len());
            match rng.u8(..4) {
                0 => raw[at] = rng.u8(..),
                1 => raw.truncate(at),
                2 => {
                    let s = interesting[rng.usize(..interesting.len())];
                    raw.splice(at..at, s.iter().copied());
                }
                _ => {
                    let end = (at + rng.usize(..64)).min(raw.len());
                    raw.drain(at..end);
                }
            }
        }
        let _ = parse(&raw, &anyone());
        let _ = parse(&raw, &senders());
    }
}

fn flowed_mail(body: &str) -> Vec<u8> {
    format!(
        "From: <{GERRIT}>\r\nSubject: x\r\n\
         Content-Type: text/plain; charset=UTF-8; format=flowed; delsp=yes\r\n\r\n{}",
        body.replace('\n', "\r\n")
    )
    .into_bytes()
}

#[test]
fn a_flowed_patchset_comment_header_joined_with_its_first_line_still_reads() {
    // A mailer that kept Gerrit's trailing space on `PS3: ` makes it a soft break.
    let body = format!(
        "Elliott Park has posted comments on this change.\n\nChange subject: x\n{}\n\n\n\
         Patch Set 3:\n\n(1 comment)\n\nFile a.c:\n\nPS3, Line 1: int x;\nbionicbb: clean\n\n\n\
         Patchset:\n\nPS3: \nbionicbb: retry\nPS3: bionicbb: arm\n\n\n-- \n{FOOTERS}",
        ".".repeat(70)
    );
    let r = parse(&flowed_mail(&body), &senders())
        .unwrap()
        .review
        .unwrap();
    assert_eq!(r.command_text, "bionicbb: retry\nPS3: bionicbb: arm");
    assert_eq!(commands(&r.command_text), [Ok(Command::Retry)]);
}

#[test]
fn commands_in_inline_comments_after_patchset_comments_do_not_count() {
    let body = format!(
        "X has posted comments on this change.\n\nChange subject: x\n{}\n\n\n\
         Patch Set 3:\n\n(2 comments)\n\nPatchset:\n\nPS3: \nbionicbb: retry\n\n\n\
         File tools/bionicbb/x.py:\n\nhttps://h/c/p/+/1/comment/ab_cd/ :\nPS3, Line 2: x = 1\n\
         bionicbb: clean\n\n\n-- \n{FOOTERS}",
        ".".repeat(70)
    );
    let r = parse(&mail(&body), &senders()).unwrap().review.unwrap();
    assert_eq!(r.command_text, "bionicbb: retry");
}

#[test]
fn a_title_lookalike_without_its_blank_line_is_message_text() {
    let cover =
        "Patch Set 3:\n\nSee File a.c:\nFile a.c:\nbionicbb: retry\nPatchset:\n\nno PS line";
    let r = parse(&comment_mail(cover, FOOTERS), &senders())
        .unwrap()
        .review
        .unwrap();
    assert_eq!(commands(&r.command_text), [Ok(Command::Retry)]);
    assert!(r.command_text.ends_with("no PS line"), "{}", r.command_text);
}

#[test]
fn unflowing_joins_soft_breaks_and_keeps_the_signature_separator() {
    use super::mime::unflow;
    assert_eq!(unflow("a \nb\nc", true), "ab\nc");
    assert_eq!(unflow("a \nb\nc", false), "a b\nc");
    assert_eq!(unflow("-- \nsig", true), "-- \nsig");
    // The space after `>` on the continuation is its stuffing; it stays, as a reader shows it.
    assert_eq!(
        unflow("> quoted \n> more\nplain", true),
        "> quoted more\nplain"
    );
    assert_eq!(unflow("flowed \n> quote", true), "flowed\n> quote");
    assert_eq!(unflow("end \n", true), "end");
    assert_eq!(unflow("x\n", true), "x\n");
    assert_eq!(unflow("", true), "");
}
