//! The Jenkins stand-in's read side as Jenkins serves it: `tree=` on every `api/json`, the queue
//! object, and `queue/cancelItem`.

use serde_json::{Value, json};
use standins::{Events, Standins};

const PARAMS: &[&str] = &["REF", "CHANGE_ID", "PROJECT", "LUNCH_TARGET"];

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post(s: &Standins, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let (user, token) = s.world.jenkins_credentials();
    client()
        .post(format!("{}{path}", s.jenkins_url))
        .basic_auth(user, Some(token))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded::to_string(form).unwrap())
        .send()
        .await
        .unwrap()
}

/// GET with the query given as pairs, so `tree` specs are percent-encoded as clients send them.
async fn get(s: &Standins, path: &str, query: &[(&str, &str)]) -> reqwest::Response {
    let (user, token) = s.world.jenkins_credentials();
    let mut url = format!("{}{path}", s.jenkins_url);
    if !query.is_empty() {
        url = format!("{url}?{}", serde_urlencoded::to_string(query).unwrap());
    }
    client()
        .get(url)
        .basic_auth(user, Some(token))
        .send()
        .await
        .unwrap()
}

async fn get_json(s: &Standins, path: &str, query: &[(&str, &str)]) -> Value {
    let r = get(s, path, query).await;
    assert_eq!(r.status(), 200, "{path} {query:?}");
    r.json().await.unwrap()
}

async fn trigger(s: &Standins, reference: &str) -> u64 {
    let r = post(
        s,
        "/job/bionic-presubmit/buildWithParameters",
        &[
            ("REF", reference),
            ("CHANGE_ID", "I1"),
            ("PROJECT", "bionic"),
        ],
    )
    .await;
    assert_eq!(r.status(), 201);
    s.world.jenkins_queue().last().unwrap().queue_id
}

/// Runs a build with nobody listening for the callbacks (the build finishes anyway).
async fn run(s: &Standins, queue_id: u64, status: &str) {
    let _ = s
        .world
        .jenkins_run(queue_id, status, "http://127.0.0.1:9/", Events::Completed)
        .await;
}

#[tokio::test]
async fn tree_reads_builds_with_their_parameters_in_one_request() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", PARAMS);
    let q1 = trigger(&s, "refs/changes/56/123456/1").await;
    let q2 = trigger(&s, "refs/changes/56/123456/2").await;
    run(&s, q1, "FAILURE").await;
    run(&s, q2, "SUCCESS").await;

    let tree = "builds[number,queueId,timestamp,result,actions[parameters[name,value]]]";
    let job = get_json(&s, "/job/bionic-presubmit/api/json", &[("tree", tree)]).await;
    assert_eq!(
        job.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["_class", "builds"]
    );
    let builds = job["builds"].as_array().unwrap();
    assert_eq!(builds.len(), 2);
    let newest = &builds[0];
    assert_eq!(
        newest.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "_class",
            "actions",
            "number",
            "queueId",
            "result",
            "timestamp"
        ]
    );
    assert_eq!(newest["_class"], "hudson.model.FreeStyleBuild");
    assert_eq!(newest["number"], 2);
    assert_eq!(newest["queueId"], q2);
    assert_eq!(newest["result"], "SUCCESS");
    assert!(newest["timestamp"].as_i64().unwrap() > 0);
    assert_eq!(
        newest["actions"][0],
        json!({"_class": "hudson.model.ParametersAction", "parameters": [
            {"_class": "hudson.model.StringParameterValue", "name": "REF",
             "value": "refs/changes/56/123456/2"},
            {"_class": "hudson.model.StringParameterValue", "name": "CHANGE_ID", "value": "I1"},
            {"_class": "hudson.model.StringParameterValue", "name": "PROJECT", "value": "bionic"},
            {"_class": "hudson.model.StringParameterValue", "name": "LUNCH_TARGET", "value": ""},
        ]})
    );
    assert_eq!(builds[1]["result"], "FAILURE");
    assert_eq!(builds[1]["queueId"], q1);

    // A range, allBuilds, and a plain job read that keeps build references short.
    let one = get_json(
        &s,
        "/job/bionic-presubmit/api/json",
        &[("tree", "allBuilds[number,result]{1,}")],
    )
    .await;
    assert_eq!(
        one["allBuilds"],
        json!([{"_class": "hudson.model.FreeStyleBuild", "number": 1, "result": "FAILURE"}])
    );
    let plain = get_json(&s, "/job/bionic-presubmit/api/json", &[]).await;
    assert!(plain.get("allBuilds").is_none());
    assert_eq!(
        plain["builds"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["_class", "number", "url"]
    );
}

