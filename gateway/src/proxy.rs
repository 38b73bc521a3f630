//! The verifying gateway (`tessera gateway`): a reverse proxy that lets only requests with
//! a valid token through, with the verified claims in headers, and `/verify` for nginx
//! `auth_request` and Traefik ForwardAuth.
//!
//! Headers set for the upstream (and on `/verify` answers):
//! - `X-Tessera-Sub`, `X-Tessera-Iss`, `X-Tessera-Role`, `X-Tessera-Scope`: those claims,
//!   when present as strings;
//! - `X-Tessera-Claims`: every claim, as base64url (no padding) of the JSON object.
//!
//! Any `X-Tessera-*` header the client sent (also spelt with underscores) is removed first,
//! so the upstream can trust them. Hop-by-hop headers (RFC 9110 section 7.6.1, and those
//! named in `Connection`) are not forwarded in either direction. Bodies are streamed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Uri, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tessera_jose::Jwt;

use tessera_listen::{Limits, Shutdown};
use tessera_verifier::{authenticate, Guard, Verifier};

use crate::Error;

/// Prefix of the headers the gateway owns.
pub const CLAIM_HEADER_PREFIX: &str = "x-tessera-";

/// Hop-by-hop headers, never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
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
    client: Client<HttpConnector, Body>,
}

/// The gateway's routes: `/verify` and, for every other path and method, the proxy.
pub fn router(verifier: Arc<Verifier>, config: GatewayConfig) -> Result<Router, Error> {
    let base = upstream_base(&config.upstream)?;
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let gateway = Arc::new(Gateway {
        verifier,
        guard: config.guard,
        upstream_timeout: config.upstream_timeout,
        base,
        client,
    });
    Ok(Router::new()
        .route("/verify", any(verify))
        .fallback(proxy)
        .with_state(gateway))
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
pub async fn serve(
    addr: SocketAddr,
    verifier: Arc<Verifier>,
    config: GatewayConfig,
    limits: Limits,
    shutdown: Shutdown,
) -> Result<(), Error> {
    let upstream = config.upstream.clone();
    let app = router(verifier, config)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))?;
    tracing::info!(%addr, %upstream, "gateway listening");
    tessera_listen::serve_router(listener, None, app, limits, shutdown).await;
    Ok(())
}

/// `auth_request` / ForwardAuth: 200 with the claim headers, or the refusal.
async fn verify(State(gw): State<Arc<Gateway>>, headers: HeaderMap) -> Response {
    match authenticate(&gw.verifier, &gw.guard, &headers).await {
        Ok(jwt) => {
            let mut response = StatusCode::OK.into_response();
            set_claim_headers(response.headers_mut(), &jwt);
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
        let decoded: Vec<u8> = percent_encoding::percent_decode_str(segment).collect();
        let decoded = match decoded.iter().position(|b| *b == b';') {
            Some(at) => &decoded[..at],
            None => &decoded[..],
        };
        decoded == b"." || decoded == b".." || decoded.iter().any(|b| matches!(b, b'/' | b'\\'))
    })
}

