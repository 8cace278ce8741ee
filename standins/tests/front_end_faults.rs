//! Credential failures as each front end answers them: a single-sign-on proxy's 302 to its login
//! page, and the services' own 401s.

use serde_json::json;
use standins::{Fault, NewChange, Service, Standins};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

const LOGIN: &str = "https://login.example.com/sso?continue=https%3A%2F%2Freview";

#[tokio::test]
async fn a_redirect_fault_sends_every_request_to_the_login_page() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", &["REF"]);
    let n = s.world.gerrit_add_change(NewChange::default());
    let http = client();
    for service in [Service::Gerrit, Service::Jenkins] {
        s.world.set_fault(
            service,
            Fault::Redirect {
                location: LOGIN.into(),
            },
        );
    }
    let (gu, gp) = s.world.gerrit_credentials();
    let (ju, jt) = s.world.jenkins_credentials();
    let requests = [
        http.get(format!("{}/a/changes/{n}", s.gerrit_url))
            .basic_auth(&gu, Some(&gp)),
        http.get(format!("{}/changes/{n}", s.gerrit_url)),
        http.post(format!("{}/a/changes/{n}/revisions/1/review", s.gerrit_url))
            .basic_auth(&gu, Some(&gp))
            .header("Content-Type", "application/json")
            .body(json!({"labels": {"Verified": 1}}).to_string()),
        http.get(format!("{}/api/json", s.jenkins_url))
            .basic_auth(&ju, Some(&jt)),
        http.post(format!(
            "{}/job/bionic-presubmit/buildWithParameters?REF=r",
            s.jenkins_url
        ))
        .basic_auth(&ju, Some(&jt)),
    ];
    for request in requests {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 302);
        assert_eq!(r.headers()["location"], LOGIN);
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
    }
    assert!(
        s.world.gerrit_reviews().is_empty(),
        "nothing reached Gerrit"
    );
    assert!(
        s.world.jenkins_queue().is_empty(),
        "nothing reached Jenkins"
    );

    s.world.set_fault(Service::Gerrit, Fault::None);
    let r = http
        .get(format!("{}/a/changes/{n}", s.gerrit_url))
        .basic_auth(&gu, Some(&gp))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn injected_401s_look_like_each_services_own() {
    let s = Standins::start().await;
    let http = client();
    s.world.set_fault(
        Service::Gerrit,
        Fault::FailNext {
            count: 1,
            status: 401,
        },
    );
    let (gu, gp) = s.world.gerrit_credentials();
    let r = http
        .get(format!("{}/a/accounts/self", s.gerrit_url))
        .basic_auth(&gu, Some(&gp))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"Gerrit Code Review\""
    );
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = r.text().await.unwrap();
    assert!(!page.starts_with(")]}'"));
    assert!(
        page.contains("Problem accessing /a/accounts/self."),
        "{page}"
    );

    // A real refusal looks the same.
    let r = http
        .get(format!("{}/a/accounts/self", s.gerrit_url))
        .basic_auth(&gu, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Basic realm=\"Gerrit Code Review\""
    );

    s.world.set_fault(
        Service::Jenkins,
        Fault::FailNext {
            count: 1,
            status: 401,
        },
    );
    let (ju, jt) = s.world.jenkins_credentials();
    let r = http
        .get(format!("{}/api/json", s.jenkins_url))
        .basic_auth(&ju, Some(&jt))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"Jenkins\"");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Invalid password/token for user: bionicbb")
    );
}
