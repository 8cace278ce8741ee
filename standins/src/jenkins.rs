//! The Jenkins stand-in's HTTP side: remote API (`api/json`), `buildWithParameters` and `build`,
//! queue items and builds, with Jenkins' authentication answers.
//!
//! Kept from Jenkins (research/jenkins-api.md §2–4): user + API token as pre-emptive Basic (no
//! crumb needed); bad credentials get 401 with `WWW-Authenticate: Basic realm="Jenkins"`, an
//! anonymous caller 403 (Jenkins never challenges); queueing answers 201 with an absolute
//! `Location: .../queue/item/N/` built from the request's host and an empty body; `build` on a
//! parameterized job is 400, `buildWithParameters` on an unparameterized one is 400; GET on those
//! is 405; unknown jobs are 404. API URLs are absolute (root URL, else the request's host).

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::jenkins_store::{Build, JenkinsStore};
use crate::notify::job_url;
use crate::util::{BasicAuth, basic_auth, query_pairs};
use crate::world::World;

const VERSION: &str = "2.528";

pub(crate) fn router(world: World) -> Router {
    Router::new().fallback(dispatch).with_state(world)
}

/// Jenkins answers errors with an HTML page.
pub(crate) fn html_error(status: StatusCode, message: &str) -> Response {
    let reason = status.canonical_reason().unwrap_or("Error");
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html;charset=utf-8"),
            (header::HeaderName::from_static("x-jenkins"), VERSION),
        ],
        format!(
            "<html><head><title>Error {} {reason}</title></head><body>\
             <h2>HTTP ERROR {}</h2><p>{message}</p></body></html>\n",
            status.as_u16(),
            status.as_u16()
        ),
    )
        .into_response()
}

fn json_ok(value: &Value) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json;charset=utf-8"),
            (header::HeaderName::from_static("x-jenkins"), VERSION),
        ],
        value.to_string(),
    )
        .into_response()
}

fn method_not_allowed() -> Response {
    let mut r = html_error(StatusCode::METHOD_NOT_ALLOWED, "This URL requires POST");
    r.headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
    r
}

