//! [`AuthLayer`]: wraps a service so that only requests with an acceptable token reach it.

use std::sync::Arc;

use tower::Layer;

use super::policy::{AuthPolicy, Guard};
use super::service::Auth;
use crate::verifier::Verifier;

/// Verifies the bearer token of every request, applies a policy, and puts the verified
/// token in the request extensions (read it with [`VerifiedClaims`](super::VerifiedClaims)
/// or [`VerifiedToken`](super::VerifiedToken)).
///
/// ```no_run
/// use std::sync::Arc;
/// use axum::{routing::get, Router};
/// use tessera_verifier::{AuthLayer, Guard, Issuer, Verifier, VerifiedClaims};
///
/// # fn app() -> Result<Router, tessera_verifier::Error> {
/// let verifier = Arc::new(
///     Verifier::builder().issuer(Issuer::discover("https://auth.example.com").audience("api")).build()?,
/// );
/// let app = Router::new()
///     .route("/orders", get(|VerifiedClaims(claims): VerifiedClaims| async move {
///         claims.to_string()
///     }))
///     .layer(AuthLayer::new(verifier).policy(Guard::new().scope("orders:read")));
/// # Ok(app) }
/// ```
#[derive(Debug, Clone)]
pub struct AuthLayer<P = Guard> {
    verifier: Arc<Verifier>,
    policy: P,
}

impl AuthLayer<Guard> {
    /// A layer accepting any valid token (no role or scope required).
    pub fn new(verifier: Arc<Verifier>) -> Self {
        AuthLayer {
            verifier,
            policy: Guard::new(),
        }
    }
}

impl<P: AuthPolicy> AuthLayer<P> {
    /// Replaces the policy applied to verified tokens.
    pub fn policy<Q: AuthPolicy>(self, policy: Q) -> AuthLayer<Q> {
        AuthLayer {
            verifier: self.verifier,
            policy,
        }
    }
}

impl<S, P: AuthPolicy> Layer<S> for AuthLayer<P> {
    type Service = Auth<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth::new(inner, self.verifier.clone(), self.policy.clone())
    }
}
