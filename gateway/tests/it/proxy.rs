//! The gateway end to end: an upstream that echoes what it received, the gateway in front.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::Json;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tessera_gateway::proxy::{self as gateway, GatewayConfig};
use tessera_jose::Algorithm;
use tessera_verifier::{Guard, Issuer, Verifier};

use crate::support::{JwksServer, Key};

async fn echo_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = Router::new().fallback(move |request: Request| {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            let (parts, body) = request.into_parts();
            let body = body.collect().await.unwrap().to_bytes();
            let headers: serde_json::Map<String, Value> = parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        json!(String::from_utf8_lossy(v.as_bytes())),
                    )
                })
                .collect();
            (
                [
                    ("x-upstream", "yes"),
                    ("connection", "x-upstream-private"),
                    ("x-upstream-private", "1"),
                ],
                Json(json!({
                    "method": parts.method.as_str(),
                    "uri": parts.uri.to_string(),
                    "headers": headers,
                    "body_len": body.len(),
                })),
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, calls)
}

/// A verifier trusting one local key set, with no issuer or audience policy.
fn plain_verifier(jwks: &JwksServer) -> Arc<Verifier> {
    Arc::new(
        Verifier::builder()
            .issuer(Issuer::jwks(jwks.url()))
            .build()
            .unwrap(),
    )
}

async fn start_gateway(verifier: Arc<Verifier>, upstream: String, guard: Guard) -> SocketAddr {
    start_gateway_with(verifier, upstream, guard, gateway::DEFAULT_UPSTREAM_TIMEOUT).await
}

async fn start_gateway_with(
    verifier: Arc<Verifier>,
    upstream: String,
    guard: Guard,
    upstream_timeout: Duration,
) -> SocketAddr {
    let config = GatewayConfig {
        guard,
        upstream_timeout,
        ..GatewayConfig::new(upstream)
    };
    start_configured(verifier, config).await
}

