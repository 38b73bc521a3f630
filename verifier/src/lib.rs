//! The resource-server side of Tessera: verify access tokens locally against the issuers'
//! published key sets.
//!
//! - [`RemoteJwks`]: a cached remote key set (`Cache-Control`, `ETag`, refresh ahead of
//!   expiry, single-flight refetch for unknown `kid`s with a cooldown, stale-if-error,
//!   size limit, `https` only except on loopback, no cross-host redirects).
//! - [`Verifier`]: several [`Issuer`]s at once, chosen by the token's `iss`, each with its
//!   own audience and algorithm policy; OpenID discovery; optional [`Revocations`] fed by
//!   the auth server's revocation stream.
//! - [`AuthLayer`] (tower) and the [`VerifiedClaims`] / [`VerifiedToken`] extractors
//!   (axum), with role/scope guards ([`Guard`]) and RFC 6750 refusals ([`Rejection`]).
//!
//! The verifying reverse proxy and the mock issuer built on it are in `tessera-gateway`.
//!
//! ```no_run
//! # async fn run(token: &str) -> Result<(), tessera_verifier::Error> {
//! use tessera_verifier::{Issuer, Verifier};
//!
//! let verifier = Verifier::builder()
//!     .issuer(Issuer::jwks("https://auth.example.com/.well-known/jwks.json")
//!         .issuer("https://auth.example.com")
//!         .audience("orders-api"))
//!     .build()?;
//! let jwt = verifier.verify(token).await?;
//! #[derive(serde::Deserialize)]
//! struct Claims { sub: String }
//! let claims: Claims = jwt.deserialize()?;
//! # let _ = claims; Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod error;
mod fetch;
mod jwks;
mod middleware;
mod revocation;
mod verifier;

pub use error::{Error, FetchError};
pub use fetch::{describe as describe_fetch_error, fetch_document, MAX_BODY};
pub use jwks::{JwksOptions, RemoteJwks};
pub use middleware::{
    authenticate, Auth, AuthLayer, AuthPolicy, Guard, Rejection, ResponseFuture, VerifiedClaims,
    VerifiedToken,
};
pub use revocation::{Revocations, Subscription};
pub use tessera_contract::{Clock, ManualClock, RevocationKind, SystemClock};
pub use verifier::{Issuer, Verifier, VerifierBuilder};