async fn dispatch(
    State(world): State<World>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (user, token) = world.jenkins_credentials();
    match basic_auth(&headers) {
        BasicAuth::Credentials(u, t) if u == user && t == token => {}
        BasicAuth::Credentials(u, _) => {
            let mut r = html_error(
                StatusCode::UNAUTHORIZED,
                &format!("Invalid password/token for user: {u}"),
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"Jenkins\""),
            );
            return r;
        }
        BasicAuth::Absent | BasicAuth::Malformed => {
            return html_error(StatusCode::FORBIDDEN, "Authentication required");
        }
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let request_root = format!("http://{host}/");
    let mut segments: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect();
    // `/job/a/job/b/rest...` names job "a/b".
    let mut job = Vec::new();
    while segments.len() >= 2 && segments[0] == "job" {
        job.push(segments[1].clone());
        segments.drain(..2);
    }
    let rest: Vec<&str> = segments.iter().map(String::as_str).collect();
    let get = method == Method::GET || method == Method::HEAD;
    let post = method == Method::POST;
    if job.is_empty() {
        let inner = world.lock();
        let store = &inner.jenkins;
        let root = store.root_url().unwrap_or(request_root);
        return match rest.as_slice() {
            ["api", "json"] if get => json_ok(&root_json(store, &root)),
            // API-token clients need no crumb, but clients that ask get one.
            ["crumbIssuer", "api", "json"] if get => json_ok(&json!({
                "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                "crumb": "5f4dcc3b5aa765d61d8327deb882cf99",
                "crumbRequestField": "Jenkins-Crumb",
            })),
            ["queue", "item", id, "api", "json"] if get => {
                match id.parse().ok().and_then(|id| store.item(id)) {
                    Some(_) => json_ok(&queue_item_json(store, id, &root)),
                    None => html_error(StatusCode::NOT_FOUND, "Not Found"),
                }
            }
            _ => html_error(StatusCode::NOT_FOUND, "Not Found"),
        };
    }
    let path = job.join("/");
    let mut inner = world.lock();
    let store = &mut inner.jenkins;
    let root = store.root_url().unwrap_or_else(|| request_root.clone());
    let is_job = store.jobs.contains_key(&path);
    if !is_job && !store.is_folder(&path) {
        return html_error(StatusCode::NOT_FOUND, "Not Found");
    }
    match rest.as_slice() {
        ["api", "json"] if get => json_ok(&if is_job {
            job_json(store, &path, &root)
        } else {
            folder_json(store, &path, &root)
        }),
        ["buildWithParameters" | "build"] if !post => method_not_allowed(),
        ["buildWithParameters"] if is_job => {
            let parameterized = store.jobs.get(&path).is_some_and(|j| j.params.is_some());
            if !parameterized {
                return html_error(
                    StatusCode::BAD_REQUEST,
                    &format!("{path} is not parameterized"),
                );
            }
            let mut sent = query_pairs(uri.query()).unwrap_or_default();
            sent.extend(form_pairs(&headers, &body));
            queued(store.enqueue(&path, &sent), &request_root)
        }
        ["build"] if is_job => {
            if store.jobs.get(&path).is_some_and(|j| j.params.is_some()) {
                return html_error(StatusCode::BAD_REQUEST, "Nothing is submitted");
            }
            queued(store.enqueue(&path, &[]), &request_root)
        }
        [number, "api", "json"] if get && is_job => {
            match number.parse().ok().and_then(|n| store.build(&path, n)) {
                Some(b) => json_ok(&build_json(&path, b, &root)),
                None => html_error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        _ => html_error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// Form fields of a `application/x-www-form-urlencoded` body (read like query parameters).
fn form_pairs(headers: &HeaderMap, body: &[u8]) -> Vec<(String, String)> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Vec::new();
    }
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// 201 Created, absolute Location of the queue item, empty body.
fn queued(id: u64, request_root: &str) -> Response {
    (
        StatusCode::CREATED,
        [
            (header::LOCATION, format!("{request_root}queue/item/{id}/")),
            (
                header::HeaderName::from_static("x-jenkins"),
                VERSION.to_owned(),
            ),
        ],
    )
        .into_response()
}

fn color(store: &JenkinsStore, path: &str) -> &'static str {
    match store.jobs.get(path).and_then(|j| j.builds.last()) {
        None => "notbuilt",
        Some(b) if b.building => "blue_anime",
        Some(b) if b.result.as_deref() == Some("SUCCESS") => "blue",
        Some(b) if b.result.as_deref() == Some("UNSTABLE") => "yellow",
        Some(b) if b.result.as_deref() == Some("ABORTED") => "aborted",
        Some(_) => "red",
    }
}

/// Jobs and folders directly under `parent` ("" for the root).
fn children(store: &JenkinsStore, parent: &str, root: &str) -> Vec<Value> {
    let prefix = if parent.is_empty() {
        String::new()
    } else {
        format!("{parent}/")
    };
    let mut names: Vec<String> = store
        .jobs
        .keys()
        .filter_map(|k| k.strip_prefix(&prefix))
        .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned())
        .collect();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let path = format!("{prefix}{name}");
            if store.jobs.contains_key(&path) {
                json!({"_class": "hudson.model.FreeStyleProject", "name": name,
                       "url": format!("{root}{}", job_url(&path)), "color": color(store, &path)})
            } else {
                json!({"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": name,
                       "url": format!("{root}{}", job_url(&path))})
            }
        })
        .collect()
}

fn root_json(store: &JenkinsStore, root: &str) -> Value {
    json!({
        "_class": "hudson.model.Hudson",
        "assignedLabels": [{"name": "built-in"}],
        "mode": "NORMAL",
        "nodeDescription": "the Jenkins controller's built-in node",
        "nodeName": "",
        "numExecutors": 2,
        "description": null,
        "jobs": children(store, "", root),
        "quietingDown": false,
        "slaveAgentPort": -1,
        "useCrumbs": true,
        "useSecurity": true,
        "views": [{"_class": "hudson.model.AllView", "name": "all", "url": root}],
        "url": root,
    })
}

fn folder_json(store: &JenkinsStore, path: &str, root: &str) -> Value {
    let name = path.rsplit('/').next().unwrap_or(path);
    json!({
        "_class": "com.cloudbees.hudson.plugins.folder.Folder",
        "name": name,
        "displayName": name,
        "fullName": path,
        "url": format!("{root}{}", job_url(path)),
        "jobs": children(store, path, root),
    })
}