/// The gateway as `tessera gateway` runs it: two worker threads, each with its own
/// runtime and upstream pool, connections handed over from the accepting runtime.
async fn start_configured(verifier: Arc<Verifier>, config: GatewayConfig) -> SocketAddr {
    let config = GatewayConfig {
        workers: Some(2),
        ..config
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(gateway::serve_listener(
        listener,
        verifier,
        config,
        tessera_listen::Limits::default(),
        tessera_listen::Shutdown::never(),
    ));
    addr
}

struct Setup {
    key: Key,
    _jwks: JwksServer,
    gateway: SocketAddr,
    calls: Arc<AtomicUsize>,
}

async fn setup(guard: Guard) -> Setup {
    let key = Key::new(Algorithm::EdDSA);
    let jwks = JwksServer::start(&key).await;
    let verifier = Arc::new(
        Verifier::builder()
            .issuer(
                Issuer::jwks(jwks.url())
                    .issuer("https://auth.test")
                    .audience("api"),
            )
            .build()
            .unwrap(),
    );
    let (upstream, calls) = echo_upstream().await;
    let gateway = start_gateway(verifier, format!("http://{upstream}/base/"), guard).await;
    Setup {
        key,
        _jwks: jwks,
        gateway,
        calls,
    }
}

fn token(key: &Key) -> String {
    key.token(json!({"iss": "https://auth.test", "aud": "api", "sub": "jane", "role": "write", "scope": "a b"}))
}

#[tokio::test]
async fn forwards_verified_claims_and_strips_what_the_client_sent() {
    let s = setup(Guard::new()).await;
    let client = reqwest::Client::new();
    let sent = token(&s.key);
    let response = client
        .post(format!("http://{}/orders/7?x=1&y=2", s.gateway))
        .bearer_auth(&sent)
        .header("X-Tessera-Sub", "admin")
        .header("x_tessera_role", "admin")
        .header("X-Tessera-Claims", "e30")
        .header("X-Tessera-Extra", "forged")
        .header("Connection", "x-hop-secret")
        .header("X-Hop-Secret", "1")
        .header("X-Kept", "kept")
        .body(vec![b'z'; 3 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-upstream"], "yes");
    assert!(
        response.headers().get("x-upstream-private").is_none(),
        "hop-by-hop header leaked"
    );
    let echo: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let h = &echo["headers"];
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["uri"], "/base/orders/7?x=1&y=2");
    assert_eq!(echo["body_len"], 3 * 1024 * 1024);
    assert_eq!(h["x-tessera-sub"], "jane");
    assert_eq!(h["x-tessera-role"], "write");
    assert_eq!(h["x-tessera-scope"], "a b");
    assert_eq!(h["x-tessera-iss"], "https://auth.test");
    assert!(h.get("x_tessera_role").is_none());
    assert!(h.get("x-tessera-extra").is_none());
    assert!(h.get("x-hop-secret").is_none());
    assert_eq!(h["x-kept"], "kept");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-host"], s.gateway.to_string());
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(h["x-tessera-claims"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["sub"], "jane");
    assert_eq!(claims["aud"], "api");
    // The token's own payload segment, and the token itself passed on unchanged.
    assert_eq!(h["x-tessera-claims"], sent.split('.').nth(1).unwrap());
    assert_eq!(h["authorization"], format!("Bearer {sent}"));
}

#[tokio::test]
async fn refuses_without_reaching_the_upstream() {
    let s = setup(Guard::new().role("admin")).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/orders", s.gateway);

    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"tessera\"");
    let r = client
        .get(&url)
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));
    // Valid, but without the role.
    let r = client
        .get(&url)
        .bearer_auth(token(&s.key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn dot_segments_cannot_leave_the_base_path() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = setup(Guard::new()).await;
    let bearer = token(&s.key);
    // Raw requests: HTTP clients would resolve the dots before sending.
    let status_of = |path: &'static str| {
        let bearer = bearer.clone();
        let gateway = s.gateway;
        async move {
            let mut stream = tokio::net::TcpStream::connect(gateway).await.unwrap();
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {bearer}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).await.unwrap();
            String::from_utf8_lossy(&reply)
                .split_whitespace()
                .nth(1)
                .unwrap()
                .to_owned()
        }
    };
    for path in [
        "/../admin",
        "/orders/../../admin",
        "/%2e%2e/admin",
        "/.%2E/admin",
        "/a/./b",
        "/..%2fadmin",
        "/..%5cadmin",
        "/..;/admin",
        "/.;x/admin",
    ] {
        assert_eq!(status_of(path).await, "400", "{path}");
    }
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
    // Asterisk-form targets name no path the upstream could serve.
    assert_eq!(status_of("*").await, "400");
    // Dots inside names are fine.
    assert_eq!(status_of("/v1.2/file..txt").await, "200");
}

