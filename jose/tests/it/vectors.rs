//! vectors tests (being written).
