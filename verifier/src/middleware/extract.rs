//! axum extractors for the token verified by [`Auth`](super::Auth).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use http::request::Parts;
use serde::de::DeserializeOwned;
use tessera_jose::Jwt;

use super::rejection::Rejection;

/// The verified token, as [`Auth`](super::Auth) put it in the request extensions.
#[derive(Debug, Clone)]
pub struct VerifiedToken(pub Arc<Jwt>);

/// The verified token's claims, deserialised into `T` (a `serde_json::Value` by default).
///
/// ```
/// use serde::Deserialize;
/// use tessera_verifier::VerifiedClaims;
///
/// #[derive(Deserialize)]
/// struct Claims { sub: String, role: Option<String> }
///
/// async fn handler(VerifiedClaims(claims): VerifiedClaims<Claims>) -> String {
///     format!("hello {} ({:?})", claims.sub, claims.role)
/// }
/// # let _ = handler;
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedClaims<T = serde_json::Value>(pub T);

impl<S: Send + Sync> FromRequestParts<S> for VerifiedToken {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<VerifiedToken>().cloned().ok_or_else(|| {
            // A route using the extractor without the layer: refuse rather than serve it.
            tracing::error!(path = %parts.uri.path(), "no verified token: is AuthLayer applied to this route?");
            Rejection::MissingToken
        })
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for VerifiedClaims<T> {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let VerifiedToken(jwt) = VerifiedToken::from_request_parts(parts, state).await?;
        jwt.deserialize::<T>().map(VerifiedClaims).map_err(|e| {
            tracing::info!(reason = %tessera_jose::Shown::full(&e.to_string()), "token claims do not have the expected shape");
            Rejection::InvalidToken {
                description: "the access token is invalid",
            }
        })
    }
}
