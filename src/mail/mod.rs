//! Placeholder: mail parsing (being written).
