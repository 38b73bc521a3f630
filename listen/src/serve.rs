//! Serving a router over plain TCP or TLS: what `axum::serve` does, plus limits on every
//! stage of a slow or silent client (hyper's own defaults hold a silent connection for
//! ever), and a cap on open connections so that a flood of idle sockets cannot take every
//! file descriptor.
//!
//! The stages and their limits ([`Limits`]):
//! - a TLS handshake: [`Limits::handshake`];
//! - on plain TCP, the bytes that say which protocol the client speaks: the first byte, and
//!   all 24 bytes of an HTTP/2 preface once it has started, within [`Limits::first_bytes`]
//!   (hyper's own protocol detection has no timer: one byte of `PRI * HTTP/2.0` would hold
//!   the connection for ever);
//! - an HTTP/1 request's headers, and an idle keep-alive connection waiting for its next
//!   request: [`Limits::headers`] (hyper's timer);
//! - a connection with no request under way and no response being sent, on either protocol:
//!   [`Limits::idle`];
//! - request bodies are the application's (the auth server answers 408 after 30 s).
//!
//! At [`Limits::max_connections`] a new connection makes room by closing the oldest idle one
//! (connected, but with no request under way and no response being sent); with none idle, it
//! is closed at once. Either way the process never runs out of descriptors, and a health
//! check still gets through a flood of silent sockets.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// The HTTP/2 connection preface (RFC 9113 section 3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Descriptors kept free beside client connections (database pool, files, upstreams).
const RESERVED_DESCRIPTORS: u64 = 64;
/// The most connections [`Limits::for_this_process`] allows, whatever the descriptor limit.
const MOST_CONNECTIONS: u64 = 16_384;

/// How long each stage of a connection may take, and how many connections may be open.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at most; at the limit the oldest idle one is closed to make room.
    pub max_connections: usize,
    /// For a new plain-TCP connection to say which protocol it speaks (its first byte,
    /// and the whole HTTP/2 preface once that has started).
    pub first_bytes: Duration,
    /// For a TLS handshake.
    pub handshake: Duration,
    /// For an HTTP/1 request's headers; hyper applies it to an idle keep-alive connection
    /// waiting for its next request too. Longer than the 60 s idle timeout of common load
    /// balancers and proxies (AWS ALB, nginx upstream keepalive), which must be the side
    /// that closes an idle connection, or they would send requests into closing sockets.
    pub headers: Duration,
    /// For a connection with nothing under way (HTTP/2 included) before it is closed.
    pub idle: Duration,
    /// How long open connections may take to finish at shutdown.
    pub drain: Duration,
}

impl Default for Limits {
    /// The timeouts above with a connection cap of 1024.
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            first_bytes: Duration::from_secs(10),
            handshake: Duration::from_secs(10),
            headers: Duration::from_secs(65),
            idle: Duration::from_secs(65),
            drain: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// The default timeouts, and a connection cap below this process's descriptor limit:
    /// the soft limit is first raised to the hard one, then 64 descriptors are kept for
    /// everything else (at most 16,384 connections).
    pub fn for_this_process() -> Limits {
        Limits {
            max_connections: default_max_connections(),
            ..Limits::default()
        }
    }
}

/// Raises the soft descriptor limit to the hard one where the system allows it, and returns
/// the connection cap that leaves room for the process's other descriptors.
pub fn default_max_connections() -> usize {
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .ok()
        .or_else(|| {
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|(soft, _)| soft)
        })
        .unwrap_or(1024);
    let cap = limit
        .saturating_sub(RESERVED_DESCRIPTORS)
        .clamp(16, MOST_CONNECTIONS);
    usize::try_from(cap).unwrap_or(1024)
}

/// A shutdown signal shared by the listener and whatever must end with it (the auth
/// server's event streams): clones wait on the same [`ShutdownTrigger`].
#[derive(Debug, Clone)]
pub struct Shutdown {
    /// `None`: a signal that never fires.
    fired: Option<watch::Receiver<bool>>,
}

/// Fires a [`Shutdown`].
#[derive(Debug, Clone)]
pub struct ShutdownTrigger {
    fire: Arc<watch::Sender<bool>>,
}

