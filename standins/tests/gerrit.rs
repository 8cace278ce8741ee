//! The Gerrit stand-in speaks Gerrit's REST framing and applies reviews as Gerrit does.

use reqwest::StatusCode;
use serde_json::{Value, json};
use standins::{ChangeStatus, NewChange, Standins};

const GUARD: &str = ")]}'\n";

struct Gerrit {
    s: Standins,
    http: reqwest::Client,
}

impl Gerrit {
    async fn start() -> Gerrit {
        Gerrit {
            s: Standins::start().await,
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.s.gerrit_url)
    }

    async fn get_auth(&self, path: &str) -> reqwest::Response {
        let (user, pw) = self.s.world.gerrit_credentials();
        self.http
            .get(self.url(path))
            .basic_auth(user, Some(pw))
            .send()
            .await
            .expect("send")
    }

    async fn review(&self, path: &str, body: &Value) -> reqwest::Response {
        let (user, pw) = self.s.world.gerrit_credentials();
        self.http
            .post(self.url(path))
            .basic_auth(user, Some(pw))
            .header("Content-Type", "application/json; charset=UTF-8")
            .body(body.to_string())
            .send()
            .await
            .expect("send")
    }
}

/// Checks the guard and headers, then parses the JSON after it.
async fn guarded_json(r: reqwest::Response) -> Value {
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "application/json; charset=UTF-8"
    );
    let text = r.text().await.expect("body");
    let rest = text.strip_prefix(GUARD).expect("XSSI guard line");
    assert!(rest.ends_with('\n'));
    serde_json::from_str(rest).expect("json after the guard")
}

async fn text_error(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    assert_eq!(
        r.headers()["content-type"].to_str().unwrap(),
        "text/plain; charset=UTF-8"
    );
    (status, r.text().await.expect("body"))
}

#[tokio::test]
async fn change_info_has_guard_and_current_revision_details() {
    let g = Gerrit::start().await;
    let n = g.s.world.gerrit_add_change(NewChange {
        files: vec!["libc/bionic/foo.cpp".into(), "tests/foo_test.cpp".into()],
        ..NewChange::default()
    });
    let r = g
        .get_auth(&format!(
            "/a/changes/platform%2Fbionic~{n}?o=CURRENT_REVISION&o=CURRENT_COMMIT&o=CURRENT_FILES"
        ))
        .await;
    assert_eq!(r.status(), 200);
    let c = guarded_json(r).await;
    assert_eq!(c["id"], format!("platform%2Fbionic~{n}"));
    assert_eq!(c["project"], "platform/bionic");
    assert_eq!(c["branch"], "main");
    assert_eq!(c["_number"], n);
    assert_eq!(c["status"], "NEW");
    assert_eq!(c["current_revision_number"], 1);
    let sha = c["current_revision"].as_str().expect("sha");
    let rev = &c["revisions"][sha];
    assert_eq!(rev["_number"], 1);
    assert_eq!(rev["ref"], format!("refs/changes/{:02}/{n}/1", n % 100));
    assert_eq!(rev["commit"]["committer"]["email"], "a@google.com");
    let files = rev["files"].as_object().expect("files");
    assert!(files.contains_key("/COMMIT_MSG"));
    assert!(files.contains_key("libc/bionic/foo.cpp"));
    assert_eq!(files.len(), 3);
}

