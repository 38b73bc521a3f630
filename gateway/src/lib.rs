//! The programs Tessera puts beside a service, built on the resource-server library:
//!
//! - [`proxy`]: the verifying reverse proxy of `tessera gateway`, and its `/verify` endpoint
//!   for nginx `auth_request` and Traefik ForwardAuth, so services in any language sit
//!   behind Tessera without a library;
//! - [`mock`]: the token-minting mock issuer of `tessera mock-jwks`, so those services can be
//!   tested without the auth server.
//!
//! They are a crate of their own so that services embedding `tessera-verifier` do not build
//! a proxy and a test server.

#![forbid(unsafe_code)]

pub mod mock;
pub mod proxy;
mod upstream;

/// Why a gateway or mock issuer could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Invalid configuration (upstream URL, listen address).
    #[error("configuration error: {0}")]
    Config(String),
    /// The JOSE core refused something (key generation, a claim set to sign).
    #[error("{0}")]
    Jose(tessera_jose::Error),
}

impl From<tessera_jose::Error> for Error {
    fn from(e: tessera_jose::Error) -> Self {
        Error::Jose(e)
    }
}
