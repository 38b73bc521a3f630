//! The verifying gateway (`tessera gateway`): a reverse proxy that lets only requests with
//! a valid token through, with the verified claims in headers, and `/verify` for nginx
//! `auth_request` and Traefik ForwardAuth.
//!
//! Headers set for the upstream (and on `/verify` answers):
//! - `X-Tessera-Sub`, `X-Tessera-Iss`, `X-Tessera-Role`, `X-Tessera-Scope`: those claims,
//!   when present as strings;
//! - `X-Tessera-Claims`: every claim, as base64url (no padding) of the JSON object.
//!
//! With [`GatewayConfig::oauth2_proxy_headers`], also the header set applications written
//! for oauth2-proxy read: `X-Forwarded-User` (`sub`), `X-Forwarded-Email` (`email`),
//! `X-Forwarded-Preferred-Username` (`preferred_username`), `X-Forwarded-Groups` (`groups`
//! joined by commas, else `role`) and `X-Forwarded-Access-Token` (the token).
//!
//! A claim is sent as it is (UTF-8 bytes included) when a header can carry it exactly; one
//! holding a control character (CR, LF, NUL, DEL...) or starting or ending with white space
//! (which HTTP would strip) cannot be, and the request is refused (401 `invalid_token`)
//! rather than forwarded without the identity or with a changed one.
//!
//! Headers the client cannot forge: every `X-Tessera-*` header, the oauth2-proxy names
//! above (and oauth2-proxy's `X-Auth-Request-*`), and the forwarding headers (`Forwarded`,
//! `X-Forwarded-*`, `X-Real-IP`, `X-Original-URL`, `X-Rewrite-URL`, `X-Host`...) are removed
//! however spelt (`_` for `-` too); the gateway then sets `X-Forwarded-For` (the peer
//! address), `X-Forwarded-Host` (the request's authority, else its `Host`) and
//! `X-Forwarded-Proto`, and RFC 7239 `Forwarded` if asked. Two `Host` headers are a 400
//! (RFC 9112 section 3.2). Hop-by-hop headers (RFC 9110 section 7.6.1, and those named in
//! `Connection`) are not forwarded in either direction. Bodies are streamed.
//!
//! Upgrades (WebSocket): an HTTP/1.1 request with `Upgrade` is verified like any other,
//! then forwarded with its `Upgrade` header; if the upstream answers `101`, the two
//! connections are joined and bytes flow both ways until either side closes. A token that
//! expires during a long-lived tunnel is the application's concern: the gateway checks it
//! once, at the upgrade.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tessera_jose::Jwt;
use tokio::sync::Semaphore;

use tessera_listen::{BoxError, Handler, Limits, Shutdown, ShutdownTrigger, Worker};
use tessera_verifier::{authenticate, Guard, Rejection, Verifier};

use crate::upstream::{PooledBody, Upstream, UpstreamError};
use crate::Error;

/// Prefix of the headers the gateway owns.
pub const CLAIM_HEADER_PREFIX: &str = "x-tessera-";

/// Hop-by-hop headers, never forwarded (`Connection` first).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Forwarding headers a client may not set (compared after `_` becomes `-`).
const CLIENT_FORWARDING: [&str; 17] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-prefix",
    "x-forwarded-server",
    "x-forwarded-scheme",
    "x-forwarded-ssl",
    "x-forwarded-uri",
    "x-real-ip",
    "x-original-url",
    "x-original-uri",
    "x-original-host",
    "x-rewrite-url",
    "x-host",
    "x-client-ip",
];

/// The oauth2-proxy identity headers (set by the gateway when asked, never by a client).
const OAUTH2_PROXY_HEADERS: [&str; 5] = [
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-preferred-username",
    "x-forwarded-groups",
    "x-forwarded-access-token",
];

/// What the gateway protects and how.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The upstream base URL (`http://host:port`, optionally with a path prefix).
    pub upstream: String,
    /// Roles and scopes required of every request.
    pub guard: Guard,
    /// How long to wait for the upstream's response head before answering 504 (the body
    /// then streams without a limit). [`DEFAULT_UPSTREAM_TIMEOUT`] is a sensible value.
    pub upstream_timeout: Duration,
    /// Also send RFC 7239 `Forwarded` (`for`, `host`, `proto`).
    pub forwarded: bool,
    /// Append the peer to the client's `X-Forwarded-For` instead of replacing it: only when
    /// every client is a proxy you trust (a load balancer in front of the gateway).
    pub keep_forwarded_for: bool,
    /// Also send the oauth2-proxy header set (see the module documentation).
    pub oauth2_proxy_headers: bool,
    /// Upgraded connections (WebSockets) open at once; more are answered 503.
    pub max_tunnels: usize,
    /// Threads serving connections, each with its own single-threaded runtime and upstream
    /// pool ([`serve`] only); `None`: one per core.
    pub workers: Option<usize>,
}

impl GatewayConfig {
    /// The defaults for `upstream`: no role or scope required, [`DEFAULT_UPSTREAM_TIMEOUT`],
    /// `X-Forwarded-*` only, no oauth2-proxy headers, 1024 tunnels, one worker per core.
    pub fn new(upstream: impl Into<String>) -> GatewayConfig {
        GatewayConfig {
            upstream: upstream.into(),
            guard: Guard::new(),
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
            forwarded: false,
            keep_forwarded_for: false,
            oauth2_proxy_headers: false,
            max_tunnels: 1024,
            workers: None,
        }
    }
}

