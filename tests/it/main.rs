//! The one integration-test binary: the shared harness, then scenario files per feature.

mod board;
mod browser;
mod build_listener;
mod check;
mod crash;
mod exactly_once;
mod gerrit_events;
mod gmail_listener;
mod harness;
mod presubmit;
mod reconcile;
mod speed;
mod trust;
mod webhook;
