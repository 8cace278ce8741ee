//! The OAuth token endpoint answers as Google's does, and injected faults use each service's own
//! error format.

use std::time::{Duration, Instant};

use serde_json::Value;
use standins::{Fault, NewChange, Service, Standins};

async fn token(s: &Standins, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(&s.token_url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn refresh_grants_a_new_bearer_token_that_gmail_accepts() {
    let s = Standins::start().await;
    let t = s.world.gmail_tokens();
    let (status, body) = token(
        &s,
        &[
            ("client_id", &t.client_id),
            ("client_secret", &t.client_secret),
            ("refresh_token", &t.refresh_token),
            ("grant_type", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_in"].as_u64().unwrap() > 0);
    let fresh = body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, t.access_token);
    assert_eq!(s.world.gmail_tokens().access_token, fresh);

    s.world.oauth_revoke_access_tokens();
    let labels = format!("{}gmail/v1/users/me/labels", s.gmail_url);
    let r = reqwest::Client::new()
        .get(&labels)
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let envelope: Value = r.json().await.unwrap();
    assert_eq!(envelope["error"]["status"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn bad_grants_and_clients_get_oauth_errors() {
    let s = Standins::start().await;
    let t = s.world.gmail_tokens();
    let (status, body) = token(
        &s,
        &[
            ("client_id", &t.client_id),
            ("client_secret", &t.client_secret),
            ("refresh_token", "1//stale"),
            ("grant_type", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, body) = token(
        &s,
        &[
            ("client_id", "other"),
            ("client_secret", "x"),
            ("grant_type", "refresh_token"),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let code = s.world.oauth_issue_code();
    let exchange = [
        ("client_id", t.client_id.as_str()),
        ("client_secret", t.client_secret.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", "http://localhost:1"),
        ("grant_type", "authorization_code"),
    ];
    let (status, body) = token(&s, &exchange).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["refresh_token"].as_str(),
        Some(t.refresh_token.as_str())
    );
    let (status, body) = token(&s, &exchange).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "codes are single-use"
    );

    let secret: Value = serde_json::from_str(&s.world.client_secret_json(&s.token_url)).unwrap();
    assert_eq!(secret["installed"]["token_uri"], s.token_url.as_str());
    assert!(secret["installed"]["redirect_uris"].is_array());
}

#[tokio::test]
async fn faults_answer_in_each_services_format() {
    let s = Standins::start().await;
    let http = reqwest::Client::new();
    let n = s.world.gerrit_add_change(NewChange::default());

    s.world.set_fault(
        Service::Gerrit,
        Fault::FailNext {
            count: 2,
            status: 429,
        },
    );
    let url = format!("{}/changes/{n}", s.gerrit_url);
    for _ in 0..2 {
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["content-type"], "text/plain; charset=UTF-8");
        assert!(r.text().await.unwrap().ends_with('\n'));
    }
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);

    s.world.set_fault(Service::OAuth, Fault::Down);
    let r = http.post(&s.token_url).body("").send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.json::<Value>().await.unwrap()["error"].is_string());

    s.world.set_fault(Service::Gmail, Fault::Down);
    let r = http
        .get(format!("{}gmail/v1/users/me/profile", s.gmail_url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let envelope: Value = r.json().await.unwrap();
    assert_eq!(envelope["error"]["code"], 503);
    assert_eq!(envelope["error"]["errors"][0]["reason"], "backendError");
    // The faulted request was still recorded.
    assert_eq!(s.world.gmail_requests().len(), 1);

    s.world
        .set_fault(Service::Gerrit, Fault::Latency(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(300));
    s.world.set_fault(Service::Gerrit, Fault::None);
}

/// Triggers a Jenkins build with a client that gives up after `client_timeout`.
async fn trigger_with_timeout(s: &Standins, client_timeout: Duration) -> Result<u16, String> {
    let (user, token) = s.world.jenkins_credentials();
    reqwest::Client::builder()
        .timeout(client_timeout)
        .build()
        .unwrap()
        .post(format!(
            "{}/job/clean-bionic-presubmit/build",
            s.jenkins_url
        ))
        .basic_auth(user, Some(token))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_err(|e| e.to_string())
}

/// Waits up to `limit` for the Jenkins queue to hold `n` items.
async fn queue_reaches(s: &Standins, n: usize, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if s.world.jenkins_queue().len() >= n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Cancels every waiting queue item.
fn cancel_waiting(s: &Standins) {
    for q in s.world.jenkins_queue().iter().filter(|q| q.is_waiting()) {
        s.world.jenkins_cancel(q.queue_id).unwrap();
    }
}

#[tokio::test]
async fn in_flight_latency_applies_the_effect_before_the_answer() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("clean-bionic-presubmit", &[]);
    let delay = Duration::from_millis(600);
    s.world.set_fault(
        Service::Jenkins,
        Fault::InFlight {
            min: delay,
            max: delay,
        },
    );

    // Answered only after the whole delay.
    let started = Instant::now();
    assert_eq!(
        trigger_with_timeout(&s, Duration::from_secs(5)).await,
        Ok(201)
    );
    assert!(started.elapsed() >= delay);
    assert_eq!(s.world.jenkins_queue().len(), 1);
    // Jenkins folds a build request into an equal item still waiting, so each request below
    // must find the queue empty to add an item.
    cancel_waiting(&s);

    // The client gives up in the second half: it never sees the 201, yet the item was queued
    // before it gave up.
    let started = Instant::now();
    let gave_up = trigger_with_timeout(&s, Duration::from_millis(450)).await;
    assert!(gave_up.is_err(), "{gave_up:?}");
    assert_eq!(s.world.jenkins_queue().len(), 2);
    assert!(started.elapsed() < delay);
    cancel_waiting(&s);

    // The client gives up in the first half: the request had arrived, so it is still handled.
    assert!(
        trigger_with_timeout(&s, Duration::from_millis(100))
            .await
            .is_err()
    );
    assert_eq!(s.world.jenkins_queue().len(), 2, "not handled yet");
    assert!(queue_reaches(&s, 3, Duration::from_secs(2)).await);
    s.world.set_fault(Service::Jenkins, Fault::None);
}

#[tokio::test]
async fn in_flight_delays_are_drawn_from_the_range() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("clean-bionic-presubmit", &[]);
    s.world.set_seed(42);
    let (min, max) = (Duration::from_millis(50), Duration::from_millis(250));
    s.world
        .set_fault(Service::Jenkins, Fault::InFlight { min, max });
    let mut took = Vec::new();
    for _ in 0..6 {
        let started = Instant::now();
        assert_eq!(
            trigger_with_timeout(&s, Duration::from_secs(5)).await,
            Ok(201)
        );
        took.push(started.elapsed());
    }
    assert!(took.iter().all(|t| *t >= min), "{took:?}");
    assert!(
        took.iter().all(|t| *t < max + Duration::from_millis(500)),
        "{took:?}"
    );
}