async fn proxy(State(gw): State<Arc<Gateway>>, mut request: Request) -> Response {
    let jwt = match authenticate(&gw.verifier, &gw.guard, request.headers()).await {
        Ok(jwt) => jwt,
        Err(rejection) => return rejection.into_response(),
    };
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    if !request.uri().path().starts_with('/') {
        // `OPTIONS *` and other non-origin forms: nothing the upstream could serve.
        return error(StatusCode::BAD_REQUEST, "the request target must be a path");
    }
    if has_dot_segment(request.uri().path()) {
        // `/../admin` would leave the upstream's base path on an upstream that
        // normalises paths.
        return error(
            StatusCode::BAD_REQUEST,
            "dot segments and encoded slashes are not allowed in the path",
        );
    }
    let authority = request
        .uri()
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
    let uri: Uri = match format!("{}{path}", gw.base).parse() {
        Ok(uri) => uri,
        Err(_) => return error(StatusCode::BAD_REQUEST, "unusable request path"),
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = request.headers_mut();
    strip_hop_by_hop(headers);
    strip_claim_headers(headers);
    // Never the client's own X-Forwarded-Host: the Host it used (HTTP/1.1), or the
    // request target's authority (HTTP/2 has no Host header).
    headers.remove("x-forwarded-host");
    let host = headers.remove(header::HOST).or(authority);
    if let Some(host) = host {
        headers.insert(HeaderName::from_static("x-forwarded-host"), host);
    }
    if let Some(ip) = peer {
        let forwarded = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
            Some(earlier) => format!("{earlier}, {ip}"),
            None => ip.to_string(),
        };
        if let Ok(v) = HeaderValue::from_str(&forwarded) {
            headers.insert(HeaderName::from_static("x-forwarded-for"), v);
        }
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("http"),
    );
    set_claim_headers(headers, &jwt);
    *request.uri_mut() = uri;
    // The upstream connection is HTTP/1.1 whatever the client spoke.
    *request.version_mut() = Version::HTTP_11;

    match tokio::time::timeout(gw.upstream_timeout, gw.client.request(request)).await {
        Ok(Ok(response)) => {
            let mut response = response.map(Body::new);
            strip_hop_by_hop(response.headers_mut());
            response
        }
        Err(_) => {
            tracing::warn!(upstream = %gw.base, timeout = ?gw.upstream_timeout, "upstream did not answer in time");
            error(
                StatusCode::GATEWAY_TIMEOUT,
                "the upstream service did not answer in time",
            )
        }
        Ok(Err(e)) => {
            tracing::warn!(upstream = %gw.base, error = %e, "upstream request failed");
            error(
                StatusCode::BAD_GATEWAY,
                "the upstream service is unavailable",
            )
        }
    }
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Removes every `X-Tessera-*` header, however spelt (`X_Tessera_Sub` too: some servers
/// treat `_` and `-` alike).
pub fn strip_claim_headers(headers: &mut HeaderMap) {
    let owned: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            let normalised = name.as_str().replace('_', "-");
            normalised.starts_with(CLAIM_HEADER_PREFIX)
        })
        .cloned()
        .collect();
    for name in owned {
        headers.remove(name);
    }
}

/// Puts the verified claims in the `X-Tessera-*` headers.
pub fn set_claim_headers(headers: &mut HeaderMap, jwt: &Jwt) {
    let claims = jwt.claims();
    for (name, claim) in [
        ("x-tessera-sub", "sub"),
        ("x-tessera-iss", "iss"),
        ("x-tessera-role", "role"),
        ("x-tessera-scope", "scope"),
    ] {
        if let Some(Value::String(value)) = claims.get(claim) {
            match HeaderValue::from_str(value) {
                Ok(v) => {
                    headers.insert(HeaderName::from_static(name), v);
                }
                Err(_) => {
                    tracing::warn!(
                        claim,
                        "claim not representable as a header; see X-Tessera-Claims"
                    )
                }
            }
        }
    }
    // The payload as signed (a checked JSON object), not a re-encoding of it.
    if let Ok(v) = HeaderValue::from_str(&URL_SAFE_NO_PAD.encode(claims.raw())) {
        headers.insert(HeaderName::from_static("x-tessera-claims"), v);
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn client_claim_headers_are_removed_however_spelt() {
        let mut h = HeaderMap::new();
        h.insert("x-tessera-sub", HeaderValue::from_static("admin"));
        h.insert("x_tessera_role", HeaderValue::from_static("admin"));
        h.insert("x-tessera", HeaderValue::from_static("kept"));
        h.insert("x-other", HeaderValue::from_static("kept"));
        strip_claim_headers(&mut h);
        assert_eq!(h.len(), 2);
        assert!(h.contains_key("x-tessera") && h.contains_key("x-other"));
    }

    #[test]
    fn upstream_must_be_plain_http() {
        let verifier = Arc::new(
            Verifier::builder()
                .issuer(tessera_verifier::Issuer::jwks("https://a.example/jwks"))
                .build()
                .unwrap(),
        );
        let config = |u: &str| GatewayConfig {
            upstream: u.into(),
            guard: Guard::new(),
            upstream_timeout: DEFAULT_UPSTREAM_TIMEOUT,
        };
        assert!(router(verifier.clone(), config("https://svc.internal")).is_err());
        assert!(router(verifier.clone(), config("not a url")).is_err());
        assert!(router(verifier, config("http://127.0.0.1:8080/api/")).is_ok());
    }
}
