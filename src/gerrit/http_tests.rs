//! The client against the Gerrit stand-in, which speaks Gerrit's wire format (guard line,
//! text/plain errors, Basic auth on `/a/`, silently dropped labels).

use super::*;
use crate::credentials::Secret;
use standins::{ChangeStatus, Fault, NewChange, Service, Standins};

fn client(s: &Standins) -> Gerrit {
    let (login, password) = s.world.gerrit_credentials();
    let credentials = Credentials {
        login,
        password: Secret::new(password),
    };
    Gerrit::new(
        &format!("{}/", s.gerrit_url),
        credentials,
        Duration::from_secs(5),
    )
    .unwrap()
}

fn verified(v: i32) -> ReviewInput {
    ReviewInput::bot(
        Some("m".into()),
        BTreeMap::from([(VERIFIED.to_string(), v)]),
    )
}

#[tokio::test]
async fn change_facts_describe_the_current_patch_set() {
    let s = Standins::start().await;
    let number = s.world.gerrit_add_change(NewChange {
        files: vec!["libc/a.cpp".into(), "libc/b.h".into()],
        ..NewChange::default()
    });
    let ps = s
        .world
        .gerrit_add_patch_set(number, "c@google.com", vec!["libc/c.cpp".into()]);
    let f = client(&s)
        .change_facts(&format!("platform%2Fbionic~{number}"))
        .await
        .unwrap();
    assert_eq!(f.project, "platform/bionic");
    assert_eq!(f.number, number);
    assert_eq!(f.status, "NEW");
    assert_eq!(f.current_patch_set, PatchSet(ps));
    assert_eq!(
        f.current_ref,
        format!("refs/changes/{:02}/{number}/{ps}", number % 100)
    );
    assert_eq!(f.committer_email, "c@google.com");
    assert_eq!(f.files, vec!["libc/c.cpp"]);
    assert_eq!(
        Some(f.current_revision),
        s.world.gerrit_revision(number, ps)
    );
}

#[tokio::test]
async fn every_call_goes_through_a_and_the_account_id_is_asked_once() {
    let s = Standins::start().await;
    let g = client(&s);
    for _ in 0..3 {
        assert_eq!(
            g.self_account_id().await.unwrap(),
            s.world.gerrit_bot_account_id()
        );
    }
    let number = s.world.gerrit_add_change(NewChange::default());
    g.change_facts(&number.to_string()).await.unwrap();
    let requests = s.world.requests(Service::Gerrit);
    assert!(
        requests.iter().all(|r| r.path.starts_with("/a/")),
        "{requests:?}"
    );
    let selfs = requests
        .iter()
        .filter(|r| r.path == "/a/accounts/self")
        .count();
    assert_eq!(selfs, 1);
}

#[tokio::test]
async fn ids_that_name_no_change_or_several_are_told_apart() {
    let s = Standins::start().await;
    let g = client(&s);
    let id = "I0123456789abcdef0123456789abcdef01234567";
    for branch in ["main", "android14-release"] {
        s.world.gerrit_add_change(NewChange {
            branch: branch.into(),
            change_id: id.into(),
            ..NewChange::default()
        });
    }
    assert!(matches!(
        g.change_facts(id).await,
        Err(GerritError::Ambiguous(m)) if m.starts_with("Multiple changes found")
    ));
    assert!(matches!(
        g.change_facts("platform%2Fbionic~999999").await,
        Err(GerritError::NotFound(_))
    ));
}

#[tokio::test]
async fn reviews_are_posted_and_votes_read_back() {
    let s = Standins::start().await;
    let g = client(&s);
    let number = s.world.gerrit_add_change(NewChange::default());
    let change = format!("platform%2Fbionic~{number}");
    let result = g.post_review(&change, "1", &verified(-1)).await.unwrap();
    assert!(result.dropped_labels(&verified(-1)).is_empty());
    let me = g.self_account_id().await.unwrap();
    assert_eq!(
        g.verified_votes(&change, "1").await.unwrap(),
        vec![(me, -1)]
    );
    let votes = g.revision_votes(&change, "1").await.unwrap();
    assert!(votes.asked_is_current && votes.label_exists);
    let review = &s.world.gerrit_reviews()[0];
    assert_eq!(review.tag.as_deref(), Some(BOT_TAG));
    assert_eq!(review.notify.as_deref(), Some("OWNER_REVIEWERS"));
}

