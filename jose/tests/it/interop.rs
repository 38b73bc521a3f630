//! interop tests (being written).
