//! Integration tests of the JOSE core: RFC test vectors, attack classes, tokens made by
//! other libraries, and property tests. One test binary, one module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod attacks;
mod interop;
mod jwe;
mod ml_dsa;
mod openssh;
mod props;
mod vectors;
