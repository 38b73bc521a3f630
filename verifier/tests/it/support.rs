//! Test fixtures: signing keys, and a JWKS server whose behaviour each test controls.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use tessera_jose::{Algorithm, Jwk, JwkSet, SigningKey};
use tessera_verifier::JwksOptions;

/// A key pair with a fixed kid.
pub struct Key {
    pub jwk: Jwk,
    pub signer: SigningKey,
}

impl Key {
    pub fn new(alg: Algorithm, kid: &str) -> Key {
        let mut jwk = Jwk::generate(alg, None).unwrap();
        jwk.set_kid(kid);
        jwk.set_alg(alg).unwrap();
        let signer = SigningKey::from_jwk(&jwk, None).unwrap();
        Key { jwk, signer }
    }

    /// A token with these claims plus `exp` two days ahead (so simulated hours pass).
    pub fn token(&self, claims: Value) -> String {
        let mut claims = claims;
        let obj = claims.as_object_mut().unwrap();
        obj.entry("exp")
            .or_insert(json!(tessera_jose::unix_now() + 2 * 86_400));
        obj.entry("iat").or_insert(json!(tessera_jose::unix_now()));
        self.signer.sign_jwt(&claims).unwrap()
    }
}

/// The public JWKS document holding these keys.
pub fn jwks_of(keys: &[&Key]) -> String {
    JwkSet::new(keys.iter().map(|k| k.jwk.clone()).collect())
        .to_public()
        .to_json()
}

/// A syntactically valid token naming `kid`, with a signature that cannot verify.
pub fn forged_token(kid: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "kid": kid}).to_string());
    let payload = URL_SAFE_NO_PAD
        .encode(json!({"sub": "x", "exp": tessera_jose::unix_now() + 3600}).to_string());
    let sig = URL_SAFE_NO_PAD.encode([7u8; 64]);
    format!("{header}.{payload}.{sig}")
}

/// Options with a short fetch timeout, so failure tests run fast.
pub fn quick_options() -> JwksOptions {
    JwksOptions {
        fetch_timeout: Duration::from_secs(1),
        ..JwksOptions::default()
    }
}

/// What the JWKS server does, changeable while it runs.
#[derive(Default)]
pub struct Behaviour {
    pub body: Mutex<String>,
    pub cache_control: Mutex<Option<String>>,
    pub etag: Mutex<Option<String>>,
    pub delay: Mutex<Duration>,
    pub down: AtomicBool,
    /// `issuer` of the discovery document (the server's own URL when unset).
    pub discovery_issuer: Mutex<Option<String>>,
    pub hits: AtomicUsize,
    pub not_modified: AtomicUsize,
    pub if_none_match: Mutex<Vec<String>>,
    /// Answer 304 without repeating ETag or Cache-Control (RFC 9111 allows it).
    pub bare_not_modified: AtomicBool,
    /// Read the body when the request arrives, before the delay (a slow answer that
    /// reflects the keys as they were when it was asked for).
    pub body_at_arrival: AtomicBool,
}

/// A JWKS server on loopback.
pub struct JwksServer {
    pub addr: SocketAddr,
    pub behaviour: Arc<Behaviour>,
}

impl JwksServer {
    pub async fn start(body: String) -> JwksServer {
        let behaviour = Arc::new(Behaviour::default());
        *behaviour.body.lock().unwrap() = body;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/jwks.json", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/redirect-same", get(redirect_same))
            .route("/redirect-other", get(redirect_other))
            .route("/big", get(big))
            .route("/big-chunked", get(big_chunked))
            .with_state((behaviour.clone(), addr));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        JwksServer { addr, behaviour }
    }

    pub fn url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_body(&self, body: String) {
        *self.behaviour.body.lock().unwrap() = body;
    }

    pub fn set_cache_control(&self, value: Option<&str>) {
        *self.behaviour.cache_control.lock().unwrap() = value.map(str::to_owned);
    }

    pub fn set_etag(&self, value: Option<&str>) {
        *self.behaviour.etag.lock().unwrap() = value.map(str::to_owned);
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.behaviour.delay.lock().unwrap() = delay;
    }

    pub fn set_down(&self, down: bool) {
        self.behaviour.down.store(down, Ordering::SeqCst);
    }

    pub fn hits(&self) -> usize {
        self.behaviour.hits.load(Ordering::SeqCst)
    }
}

type St = State<(Arc<Behaviour>, SocketAddr)>;

async fn jwks(State((b, _)): St, headers: HeaderMap) -> Response {
    b.hits.fetch_add(1, Ordering::SeqCst);
    let early_body = b
        .body_at_arrival
        .load(Ordering::SeqCst)
        .then(|| b.body.lock().unwrap().clone());
    let delay = *b.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if b.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let etag = b.etag.lock().unwrap().clone();
    if let Some(sent) = headers.get(header::IF_NONE_MATCH) {
        b.if_none_match
            .lock()
            .unwrap()
            .push(sent.to_str().unwrap().to_owned());
    }
    let mut response = match (&etag, headers.get(header::IF_NONE_MATCH)) {
        (Some(tag), Some(sent)) if sent.to_str().unwrap() == tag => {
            b.not_modified.fetch_add(1, Ordering::SeqCst);
            if b.bare_not_modified.load(Ordering::SeqCst) {
                return StatusCode::NOT_MODIFIED.into_response();
            }
            StatusCode::NOT_MODIFIED.into_response()
        }
        _ => (
            [(header::CONTENT_TYPE, "application/json")],
            early_body.unwrap_or_else(|| b.body.lock().unwrap().clone()),
        )
            .into_response(),
    };
    if let Some(tag) = etag {
        response
            .headers_mut()
            .insert(header::ETAG, tag.parse().unwrap());
    }
    if let Some(cc) = b.cache_control.lock().unwrap().clone() {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, cc.parse().unwrap());
    }
    response
}

async fn discovery(State((b, addr)): St) -> Response {
    let issuer = b
        .discovery_issuer
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    axum::Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("http://{addr}/jwks.json"),
    }))
    .into_response()
}

async fn redirect_same() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/jwks.json")]).into_response()
}

async fn redirect_other(State((_, addr)): St) -> Response {
    // Same port, another host name: a cross-host redirect.
    let to = format!("http://localhost:{}/jwks.json", addr.port());
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

fn big_document() -> String {
    let padding = "x".repeat(2 * 1024 * 1024);
    format!("{{\"keys\":[],\"padding\":\"{padding}\"}}")
}

async fn big() -> Response {
    big_document().into_response()
}

async fn big_chunked() -> Response {
    let chunks: Vec<Result<String, std::io::Error>> = big_document()
        .as_bytes()
        .chunks(64 * 1024)
        .map(|c| Ok(String::from_utf8(c.to_vec()).unwrap()))
        .collect();
    Body::from_stream(futures_util::stream::iter(chunks)).into_response()
}

/// Polls `cond` every 10 ms for up to `within`.
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
