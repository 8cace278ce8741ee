//! The Jenkins stand-in's exported objects, as `api/json` shows them: the root, folders, jobs,
//! builds, queue items and the queue (research/jenkins-api.md §3–5).
//!
//! Each builder has two levels of detail, because Jenkins has: without `tree=` (depth 0) a nested
//! object shows only its most visible properties (a build inside a job is `_class`, `number`,
//! `url`); with `tree=` every exported property of every nested object can be named, so the
//! builders then nest the full objects and `jenkins_tree` prunes them to what was asked.

use serde_json::{Value, json};

use crate::jenkins_store::{Build, JenkinsStore, QueueItem};
use crate::notify::job_url;

/// `Job.getNewBuilds()`, exported as `builds`, is the newest 100; `allBuilds` has every one.
const BUILDS_SHOWN: usize = 100;

/// How much of nested objects to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Detail {
    /// Plain `api/json`: nested objects show their summary properties.
    Summary,
    /// `api/json?tree=...`: nested objects are complete, to be pruned.
    Full,
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
fn children(store: &JenkinsStore, parent: &str, root: &str, detail: Detail) -> Vec<Value> {
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
            let is_job = store.jobs.contains_key(&path);
            match (detail, is_job) {
                (Detail::Full, true) => job_json(store, &path, root, detail),
                (Detail::Full, false) => folder_json(store, &path, root, detail),
                (Detail::Summary, true) => {
                    json!({"_class": "hudson.model.FreeStyleProject", "name": name,
                           "url": format!("{root}{}", job_url(&path)),
                           "color": color(store, &path)})
                }
                (Detail::Summary, false) => {
                    json!({"_class": "com.cloudbees.hudson.plugins.folder.Folder", "name": name,
                           "url": format!("{root}{}", job_url(&path))})
                }
            }
        })
        .collect()
}

pub(crate) fn root_json(store: &JenkinsStore, root: &str, detail: Detail) -> Value {
    json!({
        "_class": "hudson.model.Hudson",
        "assignedLabels": [{"name": "built-in"}],
        "mode": "NORMAL",
        "nodeDescription": "the Jenkins controller's built-in node",
        "nodeName": "",
        "numExecutors": 2,
        "description": null,
        "jobs": children(store, "", root, detail),
        "quietingDown": false,
        "slaveAgentPort": -1,
        "useCrumbs": true,
        "useSecurity": true,
        "views": [{"_class": "hudson.model.AllView", "name": "all", "url": root}],
        "url": root,
    })
}

pub(crate) fn folder_json(store: &JenkinsStore, path: &str, root: &str, detail: Detail) -> Value {
    let name = path.rsplit('/').next().unwrap_or(path);
    json!({
        "_class": "com.cloudbees.hudson.plugins.folder.Folder",
        "name": name,
        "displayName": name,
        "fullName": path,
        "url": format!("{root}{}", job_url(path)),
        "jobs": children(store, path, root, detail),
    })
}

pub(crate) fn job_json(store: &JenkinsStore, path: &str, root: &str, detail: Detail) -> Value {
    let name = path.rsplit('/').next().unwrap_or(path);
    let url = format!("{root}{}", job_url(path));
    let Some(job) = store.jobs.get(path) else {
        return Value::Null;
    };
    let build_ref = |b: &Build| match detail {
        Detail::Full => build_json(path, b, root),
        Detail::Summary => json!({"_class": "hudson.model.FreeStyleBuild", "number": b.number,
                                  "url": format!("{url}{}/", b.number)}),
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
    let waiting = store.queue.iter().find(|q| q.job == path && q.waiting());
    let queue_item = waiting.map(|q| match detail {
        Detail::Full => queue_item_json(store, q, root, Detail::Summary),
        Detail::Summary => json!({"id": q.id, "url": format!("queue/item/{}/", q.id)}),
    });
    let mut v = json!({
        "_class": "hudson.model.FreeStyleProject",
        "description": "",
        "displayName": name,
        "fullDisplayName": path.replace('/', " » "),
        "fullName": path,
        "name": name,
        "url": url,
        "buildable": true,
        "builds": job.builds.iter().rev().take(BUILDS_SHOWN).map(build_ref).collect::<Vec<_>>(),
        "color": color(store, path),
        "firstBuild": job.builds.first().map(build_ref),
        "lastBuild": job.builds.last().map(build_ref),
        "inQueue": waiting.is_some(),
        "queueItem": queue_item,
        "nextBuildNumber": job.next_build,
        "property": property,
    });
    if detail == Detail::Full {
        // Exported with a visibility below depth 0: only a tree can ask for it.
        v["allBuilds"] = job.builds.iter().rev().map(build_ref).collect();
    }
    v
}

fn parameters_action(params: &[(String, String)]) -> Value {
    let values: Vec<Value> = params
        .iter()
        .map(|(n, v)| json!({"_class": "hudson.model.StringParameterValue", "name": n, "value": v}))
        .collect();
    json!({"_class": "hudson.model.ParametersAction", "parameters": values})
}

/// One queue item: `BuildableItem` while waiting, `LeftItem` once started or cancelled.
pub(crate) fn queue_item_json(
    store: &JenkinsStore,
    item: &QueueItem,
    root: &str,
    detail: Detail,
) -> Value {
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
    if item.waiting() {
        v["_class"] = json!("hudson.model.Queue$BuildableItem");
        v["buildable"] = json!(true);
        v["why"] = json!("Waiting for next available executor");
        v["buildableStartMilliseconds"] = json!(item.since);
        v["pending"] = json!(false);
        return v;
    }
    v["_class"] = json!("hudson.model.Queue$LeftItem");
    v["buildable"] = json!(false);
    v["why"] = Value::Null;
    v["cancelled"] = json!(item.cancelled);
    v["executable"] = match item.number {
        None => Value::Null,
        Some(n) => match (detail, store.build(&item.job, n)) {
            (Detail::Full, Some(b)) => build_json(&item.job, b, root),
            _ => json!({"_class": "hudson.model.FreeStyleBuild", "number": n,
                        "url": format!("{job_path}{n}/")}),
        },
    };
    v
}

/// `/queue/api/json`: the items still in the queue, in `Queue.getItems()` order (buildable items
/// newest first: those most likely to be built soonest come last).
pub(crate) fn queue_json(store: &JenkinsStore, root: &str, detail: Detail) -> Value {
    let items: Vec<Value> = store
        .queue
        .iter()
        .rev()
        .filter(|q| q.waiting())
        .map(|q| queue_item_json(store, q, root, detail))
        .collect();
    json!({"_class": "hudson.model.Queue", "discoverableItems": [], "items": items})
}

pub(crate) fn build_json(path: &str, b: &Build, root: &str) -> Value {
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
