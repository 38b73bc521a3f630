//! The response future of [`Auth`](super::Auth).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::Response;
use futures_util::future::BoxFuture;

/// Resolves to the inner service's response, or to the refusal when the token or the
/// policy says no.
pub struct ResponseFuture<E> {
    inner: BoxFuture<'static, Result<Response, E>>,
}

impl<E> ResponseFuture<E> {
    pub(crate) fn new(inner: BoxFuture<'static, Result<Response, E>>) -> Self {
        ResponseFuture { inner }
    }
}

impl<E> Future for ResponseFuture<E> {
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<E> fmt::Debug for ResponseFuture<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