fn job_json(store: &JenkinsStore, path: &str, root: &str) -> Value {
    let name = path.rsplit('/').next().unwrap_or(path);
    let url = format!("{root}{}", job_url(path));
    let Some(job) = store.jobs.get(path) else {
        return Value::Null;
    };
    let build_ref = |b: &Build| {
        json!({"_class": "hudson.model.FreeStyleBuild", "number": b.number,
               "url": format!("{url}{}/", b.number)})
    };
    let mut property = Vec::new();
    if let Some(params) = &job.params {
        let defs: Vec<Value> = params
            .iter()
            .map(|p| {
                json!({"_class": "hudson.model.StringParameterDefinition",
                       "defaultParameterValue": {"_class": "hudson.model.StringParameterValue",
                                                 "name": p, "value": ""},
                       "description": "", "name": p, "type": "StringParameterDefinition"})
            })
            .collect();
        property.push(
            json!({"_class": "hudson.model.ParametersDefinitionProperty",
                             "parameterDefinitions": defs}),
        );
    }
    let waiting = store
        .queue
        .iter()
        .find(|q| q.job == path && q.number.is_none());
    json!({
        "_class": "hudson.model.FreeStyleProject",
        "description": "",
        "displayName": name,
        "fullDisplayName": path.replace('/', " » "),
        "fullName": path,
        "name": name,
        "url": url,
        "buildable": true,
        "builds": job.builds.iter().rev().map(build_ref).collect::<Vec<_>>(),
        "color": color(store, path),
        "firstBuild": job.builds.first().map(build_ref),
        "lastBuild": job.builds.last().map(build_ref),
        "inQueue": waiting.is_some(),
        "queueItem": waiting.map(|q| json!({"id": q.id, "url": format!("queue/item/{}/", q.id)})),
        "nextBuildNumber": job.next_build,
        "property": property,
    })
}

fn parameters_action(params: &[(String, String)]) -> Value {
    let values: Vec<Value> = params
        .iter()
        .map(|(n, v)| json!({"_class": "hudson.model.StringParameterValue", "name": n, "value": v}))
        .collect();
    json!({"_class": "hudson.model.ParametersAction", "parameters": values})
}

fn queue_item_json(store: &JenkinsStore, id: &str, root: &str) -> Value {
    let Some(item) = id.parse().ok().and_then(|id| store.item(id)) else {
        return Value::Null;
    };
    let job_path = format!("{root}{}", job_url(&item.job));
    let name = item.job.rsplit('/').next().unwrap_or(&item.job);
    let mut actions = Vec::new();
    if let Some(p) = &item.params {
        actions.push(parameters_action(p));
    }
    actions.push(json!({"_class": "hudson.model.CauseAction", "causes": [{
        "_class": "hudson.model.Cause$UserIdCause",
        "shortDescription": format!("Started by user {}", store.user),
        "userId": store.user, "userName": store.user}]}));
    let params: String = item
        .params
        .iter()
        .flatten()
        .map(|(n, v)| format!("\n{n}={v}"))
        .collect();
    let mut v = json!({
        "actions": actions,
        "blocked": false,
        "id": item.id,
        "inQueueSince": item.since,
        "params": params,
        "stuck": false,
        "task": {"_class": "hudson.model.FreeStyleProject", "name": name, "url": job_path,
                 "color": color(store, &item.job)},
        "url": format!("queue/item/{}/", item.id),
    });
    match item.number {
        Some(n) => {
            v["_class"] = json!("hudson.model.Queue$LeftItem");
            v["buildable"] = json!(false);
            v["why"] = Value::Null;
            v["cancelled"] = json!(false);
            v["executable"] = json!({"_class": "hudson.model.FreeStyleBuild", "number": n,
                                     "url": format!("{job_path}{n}/")});
        }
        None => {
            v["_class"] = json!("hudson.model.Queue$BuildableItem");
            v["buildable"] = json!(true);
            v["why"] = json!("Waiting for next available executor");
            v["buildableStartMilliseconds"] = json!(item.since);
            v["pending"] = json!(false);
        }
    }
    v
}

fn build_json(path: &str, b: &Build, root: &str) -> Value {
    let mut actions = Vec::new();
    if let Some(p) = &b.params {
        actions.push(parameters_action(p));
    }
    json!({
        "_class": "hudson.model.FreeStyleBuild",
        "actions": actions,
        "artifacts": [],
        "building": b.building,
        "description": null,
        "displayName": format!("#{}", b.number),
        "duration": b.duration,
        "estimatedDuration": 1_800_000,
        "executor": null,
        "fullDisplayName": format!("{} #{}", path.replace('/', " » "), b.number),
        "id": b.number.to_string(),
        "inProgress": b.in_progress,
        "keepLog": false,
        "number": b.number,
        "queueId": b.queue_id,
        "result": b.result,
        "timestamp": b.timestamp,
        "url": format!("{root}{}{}/", job_url(path), b.number),
        "builtOn": "",
        "changeSet": {"_class": "hudson.scm.EmptyChangeLogSet", "items": [], "kind": null},
        "culprits": [],
    })
}