#[tokio::test]
async fn ids_resolve_like_gerrit_and_ambiguity_is_a_404() {
    let g = Gerrit::start().await;
    let w = &g.s.world;
    let first = NewChange::default();
    let change_id = first.change_id.clone();
    let n1 = w.gerrit_add_change(first);
    let n2 = w.gerrit_add_change(NewChange {
        branch: "android16-release".into(),
        change_id: change_id.clone(),
        ..NewChange::default()
    });
    let one = guarded_json(
        g.get_auth(&format!("/a/changes/platform%2Fbionic~main~{change_id}"))
            .await,
    )
    .await;
    assert_eq!(one["_number"], n1);
    let two = guarded_json(g.get_auth(&format!("/a/changes/{n2}")).await).await;
    assert_eq!(two["branch"], "android16-release");

    let (status, body) = text_error(g.get_auth(&format!("/a/changes/{change_id}")).await).await;
    assert_eq!(status, 404);
    assert_eq!(body, format!("Multiple changes found for {change_id}\n"));
    let (status, body) = text_error(g.get_auth("/a/changes/platform%2Fbionic~999").await).await;
    assert_eq!(status, 404);
    assert_eq!(body, "Not found: platform/bionic~999\n");
}

#[tokio::test]
async fn authenticated_prefix_needs_basic_auth() {
    let g = Gerrit::start().await;
    let n = g.s.world.gerrit_add_change(NewChange::default());
    let r = g
        .http
        .get(g.url(&format!("/a/changes/{n}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"Gerrit Code Review\""
    );
    let r = g
        .http
        .get(g.url(&format!("/a/changes/{n}")))
        .basic_auth("bionicbb", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Anonymous reads outside /a/ are served; anonymous writes are not.
    let r = g
        .http
        .get(g.url(&format!("/changes/{n}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = g
        .http
        .post(g.url(&format!("/changes/{n}/revisions/1/review")))
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        text_error(r).await,
        (StatusCode::FORBIDDEN, "Authentication required\n".into())
    );
    let me = guarded_json(g.get_auth("/a/accounts/self").await).await;
    assert_eq!(me["_account_id"], g.s.world.gerrit_bot_account_id());
}

#[tokio::test]
async fn review_sets_the_vote_and_writes_the_change_message() {
    let g = Gerrit::start().await;
    let w = &g.s.world;
    let n = w.gerrit_add_change(NewChange::default());
    let bot = w.gerrit_bot_account_id();
    let sha = w.gerrit_revision(n, 1).unwrap();
    let body = json!({"message": "bionic-presubmit #7 checkbuild FAILURE: http://j/7/\n",
                      "labels": {"Verified": -1}, "tag": "autogenerated:bionicbb",
                      "notify": "OWNER_REVIEWERS"});
    let r = g
        .review(
            &format!("/a/changes/platform%2Fbionic~{n}/revisions/{sha}/review"),
            &body,
        )
        .await;
    assert_eq!(r.status(), 200);
    let result = guarded_json(r).await;
    assert_eq!(result["labels"], json!({"Verified": -1}));
    assert_eq!(result["change_info"]["_number"], n);

    assert_eq!(w.gerrit_votes(n, 1, "Verified").get(&bot), Some(&-1));
    let reviews = w.gerrit_reviews();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0].patch_set, 1);
    assert_eq!(reviews[0].account_id, bot);
    assert_eq!(reviews[0].labels.get("Verified"), Some(&-1));
    assert_eq!(reviews[0].tag.as_deref(), Some("autogenerated:bionicbb"));
    assert_eq!(reviews[0].raw, body);
    let messages = w.gerrit_messages(n);
    assert_eq!(
        messages.last().unwrap(),
        "Patch Set 1: Verified-1\n\nbionic-presubmit #7 checkbuild FAILURE: http://j/7/"
    );

    let detail = guarded_json(
        g.get_auth(&format!("/a/changes/{n}/revisions/1/review"))
            .await,
    )
    .await;
    let all = detail["labels"]["Verified"]["all"].as_array().unwrap();
    let mine = all.iter().find(|a| a["_account_id"] == bot).unwrap();
    assert_eq!(mine["value"], -1);
    assert_eq!(mine["email"], "bionicbb@android.com");

    // Dropping the vote: "-Verified"; posting the same value again writes nothing.
    let zero = json!({"labels": {"Verified": 0}});
    let r = g
        .review(&format!("/a/changes/{n}/revisions/1/review"), &zero)
        .await;
    assert_eq!(r.status(), 200);
    assert!(w.gerrit_votes(n, 1, "Verified").is_empty());
    assert_eq!(
        w.gerrit_messages(n).last().unwrap(),
        "Patch Set 1: -Verified"
    );
    let before = w.gerrit_messages(n).len();
    g.review(&format!("/a/changes/{n}/revisions/1/review"), &zero)
        .await;
    assert_eq!(w.gerrit_messages(n).len(), before);
}

#[tokio::test]
async fn labels_are_those_of_the_current_patch_set() {
    let g = Gerrit::start().await;
    let w = &g.s.world;
    let n = w.gerrit_add_change(NewChange::default());
    w.gerrit_set_vote(n, 1, 1_000_500, "Verified", 1);
    w.gerrit_add_patch_set(n, "a@google.com", vec!["libc/bar.cpp".into()]);
    let detail = guarded_json(
        g.get_auth(&format!("/a/changes/{n}/revisions/1/review"))
            .await,
    )
    .await;
    let all = detail["labels"]["Verified"]["all"].as_array().unwrap();
    assert_eq!(all[0]["value"], 0, "votes on PS1 are not shown for PS2");
    assert!(detail.get("current_revision").is_none());
}

#[tokio::test]
async fn review_errors_match_gerrit() {
    let g = Gerrit::start().await;
    let w = &g.s.world;
    let bot = w.gerrit_bot_account_id();
    let n = w.gerrit_add_change(NewChange::default());
    let path = format!("/a/changes/{n}/revisions/1/review");

    let (user, pw) = w.gerrit_credentials();
    let r = g
        .http
        .post(g.url(&path))
        .basic_auth(user, Some(pw))
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        text_error(r).await,
        (
            StatusCode::BAD_REQUEST,
            "Expected Content-Type: application/json\n".into()
        )
    );

    w.gerrit_forbid_label(bot, "Verified");
    let r = g.review(&path, &json!({"labels": {"Verified": -1}})).await;
    assert_eq!(
        text_error(r).await,
        (
            StatusCode::FORBIDDEN,
            "Applying label \"Verified\": -1 is restricted\n".into()
        )
    );

    let m = w.gerrit_add_change(NewChange {
        project: "platform/external/x".into(),
        ..NewChange::default()
    });
    w.gerrit_remove_label("platform/external/x", "Verified");
    let r = g
        .review(
            &format!("/a/changes/{m}/revisions/1/review"),
            &json!({"labels": {"Verified": 1}}),
        )
        .await;
    assert_eq!(guarded_json(r).await["labels"], json!({}));
    assert!(w.gerrit_votes(m, 1, "Verified").is_empty());

    let merged = w.gerrit_add_change(NewChange::default());
    w.gerrit_set_vote(merged, 1, bot, "Verified", -1);
    w.gerrit_set_status(merged, ChangeStatus::Merged);
    let r = g
        .review(
            &format!("/a/changes/{merged}/revisions/1/review"),
            &json!({"labels": {"Verified": 0}}),
        )
        .await;
    assert_eq!(
        text_error(r).await,
        (
            StatusCode::CONFLICT,
            "Cannot reduce vote on labels for closed change: Verified\n".into()
        )
    );

    let abandoned = w.gerrit_add_change(NewChange::default());
    w.gerrit_set_status(abandoned, ChangeStatus::Abandoned);
    let r = g
        .review(
            &format!("/a/changes/{abandoned}/revisions/1/review"),
            &json!({"labels": {"Code-Review": 1}}),
        )
        .await;
    assert_eq!(
        text_error(r).await,
        (StatusCode::CONFLICT, "change is closed\n".into())
    );
    // A message-only review on a closed change is fine.
    let r = g
        .review(
            &format!("/a/changes/{abandoned}/revisions/1/review"),
            &json!({"message": "hi"}),
        )
        .await;
    assert_eq!(r.status(), 200);
}
