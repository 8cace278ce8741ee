//! Placeholder: gerrit (being written).