#[tokio::test]
async fn tree_applies_to_every_api_json() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", PARAMS);
    s.world.jenkins_add_job("ci/bionic-lint", &["REF"]);
    let q = trigger(&s, "refs/changes/1/1/1").await;

    let root = get_json(&s, "/api/json", &[("tree", "jobs[name,lastBuild[number]]")]).await;
    assert_eq!(
        root,
        json!({"_class": "hudson.model.Hudson", "jobs": [
            {"_class": "hudson.model.FreeStyleProject", "name": "bionic-presubmit",
             "lastBuild": null},
            {"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": "ci"},
        ]})
    );
    let folder = get_json(&s, "/job/ci/api/json", &[("tree", "jobs[fullName]")]).await;
    assert_eq!(folder["jobs"][0]["fullName"], "ci/bionic-lint");
    let job = get_json(
        &s,
        "/job/bionic-presubmit/api/json",
        &[("tree", "name,inQueue,queueItem[id,why]")],
    )
    .await;
    assert_eq!(job["inQueue"], true);
    assert_eq!(job["queueItem"]["id"], q);
    assert_eq!(
        job["queueItem"]["_class"],
        "hudson.model.Queue$BuildableItem"
    );

    let item_path = format!("/queue/item/{q}/api/json");
    let waiting = get_json(&s, &item_path, &[("tree", "id,why")]).await;
    assert_eq!(
        waiting,
        json!({"_class": "hudson.model.Queue$BuildableItem", "id": q,
               "why": "Waiting for next available executor"})
    );
    run(&s, q, "SUCCESS").await;
    let left = get_json(
        &s,
        &item_path,
        &[("tree", "cancelled,executable[url,result]")],
    )
    .await;
    assert_eq!(
        left,
        json!({"_class": "hudson.model.Queue$LeftItem", "cancelled": false,
               "executable": {"_class": "hudson.model.FreeStyleBuild", "result": "SUCCESS",
                              "url": format!("{}/job/bionic-presubmit/1/", s.jenkins_url)}})
    );
    let build = get_json(
        &s,
        "/job/bionic-presubmit/1/api/json",
        &[("tree", "result,building,actions[parameters[name]]")],
    )
    .await;
    assert_eq!(build["result"], "SUCCESS");
    assert_eq!(build["building"], false);
    assert_eq!(build["actions"][0]["parameters"][0]["name"], "REF");
    assert!(build.get("number").is_none());
    let queue = get_json(&s, "/queue/api/json", &[("tree", "items[id]")]).await;
    assert_eq!(queue, json!({"_class": "hudson.model.Queue", "items": []}));
}

#[tokio::test]
async fn a_malformed_tree_is_jenkins_500_page_after_the_object_is_found() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", PARAMS);
    for spec in ["builds[number", "", "a]", "builds{x}"] {
        let r = get(&s, "/job/bionic-presubmit/api/json", &[("tree", spec)]).await;
        assert_eq!(r.status(), 500, "{spec:?}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        let body = r.text().await.unwrap();
        assert!(body.contains("Malformed tree expression"), "{body}");
    }
    let r = get(&s, "/api/json", &[("tree", "jobs[name")]).await;
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("java.lang.IllegalArgumentException: expected RBRACE at 9")
    );
    let r = get(&s, "/job/nope/api/json", &[("tree", "builds[")]).await;
    assert_eq!(
        r.status(),
        404,
        "the job is looked up before the spec is parsed"
    );
}

