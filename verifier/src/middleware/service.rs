//! [`Auth`]: the service made by [`AuthLayer`](super::AuthLayer).

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use http::header::HeaderMap;
use http::Request;
use tessera_jose::Jwt;
use tower::Service;

use super::extract::VerifiedToken;
use super::future::ResponseFuture;
use super::policy::AuthPolicy;
use super::rejection::Rejection;
use crate::verifier::Verifier;

/// Verifies the bearer token, applies the policy, then calls the inner service with the
/// verified token in the request extensions; answers the refusal itself otherwise.
#[derive(Debug, Clone)]
pub struct Auth<S, P> {
    inner: S,
    verifier: Arc<Verifier>,
    policy: P,
}

impl<S, P> Auth<S, P> {
    /// Wraps `inner`.
    pub fn new(inner: S, verifier: Arc<Verifier>, policy: P) -> Self {
        Auth {
            inner,
            verifier,
            policy,
        }
    }
}

impl<S, P, B> Service<Request<B>> for Auth<S, P>
where
    S: Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    P: AuthPolicy,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The service that was polled ready is the one to call; leave a fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        let policy = self.policy.clone();
        ResponseFuture::new(
            async move {
                let path = request.uri().path().to_owned();
                let method = request.method().clone();
                match authenticate(
                    &verifier,
                    &policy,
                    method.as_str(),
                    &path,
                    request.headers(),
                )
                .await
                {
                    Ok(jwt) => {
                        request.extensions_mut().insert(VerifiedToken(jwt));
                        inner.call(request).await
                    }
                    Err(rejection) => Ok(rejection.into_response()),
                }
            }
            .boxed(),
        )
    }
}

/// Verifies the request's token (a bearer token, or a DPoP-bound one with its proof for
/// this `method` and `path`) and applies `policy`: what [`Auth`] does before calling the
/// inner service, for handlers and gateways that need it directly.
pub async fn authenticate<P: AuthPolicy>(
    verifier: &Verifier,
    policy: &P,
    method: &str,
    path: &str,
    headers: &HeaderMap,
) -> Result<Arc<Jwt>, Rejection> {
    // Refusals are answered in the scheme the request used (read again only for one).
    let in_scheme = |rejection: Rejection| {
        let scheme = tessera_contract::access_token(headers)
            .ok()
            .map(|(scheme, _)| scheme);
        rejection.in_scheme(scheme, verifier.dpop().algs())
    };
    // The verifier logs its refusals with their reasons.
    let jwt = verifier
        .verify_request(method, path, headers)
        .await
        .map_err(|e| in_scheme(Rejection::from_error(&e)))?;
    policy.authorize(&jwt, headers).map_err(in_scheme)?;
    Ok(Arc::new(jwt))
}
