//! Placeholder: server (being written).
