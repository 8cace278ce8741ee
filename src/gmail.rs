//! Placeholder: gmail (being written).
