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
                        json!(v.to_str().unwrap_or("<binary>")),
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
        upstream,
        guard,
        upstream_timeout,
    };
    let app = gateway::router(verifier, config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(tessera_listen::serve_router(
        listener,
        None,
        app,
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
    let response = client
        .post(format!("http://{}/orders/7?x=1&y=2", s.gateway))
        .bearer_auth(token(&s.key))
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
