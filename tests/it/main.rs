//! The one integration-test binary: scenario files per feature.

mod build_listener;
