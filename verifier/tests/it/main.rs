//! Integration tests of tessera-verifier, each against HTTP servers under the test's
//! control on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod dpop;
mod jwks;
mod logging;
mod middleware;
mod nested;
mod revocation;
mod rotation;
mod support;
mod verifier;
