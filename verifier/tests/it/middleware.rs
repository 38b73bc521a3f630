//! The tower layer and axum extractors: RFC 6750 refusals, guards, fingerprint cookie.

use std::sync::Arc;

use aws_lc_rs::digest;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_jose::Algorithm;
use tessera_verifier::{AuthLayer, Guard, Issuer, VerifiedClaims, VerifiedToken, Verifier};
use tower::ServiceExt;

use crate::support::{jwks_of, JwksServer, Key};

struct Fixture {
    key: Key,
    _server: JwksServer,
    verifier: Arc<Verifier>,
}

async fn fixture() -> Fixture {
    let key = Key::new(Algorithm::ES256, "k");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let verifier = Arc::new(
        Verifier::builder()
            .issuer(
                Issuer::jwks(server.url())
                    .issuer("https://auth.test")
                    .audience("api"),
            )
            .build()
            .unwrap(),
    );
    Fixture {
        key,
        _server: server,
        verifier,
    }
}

#[derive(Deserialize)]
struct UserClaims {
    sub: String,
}

fn app(verifier: Arc<Verifier>, guard: Guard) -> Router {
    Router::new()
        .route(
            "/me",
            get(|VerifiedClaims(claims): VerifiedClaims<UserClaims>| async move { claims.sub }),
        )
        .route(
            "/raw",
            get(|VerifiedToken(jwt): VerifiedToken, VerifiedClaims(all): VerifiedClaims| async move {
                format!("{}:{}", jwt.verified_by().unwrap_or("-"), all["role"])
            }),
        )
        .layer(AuthLayer::new(verifier).policy(guard))
}

async fn call(
    app: &Router,
    authorization: Option<&str>,
    cookie: Option<&str>,
    path: &str,
) -> (StatusCode, String, String) {
    let mut request = Request::get(path);
    if let Some(a) = authorization {
        request = request.header(header::AUTHORIZATION, a);
    }
    if let Some(c) = cookie {
        request = request.header(header::COOKIE, c);
    }
    let response = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, challenge, String::from_utf8(body.to_vec()).unwrap())
}

fn claims(extra: Value) -> Value {
    let mut c = json!({"iss": "https://auth.test", "aud": "api", "sub": "jane", "role": "write", "scope": "orders:read profile"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[tokio::test]
async fn bearer_and_bare_tokens_reach_the_handler_with_typed_claims() {
    let f = fixture().await;
    let app = app(f.verifier.clone(), Guard::new());
    let token = f.key.token(claims(json!({})));
    let (status, _, body) = call(&app, Some(&format!("Bearer {token}")), None, "/me").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "jane"));
    let (status, _, body) = call(&app, Some(&token), None, "/me").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "jane"));
    let (status, _, body) = call(&app, Some(&token), None, "/raw").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "k:\"write\""));
}

#[tokio::test]
async fn refusals_follow_rfc6750() {
    let f = fixture().await;
    let app = app(f.verifier.clone(), Guard::new());

    let (status, challenge, body) = call(&app, None, None, "/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge, "Bearer realm=\"tessera\"");
    assert!(serde_json::from_str::<Value>(&body).unwrap()["message"].is_string());

    let expired = f
        .key
        .token(claims(json!({"exp": tessera_jose::unix_now() - 3600})));
    let wrong_aud = f.key.token(claims(json!({"aud": "other"})));
    let other_key = Key::new(Algorithm::ES256, "k").token(claims(json!({})));
    for (bad, why) in [
        ("Bearer not.a.token", "malformed"),
        ("Basic dXNlcjpwYXNz", "other scheme"),
        (expired.as_str(), "expired"),
        (wrong_aud.as_str(), "audience"),
        (other_key.as_str(), "signature"),
    ] {
        let (status, challenge, body) = call(&app, Some(bad), None, "/me").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}");
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\""),
            "{why}: {challenge}"
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "invalid_token", "{why}");
    }
    let (_, challenge, _) = call(&app, Some(&expired), None, "/me").await;
    assert!(challenge.contains("expired"), "{challenge}");
}

#[tokio::test]
async fn role_and_scope_guards_answer_403_insufficient_scope() {
    let f = fixture().await;
    let token = f.key.token(claims(json!({})));
    let auth = format!("Bearer {token}");

    let ok = app(
        f.verifier.clone(),
        Guard::new().role("read").role("write").scope("orders:read"),
    );
    assert_eq!(call(&ok, Some(&auth), None, "/me").await.0, StatusCode::OK);

    let admin_only = app(f.verifier.clone(), Guard::new().role("admin"));
    let (status, challenge, body) = call(&admin_only, Some(&auth), None, "/me").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    // A missing role is said to be a role, and the role is not named as a scope.
    assert!(challenge.contains("role is not allowed"), "{challenge}");
    assert!(!challenge.contains("scope=\""), "{challenge}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "insufficient_scope");
    assert!(body["message"].as_str().unwrap().contains("role"));

    let needs_write = app(
        f.verifier.clone(),
        Guard::new().scope("orders:read").scope("orders:write"),
    );
    let (status, challenge, _) = call(&needs_write, Some(&auth), None, "/me").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge.contains("scope=\"orders:read orders:write\""),
        "{challenge}"
    );

    // A scope is matched whole, not as a prefix of another.
    let prefix = app(f.verifier.clone(), Guard::new().scope("orders"));
    assert_eq!(
        call(&prefix, Some(&auth), None, "/me").await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn fingerprint_cookie_must_match_the_fgp_claim() {
    let f = fixture().await;
    let secret = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    let fgp: String = digest::digest(&digest::SHA256, secret.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let token = f.key.token(claims(json!({"fgp": fgp})));
    let auth = format!("Bearer {token}");
    let app = app(f.verifier.clone(), Guard::new().fingerprint_cookie());

    let good = format!("theme=dark; __Host-Fgp={secret}");
    assert_eq!(
        call(&app, Some(&auth), Some(&good), "/me").await.0,
        StatusCode::OK
    );
    for cookie in [
        None,
        Some("__Host-Fgp=wrong"),
        Some("Fgp=0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
    ] {
        let (status, challenge, _) = call(&app, Some(&auth), cookie, "/me").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{cookie:?}");
        assert!(challenge.contains("invalid_token"));
    }
    // A token without `fgp` is refused when the check is on, even with a cookie.
    let plain = format!("Bearer {}", f.key.token(claims(json!({}))));
    assert_eq!(
        call(&app, Some(&plain), Some(&good), "/me").await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn claims_of_the_wrong_shape_are_refused_not_a_500() {
    let f = fixture().await;
    let app = app(f.verifier.clone(), Guard::new());
    let mut without_sub = claims(json!({}));
    without_sub.as_object_mut().unwrap().remove("sub");
    let token = f.key.token(without_sub);
    let (status, _, _) = call(&app, Some(&token), None, "/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_extractor_without_the_layer_refuses() {
    let app: Router = Router::new().route(
        "/me",
        get(|VerifiedClaims(c): VerifiedClaims| async move { c.to_string() }),
    );
    let (status, _, _) = call(&app, Some("Bearer x.y.z"), None, "/me").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
