//! Server tests through `app().oneshot(...)`: on SQLite every run, and on PostgreSQL too when
//! `TESSERA_TEST_POSTGRES_URL` is set (each test then gets a database of its own).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod api;
mod dpop;
mod lifecycle;
mod oidc;

use std::sync::atomic::{AtomicU32, Ordering};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tessera_contract::ManualClock;
use tessera_server::{app, AppState, Config, MasterKey};
use tower::ServiceExt;

/// The fixed start of the manual clock in tests.
pub const T0: i64 = 1_800_000_000;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Which databases to run a scenario on.
pub async fn databases() -> Vec<String> {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("tessera-it-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut urls = vec![format!("sqlite://{}", dir.join("t.db").display())];
    if let Ok(base) = std::env::var("TESSERA_TEST_POSTGRES_URL") {
        urls.push(fresh_postgres(&base, n).await);
    }
    urls
}

/// Creates an empty PostgreSQL database for one test.
async fn fresh_postgres(base: &str, n: u32) -> String {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let name = format!("tessera_it_{}_{n}", std::process::id());
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(base)
        .await
        .expect("TESSERA_TEST_POSTGRES_URL must point at a reachable PostgreSQL");
    conn.execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
        .await
        .unwrap();
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}

/// Test configuration: short lifecycle periods so tests read clearly.
pub fn config(url: &str) -> Config {
    let mut config = Config::with_defaults("127.0.0.1:3001".parse().unwrap());
    config.database_url = url.to_owned();
    config.issuer = "https://auth.test".into();
    config.alg = tessera_jose::Algorithm::ES256;
    config
}

pub fn master() -> MasterKey {
    MasterKey::from_bytes(&[42u8; 32]).unwrap()
}

pub async fn state_with(config: Config, clock: ManualClock) -> AppState {
    AppState::open(config, master(), clock.shared())
        .await
        .unwrap()
}

/// Moves a test clock by a signed number of seconds (forward only).
pub fn advance(clock: &ManualClock, secs: i64) {
    clock.advance_secs(u64::try_from(secs).unwrap());
}

/// Registers a client through the admin functions and returns its secret.
pub async fn add_client(state: &AppState, id: &str, scope: &str) -> String {
    add_client_with(state, id, scope, false).await
}

/// [`add_client`], possibly as a resource server allowed to introspect others' tokens.
pub async fn add_client_with(
    state: &AppState,
    id: &str,
    scope: &str,
    can_introspect: bool,
) -> String {
    let mut shown = String::new();
    let spec = tessera_server::ClientSpec {
        client_id: id.to_owned(),
        scope: scope.to_owned(),
        can_introspect,
        ..Default::default()
    };
    state
        .admin()
        .add_client(&spec, |secret| {
            shown = secret.unwrap_or_default().to_owned();
            Ok(())
        })
        .await
        .unwrap();
    shown
}

/// The values on the revocation list (`GET /revocations`), as resource servers see it.
pub async fn revoked_values(state: &AppState) -> Vec<String> {
    let list = send(state, get("/revocations?since=0")).await.json();
    list["revocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap().to_owned())
        .collect()
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub async fn send(state: &AppState, request: Request<Body>) -> Reply {
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        body,
    }
}

pub fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

pub fn post_json(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

pub fn post_form(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .unwrap()
}
