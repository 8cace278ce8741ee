//! bionicbb: a presubmit bot for teams that review in Gerrit and build in Jenkins.
//!
//! Two processes share this library and one state database:
//! - `gmail-listener` ([`poller`], the loop) reads Gerrit notification mails with the Gmail
//!   client ([`gmail`]); [`intake`] turns them into hints (the history cursor, MIME parsing in
//!   `intake::mail`, reading and filing mail in `intake::mailbox`; Gerrit webhook events and
//!   the reconcile pass beside them).
//! - `build-listener` ([`server`], HTTP only) hands Jenkins Notification-plugin callbacks to
//!   `intake::callbacks` and `/drop-rejection` requests to the journal; it also serves the
//!   status board, the JSON API, `/sse` and `/metrics` ([`metrics`]), views of what both
//!   processes recorded.
//! - Both check their set-up with `--check` ([`check`]) and share the command-line pieces
//!   ([`cli`]).
//!
//! Data flows one way, down these layers (no module calls back up):
//! 1. [`intake`]: a hint ([`hint`] for Gerrit's, `jenkins::notification` for Jenkins') and
//!    the facts from the services of record ([`gerrit`], [`jenkins`]);
//! 2. [`policy`]: pure decisions, effects as data ([`intent`]) under stable keys ([`key`]),
//!    with the events that describe them ([`record`]);
//! 3. [`journal`]: the only module that speaks SQL; intents and events in one transaction;
//! 4. [`effects`]: the only module that acts, through the clients; after a crash an effect in
//!    doubt is reconciled with Jenkins or Gerrit before it is retried.
//!
//! Below them: identifiers ([`types`]), text made safe ([`text`]), commands ([`command`]), the
//! one TOML file ([`config`]) and netrc ([`credentials`]). Console lines are rendered from the
//! events ([`console`]).

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