#[tokio::test]
async fn verify_endpoint_for_auth_request() {
    let s = setup(Guard::new()).await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/verify", s.gateway);
    let r = client
        .get(&url)
        .bearer_auth(token(&s.key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-tessera-sub"], "jane");
    assert_eq!(r.headers()["x-tessera-role"], "write");
    assert!(r.headers().contains_key("x-tessera-claims"));
    // The seed's bare header works too.
    let r = client
        .get(&url)
        .header("authorization", token(&s.key))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("x-tessera-sub").is_none());
    assert_eq!(s.calls.load(Ordering::SeqCst), 0, "/verify must not proxy");
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502() {
    let key = Key::new(Algorithm::ES256);
    let jwks = JwksServer::start(&key).await;
    let verifier = plain_verifier(&jwks);
    // A port nobody listens on.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let gw = start_gateway(verifier, format!("http://{closed}"), Guard::new()).await;
    let r = reqwest::Client::new()
        .get(format!("http://{gw}/x"))
        .bearer_auth(key.token(json!({"sub": "s"})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
}

#[tokio::test]
async fn an_upstream_that_never_answers_is_a_504() {
    let key = Key::new(Algorithm::ES256);
    let jwks = JwksServer::start(&key).await;
    let verifier = plain_verifier(&jwks);
    // Accepts connections and reads, but never writes a response.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let gw = start_gateway_with(
        verifier,
        format!("http://{addr}"),
        Guard::new(),
        Duration::from_millis(300),
    )
    .await;
    let r = reqwest::Client::new()
        .get(format!("http://{gw}/x"))
        .bearer_auth(key.token(json!({"sub": "s"})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert!(body["message"].as_str().unwrap().contains("did not answer"));
}

#[tokio::test]
async fn response_bodies_are_streamed_not_buffered() {
    // An upstream that sends one chunk, then waits before the second.
    let app = Router::new().fallback(|| async {
        let chunks = futures_util::stream::unfold(0u8, |n| async move {
            match n {
                0 => Some((Ok::<_, std::io::Error>("first;"), 1)),
                1 => {
                    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
                    Some((Ok("second"), 2))
                }
                _ => None,
            }
        });
        axum::body::Body::from_stream(chunks)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let key = Key::new(Algorithm::ES256);
    let jwks = JwksServer::start(&key).await;
    let verifier = plain_verifier(&jwks);
    let gw = start_gateway(verifier, format!("http://{upstream}"), Guard::new()).await;

    let started = std::time::Instant::now();
    let mut response = reqwest::Client::new()
        .get(format!("http://{gw}/stream"))
        .bearer_auth(key.token(json!({"sub": "s"})))
        .send()
        .await
        .unwrap();
    let first = response.chunk().await.unwrap().unwrap();
    assert_eq!(&first[..], b"first;");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1000),
        "the first chunk waited for the whole body ({:?})",
        started.elapsed()
    );
    let second = response.chunk().await.unwrap().unwrap();
    assert_eq!(&second[..], b"second");
}

/// An upstream on a bare TCP listener: `serve` runs on each connection it accepts. Returns
/// its address and the number of connections accepted.
async fn tcp_upstream<F, Fut>(serve: F) -> (SocketAddr, Arc<AtomicUsize>)
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(serve(socket));
        }
    });
    (addr, connections)
}

/// The next request head on `socket` (byte by byte, so nothing after it is consumed), or
/// `None` once the peer has closed.
async fn read_head(socket: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if socket.read(&mut byte).await.unwrap_or(0) == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(head)
}

/// An upstream speaking raw HTTP/1.1: to each request (the requests here have no body) it
/// writes `answer`, then closes the connection if `close`.
async fn raw_upstream(answer: &'static [u8], close: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    tcp_upstream(move |mut socket| async move {
        while read_head(&mut socket).await.is_some() {
            if socket.write_all(answer).await.is_err() || close {
                let _ = socket.shutdown().await;
                return;
            }
        }
    })
    .await
}

#[tokio::test]
async fn a_truncated_upstream_body_reaches_the_client_truncated() {
    // The upstream breaks off its body and closes: the client must be able to tell, whether
    // the length was announced (100 bytes promised, 9 sent) or the body was chunked (the
    // gateway must not end the response with a last chunk as if it were all).
    let key = Key::new(Algorithm::ES256);
    let jwks = JwksServer::start(&key).await;
    let cut_short: [&'static [u8]; 2] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n",
    ];
    for answer in cut_short {
        let (upstream, _) = raw_upstream(answer, true).await;
        let gw = start_gateway(
            plain_verifier(&jwks),
            format!("http://{upstream}"),
            Guard::new(),
        )
        .await;
        let response = reqwest::Client::new()
            .get(format!("http://{gw}/x"))
            .bearer_auth(key.token(json!({"sub": "s"})))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.bytes().await;
        assert!(
            body.is_err(),
            "a body cut short upstream was delivered as complete: {body:?}"
        );
    }
}

