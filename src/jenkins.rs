//! Placeholder: jenkins (being written).
