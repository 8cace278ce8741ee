//! `GET /changes/?q=...` answers as Gerrit's Query Changes does: the query language, ordering
//! by `updated`, limits and `_more_changes`, several queries, and Gerrit's errors.

use reqwest::StatusCode;
use serde_json::Value;
use standins::{ChangeStatus, CommentSpec, NewChange, Standins};

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

    /// `GET /a/changes/?<query>` (the query string is sent as written).
    async fn get(&self, query: &str) -> reqwest::Response {
        let (user, pw) = self.s.world.gerrit_credentials();
        self.http
            .get(format!("{}/a/changes/?{query}", self.s.gerrit_url))
            .basic_auth(user, Some(pw))
            .send()
            .await
            .expect("send")
    }

    async fn json(&self, query: &str) -> Value {
        let r = self.get(query).await;
        assert_eq!(r.status(), 200, "{query}");
        let text = r.text().await.expect("body");
        let rest = text.strip_prefix(GUARD).expect("XSSI guard");
        serde_json::from_str(rest).expect("json")
    }

    /// The change numbers a query answers, in order.
    async fn numbers(&self, query: &str) -> Vec<u64> {
        numbers(&self.json(query).await)
    }

    async fn error(&self, query: &str) -> (StatusCode, String) {
        let r = self.get(query).await;
        let status = r.status();
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "text/plain; charset=UTF-8"
        );
        (status, r.text().await.expect("body"))
    }

    fn change(&self, project: &str, updated: i64) -> u64 {
        let n = self.s.world.gerrit_add_change(NewChange {
            project: project.into(),
            ..NewChange::default()
        });
        self.s.world.gerrit_set_updated(n, updated);
        n
    }
}

fn numbers(list: &Value) -> Vec<u64> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|c| c["_number"].as_u64().expect("_number"))
        .collect()
}

/// 2024-01-02 03:04:05 UTC in ms.
const T0: i64 = 1_704_164_645_000;