/// The default wait for an upstream's response head.
pub const DEFAULT_UPSTREAM_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct Gateway {
    verifier: Arc<Verifier>,
    guard: Guard,
    upstream_timeout: Duration,
    /// `scheme://authority` plus the path prefix without its trailing `/`.
    base: String,
    /// The upstream's path prefix (`""` for none), from `base`.
    prefix: String,
    /// This worker's connections to the upstream.
    upstream: Arc<Upstream>,
    forwarded: bool,
    keep_forwarded_for: bool,
    oauth2_proxy_headers: bool,
    tunnels: Arc<Semaphore>,
    /// The last peer's `X-Forwarded-For` value: a connection's requests (and a load
    /// balancer's connections) share it, so it is formatted once, not per request.
    last_peer: std::sync::Mutex<Option<(std::net::IpAddr, HeaderValue)>>,
}

/// One worker's gateway: `/verify` and, for every other path and method, the proxy, with
/// the worker's own upstream pool and the tunnel limit shared with the other workers.
///
/// Served as a plain [`Handler`], not an axum `Router`: the proxy needs no routing, and the
/// client's body goes upstream (and the upstream's back) as hyper gives it, not boxed.
fn handler(
    verifier: Arc<Verifier>,
    config: GatewayConfig,
    tunnels: Arc<Semaphore>,
) -> Result<GatewayHandler, Error> {
    let base = upstream_base(&config.upstream)?;
    let parsed: Uri = base
        .parse()
        .map_err(|e| Error::Config(format!("upstream {base}: {e}")))?;
    let authority = parsed
        .authority()
        .cloned()
        .ok_or_else(|| Error::Config(format!("upstream {base} has no host")))?;
    let prefix = parsed.path().trim_end_matches('/').to_owned();
    let upstream = Upstream::new(&authority).map_err(Error::Config)?;
    let gateway = Arc::new(Gateway {
        verifier,
        guard: config.guard,
        upstream_timeout: config.upstream_timeout,
        base,
        prefix,
        upstream: Arc::new(upstream),
        forwarded: config.forwarded,
        keep_forwarded_for: config.keep_forwarded_for,
        oauth2_proxy_headers: config.oauth2_proxy_headers,
        tunnels,
        last_peer: std::sync::Mutex::new(None),
    });
    Ok(GatewayHandler(gateway))
}

#[derive(Debug, Clone)]
struct GatewayHandler(Arc<Gateway>);

impl Handler for GatewayHandler {
    type Body = GatewayBody;

    fn handle(
        &self,
        request: http::Request<Incoming>,
        peer: SocketAddr,
    ) -> impl std::future::Future<Output = http::Response<GatewayBody>> + Send + use<> {
        let gw = self.0.clone();
        async move {
            if request.uri().path() == "/verify" {
                local(verify(&gw, request.method(), request.headers()).await)
            } else {
                proxy(&gw, request, peer.ip()).await
            }
        }
    }
}

/// A response body: the upstream's, streamed, or one the gateway wrote.
#[derive(Debug)]
enum GatewayBody {
    Upstream(PooledBody),
    Local(Body),
}

fn local(response: Response) -> http::Response<GatewayBody> {
    response.map(GatewayBody::Local)
}

impl http_body::Body for GatewayBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            GatewayBody::Upstream(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            GatewayBody::Local(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            GatewayBody::Upstream(b) => b.is_end_stream(),
            GatewayBody::Local(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            GatewayBody::Upstream(b) => b.size_hint(),
            GatewayBody::Local(b) => b.size_hint(),
        }
    }
}

/// Checks an upstream URL (`http://host[:port][/base]`) and returns the base that request
/// paths are appended to. Run it before anything slow, so a typo fails at once.
pub fn upstream_base(upstream: &str) -> Result<String, Error> {
    let parsed: Uri = upstream
        .parse()
        .map_err(|e| Error::Config(format!("upstream {upstream}: {e}")))?;
    if parsed.scheme_str() != Some("http") {
        return Err(Error::Config(format!(
            "upstream {upstream} must be an http:// URL (run the gateway next to the service)"
        )));
    }
    let authority = parsed
        .authority()
        .ok_or_else(|| Error::Config(format!("upstream {upstream} has no host")))?;
    Ok(format!(
        "http://{authority}{}",
        parsed.path().trim_end_matches('/')
    ))
}

/// Listens on `addr` and runs the gateway within `limits` until `shutdown` fires.
///
/// Connections are served by [`GatewayConfig::workers`] threads, each a single-threaded
/// runtime with its own upstream pool, like nginx's worker processes: a request and its
/// upstream exchange then stay on one thread, with no wake-up across threads (against nginx
/// on two cores this served 1.4x to 1.5x the requests per second of one shared
/// multi-threaded runtime: docs/benchmarks.md). The accept loop, key fetches and the
/// revocation feed run on the caller's runtime. A request that takes long on the CPU (an
/// RSA-OAEP decryption, say) holds up the other connections of its worker meanwhile.
pub async fn serve(
    addr: SocketAddr,
    verifier: Arc<Verifier>,
    config: GatewayConfig,
    limits: Limits,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))?;
    serve_listener(listener, verifier, config, limits, shutdown).await
}

