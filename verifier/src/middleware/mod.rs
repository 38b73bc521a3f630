//! tower middleware and axum extractors, in tower-http's shape: [`AuthLayer`] makes an
//! [`Auth`] service whose [`ResponseFuture`] verifies the bearer token, applies an
//! [`AuthPolicy`] (role/scope guards, fingerprint cookie) and answers refusals as RFC 6750
//! says.

mod extract;
mod future;
mod layer;
mod policy;
mod rejection;
mod service;

pub use extract::{VerifiedClaims, VerifiedToken};
pub use future::ResponseFuture;
pub use layer::AuthLayer;
pub use policy::{AuthPolicy, Guard};
pub use rejection::Rejection;
pub use service::{authenticate, Auth};
