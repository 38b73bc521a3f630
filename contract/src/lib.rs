//! The contract between the Tessera auth server and the resource servers that verify its
//! tokens, written once so that the two sides cannot drift apart:
//!
//! - [`claims`]: the names of the claims the server issues beyond the registered ones;
//! - [`revocation`]: what a revocation names, and its record on `/revocations` and
//!   `/revocations/stream`;
//! - [`fingerprint`]: the `__Host-Fgp` cookie and the `fgp` claim that binds a token to it;
//! - [`bearer_token`] / [`access_token`]: reading the token from `Authorization` (one
//!   header: `Bearer`, `DPoP` or the seed's bare form);
//! - [`dpop`]: DPoP proofs (RFC 9449), their replay cache and server nonces;
//! - [`check_fetch_url`]: where a key set, discovery document or revocation feed may be
//!   fetched from (`https`, or plain `http` on loopback);
//! - [`Clock`]: time, injectable so that lifecycles can be tested without sleeping.
//!
//! ```
//! use tessera_contract::{fingerprint, RevocationKind};
//!
//! assert_eq!(RevocationKind::from_wire("session"), Some(RevocationKind::Session));
//! let hash = fingerprint::hash("cookie value");
//! assert!(fingerprint::matches("cookie value", &hash));
//! ```

#![forbid(unsafe_code)]

mod authorization;
pub mod claims;
mod clock;
pub mod dpop;
pub mod fingerprint;
pub mod revocation;
mod url_rule;

pub use authorization::{
    access_token, access_token_of, bearer_token, bearer_token_of, AuthorizationError, Scheme,
};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use revocation::{Revocation, RevocationKind, RevocationPage};
pub use url_rule::{check_fetch_url, FetchUrlError};