#[tokio::test]
async fn the_queue_lists_only_waiting_items() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", PARAMS);
    let ran = trigger(&s, "r/1").await;
    let cancelled = trigger(&s, "r/2").await;
    let older = trigger(&s, "r/3").await;
    let newer = trigger(&s, "r/4").await;
    run(&s, ran, "SUCCESS").await;
    s.world.jenkins_cancel(cancelled).unwrap();

    let queue = get_json(&s, "/queue/api/json", &[]).await;
    assert_eq!(queue["_class"], "hudson.model.Queue");
    assert_eq!(queue["discoverableItems"], json!([]));
    let items = queue["items"].as_array().unwrap();
    let ids: Vec<u64> = items.iter().map(|i| i["id"].as_u64().unwrap()).collect();
    assert_eq!(
        ids,
        [newer, older],
        "buildable items newest first, as Queue.getItems()"
    );
    let item = &items[1];
    let single = get_json(&s, &format!("/queue/item/{older}/api/json"), &[]).await;
    assert_eq!(
        item, &single,
        "each item as /queue/item/N/api/json shows it"
    );
    assert_eq!(item["_class"], "hudson.model.Queue$BuildableItem");
    assert_eq!(
        item["task"]["url"],
        format!("{}/job/bionic-presubmit/", s.jenkins_url)
    );
    assert_eq!(
        item["params"],
        "\nREF=r/3\nCHANGE_ID=I1\nPROJECT=bionic\nLUNCH_TARGET="
    );
}

#[tokio::test]
async fn cancel_item_answers_as_jenkins_2_211_and_later() {
    let s = Standins::start().await;
    s.world.jenkins_add_job("bionic-presubmit", PARAMS);
    let q = trigger(&s, "r/1").await;
    let started = trigger(&s, "r/2").await;
    run(&s, started, "SUCCESS").await;

    let r = get(&s, "/queue/cancelItem", &[("id", &q.to_string())]).await;
    assert_eq!(r.status(), 405, "@RequirePOST");
    assert!(s.world.jenkins_queue()[0].is_waiting());

    let r = post(&s, &format!("/queue/cancelItem?id={q}"), &[]).await;
    assert_eq!(r.status(), 204);
    assert!(r.text().await.unwrap().is_empty());
    let item = &s.world.jenkins_queue()[0];
    assert!(item.cancelled && item.number.is_none() && !item.is_waiting());
    let left = get_json(&s, &format!("/queue/item/{q}/api/json"), &[]).await;
    assert_eq!(left["_class"], "hudson.model.Queue$LeftItem");
    assert_eq!(left["cancelled"], true);
    assert_eq!(left["executable"], Value::Null);
    assert_eq!(left["why"], Value::Null);
    let job = get_json(&s, "/job/bionic-presubmit/api/json", &[]).await;
    assert_eq!(job["inQueue"], false);
    assert_eq!(job["queueItem"], Value::Null);
    assert!(
        s.world
            .jenkins_run(q, "SUCCESS", "http://127.0.0.1:9/", Events::All)
            .await
            .is_err(),
        "a cancelled item never runs"
    );
    assert!(s.world.jenkins_deliveries().iter().all(|d| d.queue_id != q));

    // Left items (cancelled or started) are still found, but cannot be cancelled.
    for left in [q, started] {
        let r = post(&s, &format!("/queue/cancelItem?id={left}"), &[]).await;
        assert_eq!(r.status(), 500);
        let body = r.text().await.unwrap();
        assert!(body.contains(&format!("Could not cancel run for id {left}")));
    }
    let r = post(&s, "/queue/cancelItem?id=99999", &[]).await;
    assert_eq!(r.status(), 404);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Provided id (99999) not found")
    );
    let r = post(&s, "/queue/cancelItem", &[]).await;
    assert_eq!(r.status(), 404, "a missing id is 0");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Provided id (0) not found")
    );

    // The id may also come as a form field, like any Stapler parameter.
    let other = trigger(&s, "r/3").await;
    let r = post(&s, "/queue/cancelItem", &[("id", &other.to_string())]).await;
    assert_eq!(r.status(), 204);
    assert!(s.world.jenkins_cancel(other).is_err());
}
