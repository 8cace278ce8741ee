use super::*;
use crate::jenkins::notification::*;
use crate::policy::vote::presubmit_review;
use crate::types::BuildResult as BuildStatus;

const EXAMPLE: &str = include_str!("../../../config.example.toml");

fn config() -> Config {
    Config::parse(EXAMPLE, "config.example.toml").unwrap()
}

/// A plugin-shaped event (see the Jenkins notes: one line on the wire, snake_case keys).
fn wire(name: &str, phase: &str, status: Option<&str>) -> serde_json::Value {
    let mut build = serde_json::json!({
        "full_url": format!("https://jenkins.example.com/job/{name}/42/"),
        "number": 42, "queue_id": 98765, "timestamp": 1700000000000u64, "duration": 0,
        "phase": phase, "url": format!("job/{name}/42/"),
        "scm": {"changes": [], "culprits": []},
        "parameters": {"REF": "refs/changes/45/123445/3",
                       "CHANGE_ID": "I0123456789abcdef0123456789abcdef01234567",
                       "PROJECT": "bionic", "LUNCH_TARGET": ""},
        "log": "", "notes": "", "artifacts": {}
    });
    if let Some(s) = status {
        build["status"] = s.into();
    }
    serde_json::json!({"name": name, "display_name": name, "url": format!("job/{name}/"), "build": build})
}

fn event(name: &str, phase: &str, status: Option<&str>) -> JenkinsEvent {
    JenkinsEvent::parse(wire(name, phase, status).to_string().as_bytes()).unwrap()
}

fn clean_triggered() -> Triggered {
    Triggered {
        queue_id: 98765,
        job: "clean-bionic-presubmit".into(),
        change_key: "platform/bionic~123445".parse().unwrap(),
        patch_set: 3,
    }
}

fn posted(d: Result<Decision, Rejection>) -> Item {
    match d {
        Ok(Decision::Post(post)) => {
            let mut items = post.items(None, &config().presubmit);
            assert_eq!(items.len(), 1);
            items.remove(0)
        }
        other => panic!("expected a post, got {other:?}"),
    }
}

#[test]
fn a_plugin_event_parses_into_the_closed_type() {
    let e = event("bionic-presubmit", "COMPLETED", Some("FAILURE"));
    assert_eq!(e.name, "bionic-presubmit");
    assert_eq!(e.build.number, 42);
    assert_eq!(e.build.phase, Phase::Completed);
    assert_eq!(e.build.status, Some(BuildStatus::Failure));
    assert_eq!(e.build.queue_id, Some(98765));
    assert_eq!(e.build.parameters["REF"], "refs/changes/45/123445/3");
    assert_eq!(event("j", "STARTED", None).build.status, None);
    assert_eq!(
        event("j", "NONE", None).build.phase,
        Phase::Other("NONE".into())
    );
    assert_eq!(
        event("j", "COMPLETED", Some("WEIRD")).build.status,
        Some(BuildStatus::Other("WEIRD".into()))
    );
}

