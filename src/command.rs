//! Placeholder: command (being written).