impl Shutdown {
    /// A signal and the trigger that fires it.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (fire, fired) = watch::channel(false);
        (
            ShutdownTrigger {
                fire: Arc::new(fire),
            },
            Shutdown { fired: Some(fired) },
        )
    }

    /// A signal fired by Ctrl-C or, on Unix, SIGTERM (needs a Tokio runtime).
    pub fn on_signal() -> Shutdown {
        let (trigger, shutdown) = Shutdown::new();
        tokio::spawn(async move {
            crate::shutdown_signal().await;
            trigger.fire();
        });
        shutdown
    }

    /// A signal that never fires (tests, embedded servers stopped by dropping them).
    pub fn never() -> Shutdown {
        Shutdown { fired: None }
    }

    /// True once fired.
    pub fn is_fired(&self) -> bool {
        self.fired.as_ref().is_some_and(|f| *f.borrow())
    }

    /// Completes once fired (at once if it already has).
    pub async fn fired(&self) {
        let Some(fired) = &self.fired else {
            return std::future::pending().await;
        };
        let mut fired = fired.clone();
        // An error means every trigger is gone without firing: then it never fires.
        if fired.wait_for(|f| *f).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl ShutdownTrigger {
    /// Fires the signal (again is harmless).
    pub fn fire(&self) {
        self.fire.send_replace(true);
    }
}

/// Serves `router` on `listener`, over TLS when `tls` is given, within `limits`, until
/// `shutdown` fires; then open connections get [`Limits::drain`] to finish. Each request
/// carries its peer address as `ConnectInfo<SocketAddr>`.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<ServerConfig>>,
    router: Router,
    limits: Limits,
    shutdown: Shutdown,
) {
    let here = Worker {
        runtime: tokio::runtime::Handle::current(),
        handler: router,
    };
    serve_on(listener, tls, vec![here], limits, shutdown).await;
}

/// What answers a connection's requests: an axum [`Router`], or anything else that turns a
/// request and its peer's address into a response.
///
/// A `Router` wraps each request body in a boxed `Body`, inserts the peer as an extension
/// and boxes its future; a proxy's hot path can skip all three by implementing this itself
/// (the gateway does).
pub trait Handler: Clone + Send + Sync + 'static {
    /// The response body.
    type Body: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static;

    /// Answers `request`, which came from `peer`.
    fn handle(
        &self,
        request: http::Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> impl std::future::Future<Output = http::Response<Self::Body>> + Send + use<Self>;
}

/// Each request carries its peer address as `ConnectInfo<SocketAddr>`.
impl Handler for Router {
    type Body = axum::body::Body;

