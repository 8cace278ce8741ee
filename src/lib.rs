//! bionicbb: a presubmit bot for teams that review in Gerrit and build in Jenkins.
//!
//! Two processes share this library and one state database:
//! - `gmail-listener` ([`poller`], the loop) reads Gerrit notification mails: the hints come in
//!   through [`intake`] (the Gmail client and its history cursor in `gmail`, MIME
//!   parsing in `intake::mail`, reading and filing mail in `intake::mailbox`, Gerrit webhook
//!   events and the reconcile pass beside them). Intake asks Gerrit for the facts
//!   ([`gerrit`]), parses commands ([`command`]) and decides with the pure [`policy`]: Jenkins
//!   builds, Gerrit replies, drop-rejection requests.
//! - `build-listener` ([`server`]) accepts Jenkins Notification-plugin callbacks (the wire type
//!   in [`jenkins`], which is also the client that triggers and reads builds) and
//!   `/drop-rejection` requests and decides the Gerrit reviews they call for; it also serves
//!   the status board, the JSON API, `/sse` and `/metrics` ([`metrics`]), views of what both
//!   processes recorded.
//! - Both check their set-up with `--check` ([`check`]) and share the command-line pieces
//!   ([`cli`]).
//!
//! Data flows one way: parse at the edge into closed types ([`types`]), decide with pure
//! functions, record every effect as an intent (with the events that describe it) in the
//! journal ([`journal`], the only module that speaks SQL), then carry it out ([`effects`]):
//! after a crash, an effect in doubt is reconciled with Jenkins or Gerrit before it is retried.
//! Console lines are rendered from the events ([`console`]). Configuration is one TOML file
//! ([`config`]); credentials come from netrc ([`credentials`]).

pub mod check;
pub mod cli;
pub mod command;
pub mod config;
pub mod console;
pub mod credentials;
pub mod effects;
pub mod gerrit;
pub mod gmail;
pub mod hint;
pub mod intake;
pub mod intent;
pub mod jenkins;
pub mod journal;
pub mod key;
pub mod metrics;
pub mod policy;
pub mod poller;
pub mod record;
pub mod server;
pub mod text;
pub mod types;