#[tokio::test]
async fn gerrit_refusals_map_to_their_variants() {
    let s = Standins::start().await;
    let g = client(&s);
    let closed = s.world.gerrit_add_change(NewChange::default());
    s.world.gerrit_set_status(closed, ChangeStatus::Abandoned);
    assert!(matches!(
        g.post_review(&closed.to_string(), "1", &verified(1)).await,
        Err(GerritError::Conflict(m)) if m == "change is closed"
    ));
    let open = s.world.gerrit_add_change(NewChange::default());
    s.world
        .gerrit_forbid_label(s.world.gerrit_bot_account_id(), VERIFIED);
    assert!(matches!(
        g.post_review(&open.to_string(), "1", &verified(-1)).await,
        Err(GerritError::Forbidden { message, .. }) if message.contains("is restricted")
    ));
    let wrong = Gerrit::new(
        &s.gerrit_url,
        Credentials {
            login: "bionicbb".into(),
            password: Secret::new("wrong"),
        },
        Duration::from_secs(5),
    )
    .unwrap();
    let e = wrong.self_account_id().await.unwrap_err();
    assert!(matches!(e, GerritError::Unauthorized { .. }), "{e:?}");
    assert!(e.to_string().contains("127.0.0.1:"), "names the host: {e}");
}

#[tokio::test]
async fn a_dropped_label_shows_in_the_result() {
    let s = Standins::start().await;
    let g = client(&s);
    let number = s.world.gerrit_add_change(NewChange::default());
    s.world.gerrit_remove_label("platform/bionic", VERIFIED);
    let result = g
        .post_review(&number.to_string(), "1", &verified(1))
        .await
        .unwrap();
    assert_eq!(result.dropped_labels(&verified(1)), vec!["Verified"]);
}

#[tokio::test]
async fn outages_are_transient_and_closed_ports_are_transport_errors() {
    let s = Standins::start().await;
    let g = client(&s);
    s.world.set_fault(Service::Gerrit, Fault::Down);
    let e = g.self_account_id().await.unwrap_err();
    assert!(
        matches!(e, GerritError::Status { status: 503, .. }),
        "{e:?}"
    );
    assert!(e.is_transient());
    let closed = Gerrit::new(
        "http://127.0.0.1:9",
        Credentials {
            login: "u".into(),
            password: Secret::new("p"),
        },
        Duration::from_secs(2),
    )
    .unwrap();
    let e = closed.self_account_id().await.unwrap_err();
    assert!(
        matches!(e, GerritError::Transport(_)) && e.is_transient(),
        "{e:?}"
    );
}

/// A server on 127.0.0.1:0 that answers every request with `status` (and a `Location` for a
/// 3xx), as a single-sign-on proxy or a Gerrit refusing the account would.
async fn refusing(status: u16) -> String {
    let app = axum::Router::new().fallback(move || async move {
        let code = axum::http::StatusCode::from_u16(status).unwrap_or_default();
        let location = [(
            axum::http::header::LOCATION,
            "https://sso.example.com/login",
        )];
        (code, location, "no")
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::test]
async fn a_redirect_401_or_403_names_the_host_and_the_netrc_machine_to_check() {
    for status in [302, 401, 403] {
        let url = refusing(status).await;
        let credentials = Credentials {
            login: "bionicbb".into(),
            password: Secret::new("pw"),
        };
        let g = Gerrit::new(&url, credentials, Duration::from_secs(5)).unwrap();
        let e = g.self_account_id().await.unwrap_err();
        assert!(e.is_operator_fixable(), "{status}: {e:?}");
        let text = e.to_string();
        let host = url.trim_start_matches("http://").trim_end_matches('/');
        assert!(text.contains(&format!("Gerrit at {host}:")), "{text}");
        assert!(text.contains("netrc entry `machine 127.0.0.1`"), "{text}");
        assert!(!text.contains("pw"), "{text}");
    }
}

#[test]
fn the_netrc_machine_is_the_host_without_its_port() {
    assert_eq!(netrc_machine("review.example.com"), "review.example.com");
    assert_eq!(
        netrc_machine("Review.Example.com:8443"),
        "review.example.com"
    );
    assert_eq!(netrc_machine("127.0.0.1:29418"), "127.0.0.1");
    assert_eq!(netrc_machine("[::1]:8080"), "[::1]");
}