    fn handle(
        &self,
        mut request: http::Request<hyper::body::Incoming>,
        peer: SocketAddr,
    ) -> impl std::future::Future<Output = http::Response<axum::body::Body>> + Send + use<> {
        request
            .extensions_mut()
            .insert(ConnectInfo::<SocketAddr>(peer));
        let answer = self.clone().oneshot(request);
        async move {
            match answer.await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
    }
}

/// A runtime connections can be handed to, with the handler that serves them there.
///
/// A proxy runs best with one single-threaded runtime per core, each serving its own
/// connections with its own upstream pool (as nginx's worker processes do): a request then
/// never wakes a task on another thread.
#[derive(Debug, Clone)]
pub struct Worker<H = Router> {
    /// Where the connection's task runs.
    pub runtime: tokio::runtime::Handle,
    /// What serves its requests.
    pub handler: H,
}

/// [`serve_router`] over several workers: the accepting task hands each new connection to
/// the worker with the fewest open connections, and the limits (the connection cap among
/// them) hold for all workers together. Each worker's runtime must be driven (by a thread in
/// `block_on`, say) until this returns.
///
/// # Panics
/// If `workers` is empty.
pub async fn serve_on<H: Handler>(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<ServerConfig>>,
    workers: Vec<Worker<H>>,
    limits: Limits,
    shutdown: Shutdown,
) {
    assert!(!workers.is_empty(), "serve_on needs at least one worker");
    let here = tokio::runtime::Handle::current().id();
    let load: Vec<Arc<AtomicUsize>> = workers.iter().map(|_| Arc::default()).collect();
    let acceptor = tls.map(TlsAcceptor::from);
    let limits = Arc::new(limits);
    let open = Arc::new(Open::default());
    let mut refused_logged: Option<Instant> = None;
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.fired() => break,
        };
        if open.len() >= limits.max_connections && !open.make_room(limits.max_connections).await {
            // Every connection is busy: this one cannot be served without passing the cap.
            if refused_logged.is_none_or(|at| at.elapsed() > Duration::from_secs(10)) {
                tracing::warn!(
                    max = limits.max_connections,
                    "connection limit reached with every connection busy; refusing new ones"
                );
                refused_logged = Some(Instant::now());
            }
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let index = (0..workers.len())
            .min_by_key(|&i| load[i].load(Ordering::Relaxed))
            .unwrap_or(0);
        let worker = &workers[index];
        let registered = Registered::new(open.clone(), load[index].clone());
        let (acceptor, handler, limits, shutdown) = (
            acceptor.clone(),
            worker.handler.clone(),
            limits.clone(),
            shutdown.clone(),
        );
        let run = move |stream: TcpStream| async move {
            let task = Connection {
                stream,
                peer,
                acceptor,
                handler,
                limits,
                handle: registered.handle.clone(),
                shutdown,
            };
            task.run().await;
            drop(registered);
        };
        if worker.runtime.id() == here {
            tokio::spawn(run(stream));
            continue;
        }
        // Another runtime: the socket moves to that runtime's reactor.
        match stream.into_std() {
            Ok(stream) => {
                worker.runtime.spawn(async move {
                    match TcpStream::from_std(stream) {
                        Ok(stream) => run(stream).await,
                        Err(e) => tracing::warn!(error = %e, "cannot hand a connection over"),
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot hand a connection over"),
        }
    }
    drop(listener);
    let deadline = Instant::now() + limits.drain;
    while open.len() > 0 && Instant::now() < deadline {
        tokio::select! {
            () = open.changed.notified() => {},
            () = tokio::time::sleep(Duration::from_millis(100)) => {},
        }
    }
    if open.len() > 0 {
        tracing::warn!(
            open = open.len(),
            "connections still open after {:?}; closing",
            limits.drain
        );
    }
}

/// A connection counted as open (and on its worker) until this is dropped: when its task
/// ends, or with the task if its runtime has stopped.
struct Registered {
    open: Arc<Open>,
    load: Arc<AtomicUsize>,
    handle: Arc<Handle>,
}

impl Registered {
    fn new(open: Arc<Open>, load: Arc<AtomicUsize>) -> Registered {
        let handle = open.add();
        load.fetch_add(1, Ordering::Relaxed);
        Registered { open, load, handle }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.load.fetch_sub(1, Ordering::Relaxed);
        self.open.remove(self.handle.id);
    }
}

/// The open connections, oldest first.
#[derive(Default)]
struct Open {
    by_id: Mutex<BTreeMap<u64, Arc<Handle>>>,
    next_id: AtomicU64,
    changed: Notify,
}

impl Open {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Handle>>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn add(&self) -> Arc<Handle> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let handle = Arc::new(Handle {
            id,
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now_millis()),
            closing: AtomicBool::new(false),
            close: Notify::new(),
        });
        self.lock().insert(id, handle.clone());
        handle
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
        self.changed.notify_waiters();
    }

    /// Closes idle connections, oldest first, until fewer than `max` are open; false if
    /// that cannot be done within a second (every connection is busy). Connections asked to
    /// close still count until they have gone, so a flood cannot outrun them.
    async fn make_room(&self, max: usize) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.len() < max {
                return true;
            }
            if self.closing() < self.len() + 1 - max && !self.close_oldest_idle() {
                return false;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.len() < max;
            }
        }
    }

    /// How many connections have been asked to close and have not gone yet.
    fn closing(&self) -> usize {
        self.lock()
            .values()
            .filter(|h| h.closing.load(Ordering::Acquire))
            .count()
    }