/// [`serve`] on a listener already bound.
pub async fn serve_listener(
    listener: tokio::net::TcpListener,
    verifier: Arc<Verifier>,
    config: GatewayConfig,
    limits: Limits,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let upstream = config.upstream.clone();
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Config(format!("cannot read the listening address: {e}")))?;
    let count = config
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let tunnels = Arc::new(Semaphore::new(config.max_tunnels));
    // Stops the worker threads when this returns, early (an error) or not.
    let (trigger, stopped) = Shutdown::new();
    let stop = StopOnDrop(trigger);
    let mut workers = Vec::with_capacity(count);
    let mut threads = Vec::with_capacity(count);
    for n in 0..count {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Config(format!("cannot start a worker runtime: {e}")))?;
        workers.push(Worker {
            runtime: runtime.handle().clone(),
            handler: handler(verifier.clone(), config.clone(), tunnels.clone())?,
        });
        let stopped = stopped.clone();
        let thread = std::thread::Builder::new()
            .name(format!("gateway-{n}"))
            .spawn(move || runtime.block_on(stopped.fired()))
            .map_err(|e| Error::Config(format!("cannot start a worker thread: {e}")))?;
        threads.push(thread);
    }
    tracing::info!(%addr, %upstream, workers = count, "gateway listening");
    tessera_listen::serve_on(listener, None, workers, limits, shutdown).await;
    drop(stop);
    // The threads end their runtimes (and whatever was left on them) once stopped.
    let _ = tokio::task::spawn_blocking(move || {
        for thread in threads {
            let _ = thread.join();
        }
    })
    .await;
    Ok(())
}

/// Fires its trigger when dropped.
struct StopOnDrop(ShutdownTrigger);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.fire();
    }
}

/// `auth_request` / ForwardAuth: 200 with the claim headers, or the refusal.
///
/// A DPoP proof names the original request, which the proxy describes in
/// `X-Forwarded-Method` and `X-Forwarded-Uri` (Traefik and Caddy set them, and so does the
/// nginx recipe, replacing whatever a client sent). The proxy is this endpoint's only client.
async fn verify(gw: &Gateway, method: &Method, headers: &HeaderMap) -> Response {
    let forwarded = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let method = forwarded("x-forwarded-method").unwrap_or(method.as_str());
    let path = forwarded("x-forwarded-uri")
        .map_or("/verify", |uri| uri.split(['?', '#']).next().unwrap_or("/"));
    match authenticate(&gw.verifier, &gw.guard, method, path, headers).await {
        Ok(jwt) => {
            let mut response = StatusCode::OK.into_response();
            let authorization = headers.get(header::AUTHORIZATION);
            if let Err(refusal) = set_identity_headers(
                response.headers_mut(),
                &jwt,
                authorization.unwrap_or(&NO_AUTHORIZATION),
                gw.oauth2_proxy_headers,
            ) {
                return refused(gw, &refusal, authorization);
            }
            response
        }
        Err(rejection) => rejection.into_response(),
    }
}

/// True if a segment of `path` is `.` or `..` (before any `;` parameters), or holds a `/`
/// or `\\`, once percent-decoded (what an upstream might resolve to leave the gateway's
/// base path).
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|segment| {
        // `..;x` is `..` to servers that take `;` as path parameters (Tomcat, Jetty).
        // Decoded byte by byte, without a copy.
        let (mut dots, mut other) = (0, false);
        for b in percent_encoding::percent_decode_str(segment).take_while(|b| *b != b';') {
            match b {
                b'/' | b'\\' => return true,
                b'.' => dots += 1,
                _ => other = true,
            }
        }
        !other && (dots == 1 || dots == 2)
    })
}

