//! Placeholder: owned by the build-listener work (accepted callbacks + pending reviews).

/// DDL for the outbox tables, run by [`crate::state::State::open`].
pub(crate) const SCHEMA: &str = "";
