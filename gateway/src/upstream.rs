//! The gateway's connections to its upstream: a small HTTP/1.1 keep-alive pool per worker.
//!
//! hyper-util's pooled client is general (any host, HTTP/2, proxies, a connector stack) and
//! pays for it on every request: a pool key hashed and cloned, a checkout racing a lazy
//! connect, a boxed future, the `Host` header formatted, the target rewritten to origin form,
//! and often a spawned task that waits to put the connection back. The gateway has one
//! upstream and one thread per pool, so it keeps the idle connections on a stack (the most
//! recently used first, its socket warm), sends with hyper's connection API, and puts a
//! connection back when the response body has been read to its end.
//!
//! A request that could not be sent on a reused connection (the upstream closed it while it
//! sat idle) is sent again on another one; that is safe because nothing of it was written.
//! Idle connections are closed after [`IDLE_TIMEOUT`], and at most [`MAX_IDLE`] are kept.

use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderValue, HOST};
use http::{Request, Response};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long a connection may sit unused in the pool.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept per pool (one pool per worker); more are closed.
pub const MAX_IDLE: usize = 256;
/// How long a new connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the upstream could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be opened.
    #[error("cannot connect to {authority}: {reason}")]
    Connect {
        /// The upstream's `host:port`.
        authority: String,
        /// What went wrong.
        reason: String,
    },
    /// The connection failed while the request was sent or its answer read.
    #[error(transparent)]
    Http(#[from] hyper::Error),
}

/// What a request sent upstream may carry: the client's body as hyper read it, in the
/// gateway (no boxing on the way through).
pub trait RequestBody:
    http_body::Body<Data = Bytes, Error: Into<tessera_listen::BoxError>> + Send + Unpin + 'static
{
}

impl<B> RequestBody for B where
    B: http_body::Body<Data = Bytes, Error: Into<tessera_listen::BoxError>>
        + Send
        + Unpin
        + 'static
{
}

/// One worker's connections to the upstream.
#[derive(Debug)]
pub struct Upstream<B = Incoming> {
    /// Where to connect: the host (without IPv6 brackets) and port.
    host: String,
    port: u16,
    /// The `Host` header sent upstream: the authority, without a default port.
    host_header: HeaderValue,
    idle: Mutex<Vec<Idle<B>>>,
    /// Whether the task closing expired idle connections has been started.
    reaper: std::sync::Once,
}

#[derive(Debug)]
struct Idle<B> {
    sender: SendRequest<B>,
    since: Instant,
}

