//! Placeholder: poller (being written).