async fn proxy(
    gw: &Arc<Gateway>,
    mut request: http::Request<Incoming>,
    peer: std::net::IpAddr,
) -> http::Response<GatewayBody> {
    let answer = |status, message| local(error(status, message));
    if request
        .headers()
        .get_all(header::HOST)
        .iter()
        .nth(1)
        .is_some()
    {
        return answer(StatusCode::BAD_REQUEST, "more than one Host header");
    }
    let jwt = match authenticate(
        &gw.verifier,
        &gw.guard,
        request.method().as_str(),
        request.uri().path(),
        request.headers(),
    )
    .await
    {
        Ok(jwt) => jwt,
        Err(rejection) => return local(rejection.into_response()),
    };
    if !request.uri().path().starts_with('/') {
        // `OPTIONS *` and other non-origin forms: nothing the upstream could serve.
        return answer(StatusCode::BAD_REQUEST, "the request target must be a path");
    }
    if has_dot_segment(request.uri().path()) {
        // `/../admin` would leave the upstream's base path on an upstream that
        // normalises paths.
        return answer(
            StatusCode::BAD_REQUEST,
            "dot segments and encoded slashes are not allowed in the path",
        );
    }
    let Some(uri) = gw.upstream_uri(request.uri()) else {
        return answer(StatusCode::BAD_REQUEST, "unusable request path");
    };
    // Read before the hop-by-hop headers go: an HTTP/1.1 upgrade keeps its `Upgrade`.
    let upgrade = upgrade_protocol(&request);
    // The authority of the request target (HTTP/2 `:authority`, or an HTTP/1.1
    // absolute-form target) wins over `Host` (RFC 9112 section 3.2.2).
    let authority = request
        .uri()
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
    let h2 = request.version() == Version::HTTP_2;
    let headers = request.headers_mut();
    // Taken out while the other headers are rewritten, then put back; `authenticate` has
    // refused a repeated `Authorization` already.
    let authorization = headers.remove(header::AUTHORIZATION);
    let client_forwarded_for = gw
        .keep_forwarded_for
        .then(|| forwarded_for_chain(headers))
        .flatten();
    strip_hop_by_hop(headers);
    strip_client_identity_headers(headers);
    if h2 {
        join_cookies(headers);
    }
    // `Host` goes either way (the upstream gets its own); one removal, not two.
    let client_host = headers.remove(header::HOST);
    let host = authority.or(client_host);
    if let Some(host) = &host {
        headers.insert(X_FORWARDED_HOST, host.clone());
    }
    let forwarded_for = match &client_forwarded_for {
        Some(earlier) => HeaderValue::from_str(&format!("{earlier}, {peer}")).ok(),
        None => gw.peer_header(peer),
    };
    if let Some(v) = forwarded_for {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    if gw.forwarded {
        if let Some(v) = forwarded_header(Some(peer), host.as_ref()) {
            headers.insert(header::FORWARDED, v);
        }
    }
    if let Err(refusal) = set_identity_headers(
        headers,
        &jwt,
        authorization.as_ref().unwrap_or(&NO_AUTHORIZATION),
        gw.oauth2_proxy_headers,
    ) {
        return local(refused(gw, &refusal, authorization.as_ref()));
    }
    if let Some(authorization) = authorization {
        headers.insert(header::AUTHORIZATION, authorization);
    }
    *request.uri_mut() = uri;
    // The upstream connection is HTTP/1.1 whatever the client spoke.
    *request.version_mut() = Version::HTTP_11;
    if let Some(protocol) = upgrade {
        return tunnel(gw, request, protocol).await;
    }

    match tokio::time::timeout(gw.upstream_timeout, gw.upstream.send(request, true)).await {
        Ok(Ok(response)) => {
            let mut response = response.map(GatewayBody::Upstream);
            strip_hop_by_hop(response.headers_mut());
            response
        }
        Err(_) => local(upstream_timed_out(gw)),
        Ok(Err(e)) => local(upstream_failed(gw, &e)),
    }
}

impl Gateway {
    /// `ip` as a header value, from the last one formatted when it is the same peer.
    fn peer_header(&self, ip: std::net::IpAddr) -> Option<HeaderValue> {
        let mut last = self.last_peer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((cached, value)) = &*last {
            if *cached == ip {
                return Some(value.clone());
            }
        }
        let value = HeaderValue::from_str(&ip.to_string()).ok()?;
        *last = Some((ip, value.clone()));
        Some(value)
    }

    /// The upstream request target (origin form) for a request target: its path and query
    /// after the prefix (shared, not copied, when there is no prefix).
    fn upstream_uri(&self, target: &Uri) -> Option<Uri> {
        let path_and_query = match (target.path_and_query(), self.prefix.is_empty()) {
            (Some(pq), true) => pq.clone(),
            (None, true) => http::uri::PathAndQuery::from_static("/"),
            (pq, false) => format!("{}{}", self.prefix, pq.map_or("/", |p| p.as_str()))
                .parse()
                .ok()?,
        };
        Some(Uri::from(path_and_query))
    }
}

/// A verified token whose identity cannot be forwarded, refused in the scheme it came in.
fn refused(gw: &Gateway, refusal: &Unforwardable, authorization: Option<&HeaderValue>) -> Response {
    let scheme = authorization
        .and_then(|v| tessera_contract::access_token_of(v).ok())
        .map(|(scheme, _)| scheme);
    refusal
        .rejection()
        .in_scheme(scheme, gw.verifier.dpop().algs())
        .into_response()
}

/// What a request without `Authorization` is treated as having (none passes
/// `authenticate`; this keeps the identity headers from depending on it).
const NO_AUTHORIZATION: HeaderValue = HeaderValue::from_static("");

fn upstream_timed_out(gw: &Gateway) -> Response {
    tracing::warn!(upstream = %gw.base, timeout = ?gw.upstream_timeout, "upstream did not answer in time");
    error(
        StatusCode::GATEWAY_TIMEOUT,
        "the upstream service did not answer in time",
    )
}

fn upstream_failed(gw: &Gateway, e: &UpstreamError) -> Response {
    tracing::warn!(upstream = %gw.base, error = %e, "upstream request failed");
    error(
        StatusCode::BAD_GATEWAY,
        "the upstream service is unavailable",
    )
}

/// The protocol an HTTP/1.1 request asks to switch to (`Upgrade`, with `upgrade` among the
/// `Connection` options), if any.
fn upgrade_protocol<B>(request: &http::Request<B>) -> Option<HeaderValue> {
    if request.version() != Version::HTTP_11 {
        return None;
    }
    let asks = request
        .headers()
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|option| option.trim().eq_ignore_ascii_case("upgrade"));
    if !asks {
        return None;
    }
    request.headers().get(header::UPGRADE).cloned()
}