    /// Asks the oldest connection with nothing under way to close; false if there is none.
    fn close_oldest_idle(&self) -> bool {
        let by_id = self.lock();
        let victim = by_id
            .values()
            .find(|h| h.busy.load(Ordering::Acquire) == 0 && !h.closing.load(Ordering::Acquire));
        match victim {
            Some(h) => {
                h.closing.store(true, Ordering::Release);
                // notify_one keeps the permit if the task is not waiting yet.
                h.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// One connection as the accept loop sees it.
struct Handle {
    id: u64,
    /// Requests under way plus responses still being sent.
    busy: AtomicUsize,
    /// When `busy` last became zero (milliseconds on [`now_millis`]'s clock).
    idle_since: AtomicU64,
    /// Asked to close (to make room, or idle for too long).
    closing: AtomicBool,
    close: Notify,
}

impl Handle {
    fn start(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }
}

/// One request or response under way on a connection; dropped when it is done.
struct Busy(Arc<Handle>);

impl Drop for Busy {
    fn drop(&mut self) {
        if self.0.busy.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle_since.store(now_millis(), Ordering::Release);
        }
    }
}

/// Milliseconds since the first call: a monotonic clock that fits an atomic.
fn now_millis() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A response body that keeps its connection busy until it has been sent (or dropped).
struct TrackedBody<B> {
    inner: B,
    _busy: Busy,
}

impl<B: http_body::Body + Unpin> http_body::Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Which protocol a plain-TCP client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// What a new connection's first bytes say: HTTP/2 once the whole preface has arrived,
/// HTTP/1 as soon as a byte differs from it, nothing if the client closes or stays silent
/// until `deadline`. Peeks only: hyper reads the bytes again.
async fn sniff(stream: &TcpStream, deadline: tokio::time::Instant) -> Option<Protocol> {
    let mut buf = [0u8; 24];
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return None,
        };
        if n == 0 {
            return None;
        }
        if !H2_PREFACE.starts_with(&buf[..n]) {
            return Some(Protocol::Http1);
        }
        if n == H2_PREFACE.len() {
            return Some(Protocol::Http2);
        }
        // A partial preface (a real client sends it whole): peek returns what is already
        // there at once, so wait a little before looking again, until the deadline.
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What one connection's task needs.
struct Connection<H> {
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: Option<TlsAcceptor>,
    handler: H,
    limits: Arc<Limits>,
    handle: Arc<Handle>,
    shutdown: Shutdown,
}

impl<H: Handler> Connection<H> {
    async fn run(self) {
        let Connection {
            stream,
            peer,
            acceptor,
            handler,
            limits,
            handle,
            shutdown,
        } = self;
        let tracked = handle.clone();
        let service = hyper::service::service_fn(move |request| {
            // Busy from the request's arrival until its response has been sent.
            let busy = tracked.start();
            let answer = handler.handle(request, peer);
            async move {
                let response = answer.await;
                Ok::<_, std::convert::Infallible>(
                    response.map(|inner| TrackedBody { inner, _busy: busy }),
                )
            }
        });
        let closed = || async {
            tokio::select! {
                () = handle.close.notified() => {},
                () = shutdown.fired() => {},
            }
        };
        // The protocol is known before hyper sees a byte (sniffed on plain TCP, from ALPN
        // over TLS), so each connection gets hyper's own HTTP/1 or HTTP/2 connection, not the
        // auto-detecting wrapper that would read the preface again.
        let outcome = match acceptor {
            None => {
                let deadline = tokio::time::Instant::now() + limits.first_bytes;
                let protocol = tokio::select! {
                    p = sniff(&stream, deadline) => p,
                    () = closed() => None,
                };
                let Some(protocol) = protocol else { return };
                let io = TokioIo::new(stream);
                serve_as(protocol, io, service, &handle, &limits, &shutdown).await
            }
            Some(acceptor) => {
                let handshake = tokio::select! {
                    r = tokio::time::timeout(limits.handshake, acceptor.accept(stream)) => r,
                    () = closed() => return,
                };
                let tls_stream = match handshake {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => return,
                };
                // ALPN already chose the protocol: no sniffing after the handshake.
                let protocol = match tls_stream.get_ref().1.alpn_protocol() {
                    Some(b"h2") => Protocol::Http2,
                    _ => Protocol::Http1,
                };
                let io = TokioIo::new(tls_stream);
                serve_as(protocol, io, service, &handle, &limits, &shutdown).await
            }
        };
        if let Err(e) = outcome {
            tracing::debug!(%peer, error = %e, "connection ended with an error");
        }
    }
}

/// Serves a connection in `protocol` (HTTP/1 with upgrades, or HTTP/2) to its end.
async fn serve_as<I, S, B>(
    protocol: Protocol,
    io: I,
    service: S,
    handle: &Handle,
    limits: &Limits,
    shutdown: &Shutdown,
) -> Result<(), BoxError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = TrackedBody<B>>,
    B: http_body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    match protocol {
        Protocol::Http1 => {
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.headers)
                .serve_connection(io, service)
                .with_upgrades();
            drive(
                connection,
                |c| c.graceful_shutdown(),
                handle,
                limits,
                shutdown,
            )
            .await
        }
        Protocol::Http2 => {
            let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .keep_alive_interval(Some(Duration::from_secs(30)))
                .serve_connection(io, service);
            drive(
                connection,
                |c| c.graceful_shutdown(),
                handle,
                limits,
                shutdown,
            )
            .await
        }
    }
}

/// An error of any kind, as hyper takes them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs a connection to its end, closing it gracefully when asked to make room, when
/// idle for [`Limits::idle`], or at shutdown.
async fn drive<C, E>(
    connection: C,
    graceful: impl Fn(Pin<&mut C>),
    handle: &Handle,
    limits: &Limits,
    shutdown: &Shutdown,
) -> Result<(), BoxError>
where
    C: std::future::Future<Output = Result<(), E>>,
    E: Into<BoxError>,
{
    let mut connection = std::pin::pin!(connection);
    let mut closing = false;
    loop {
        if closing {
            // A graceful close waits for the peer (an HTTP/2 GOAWAY for its ping's answer):
            // a peer that never answers is dropped once nothing is under way.
            tokio::select! {
                outcome = connection.as_mut() => return outcome.map_err(Into::into),
                () = tokio::time::sleep(Duration::from_secs(1)) => {
                    if handle.busy.load(Ordering::Acquire) == 0 {
                        return Ok(());
                    }
                    continue;
                }
            }
        }
        let idle_check = async {
            loop {
                let since = handle.idle_since.load(Ordering::Acquire);
                let idle_for = Duration::from_millis(now_millis().saturating_sub(since));
                if handle.busy.load(Ordering::Acquire) == 0 && idle_for >= limits.idle {
                    return;
                }
                let wait = limits
                    .idle
                    .saturating_sub(idle_for)
                    .max(Duration::from_millis(100));
                tokio::time::sleep(wait).await;
            }
        };
        tokio::select! {
            outcome = connection.as_mut() => return outcome.map_err(Into::into),
            () = handle.close.notified(), if !closing => {},
            () = shutdown.fired(), if !closing => {},
            () = idle_check, if !closing => {},
        }
        handle.closing.store(true, Ordering::Release);
        closing = true;
        graceful(connection.as_mut());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_cap_leaves_room_below_the_descriptor_limit() {
        let cap = default_max_connections() as u64;
        let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert!(cap + RESERVED_DESCRIPTORS <= soft.max(16 + RESERVED_DESCRIPTORS));
        assert!(cap >= 16);
    }

    #[tokio::test]
    async fn shutdown_fires_every_clone() {
        let (trigger, shutdown) = Shutdown::new();
        let other = shutdown.clone();
        assert!(!other.is_fired());
        let waiter = tokio::spawn(async move { other.fired().await });
        trigger.fire();
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
        assert!(shutdown.is_fired());
        // A signal whose trigger is kept forever never fires.
        let never = Shutdown::never();
        assert!(
            tokio::time::timeout(Duration::from_millis(50), never.fired())
                .await
                .is_err()
        );
    }
}
