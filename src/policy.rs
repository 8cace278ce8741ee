//! Placeholder: policy (being written).
