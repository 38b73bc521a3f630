//! Integration tests of tessera-gateway: the proxy between a client and an upstream under
//! the test's control, and the mock issuer, all on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod mock;
mod proxy;
mod support;
