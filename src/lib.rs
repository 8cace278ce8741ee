//! bionicbb: a presubmit bot for teams that review in Gerrit and build in Jenkins.
//!
//! Two processes share this library:
//! - `gmail-listener` ([`poller`]) reads Gerrit notification mails from a mailbox ([`gmail`]),
//!   parses them ([`mail`], [`command`]), asks Gerrit for the facts ([`gerrit`]), decides
//!   ([`policy`]) and acts: Jenkins builds ([`jenkins`]), Gerrit replies, drop-rejection requests.
//! - `build-listener` ([`server`]) accepts Jenkins Notification-plugin callbacks, stores them
//!   durably ([`state`], [`outbox`]) and posts the Verified votes to Gerrit from a worker.
//!
//! Data flows one way: parse at the edge into closed types ([`types`]), decide with pure
//! functions, act at the other edge. Configuration is one TOML file ([`config`]); credentials come
//! from netrc ([`credentials`]).

pub mod cli;
pub mod command;
pub mod config;
pub mod console;
pub mod credentials;
pub mod gerrit;
pub mod gmail;
pub mod jenkins;
pub mod mail;
pub mod outbox;
pub mod policy;
pub mod poller;
pub mod server;
pub mod state;
pub mod types;