/// Forwards an upgrade request; on the upstream's `101`, joins the client's connection to
/// the upstream's and copies bytes both ways until either side closes.
async fn tunnel(
    gw: &Arc<Gateway>,
    mut request: http::Request<Incoming>,
    protocol: HeaderValue,
) -> http::Response<GatewayBody> {
    let Ok(permit) = gw.tunnels.clone().try_acquire_owned() else {
        tracing::warn!("upgrade refused: too many open tunnels");
        return local(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many upgraded connections are open",
        ));
    };
    let client_side = hyper::upgrade::on(&mut request);
    let headers = request.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, protocol);
    let mut response =
        match tokio::time::timeout(gw.upstream_timeout, gw.upstream.send(request, false)).await {
            Ok(Ok(response)) => response,
            Err(_) => return local(upstream_timed_out(gw)),
            Ok(Err(e)) => return local(upstream_failed(gw, &e)),
        };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The upstream declined: an ordinary answer.
        let mut response = response.map(GatewayBody::Upstream);
        strip_hop_by_hop(response.headers_mut());
        return response;
    }
    let upstream_side = hyper::upgrade::on(&mut response);
    let base = gw.base.clone();
    tokio::spawn(async move {
        let _permit = permit;
        let (client, upstream) = match tokio::join!(client_side, upstream_side) {
            (Ok(client), Ok(upstream)) => (client, upstream),
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!(upstream = %base, error = %e, "upgrade did not complete");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut upstream = TokioIo::new(upstream);
        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
            tracing::debug!(upstream = %base, error = %e, "tunnel ended with an error");
        }
    });
    let (mut parts, _) = response.into_parts();
    let upgrade_to = parts.headers.get(header::UPGRADE).cloned();
    strip_hop_by_hop(&mut parts.headers);
    if let Some(upgrade_to) = upgrade_to {
        parts.headers.insert(header::UPGRADE, upgrade_to);
    }
    parts
        .headers
        .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    http::Response::from_parts(parts, GatewayBody::Local(Body::empty()))
}

/// The client's `X-Forwarded-For` chain as one line, if it has one worth keeping.
fn forwarded_for_chain(headers: &HeaderMap) -> Option<String> {
    let parts: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// HTTP/2 may split `cookie` into several fields; an HTTP/1.1 upstream needs one
/// (RFC 9113 section 8.2.3).
fn join_cookies(headers: &mut HeaderMap) {
    let values: Vec<HeaderValue> = headers.get_all(header::COOKIE).iter().cloned().collect();
    if values.len() < 2 {
        return;
    }
    let mut joined = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(v.as_bytes());
    }
    if let Ok(v) = HeaderValue::from_bytes(&joined) {
        headers.insert(header::COOKIE, v);
    }
}