#[test]
fn bad_bodies_name_the_problem() {
    let mut cases: Vec<(&str, String)> = vec![
        ("not json", "hello".into()),
        (
            "truncated",
            r#"{"name":"bionic-presubmit","build":{"number":4"#.into(),
        ),
        ("array", "[1,2]".into()),
        (
            "no name",
            r#"{"build":{"number":1,"phase":"STARTED"}}"#.into(),
        ),
        ("no build", r#"{"name":"bionic-presubmit"}"#.into()),
        ("build not object", r#"{"name":"j","build":"x"}"#.into()),
        (
            "number string",
            r#"{"name":"j","build":{"number":"4","phase":"STARTED"}}"#.into(),
        ),
        (
            "number negative",
            r#"{"name":"j","build":{"number":-4,"phase":"STARTED"}}"#.into(),
        ),
        ("no phase", r#"{"name":"j","build":{"number":4}}"#.into()),
        (
            "status number",
            r#"{"name":"j","build":{"number":4,"phase":"COMPLETED","status":1}}"#.into(),
        ),
        (
            "REF number",
            r#"{"name":"j","build":{"number":4,"phase":"COMPLETED","parameters":{"REF":5}}}"#
                .into(),
        ),
        (
            "name null",
            r#"{"name":null,"build":{"number":4,"phase":"COMPLETED"}}"#.into(),
        ),
    ];
    cases.push(("empty", String::new()));
    cases.push((
        "xml",
        "<job><name>bionic-presubmit</name><build><number>4</number></build></job>".into(),
    ));
    let rendered: Vec<String> = cases
        .iter()
        .map(|(what, body)| {
            let e = JenkinsEvent::parse(body.as_bytes()).unwrap_err();
            format!("{what}: {e}")
        })
        .collect();
    insta::assert_snapshot!(rendered.join("\n"));
}

#[test]
fn presubmit_decisions_follow_the_status() {
    let c = config();
    let table = [
        ("SUCCESS", Some(1)),
        ("FAILURE", Some(-1)),
        ("UNSTABLE", None),
        ("ABORTED", None),
        ("NOT_BUILT", None),
        ("SOMETHING_NEW", None),
    ];
    for (status, vote) in table {
        for phase in ["COMPLETED", "FINALIZED"] {
            let item = posted(decide(
                &event("bionic-presubmit", phase, Some(status)),
                &c,
                Some(&[]),
            ));
            assert_eq!(item.change, "123445");
            assert_eq!(item.revision, "3");
            assert_eq!(item.source, "bionic-presubmit #42");
            let r = item.review;
            assert_eq!(r.labels.get("Verified").copied(), vote, "{status}");
            assert_eq!(r.tag.as_deref(), Some("autogenerated:bionicbb"));
            assert_eq!(r.notify, Some(crate::gerrit::Notify::OwnerReviewers));
        }
    }
}

#[test]
fn unfinished_ignored_and_unknown_jobs_post_nothing() {
    let c = config();
    let d = |name: &str, phase: &str, status: Option<&str>| {
        decide(&event(name, phase, status), &c, Some(&[]))
    };
    assert_eq!(
        d("bionic-presubmit", "QUEUED", None),
        Ok(Decision::NotFinished)
    );
    assert_eq!(
        d("bionic-presubmit", "STARTED", None),
        Ok(Decision::NotFinished)
    );
    assert_eq!(
        d("clean-bionic-presubmit", "STARTED", None),
        Ok(Decision::NotFinished)
    );
    assert_eq!(
        d("bionic-lint", "COMPLETED", Some("FAILURE")),
        Ok(Decision::Ignored)
    );
    assert_eq!(d("bionic-lint", "WHATEVER", None), Ok(Decision::Ignored));
    assert_eq!(
        d("someone-elses-job", "COMPLETED", Some("FAILURE")),
        Ok(Decision::UnknownJob)
    );
    assert_eq!(
        d("someone-elses-job", "NONE", None),
        Ok(Decision::UnknownJob)
    );
}

#[test]
fn presubmit_events_that_cannot_be_acted_on_are_rejected() {
    let c = config();
    let mut no_ref = event("bionic-presubmit", "COMPLETED", Some("SUCCESS"));
    no_ref.build.parameters.remove("REF");
    let mut bad_ref = no_ref.clone();
    bad_ref
        .build
        .parameters
        .insert("REF".into(), "refs/heads/main".into());
    let cases = [
        (event("bionic-presubmit", "NONE", None), "unknown phase"),
        (
            event("bionic-presubmit", "COMPLETED", None),
            "status missing",
        ),
        (no_ref.clone(), "REF missing"),
        (bad_ref, "REF not a change ref"),
        (
            JenkinsEvent {
                build: BuildEvent {
                    phase: Phase::Started,
                    ..no_ref.build.clone()
                },
                ..no_ref
            },
            "REF missing at STARTED",
        ),
    ];
    let rendered: Vec<String> = cases
        .iter()
        .map(|(e, what)| format!("{what}: {}", decide(e, &c, Some(&[])).unwrap_err()))
        .collect();
    insta::assert_snapshot!(rendered.join("\n"));
}

#[test]
fn a_clean_build_posts_on_the_change_that_asked() {
    let c = config();
    let t = clean_triggered();
    let item = posted(decide(
        &event("clean-bionic-presubmit", "COMPLETED", Some("SUCCESS")),
        &c,
        Some(std::slice::from_ref(&t)),
    ));
    assert_eq!(item.change, "platform/bionic~123445");
    assert_eq!(item.revision, "3");
    let r = item.review;
    assert_eq!(r.message.as_deref(), Some("out/ directory removed"));
    assert!(r.labels.is_empty());
    let unknown = decide(
        &event("clean-bionic-presubmit", "COMPLETED", Some("SUCCESS")),
        &c,
        Some(&[]),
    );
    assert_eq!(unknown, Ok(Decision::NoChange));
    let other_job = Triggered {
        job: "bionic-presubmit".into(),
        ..t
    };
    let mismatch = decide(
        &event("clean-bionic-presubmit", "COMPLETED", Some("SUCCESS")),
        &c,
        Some(std::slice::from_ref(&other_job)),
    );
    assert_eq!(mismatch, Ok(Decision::NoChange));
}

#[test]
fn links_expand_and_fall_back_to_the_jenkins_url() {
    let e = event("bionic-presubmit", "COMPLETED", Some("SUCCESS"));
    let mut no_root = e.clone();
    no_root.build.full_url = None;
    let j = "https://ci.example.com/jenkins/";
    assert_eq!(
        build_link("{full_url}", &e, j),
        "https://jenkins.example.com/job/bionic-presubmit/42/"
    );
    assert_eq!(
        build_link("{full_url}", &no_root, j),
        "https://ci.example.com/jenkins/job/bionic-presubmit/42/"
    );
    assert_eq!(
        build_link("http://go/bionicbb/{url}console", &e, j),
        "http://go/bionicbb/job/bionic-presubmit/42/console"
    );
    let mut weird = e.clone();
    weird.build.url = Some("job/{full_url}/".into());
    assert_eq!(build_link("{url}", &weird, j), "job/{full_url}/");
    let mut no_url = no_root;
    no_url.build.url = None;
    assert_eq!(
        build_link("{full_url} {url}", &no_url, j),
        "https://ci.example.com/jenkins/job/bionic-presubmit/42/ job/bionic-presubmit/42/"
    );
}

#[test]
fn every_message_text_the_bot_posts() {
    let link = "https://jenkins.example.com/job/bionic-presubmit/42/";
    let mut out = Vec::new();
    for status in ["SUCCESS", "FAILURE", "UNSTABLE", "ABORTED", "NOT_BUILT"] {
        let r = presubmit_review("bionic-presubmit", 42, &BuildStatus::parse(status), link);
        out.push(format!(
            "presubmit {status} labels={:?}\n{}",
            r.labels,
            r.message.unwrap_or_default()
        ));
    }
    for status in ["SUCCESS", "FAILURE"] {
        let r = clean_review(
            "clean-bionic-presubmit",
            7,
            &BuildStatus::parse(status),
            "https://jenkins.example.com/job/clean-bionic-presubmit/7/",
        );
        out.push(format!(
            "clean {status} labels={:?}\n{}",
            r.labels,
            r.message.unwrap_or_default()
        ));
    }
    insta::assert_snapshot!(out.join("\n---\n"));
}

#[test]
fn console_lines_name_the_build_and_the_decision() {
    let c = config();
    let t = clean_triggered();
    let mut lines = Vec::new();
    let cases: [(JenkinsEvent, &[Triggered]); 8] = [
        (event("bionic-presubmit", "COMPLETED", Some("SUCCESS")), &[]),
        (event("bionic-presubmit", "FINALIZED", Some("FAILURE")), &[]),
        (event("bionic-presubmit", "COMPLETED", Some("ABORTED")), &[]),
        (event("bionic-presubmit", "STARTED", None), &[]),
        (
            event("clean-bionic-presubmit", "COMPLETED", Some("SUCCESS")),
            std::slice::from_ref(&t),
        ),
        (
            event("clean-bionic-presubmit", "COMPLETED", Some("SUCCESS")),
            &[],
        ),
        (event("bionic-lint", "COMPLETED", Some("SUCCESS")), &[]),
        (
            event("someone-elses-job", "COMPLETED", Some("SUCCESS")),
            &[],
        ),
    ];
    for (e, triggered) in cases {
        let d = decide(&e, &c, Some(triggered)).unwrap();
        let line = match &d {
            Decision::Post(post) => post.plan(None, &c.presubmit).events.pop(),
            other => decision_line(&e, other),
        };
        lines.push(match line {
            Some(l) => format!("{:?}({}): {}", l.kind, l.context, l.text),
            None => format!("(none for {} {})", e.name, e.build.phase),
        });
    }
    insta::assert_snapshot!(lines.join("\n"));
}