#[tokio::test]
async fn status_project_or_and_not_with_updated_order() {
    let g = Gerrit::start().await;
    let w = &g.s.world;
    let a1 = g.change("platform/bionic", T0);
    let a2 = g.change("platform/bionic", T0 + 2000);
    let b1 = g.change("platform/art", T0 + 1000);
    let c1 = g.change("platform/other", T0 + 3000);
    let merged = g.change("platform/bionic", T0 + 4000);
    w.gerrit_set_status(merged, ChangeStatus::Merged);
    w.gerrit_set_updated(merged, T0 + 4000);
    let gone = g.change("platform/art", T0 + 5000);
    w.gerrit_set_status(gone, ChangeStatus::Abandoned);
    w.gerrit_set_updated(gone, T0 + 5000);

    // No q is status:open; newest `updated` first.
    assert_eq!(g.numbers("").await, vec![c1, a2, b1, a1]);
    assert_eq!(g.numbers("q=status:open").await, vec![c1, a2, b1, a1]);
    assert_eq!(g.numbers("q=is:open").await, vec![c1, a2, b1, a1]);
    assert_eq!(g.numbers("q=status:merged").await, vec![merged]);
    assert_eq!(g.numbers("q=status:abandoned").await, vec![gone]);
    assert_eq!(g.numbers("q=is:closed").await, vec![gone, merged]);
    // Status names are looked up by prefix, case-insensitively.
    assert_eq!(g.numbers("q=status:MERG").await, vec![merged]);
    assert_eq!(
        g.numbers("q=status:open+(project:platform%2Fbionic+OR+project:platform%2Fart)")
            .await,
        vec![a2, b1, a1]
    );
    assert_eq!(
        g.numbers("q=status:open%20AND%20-project:platform/bionic")
            .await,
        vec![c1, b1]
    );
    assert_eq!(
        g.numbers("q=NOT+status:open+project:platform/art").await,
        vec![gone]
    );
    assert_eq!(
        g.numbers("q=project:platform/bionic+branch:main").await,
        vec![merged, a2, a1]
    );
    assert_eq!(g.numbers(&format!("q={b1}")).await, vec![b1]);
    assert_eq!(g.numbers(&format!("q=change:{a1}")).await, vec![a1]);
    assert!(g.numbers("q=is:wip").await.is_empty());
    // Anonymous callers query too (outside /a/).
    let r = g
        .http
        .get(format!("{}/changes/?q=status:merged", g.s.gerrit_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn after_and_since_are_inclusive_on_updated_in_utc() {
    let g = Gerrit::start().await;
    let early = g.change("p", T0 - 1);
    let exact = g.change("p", T0);
    let late = g.change("p", T0 + 1500);
    let q = |op: &str, value: &str| format!("q=status:open+{op}:%22{value}%22");
    assert_eq!(
        g.numbers(&q("after", "2024-01-02 03:04:05")).await,
        vec![late, exact]
    );
    assert_eq!(
        g.numbers(&q("since", "2024-01-02 03:04:05.000000000"))
            .await,
        vec![late, exact]
    );
    assert_eq!(
        g.numbers(&q("after", "2024-01-02 03:04:06.5")).await,
        vec![late]
    );
    assert!(
        g.numbers(&q("after", "2024-01-02 03:04:06.501"))
            .await
            .is_empty()
    );
    // An explicit offset; without one the time is UTC.
    assert_eq!(
        g.numbers(&q("after", "2024-01-01 22:04:05 -0500")).await,
        vec![late, exact]
    );
    assert_eq!(
        g.numbers(&q("before", "2024-01-02 03:04:05")).await,
        vec![exact, early]
    );
    // A date alone is midnight.
    assert_eq!(g.numbers("q=after:2024-01-03").await, Vec::<u64>::new());
    assert_eq!(
        g.error(&q("after", "2024-01-02T03:04:05")).await,
        (
            StatusCode::BAD_REQUEST,
            "Invalid date format: 2024-01-02T03:04:05\n".into()
        )
    );
}

#[tokio::test]
async fn updated_moves_with_uploads_and_reviews() {
    let g = Gerrit::start().await;
    let w = &g.s.world;
    let old = g.change("p", T0);
    let newer = g.change("p", T0 + 1000);
    assert_eq!(g.numbers("q=project:p").await, vec![newer, old]);

    w.gerrit_add_patch_set(old, "a@google.com", vec!["x.c".into()]);
    let after_upload = w.gerrit_updated(old).unwrap();
    assert!(after_upload > T0 + 1000);
    assert_eq!(g.numbers("q=project:p").await, vec![old, newer]);
    let listed = g.json("q=project:p").await;
    assert_eq!(
        listed[0]["updated"],
        g.json(&format!("q=change:{old}")).await[0]["updated"]
    );

    let someone = w.gerrit_add_account("someone", "someone@example.com");
    w.gerrit_post_comment(
        newer,
        1,
        someone,
        CommentSpec {
            message: Some("lgtm".into()),
            ..CommentSpec::default()
        },
    );
    assert!(w.gerrit_updated(newer).unwrap() > after_upload);
    assert_eq!(g.numbers("q=project:p").await, vec![newer, old]);

    // A cursor taken from the newest `updated` finds exactly what changed since.
    let cursor = listed[0]["updated"].as_str().unwrap().to_owned();
    let since = format!("q=project:p+after:%22{cursor}%22");
    assert_eq!(g.numbers(&since).await, vec![newer, old]);
}

#[tokio::test]
async fn limit_start_more_changes_and_several_queries() {
    let g = Gerrit::start().await;
    let ns: Vec<u64> = (0..5).map(|i| g.change("p", T0 + i * 1000)).collect();
    let newest_first: Vec<u64> = ns.iter().rev().copied().collect();

    let page = g.json("q=project:p&n=2").await;
    assert_eq!(numbers(&page), newest_first[..2].to_vec());
    assert_eq!(page[1]["_more_changes"], true);
    assert!(page[0].get("_more_changes").is_none());
    let page = g.json("q=project:p&n=2&S=4").await;
    assert_eq!(numbers(&page), newest_first[4..].to_vec());
    assert!(page[0].get("_more_changes").is_none());
    let page = g.json("q=project:p&limit=3&start=1").await;
    assert_eq!(numbers(&page), newest_first[1..4].to_vec());
    assert_eq!(page[2]["_more_changes"], true);

    // Several q: a list per query, in order, each with its own `_more_changes`.
    let lists = g
        .json("q=project:p&q=project:nothing&q=status:open+project:p&n=1&o=CURRENT_REVISION")
        .await;
    let lists = lists.as_array().expect("list of lists");
    assert_eq!(lists.len(), 3);
    assert_eq!(numbers(&lists[0]), vec![newest_first[0]]);
    assert_eq!(lists[0][0]["_more_changes"], true);
    assert_eq!(lists[1], Value::Array(Vec::new()));
    assert_eq!(numbers(&lists[2]), vec![newest_first[0]]);
    assert!(lists[2][0]["current_revision"].is_string());
}

#[tokio::test]
async fn options_give_the_same_change_info_as_get_change() {
    let g = Gerrit::start().await;
    let n = g.change("platform/bionic", T0);
    let opts = "o=CURRENT_REVISION&o=CURRENT_COMMIT&o=CURRENT_FILES&o=DETAILED_ACCOUNTS&o=MESSAGES";
    let listed = g.json(&format!("q=change:{n}&{opts}")).await;
    let (user, pw) = g.s.world.gerrit_credentials();
    let one = g
        .http
        .get(format!(
            "{}/a/changes/platform%2Fbionic~{n}?{opts}",
            g.s.gerrit_url
        ))
        .basic_auth(user, Some(pw))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let one: Value = serde_json::from_str(one.strip_prefix(GUARD).unwrap()).unwrap();
    assert_eq!(listed[0], one);
    let sha = one["current_revision"].as_str().unwrap();
    assert!(one["revisions"][sha]["files"]["libc/foo.cpp"].is_object());
    assert!(one["messages"].is_array());
    assert!(one["owner"]["email"].is_string());
    // `O=` is the same options as hex bits (CURRENT_REVISION | CURRENT_COMMIT = 0xa).
    let hex = g.json(&format!("q=change:{n}&O=a")).await;
    assert!(hex[0]["revisions"][sha]["commit"].is_object());
    assert!(hex[0]["revisions"][sha].get("files").is_none());
}

#[tokio::test]
async fn malformed_queries_get_gerrits_400_texts() {
    let g = Gerrit::start().await;
    let bad = |text: &str| (StatusCode::BAD_REQUEST, format!("{text}\n"));
    assert_eq!(g.error("q=").await, bad("query is empty"));
    assert_eq!(
        g.error("q=(status:open").await,
        bad("line 1:12 mismatched input '<EOF>' expecting ')'")
    );
    assert_eq!(
        g.error("q=status:").await,
        bad("line 1:7 no viable alternative at input '<EOF>'")
    );
    assert_eq!(
        g.error("q=after:%222024").await,
        bad("line 1:11 mismatched character '<EOF>' expecting '\"'")
    );
    assert_eq!(
        g.error("q=status:opened").await,
        bad("Unrecognized value: opened")
    );
    assert_eq!(
        g.error("q=foo:bar").await,
        bad("Unsupported operator foo:bar")
    );
    assert_eq!(g.error("q=change:xyz").await, bad("Invalid change format"));
    assert_eq!(
        g.error(&"q=status:open&".repeat(11)).await,
        bad("limit of 10 queries")
    );
    assert_eq!(
        g.error("q=status:open&n=ten").await,
        bad("\"ten\" is not a valid value for \"-n\"")
    );
    assert_eq!(
        g.error("q=status:open&o=EVERYTHING").await,
        bad("\"EVERYTHING\" is not a valid value for \"-o\"")
    );
    assert_eq!(
        g.error("q=status:open&foo=1").await,
        bad("\"--foo\" is not a valid option")
    );
    // Gerrit ignores what follows a complete expression it cannot continue.
    assert!(g.numbers("q=status:merged+)+status:open").await.is_empty());
    // Operators Gerrit has but the stand-in does not evaluate say so, with a status Gerrit
    // never uses for this endpoint.
    let (status, text) = g.error("q=owner:self").await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert!(text.starts_with("standins:"), "{text}");
}