impl<B: RequestBody> Upstream<B> {
    /// A pool for `authority` (`host[:port]`, port 80 by default).
    pub fn new(authority: &http::uri::Authority) -> Result<Upstream<B>, String> {
        let host = authority.host();
        let port = authority.port_u16().unwrap_or(80);
        let host_header = if port == 80 {
            HeaderValue::from_str(host)
        } else {
            HeaderValue::from_str(&format!("{host}:{port}"))
        }
        .map_err(|e| format!("{authority}: {e}"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host)
            .to_owned();
        Ok(Upstream {
            host,
            port,
            host_header,
            idle: Mutex::new(Vec::new()),
            reaper: std::sync::Once::new(),
        })
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Idle<B>>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `request` (its target in origin form) and returns the upstream's response; the
    /// connection goes back to the pool once the response body has been read to its end.
    /// With `reuse` false (an upgrade), the connection is left to the response.
    pub async fn send(
        self: &Arc<Self>,
        mut request: Request<B>,
        reuse: bool,
    ) -> Result<Response<PooledBody<B>>, UpstreamError> {
        self.start_reaper();
        request.headers_mut().insert(HOST, self.host_header.clone());
        loop {
            let (mut sender, reused) = match self.checkout().await {
                Some(sender) => (sender, true),
                None => (self.connect().await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let mut back = None;
                    if reuse {
                        if response.body().is_end_stream() {
                            // No body to wait for (HEAD, 204, 304): hyper may never poll it.
                            self.give_back(sender);
                        } else {
                            back = Some((sender, Arc::downgrade(self)));
                        }
                    }
                    return Ok(response.map(|inner| PooledBody { inner, back }));
                }
                Err(mut e) => match e.take_message() {
                    // Not written at all: the connection was closing. Another one will do.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(UpstreamError::Http(e.into_error())),
                },
            }
        }
    }

    /// The most recently used idle connection that is still open, ready for a request.
    async fn checkout(&self) -> Option<SendRequest<B>> {
        loop {
            let Idle { mut sender, since } = self.idle().pop()?;
            if sender.is_closed() || since.elapsed() >= IDLE_TIMEOUT {
                continue;
            }
            // Put back when its response ended; its connection task may not have asked for
            // the next request yet. That takes one turn of the runtime, or fails if closed.
            if sender.is_ready() || sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<B>, UpstreamError> {
        let failed = |reason: String| UpstreamError::Connect {
            authority: format!("{}:{}", self.host, self.port),
            reason,
        };
        let stream = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| failed(format!("no connection within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| failed(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(UpstreamError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }

    fn give_back(&self, sender: SendRequest<B>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    /// Idle connections past [`IDLE_TIMEOUT`] (or closed by the upstream) are dropped every
    /// few seconds, so a quiet gateway does not hold them open; the task ends with the pool.
    fn start_reaper(self: &Arc<Self>) {
        self.reaper.call_once(|| {
            let pool = Arc::downgrade(self);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(IDLE_TIMEOUT / 4);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    let Some(pool) = pool.upgrade() else { return };
                    pool.idle()
                        .retain(|i| !i.sender.is_closed() && i.since.elapsed() < IDLE_TIMEOUT);
                }
            });
        });
    }

    /// Idle connections in the pool now (tests).
    #[cfg(test)]
    fn idle_count(&self) -> usize {
        self.idle().len()
    }
}

/// An upstream response body that puts its connection back in the pool once read to its end.
#[derive(Debug)]
pub struct PooledBody<B = Incoming> {
    inner: Incoming,
    back: Option<(SendRequest<B>, Weak<Upstream<B>>)>,
}

impl<B: RequestBody> PooledBody<B> {
    fn finished(&mut self) {
        if let Some((sender, pool)) = self.back.take() {
            if let Some(pool) = pool.upgrade() {
                pool.give_back(sender);
            }
        }
    }
}

impl<B: RequestBody> http_body::Body for PooledBody<B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            None => self.finished(),
            Some(Ok(_)) if self.inner.is_end_stream() => self.finished(),
            // A broken body leaves the connection unusable: it is dropped with this.
            Some(Err(_)) => self.back = None,
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An upstream that answers every request on a connection with `body`, counting the
    /// connections it accepted; with `close_after` it closes each connection after that many
    /// answers (as an upstream whose keep-alive ran out).
    async fn upstream(body: &'static str, close_after: Option<usize>) -> (u16, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut answered = 0;
                    loop {
                        let mut chunk = [0u8; 4096];
                        let n = match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if socket.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                            answered += 1;
                            if close_after == Some(answered) {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (port, accepted)
    }

    fn get() -> Request<Body> {
        Request::get("/x").body(Body::empty()).unwrap()
    }

    fn pool(port: u16) -> Arc<Upstream<Body>> {
        let authority: http::uri::Authority = format!("127.0.0.1:{port}").parse().unwrap();
        Arc::new(Upstream::new(&authority).unwrap())
    }

    #[tokio::test]
    async fn a_connection_is_reused_once_its_response_was_read() {
        let (port, accepted) = upstream("hello", None).await;
        let pool = pool(port);
        for _ in 0..5 {
            let response = pool.send(get(), true).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"hello");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(), 1);
    }

    #[tokio::test]
    async fn a_response_not_read_to_its_end_does_not_return_its_connection() {
        let (port, accepted) = upstream("hello", None).await;
        let pool = pool(port);
        let unread = pool.send(get(), true).await.unwrap();
        // Its connection is still in use: the next request opens another.
        let response = pool.send(get(), true).await.unwrap();
        response.into_body().collect().await.unwrap();
        drop(unread);
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        assert_eq!(pool.idle_count(), 1);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_meanwhile_is_replaced_without_an_error() {
        // Each connection answers once and closes: every later request must find the pooled
        // one dead and go out on a new one, never failing.
        let (port, accepted) = upstream("once", Some(1)).await;
        let pool = pool(port);
        for _ in 0..3 {
            let response = pool.send(get(), true).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"once");
            // Let the connection task see the close.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_upstream_that_is_not_listening_is_a_connect_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = pool(port).send(get(), true).await.unwrap_err();
        assert!(matches!(err, UpstreamError::Connect { .. }), "{err}");
    }

    #[test]
    fn the_host_header_leaves_out_the_default_port() {
        let of = |a: &str| Upstream::<Body>::new(&a.parse().unwrap()).unwrap();
        assert_eq!(of("app.internal").host_header, "app.internal");
        assert_eq!(of("app.internal:80").host_header, "app.internal");
        let v6 = of("[::1]:8080");
        assert_eq!(v6.host_header, "[::1]:8080");
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.port, 8080);
    }
}
