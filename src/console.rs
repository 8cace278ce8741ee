//! Placeholder: console (being written).
