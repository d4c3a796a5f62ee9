//! Standard robot messages (being written).
