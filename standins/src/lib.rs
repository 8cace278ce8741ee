//! Faithful local stand-ins for the services bionicbb talks to, speaking their real wire formats
//! over HTTP on 127.0.0.1, over one shared in-memory [`World`]:
//!
//! - Google: the OAuth token endpoint (`oauth.rs`) and the Gmail API v1 subset the bot uses
//!   (`gmail.rs`; mailbox model in `gmail_store.rs`, MIME in `mime.rs`);
//! - Gerrit REST (`gerrit.rs`; model in `gerrit_store.rs`, entities in `gerrit_json.rs`, Set
//!   Review in `gerrit_review.rs`, published comments in `gerrit_comments.rs`, Query Changes in
//!   `gerrit_query_changes.rs` over the query language of `gerrit_query.rs` and
//!   `gerrit_query_ops.rs`) and the webhooks plugin's events (`gerrit_events.rs`, delivered by
//!   `gerrit_webhooks.rs`);
//! - Jenkins remote API (`jenkins.rs`; authentication and crumbs in `jenkins_auth.rs`, objects in
//!   `jenkins_json.rs`, `tree=` in `jenkins_tree.rs`, model in `jenkins_store.rs`), the Notification plugin's callbacks
//!   (`notify.rs`) and an executor that runs queued builds by itself (`jenkins_autorun.rs`).
//!
//! Tests, benchmarks and the README quickstart use the same stand-ins; the product only ever sees
//! URLs and credentials, as with the real services. Faults ([`Fault`]) are injected per service at
//! one shared HTTP edge (`fault.rs`).
//!
//! ```no_run
//! # async fn demo() {
//! let s = standins::Standins::start().await;
//! s.world.jenkins_add_job("bionic-presubmit", &["REF", "CHANGE_ID", "PROJECT", "LUNCH_TARGET"]);
//! let change = s.world.gerrit_add_change(standins::NewChange::default());
//! # let _ = change;
//! # }
//! ```

mod fault;
mod gerrit;
mod gerrit_comments;
mod gerrit_events;
mod gerrit_json;
mod gerrit_query;
mod gerrit_query_changes;
mod gerrit_query_ops;
mod gerrit_review;
mod gerrit_store;
mod gerrit_webhooks;
mod gerrit_world;
mod gmail;
mod gmail_messages;
mod gmail_store;
mod jenkins;
mod jenkins_auth;
mod jenkins_autorun;
mod jenkins_json;
mod jenkins_store;
mod jenkins_tree;
mod mime;
mod notify;
mod oauth;
mod operator;
mod util;
mod world;

use std::io;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub use gerrit_events::{EventSpelling, GerritEvent};
pub use gerrit_store::{ChangeStatus, NewChange, ReceivedReview};
pub use gerrit_webhooks::{GerritWebhooks, WebhookDelivery};
pub use gerrit_world::{CommentSpec, GerritAccount};
pub use gmail_store::GmailMessageView;
pub use jenkins_autorun::AutoRun;
pub use jenkins_store::{Events, QueuedBuild};
pub use notify::Delivery;
pub use oauth::GmailTokens;
pub use operator::{operator_files, write_token_cache};
pub use world::{Fault, RecordedRequest, Service, World};

/// Ports to bind on 127.0.0.1; 0 picks a free one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ports {
    pub gmail: u16,
    pub oauth: u16,
    pub gerrit: u16,
    pub jenkins: u16,
}

/// Running stand-ins. The servers stop when this value is dropped.
pub struct Standins {
    pub world: World,
    /// Gmail API base, `http://127.0.0.1:P/` (trailing slash, what `hub.base_url` wants).
    pub gmail_url: String,
    /// OAuth token endpoint, `http://127.0.0.1:P/token`.
    pub token_url: String,
    /// Gerrit, `http://127.0.0.1:P` (no trailing slash).
    pub gerrit_url: String,
    /// Jenkins, `http://127.0.0.1:P` (no trailing slash).
    pub jenkins_url: String,
    shutdown: Vec<oneshot::Sender<()>>,
}

impl Standins {
    /// Starts every stand-in on a free port over a fresh [`World`].
    pub async fn start() -> Standins {
        Standins::start_with(World::new()).await
    }

    /// Starts every stand-in on a free port over `world`.
    pub async fn start_with(world: World) -> Standins {
        match Standins::start_on(world, Ports::default()).await {
            Ok(s) => s,
            Err(e) => panic!("standins: cannot bind 127.0.0.1:0: {e}"),
        }
    }

    /// Starts every stand-in on the given ports (0 = any free port).
    pub async fn start_on(world: World, ports: Ports) -> io::Result<Standins> {
        let mut shutdown = Vec::new();
        let gmail = serve(
            &world,
            Service::Gmail,
            gmail::router(world.clone()),
            ports.gmail,
            &mut shutdown,
        )
        .await?;
        let oauth = serve(
            &world,
            Service::OAuth,
            oauth::router(world.clone()),
            ports.oauth,
            &mut shutdown,
        )
        .await?;
        let gerrit = serve(
            &world,
            Service::Gerrit,
            gerrit::router(world.clone()),
            ports.gerrit,
            &mut shutdown,
        )
        .await?;
        let jenkins = serve(
            &world,
            Service::Jenkins,
            jenkins::router(world.clone()),
            ports.jenkins,
            &mut shutdown,
        )
        .await?;
        let jenkins_url = format!("http://{jenkins}");
        world.lock().jenkins.own_url = Some(format!("{jenkins_url}/"));
        // Gerrit's canonicalWebUrl: events link to changes with it.
        world.lock().gerrit.own_url = Some(format!("http://{gerrit}/"));
        Ok(Standins {
            world,
            gmail_url: format!("http://{gmail}/"),
            token_url: format!("http://{oauth}/token"),
            gerrit_url: format!("http://{gerrit}"),
            jenkins_url,
            shutdown,
        })
    }
}

impl Drop for Standins {
    fn drop(&mut self) {
        for tx in self.shutdown.drain(..) {
            let _ = tx.send(());
        }
    }
}

/// Binds one service behind the shared edge layer and serves it until shutdown.
async fn serve(
    world: &World,
    service: Service,
    router: Router,
    port: u16,
    shutdown: &mut Vec<oneshot::Sender<()>>,
) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let edge = fault::Edge {
        world: world.clone(),
        service,
    };
    let app = router.layer(axum::middleware::from_fn_with_state(edge, fault::edge));
    let (tx, rx) = oneshot::channel::<()>();
    shutdown.push(tx);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = served {
            tracing::warn!(?service, error = %e, "stand-in server stopped");
        }
    });
    Ok(addr)
}
