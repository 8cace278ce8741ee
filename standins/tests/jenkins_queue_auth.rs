//! Jenkins' CSRF rules for password-authenticated calls, queue folding (2.308+), and folder jobs.

use serde_json::Value;
use standins::{Events, Standins};

const PARAMS: &[&str] = &["REF", "CHANGE_ID", "PROJECT", "LUNCH_TARGET"];

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post_with(
    s: &Standins,
    path: &str,
    secret: &str,
    form: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let (user, _) = s.world.jenkins_credentials();
    let mut request = client()
        .post(format!("{}{path}", s.jenkins_url))
        .basic_auth(user, Some(secret))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap());
    for (k, v) in extra {
        request = request.header(*k, *v);
    }
    request.send().await.unwrap()
}

async fn post(s: &Standins, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let (_, token) = s.world.jenkins_credentials();
    post_with(s, path, &token, form, &[]).await
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_password_needs_a_crumb_and_its_session_to_post() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", PARAMS);
    let (user, token) = s.world.jenkins_credentials();
    let password = s.world.jenkins_password();
    assert_ne!(password, token);
    let path = "/job/bionic-presubmit/buildWithParameters";

    // GETs work with the password.
    let r = client()
        .get(format!("{}/api/json", s.jenkins_url))
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A POST without a crumb is refused, even to an unknown job.
    for p in [path, "/job/nope/build"] {
        let r = post_with(&s, p, &password, &[("REF", "r1")], &[]).await;
        assert_eq!(r.status(), 403);
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("No valid crumb was included in the request")
        );
    }
    assert!(s.world.jenkins_queue().is_empty());

    // The crumb comes with a session cookie.
    let r = client()
        .get(format!("{}/crumbIssuer/api/json", s.jenkins_url))
        .basic_auth(&user, Some(&password))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("JSESSIONID."), "{cookie}");
    let issued: Value = r.json().await.unwrap();
    assert_eq!(issued["crumbRequestField"], "Jenkins-Crumb");
    let crumb = issued["crumb"].as_str().unwrap().to_owned();

    // The crumb alone is not enough: without the cookie Jenkins opens a new session.
    let r = post_with(
        &s,
        path,
        &password,
        &[("REF", "r1")],
        &[("Jenkins-Crumb", &crumb)],
    )
    .await;
    assert_eq!(r.status(), 403);
    let wrong = format!("{cookie}x");
    let r = post_with(
        &s,
        path,
        &password,
        &[("REF", "r1")],
        &[("Jenkins-Crumb", &crumb), ("Cookie", &wrong)],
    )
    .await;
    assert_eq!(r.status(), 403);

    // Crumb and cookie: accepted, as a header or as a form field.
    let r = post_with(
        &s,
        path,
        &password,
        &[("REF", "r1")],
        &[("Jenkins-Crumb", &crumb), ("Cookie", &cookie)],
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = post_with(
        &s,
        path,
        &password,
        &[("REF", "r2"), ("Jenkins-Crumb", &crumb)],
        &[("Cookie", &cookie)],
    )
    .await;
    assert_eq!(r.status(), 201);

    // The API token needs neither; a wrong secret is a 401.
    let r = post_with(&s, path, &token, &[("REF", "r3")], &[]).await;
    assert_eq!(r.status(), 201);
    let r = post_with(&s, path, "nope", &[("REF", "r4")], &[]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(s.world.jenkins_queue().len(), 3);
}

#[tokio::test]
async fn equal_waiting_items_fold_as_in_jenkins_2_308() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", PARAMS);
    s.world.jenkins_add_job("clean-bionic-presubmit", &[]);
    let path = "/job/bionic-presubmit/buildWithParameters";
    let form = [("REF", "refs/changes/56/123456/1"), ("CHANGE_ID", "I1")];

    let first = post(&s, path, &form).await;
    assert_eq!(first.status(), 201);
    // The same parameter set (as a set: order does not matter) folds into the waiting item.
    let reordered = [form[1], form[0], ("UNDECLARED", "x")];
    let again = post(&s, path, &reordered).await;
    assert_eq!(again.status(), 303);
    assert_eq!(location(&again), location(&first));
    assert!(again.text().await.unwrap().is_empty());
    assert_eq!(s.world.jenkins_queue().len(), 1);

    // Another parameter set is a new item.
    let other = post(&s, path, &[("REF", "refs/changes/56/123456/2")]).await;
    assert_eq!(other.status(), 201);
    assert_ne!(location(&other), location(&first));

    // Once the first item has left the queue, the same request queues a new build.
    let queue = s.world.jenkins_queue();
    let _ = s
        .world
        .jenkins_run(
            queue[0].queue_id,
            "SUCCESS",
            "http://127.0.0.1:9/",
            Events::Completed,
        )
        .await;
    let after = post(&s, path, &form).await;
    assert_eq!(after.status(), 201);
    assert_ne!(location(&after), location(&first));
    s.world.jenkins_cancel(queue[1].queue_id).unwrap();
    assert_eq!(
        post(&s, path, &[("REF", "refs/changes/56/123456/2")])
            .await
            .status(),
        201
    );
    assert_eq!(s.world.jenkins_queue().len(), 4);

    // `build` folds too, but still answers 201 (JENKINS-66105).
    let clean = "/job/clean-bionic-presubmit/build";
    let a = post(&s, clean, &[]).await;
    let b = post(&s, clean, &[]).await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (201, 201));
    assert_eq!(location(&a), location(&b));
    assert_eq!(s.world.jenkins_queue().len(), 5);
}

#[tokio::test]
async fn folder_jobs_report_their_short_name_and_folder_urls() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("android/bionic-presubmit", PARAMS);
    let r = post(
        &s,
        "/job/android/job/bionic-presubmit/buildWithParameters",
        &[("REF", "refs/changes/56/123456/3")],
    )
    .await;
    assert_eq!(r.status(), 201);
    let q = s.world.jenkins_queue()[0].clone();
    assert_eq!(q.job, "android/bionic-presubmit");
    let _ = s
        .world
        .jenkins_run(
            q.queue_id,
            "FAILURE",
            "http://127.0.0.1:9/",
            Events::Completed,
        )
        .await;
    let event = s
        .world
        .jenkins_event(q.queue_id, "COMPLETED", Some("FAILURE"));
    assert_eq!(event["name"], "bionic-presubmit");
    assert_eq!(event["url"], "job/android/job/bionic-presubmit/");
    assert_eq!(event["build"]["url"], "job/android/job/bionic-presubmit/1/");
    let deliveries = s.world.jenkins_deliveries();
    assert_eq!(deliveries[0].job, "android/bionic-presubmit");

    let (user, token) = s.world.jenkins_credentials();
    let build: Value = client()
        .get(format!(
            "{}/job/android/job/bionic-presubmit/1/api/json",
            s.jenkins_url
        ))
        .basic_auth(&user, Some(&token))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(build["number"], 1);
    assert_eq!(build["result"], "FAILURE");
    assert_eq!(build["queueId"], q.queue_id);
    assert_eq!(
        build["url"],
        format!("{}/job/android/job/bionic-presubmit/1/", s.jenkins_url)
    );
    assert_eq!(build["fullDisplayName"], "android » bionic-presubmit #1");
}