/// RFC 7239 `Forwarded: for=...;host="...";proto=http`.
fn forwarded_header(
    peer: Option<std::net::IpAddr>,
    host: Option<&HeaderValue>,
) -> Option<HeaderValue> {
    let mut parts = Vec::new();
    match peer {
        Some(std::net::IpAddr::V6(ip)) => parts.push(format!("for=\"[{ip}]\"")),
        Some(ip) => parts.push(format!("for={ip}")),
        None => {}
    }
    if let Some(host) = host.and_then(|h| h.to_str().ok()) {
        let quoted = host.replace('\\', "\\\\").replace('"', "\\\"");
        parts.push(format!("host=\"{quoted}\""));
    }
    parts.push("proto=http".to_owned());
    HeaderValue::from_str(&parts.join(";")).ok()
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names present (most requests carry none of these, and most
    // responses only `Connection: keep-alive`), without allocating: a bit per listed name.
    // Names are compared and removed as `HeaderName`s: no parsing, and a standard name is
    // compared as a number.
    let mut present = 0u8;
    for name in headers.keys() {
        if let Some(i) = HOP_BY_HOP.iter().position(|h| h == name) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    // Without a `Connection` header no other name can be listed. Its values are copied out
    // (a reference count each) before the names they list are removed.
    if present & 1 != 0 {
        let mut values = headers.get_all(header::CONNECTION).iter();
        let first = values.next().cloned();
        if values.next().is_none() {
            if let Some(only) = first {
                remove_listed(headers, &only);
            }
        } else {
            let listed: Vec<HeaderValue> = headers
                .get_all(header::CONNECTION)
                .iter()
                .cloned()
                .collect();
            for value in &listed {
                remove_listed(headers, value);
            }
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
}

/// Removes the headers a `Connection` value lists, but for the hop-by-hop ones (removed
/// anyway: `keep-alive` is the usual option).
fn remove_listed(headers: &mut HeaderMap, connection: &HeaderValue) {
    let Ok(value) = connection.to_str() else {
        return;
    };
    for name in value.split(',').map(str::trim) {
        if HOP_BY_HOP
            .iter()
            .any(|h| h.as_str().eq_ignore_ascii_case(name))
        {
            continue;
        }
        // A `&str` name is looked up without an allocation; an invalid one matches nothing.
        headers.remove(name);
    }
}

/// Removes every header a client could use to pass as someone else or somewhere else:
/// `X-Tessera-*`, the oauth2-proxy identity headers and `X-Auth-Request-*`, and the
/// forwarding headers; however spelt (`X_Tessera_Sub` too: some servers treat `_` and `-`
/// alike).
pub fn strip_client_identity_headers(headers: &mut HeaderMap) {
    let owned: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let name = name.as_str().as_bytes();
            spelt_with_prefix(name, CLAIM_HEADER_PREFIX)
                || spelt_with_prefix(name, "x-auth-request-")
                || CLIENT_FORWARDING.iter().any(|c| spelt_as(name, c))
                || OAUTH2_PROXY_HEADERS.iter().any(|c| spelt_as(name, c))
        })
        .cloned()
        .collect();
    for name in owned {
        headers.remove(name);
    }
}

/// `name` (lower case, as a `HeaderMap` keeps it) is `canonical` with any `-` written `_`.
fn spelt_as(name: &[u8], canonical: &str) -> bool {
    name.len() == canonical.len() && spelt_with_prefix(name, canonical)
}

/// `name` starts with `prefix`, any `-` of which may be written `_`.
fn spelt_with_prefix(name: &[u8], prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name
            .iter()
            .zip(prefix.as_bytes())
            .all(|(&n, &p)| n == p || (p == b'-' && n == b'_'))
}

/// A claim the gateway cannot put in a header without changing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unforwardable {
    /// The claim's name.
    pub claim: &'static str,
}

impl Unforwardable {
    /// The verifier's `invalid_token` refusal, naming the claim.
    pub fn rejection(&self) -> Rejection {
        tracing::warn!(
            claim = self.claim,
            "token refused: a claim cannot be forwarded in a header exactly"
        );
        let description = match self.claim {
            "sub" => "the sub claim cannot be forwarded in a header exactly",
            "iss" => "the iss claim cannot be forwarded in a header exactly",
            "role" => "the role claim cannot be forwarded in a header exactly",
            "scope" => "the scope claim cannot be forwarded in a header exactly",
            "email" => "the email claim cannot be forwarded in a header exactly",
            "preferred_username" => {
                "the preferred_username claim cannot be forwarded in a header exactly"
            }
            "groups" => "the groups claim cannot be forwarded in a header exactly",
            _ => "the token cannot be forwarded in a header exactly",
        };
        Rejection::InvalidToken { description }
    }
}

impl IntoResponse for Unforwardable {
    /// The verifier's RFC 6750 `invalid_token` refusal, naming the claim.
    fn into_response(self) -> Response {
        self.rejection().into_response()
    }
}

/// `value` as a header value, byte for byte, or `None` if HTTP cannot carry it exactly:
/// control characters (CR, LF, NUL, DEL, tab...) and white space at either end (which
/// parsers strip). Non-ASCII text goes as its UTF-8 bytes.
pub fn exact_header_value(value: &str) -> Option<HeaderValue> {
    if value.bytes().any(|b| b < 0x20 || b == 0x7f)
        || value.starts_with(' ')
        || value.ends_with(' ')
    {
        return None;
    }
    HeaderValue::from_bytes(value.as_bytes()).ok()
}

/// Puts the verified claims of `jwt` (verified from the token in `authorization`, the
/// request's `Authorization` value) in the `X-Tessera-*` headers, and with `oauth2_proxy` the
/// oauth2-proxy header set too; refuses a claim a header cannot carry exactly.
///
/// The headers are built once per verified token and kept with it ([`Jwt::derived`]): with
/// a token cache, the later requests bearing that token reuse them, without reading the
/// token out of `authorization` again.
pub fn set_identity_headers(
    headers: &mut HeaderMap,
    jwt: &Jwt,
    authorization: &HeaderValue,
    oauth2_proxy: bool,
) -> Result<(), Unforwardable> {
    let kept = jwt.derived(|| Identity::of(jwt, authorization, oauth2_proxy));
    let fresh;
    let identity = if kept.is_for(authorization, oauth2_proxy) {
        &*kept
    } else {
        // Not what was kept (another header set, or the token presented another way):
        // built anew.
        fresh = Identity::of(jwt, authorization, oauth2_proxy);
        &fresh
    };
    let built = identity.headers.as_ref().map_err(Clone::clone)?;
    for (name, value) in built {
        headers.insert(name.clone(), value.clone());
    }
    Ok(())
}

/// The identity headers of one token, or the claim that cannot be sent.
#[derive(Debug)]
struct Identity {
    /// What they were built from.
    authorization: HeaderValue,
    oauth2_proxy: bool,
    headers: Result<Vec<(HeaderName, HeaderValue)>, Unforwardable>,
}

impl Identity {
    fn is_for(&self, authorization: &HeaderValue, oauth2_proxy: bool) -> bool {
        self.oauth2_proxy == oauth2_proxy && self.authorization == *authorization
    }

    fn of(jwt: &Jwt, authorization: &HeaderValue, oauth2_proxy: bool) -> Identity {
        let token = tessera_contract::access_token_of(authorization).map_or("", |(_, t)| t);
        Identity {
            // A copy: the request's value shares the connection's read buffer, which this
            // would otherwise keep alive as long as the token is cached.
            authorization: HeaderValue::from_bytes(authorization.as_bytes())
                .unwrap_or_else(|_| authorization.clone()),
            oauth2_proxy,
            headers: identity_headers(jwt, token, oauth2_proxy),
        }
    }
}

const X_TESSERA_SUB: HeaderName = HeaderName::from_static("x-tessera-sub");
const X_TESSERA_ISS: HeaderName = HeaderName::from_static("x-tessera-iss");
const X_TESSERA_ROLE: HeaderName = HeaderName::from_static("x-tessera-role");
const X_TESSERA_SCOPE: HeaderName = HeaderName::from_static("x-tessera-scope");
const X_TESSERA_CLAIMS: HeaderName = HeaderName::from_static("x-tessera-claims");
const X_FORWARDED_USER: HeaderName = HeaderName::from_static("x-forwarded-user");
const X_FORWARDED_EMAIL: HeaderName = HeaderName::from_static("x-forwarded-email");
const X_FORWARDED_PREFERRED_USERNAME: HeaderName =
    HeaderName::from_static("x-forwarded-preferred-username");
const X_FORWARDED_GROUPS: HeaderName = HeaderName::from_static("x-forwarded-groups");
const X_FORWARDED_ACCESS_TOKEN: HeaderName = HeaderName::from_static("x-forwarded-access-token");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// The headers [`set_identity_headers`] sets, built from the claims.
fn identity_headers(
    jwt: &Jwt,
    token: &str,
    oauth2_proxy: bool,
) -> Result<Vec<(HeaderName, HeaderValue)>, Unforwardable> {
    let claims = jwt.claims();
    let string = |claim: &str| claims.get_str(claim);
    let mut headers = Vec::with_capacity(10);
    let mut set = |name: HeaderName, claim: &'static str, value: Option<&str>| {
        if let Some(value) = value {
            let v = exact_header_value(value).ok_or(Unforwardable { claim })?;
            headers.push((name, v));
        }
        Ok(())
    };
    set(X_TESSERA_SUB, "sub", string("sub"))?;
    set(X_TESSERA_ISS, "iss", string("iss"))?;
    set(X_TESSERA_ROLE, "role", string("role"))?;
    set(X_TESSERA_SCOPE, "scope", string("scope"))?;
    if oauth2_proxy {
        set(X_FORWARDED_USER, "sub", string("sub"))?;
        set(X_FORWARDED_EMAIL, "email", string("email"))?;
        set(
            X_FORWARDED_PREFERRED_USERNAME,
            "preferred_username",
            string("preferred_username"),
        )?;
        let groups = match claims.get("groups") {
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => string("role").map(str::to_owned),
        };
        set(X_FORWARDED_GROUPS, "groups", groups.as_deref())?;
        set(X_FORWARDED_ACCESS_TOKEN, "token", Some(token))?;
    }
    // The payload as signed (a checked JSON object). For a compact JWS (three segments)
    // that is the token's own payload segment, the one base64url encoding of those bytes
    // (the decoder accepts canonical text only), so nothing is encoded again; anything else
    // is encoded from the verified bytes.
    let mut segments = token.split('.');
    let segment = match (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) {
        (Some(_), Some(payload), Some(_), None) if !payload.is_empty() => Some(payload),
        _ => None,
    };
    let value = match segment.and_then(|s| HeaderValue::from_str(s).ok()) {
        Some(value) => value,
        None => HeaderValue::from_str(&URL_SAFE_NO_PAD.encode(claims.raw()))
            .map_err(|_| Unforwardable { claim: "claims" })?,
    };
    headers.push((X_TESSERA_CLAIMS, value));
    Ok(headers)
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_and_encoded_slashes_are_found_however_written() {
        for path in [
            "/a/../b",
            "/a/./b",
            "/a/%2e%2E/b",
            "/a/%2e",
            "/..",
            "/a/..;jsessionid=x/b",
            "/a/.%3bx/b",
            "/a/b%2Fc",
            "/a/b%5cc",
        ] {
            assert!(has_dot_segment(path), "{path}");
        }
        for path in [
            "/", "/api/x", "/a/.../b", "/a/.b/c", "/a/b./c", "/a/b;%2F", "/a/%2x",
        ] {
            assert!(!has_dot_segment(path), "{path}");
        }
    }

    #[test]
    fn hop_by_hop_and_connection_named_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-private"),
        );
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn every_connection_header_is_read_and_odd_names_in_it_are_harmless() {
        let mut h = HeaderMap::new();
        h.append("connection", HeaderValue::from_static("x-one, , bad name"));
        h.append("connection", HeaderValue::from_static("X-Two"));
        h.insert("x-one", HeaderValue::from_static("1"));
        h.insert("x-two", HeaderValue::from_static("2"));
        h.insert("upgrade", HeaderValue::from_static("websocket"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["x-kept"]);
        assert_eq!(HOP_BY_HOP[0], "connection");
    }

    #[test]
    fn identity_and_forwarding_headers_from_clients_are_removed_however_spelt() {
        let mut h = HeaderMap::new();
        for name in [
            "x-tessera-sub",
            "x_tessera_role",
            "forwarded",
            "x-forwarded-for",
            "x_forwarded_host",
            "x-forwarded-port",
            "x-forwarded-prefix",
            "x-forwarded-server",
            "x-real-ip",
            "x-original-url",
            "x-rewrite-url",
            "x-host",
            "x-forwarded-user",
            "x_forwarded_email",
            "x-forwarded-preferred-username",
            "x-forwarded-groups",
            "x-forwarded-access-token",
            "x-auth-request-user",
        ] {
            h.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("forged"),
            );
        }
        h.insert("x-tessera", HeaderValue::from_static("kept"));
        h.insert("x-other", HeaderValue::from_static("kept"));
        h.insert("x-forwarded", HeaderValue::from_static("kept"));
        strip_client_identity_headers(&mut h);
        let mut left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["x-forwarded", "x-other", "x-tessera"]);
    }

    #[test]
    fn names_match_with_underscores_for_hyphens_only() {
        assert!(spelt_as(b"x-forwarded-for", "x-forwarded-for"));
        assert!(spelt_as(b"x_forwarded_for", "x-forwarded-for"));
        assert!(spelt_as(b"x-forwarded_for", "x-forwarded-for"));
        assert!(!spelt_as(b"x-forwarded-fo", "x-forwarded-for"));
        assert!(!spelt_as(b"x-forwarded-forx", "x-forwarded-for"));
        // `_` stands for `-` only, not for any other character.
        assert!(!spelt_as(b"x_real_ip", "x-realxip"));
        assert!(!spelt_as(b"x-real-ip", "x_real_ip"));
        assert!(spelt_with_prefix(b"x_tessera_sub", CLAIM_HEADER_PREFIX));
        assert!(spelt_with_prefix(b"x-tessera-", CLAIM_HEADER_PREFIX));
        assert!(!spelt_with_prefix(b"x-tessera", CLAIM_HEADER_PREFIX));
        assert!(!spelt_with_prefix(b"x-tesserb-sub", CLAIM_HEADER_PREFIX));
    }

    #[test]
    fn a_header_carries_a_claim_exactly_or_not_at_all() {
        assert_eq!(exact_header_value("jane").unwrap(), "jane");
        assert_eq!(exact_header_value("a b").unwrap(), "a b");
        let accented = exact_header_value("José Müller").unwrap();
        assert_eq!(accented.as_bytes(), "José Müller".as_bytes());
        for bad in [
            "admin\r\nx-tessera-role: admin",
            "a\nb",
            "nul\0",
            "del\u{7f}",
            "tab\there",
            " padded",
            "padded ",
        ] {
            assert!(exact_header_value(bad).is_none(), "{bad:?}");
        }
    }

    /// A token with `claims` and the `Jwt` it verifies to.
    fn verified(claims: Value) -> (String, Jwt) {
        use tessera_jose::{Algorithm, Jwk, JwkSet, KeySet, SigningKey, UnverifiedJwt, Validation};
        let jwk = Jwk::generate(Algorithm::ES256, None).unwrap();
        let token = SigningKey::from_jwk(&jwk, None)
            .unwrap()
            .sign_jwt(&claims)
            .unwrap();
        let public = JwkSet::new(vec![jwk]).to_public().to_json();
        let keys = KeySet::from_slice(public.as_bytes()).unwrap();
        let jwt = UnverifiedJwt::parse(&token)
            .unwrap()
            .verify(&keys, &Validation::new())
            .unwrap();
        (token, jwt)
    }

    #[test]
    fn identity_headers_are_built_once_per_token_and_only_for_what_they_were_built() {
        let exp = tessera_jose::unix_now() + 600;
        let (token, jwt) = verified(json!({"sub": "jane", "email": "j@x", "exp": exp}));
        let bearer = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        let mut first = HeaderMap::new();
        set_identity_headers(&mut first, &jwt, &bearer, false).unwrap();
        assert_eq!(first["x-tessera-sub"], "jane");
        assert_eq!(first["x-tessera-claims"], token.split('.').nth(1).unwrap());
        assert!(first.get("x-forwarded-user").is_none());
        // Kept with the token: a clone (what a cache hit is) finds them built.
        let kept = jwt.clone().derived(|| -> Identity { unreachable!() });
        assert!(kept.is_for(&bearer, false));
        let mut again = HeaderMap::new();
        set_identity_headers(&mut again, &jwt.clone(), &bearer, false).unwrap();
        assert_eq!(again, first);
        // Another header set for the same token is built for it, not taken from the kept one.
        let mut oauth2 = HeaderMap::new();
        set_identity_headers(&mut oauth2, &jwt, &bearer, true).unwrap();
        assert_eq!(oauth2["x-forwarded-user"], "jane");
        assert_eq!(oauth2["x-forwarded-email"], "j@x");
        assert_eq!(oauth2["x-forwarded-access-token"], token.as_str());
        // So is another `Authorization` value given with this `Jwt` (a caller's mistake).
        let other = HeaderValue::from_str(&format!("DPoP {token}x")).unwrap();
        let mut mismatched = HeaderMap::new();
        set_identity_headers(&mut mismatched, &jwt, &other, true).unwrap();
        assert_eq!(
            mismatched["x-forwarded-access-token"],
            format!("{token}x").as_str()
        );
        // Without a compact token to take the payload segment from, the claims are encoded.
        let mut none = HeaderMap::new();
        set_identity_headers(&mut none, &jwt, &NO_AUTHORIZATION, false).unwrap();
        assert_eq!(none["x-tessera-claims"], first["x-tessera-claims"]);
    }

    #[test]
    fn a_claim_no_header_can_carry_is_refused_every_time() {
        let exp = tessera_jose::unix_now() + 600;
        let (token, jwt) = verified(json!({"sub": "jane\r\nx-tessera-role: admin", "exp": exp}));
        let bearer = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        for _ in 0..2 {
            let mut h = HeaderMap::new();
            let refusal = set_identity_headers(&mut h, &jwt.clone(), &bearer, false).unwrap_err();
            assert_eq!(refusal.claim, "sub");
            assert!(h.is_empty(), "{h:?}");
        }
    }

    #[test]
    fn forwarded_quotes_ipv6_and_the_host() {
        let host = HeaderValue::from_static("app.example:8443");
        assert_eq!(
            forwarded_header(Some("192.0.2.7".parse().unwrap()), Some(&host)).unwrap(),
            "for=192.0.2.7;host=\"app.example:8443\";proto=http"
        );
        let odd = HeaderValue::from_static("a\"b");
        assert_eq!(
            forwarded_header(Some("2001:db8::1".parse().unwrap()), Some(&odd)).unwrap(),
            "for=\"[2001:db8::1]\";host=\"a\\\"b\";proto=http"
        );
    }

    #[test]
    fn http2_cookie_fields_become_one_header() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        join_cookies(&mut h);
        let all: Vec<_> = h.get_all(header::COOKIE).iter().collect();
        assert_eq!(all, ["a=1; b=2"]);
    }

    #[test]
    fn upstream_must_be_plain_http() {
        let verifier = Arc::new(
            Verifier::builder()
                .issuer(tessera_verifier::Issuer::jwks("https://a.example/jwks"))
                .build()
                .unwrap(),
        );
        let config = |u: &str| GatewayConfig::new(u);
        let tunnels = || Arc::new(Semaphore::new(1));
        assert!(handler(verifier.clone(), config("https://svc.internal"), tunnels()).is_err());
        assert!(handler(verifier.clone(), config("not a url"), tunnels()).is_err());
        assert!(handler(verifier, config("http://127.0.0.1:8080/api/"), tunnels()).is_ok());
    }
}
