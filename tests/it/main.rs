//! The one integration-test binary: the shared harness, then scenario files per feature.

mod build_listener;
mod crash;
mod gmail_listener;
mod harness;
