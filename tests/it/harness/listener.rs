//! build-listener run in-process, and what its journal says about reviews.

use std::time::Duration;

use bionicbb::config::Config;
use bionicbb::credentials::Secret;
use bionicbb::effects::{self, Backoff, Effect, Payload};
use bionicbb::journal::{BuildKind, BuildUpdate, Finish, IntentKind, Journal, NewBuild};
use bionicbb::server;
use serde_json::Value;
use tokio::time::Instant;

use super::WAIT;

/// One running build-listener.
pub struct Listener {
    pub url: String,
    pub journal: Journal,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts build-listener in-process the way `server::run` does (on 127.0.0.1:0), with a fast
/// retry pace.
pub async fn start_listener(config: Config, token: Option<Secret>) -> Listener {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    start_listener_on(listener, config, token).await
}

/// As [`start_listener`], on a socket bound earlier (so the config can name its URL).
pub async fn start_listener_on(
    listener: tokio::net::TcpListener,
    config: Config,
    token: Option<Secret>,
) -> Listener {
    // Built exactly as the binary builds it, with a faster retry pace.
    let app = server::app_state(config, token)
        .expect("build-listener")
        .with_backoff(Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_millis(250),
        });
    let journal = app.journal.clone();
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::serve(listener, app, async move {
        let _ = rx.await;
    }));
    Listener {
        url,
        journal,
        stop: Some(tx),
        task,
    }
}

impl Listener {
    pub fn notify_url(&self) -> String {
        format!("{}/", self.url)
    }

    pub async fn post(&self, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
        self.post_with(path, body, None).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        bearer: Option<&str>,
    ) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json;charset=UTF-8")
            .body(body);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("build-listener answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert!(
            !text.trim_end().contains('\n'),
            "more than one line: {text:?}"
        );
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    /// build-listener's intents (reviews and drop-rejections), oldest first.
    pub async fn items(&self) -> Vec<ItemView> {
        journal_items(&self.journal).await
    }

    /// Waits until no review or drop-rejection is pending, so no further review can arrive.
    pub async fn settle(&self) -> Vec<ItemView> {
        let deadline = Instant::now() + WAIT;
        loop {
            let items = self.items().await;
            if items
                .iter()
                .all(|i| i.state != "pending" && i.state != "running")
            {
                return items;
            }
            assert!(
                Instant::now() < deadline,
                "intents never settled: {items:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let result = tokio::time::timeout(WAIT, self.task).await;
        assert!(
            matches!(result, Ok(Ok(Ok(())))),
            "build-listener did not stop cleanly: {result:?}"
        );
    }
}

/// A review or drop-rejection intent as the scenarios look at it.
#[derive(Debug, Clone)]
#[expect(
    dead_code,
    reason = "`id`, `key`, `kind` and `change` are read only through `Debug`, in failure messages"
)]
pub struct ItemView {
    pub id: i64,
    pub key: String,
    pub kind: IntentKind,
    pub change: Option<String>,
    pub state: String,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub outcome: Option<String>,
}

/// The review and drop-rejection intents of a journal, oldest first.
pub async fn journal_items(journal: &Journal) -> Vec<ItemView> {
    journal
        .intents()
        .await
        .expect("intents")
        .into_iter()
        .filter(|i| matches!(i.kind, IntentKind::Review | IntentKind::DropRejection))
        .map(|i| ItemView {
            id: i.id,
            key: i.key.to_string(),
            kind: i.kind,
            change: i.change,
            state: i.state.as_str().to_string(),
            attempts: i.attempts,
            last_error: i.last_error,
            outcome: i.outcome,
        })
        .collect()
}

/// Records, as gmail-listener does, that a clean build with queue id `queue_id` was triggered
/// for a change.
pub async fn record_clean(
    journal: &Journal,
    job: &str,
    queue_id: u64,
    change: &str,
    patch_set: u32,
) {
    let key = bionicbb::key::IntentKey::from(format!("test-clean:{queue_id}").as_str());
    let mut planned = effects::plan(
        key.clone(),
        Payload {
            effect: Effect::Trigger {
                job: job.into(),
                params: Default::default(),
            },
            context: "comment".into(),
            done: None,
        },
        Some(change.into()),
        Some(patch_set),
        "test",
    );
    planned.build = Some(NewBuild {
        kind: BuildKind::Clean,
        change: change.parse().expect("project~number"),
        patch_set,
        job: job.into(),
        target: None,
        once: false,
    });
    let id = journal.record(vec![planned], vec![]).await.expect("record")[0]
        .id()
        .expect("recorded");
    journal
        .complete(
            id,
            Finish::Done {
                outcome: queue_id.to_string(),
                effected: Default::default(),
            },
            vec![],
            Some(BuildUpdate::Queued {
                intent_key: key,
                queue_id: Some(queue_id),
            }),
        )
        .await
        .expect("complete");
}