#[tokio::test]
async fn upstream_connections_that_close_are_not_reused() {
    // Every answer says `Connection: close` and the upstream closes after it: each request
    // needs a connection of its own, and none may be sent on a closing one (a 502).
    let (upstream, connections) = raw_upstream(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nclose",
        true,
    )
    .await;
    let key = Key::new(Algorithm::ES256);
    let jwks = JwksServer::start(&key).await;
    let gw = start_gateway(
        plain_verifier(&jwks),
        format!("http://{upstream}"),
        Guard::new(),
    )
    .await;
    let client = reqwest::Client::new();
    let token = key.token(json!({"sub": "s"}));
    for i in 0..20 {
        let response = client
            .get(format!("http://{gw}/x"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "request {i}");
        assert_eq!(
            &response.bytes().await.unwrap()[..],
            b"close",
            "request {i}"
        );
    }
    assert_eq!(connections.load(Ordering::SeqCst), 20);
}

/// Sends `request` as raw bytes and returns the whole answer as text.
async fn raw(gateway: SocketAddr, request: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(gateway).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    String::from_utf8_lossy(&reply).into_owned()
}

fn echoed_headers(reply: &str) -> Value {
    let body = reply.split("\r\n\r\n").nth(1).unwrap();
    serde_json::from_str::<Value>(body).unwrap()["headers"].clone()
}

#[tokio::test]
async fn forwarding_headers_are_the_gateways_own() {
    let s = setup(Guard::new()).await;
    let response = reqwest::Client::new()
        .get(format!("http://{}/x", s.gateway))
        .bearer_auth(token(&s.key))
        .header("Forwarded", "for=10.0.0.1;host=evil.example;proto=https")
        .header("X-Forwarded-For", "10.0.0.1")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Port", "443")
        .header("X-Forwarded-Prefix", "/admin")
        .header("X-Forwarded-Server", "evil")
        .header("X-Real-IP", "10.0.0.1")
        .header("X-Original-URL", "/admin")
        .header("X-Rewrite-URL", "/admin")
        .header("X-Host", "evil.example")
        .header("X_Forwarded_Host", "evil.example")
        .header("X-Forwarded-User", "admin")
        .header("X-Auth-Request-Email", "admin@evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let echo: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let h = &echo["headers"];
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "replaced, not appended");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert_eq!(h["x-forwarded-host"], s.gateway.to_string());
    for forged in [
        "forwarded",
        "x-forwarded-port",
        "x-forwarded-prefix",
        "x-forwarded-server",
        "x-real-ip",
        "x-original-url",
        "x-rewrite-url",
        "x-host",
        "x_forwarded_host",
        "x-forwarded-user",
        "x-auth-request-email",
    ] {
        assert!(
            h.get(forged).is_none(),
            "{forged} reached the upstream: {h}"
        );
    }
}

#[tokio::test]
async fn forwarded_and_a_trusted_chain_when_asked() {
    let key = Key::new(Algorithm::ES256);
    let jwks = JwksServer::start(&key).await;
    let (upstream, _) = echo_upstream().await;
    let config = GatewayConfig {
        forwarded: true,
        keep_forwarded_for: true,
        ..GatewayConfig::new(format!("http://{upstream}"))
    };
    let gw = start_configured(plain_verifier(&jwks), config).await;
    let response = reqwest::Client::new()
        .get(format!("http://{gw}/x"))
        .bearer_auth(key.token(json!({"sub": "s"})))
        .header("X-Forwarded-For", "203.0.113.9")
        .header("Forwarded", "for=10.0.0.1")
        .send()
        .await
        .unwrap();
    let echo: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    let h = &echo["headers"];
    assert_eq!(h["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(
        h["forwarded"],
        format!("for=127.0.0.1;host=\"{gw}\";proto=http"),
        "the gateway's own, not the client's"
    );
}

#[tokio::test]
async fn host_headers_two_are_refused_and_the_target_authority_wins() {
    let s = setup(Guard::new()).await;
    let bearer = token(&s.key);
    let reply = raw(
        s.gateway,
        format!("GET /x HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nAuthorization: Bearer {bearer}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
    // An absolute-form target names the authority; Host is ignored (RFC 9112 3.2.2).
    let reply = raw(
        s.gateway,
        format!("GET http://front.example/x HTTP/1.1\r\nHost: other.example\r\nAuthorization: Bearer {bearer}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(echoed_headers(&reply)["x-forwarded-host"], "front.example");
}

#[tokio::test]
async fn a_claim_a_header_cannot_carry_refuses_the_request() {
    let s = setup(Guard::new()).await;
    let client = reqwest::Client::new();
    for sub in ["jane\r\nx-tessera-role: admin", "jane\0", " jane"] {
        let t = s
            .key
            .token(json!({"iss": "https://auth.test", "aud": "api", "sub": sub}));
        let r = client
            .get(format!("http://{}/x", s.gateway))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{sub:?}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.contains("invalid_token") && challenge.contains("the sub claim"),
            "{challenge}"
        );
        let r = client
            .get(format!("http://{}/verify", s.gateway))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "/verify {sub:?}");
    }
    assert_eq!(s.calls.load(Ordering::SeqCst), 0);
    // Text beyond ASCII is carried exactly, as UTF-8.
    let t = s
        .key
        .token(json!({"iss": "https://auth.test", "aud": "api", "sub": "José", "role": "ops-ü"}));
    let echo = client
        .get(format!("http://{}/x", s.gateway))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let echo: Value = serde_json::from_str(&echo).unwrap();
    assert_eq!(echo["headers"]["x-tessera-sub"], "José");
    assert_eq!(echo["headers"]["x-tessera-role"], "ops-ü");
}

#[tokio::test]
async fn the_oauth2_proxy_header_set_when_asked() {
    let key = Key::new(Algorithm::ES256);
    let jwks = JwksServer::start(&key).await;
    let (upstream, _) = echo_upstream().await;
    let config = GatewayConfig {
        oauth2_proxy_headers: true,
        ..GatewayConfig::new(format!("http://{upstream}"))
    };
    let gw = start_configured(plain_verifier(&jwks), config).await;
    let t = key.token(json!({"sub": "u-1", "email": "ada@example.com", "preferred_username": "ada", "role": "ops"}));
    let echo = reqwest::Client::new()
        .get(format!("http://{gw}/x"))
        .bearer_auth(&t)
        .header("X-Forwarded-User", "admin")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let echo: Value = serde_json::from_str(&echo).unwrap();
    let h = &echo["headers"];
    assert_eq!(h["x-forwarded-user"], "u-1");
    assert_eq!(h["x-forwarded-email"], "ada@example.com");
    assert_eq!(h["x-forwarded-preferred-username"], "ada");
    assert_eq!(h["x-forwarded-groups"], "ops");
    assert_eq!(h["x-forwarded-access-token"], t.as_str());
    let t = key.token(json!({"sub": "u-2", "groups": ["a", "b"], "role": "ops"}));
    let r = reqwest::Client::new()
        .get(format!("http://{gw}/verify"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-forwarded-groups"], "a,b");
    assert!(r.headers().get("x-forwarded-email").is_none());
}

#[tokio::test]
async fn http2_cookie_fields_reach_the_upstream_as_one_header() {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let s = setup(Guard::new()).await;
    let tcp = tokio::net::TcpStream::connect(s.gateway).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = http::Request::get(format!("http://{}/x", s.gateway))
        .header("authorization", format!("Bearer {}", token(&s.key)))
        .header("cookie", "a=1")
        .header("cookie", "b=2")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let echo: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["headers"]["cookie"], "a=1; b=2");
    assert_eq!(echo["headers"]["x-forwarded-host"], s.gateway.to_string());
}

/// An upstream that accepts any upgrade and then echoes bytes back, upper-cased; counts
/// the connections it saw.
async fn upgrading_upstream(accept: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tcp_upstream(move |mut socket| async move {
        let Some(head) = read_head(&mut socket).await else {
            return;
        };
        let head = String::from_utf8_lossy(&head).to_lowercase();
        if !accept || !head.contains("upgrade: websocket") || !head.contains("x-tessera-sub: jane")
        {
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno")
                .await;
            return;
        }
        socket
            .write_all(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1024];
        loop {
            let n = socket.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            let upper = buf[..n].to_ascii_uppercase();
            socket.write_all(&upper).await.unwrap();
        }
    })
    .await
}

/// An EdDSA issuer, an upstream that accepts (or declines) upgrades and a gateway with at
/// most `max_tunnels` tunnels: the gateway, a valid token and the upstream's request count.
async fn upgrade_setup(accept: bool, max_tunnels: usize) -> (SocketAddr, String, Arc<AtomicUsize>) {
    let key = Key::new(Algorithm::EdDSA);
    let jwks = JwksServer::start(&key).await;
    let (upstream, calls) = upgrading_upstream(accept).await;
    let config = GatewayConfig {
        max_tunnels,
        ..GatewayConfig::new(format!("http://{upstream}"))
    };
    let gw = start_configured(plain_verifier(&jwks), config).await;
    (gw, key.token(json!({"sub": "jane"})), calls)
}

/// A WebSocket upgrade request with `token`; `close` also asks to close afterwards.
fn upgrade_request(token: &str, close: bool) -> String {
    let connection = if close { "Upgrade, close" } else { "Upgrade" };
    format!("GET /ws HTTP/1.1\r\nHost: x\r\nConnection: {connection}\r\nUpgrade: websocket\r\nAuthorization: Bearer {token}\r\n\r\n")
}

#[tokio::test]
async fn a_websocket_upgrade_is_tunnelled_both_ways_after_verification() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (gw, t, calls) = upgrade_setup(true, 1024).await;

    let mut stream = tokio::net::TcpStream::connect(gw).await.unwrap();
    stream
        .write_all(upgrade_request(&t, false).as_bytes())
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "closed before the head"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(head.contains("upgrade: websocket"), "{head}");
    for message in ["hello", "second message"] {
        stream.write_all(message.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; message.len()];
        tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut buf))
            .await
            .expect("bytes flow back through the tunnel")
            .unwrap();
        assert_eq!(buf, message.to_ascii_uppercase().as_bytes());
    }
    drop(stream);

    // Without a valid token: 401, and the upstream never hears of it.
    let before = calls.load(Ordering::SeqCst);
    let reply = raw(gw, upgrade_request("nope", true)).await;
    assert!(reply.starts_with("HTTP/1.1 401"), "{reply}");
    assert_eq!(calls.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn an_upgrade_the_upstream_declines_is_an_ordinary_answer() {
    let (gw, t, _) = upgrade_setup(false, 1024).await;
    let reply = raw(gw, upgrade_request(&t, true)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("no"), "{reply}");
}

#[tokio::test]
async fn tunnels_beyond_the_cap_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (gw, t, _) = upgrade_setup(true, 1).await;
    let mut first = tokio::net::TcpStream::connect(gw).await.unwrap();
    first
        .write_all(upgrade_request(&t, false).as_bytes())
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    first.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 101");
    let reply = raw(gw, upgrade_request(&t, true)).await;
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
}

#[tokio::test]
async fn dpop_bound_tokens_need_their_proof_before_anything_is_forwarded() {
    use tessera_contract::dpop::sign_proof;
    let key = Key::new(Algorithm::EdDSA);
    let jwks = JwksServer::start(&key).await;
    let (upstream, calls) = echo_upstream().await;
    // The public URL is what clients see (a TLS terminator in front); the gateway's own
    // address and the request's Host do not count.
    let verifier = Arc::new(
        Verifier::builder()
            .issuer(Issuer::jwks(jwks.url()))
            .public_url("https://gw.example.com")
            .build()
            .unwrap(),
    );
    let gateway = start_gateway(verifier, format!("http://{upstream}"), Guard::new()).await;
    let holder = tessera_jose::Jwk::generate(Algorithm::ES256, None).unwrap();
    let signer = tessera_jose::SigningKey::from_jwk(&holder, None).unwrap();
    let jkt = tessera_jose::thumbprint(&holder);
    let token = key.token(json!({"sub": "jane", "cnf": {"jkt": jkt}}));
    let proof = |url: &str| {
        sign_proof(
            &signer,
            &holder,
            "GET",
            url,
            tessera_jose::unix_now(),
            Some(&token),
            None,
        )
        .unwrap()
    };
    let client = reqwest::Client::new();
    let send = |scheme: &str, proof: Option<String>| {
        let mut request = client
            .get(format!("http://{gateway}/orders?x=1"))
            .header("authorization", format!("{scheme} {token}"));
        if let Some(p) = proof {
            request = request.header("dpop", p);
        }
        request.send()
    };
    let r = send("Bearer", None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("DPoP error=\"invalid_token\""));
    let r = send("DPoP", Some(proof(&format!("http://{gateway}/orders"))))
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "the gateway's own address is not its public URL"
    );
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_dpop_proof"));
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let good = proof("https://gw.example.com/orders");
    let r = send("DPoP", Some(good.clone())).await.unwrap();
    assert_eq!(r.status(), 200);
    let echoed: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(echoed["headers"]["x-tessera-sub"], "jane");
    // Replayed: refused, and the upstream saw only the one request.
    let r = send("DPoP", Some(good)).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // `/verify` checks the proof against the request the front proxy describes.
    let verify = |method: &'static str, uri: &'static str, proof: String| {
        client
            .get(format!("http://{gateway}/verify"))
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .header("x-forwarded-method", method)
            .header("x-forwarded-uri", uri)
            .send()
    };
    let r = verify("GET", "/orders?x=1", proof("https://gw.example.com/orders"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-tessera-sub"], "jane");
    let r = verify("GET", "/admin", proof("https://gw.example.com/orders"))
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a proof for another path");
    let r = verify("POST", "/orders", proof("https://gw.example.com/orders"))
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a proof for another method");
}
