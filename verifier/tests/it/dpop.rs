//! DPoP-bound tokens (RFC 9449) at the resource server: through the middleware, with the
//! refusals a client sees.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::json;
use tessera_contract::dpop::{sign_proof, ProofChecker};
use tessera_jose::{thumbprint, Algorithm, Jwk, SigningKey};
use tessera_verifier::{AuthLayer, Guard, Issuer, VerifiedClaims, Verifier};
use tower::ServiceExt;

use crate::support::{jwks_of, JwksServer, Key};

const PUBLIC: &str = "https://api.example.com";

struct Holder {
    jwk: Jwk,
    key: SigningKey,
}

impl Holder {
    fn new(alg: Algorithm) -> Holder {
        let jwk = Jwk::generate(alg, None).unwrap();
        let key = SigningKey::from_jwk(&jwk, None).unwrap();
        Holder { jwk, key }
    }

    fn jkt(&self) -> String {
        thumbprint(&self.jwk)
    }

    fn proof(&self, method: &str, url: &str, token: &str) -> String {
        sign_proof(
            &self.key,
            &self.jwk,
            method,
            url,
            tessera_jose::unix_now(),
            Some(token),
            None,
        )
        .unwrap()
    }
}

struct Fixture {
    issuer: Key,
    _server: JwksServer,
    verifier: Arc<Verifier>,
    app: Router,
}

async fn fixture() -> Fixture {
    let issuer = Key::new(Algorithm::ES256, "k");
    let server = JwksServer::start(jwks_of(&[&issuer])).await;
    let verifier = Arc::new(
        Verifier::builder()
            .issuer(
                Issuer::jwks(server.url())
                    .issuer("https://auth.test")
                    .audience("api"),
            )
            .public_url(PUBLIC)
            .dpop(ProofChecker::new().algorithms([Algorithm::ES256, Algorithm::EdDSA]))
            .build()
            .unwrap(),
    );
    let app = Router::new()
        .route(
            "/orders",
            get(|VerifiedClaims(c): VerifiedClaims| async move { c["sub"].to_string() })
                .post(|| async { "posted" }),
        )
        .route("/other", post(|| async { "other" }))
        .layer(AuthLayer::new(verifier.clone()));
    Fixture {
        issuer,
        _server: server,
        verifier,
        app,
    }
}

fn bound_token(issuer: &Key, jkt: &str) -> String {
    issuer.token(
        json!({"iss": "https://auth.test", "aud": "api", "sub": "jane", "cnf": {"jkt": jkt}}),
    )
}

async fn call(
    app: &Router,
    method: &str,
    path: &str,
    authorization: &str,
    proofs: &[&str],
) -> (StatusCode, String, String) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, authorization);
    for proof in proofs {
        request = request.header("dpop", *proof);
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
    (
        status,
        challenge,
        String::from_utf8_lossy(&body).into_owned(),
    )
}

#[tokio::test]
async fn a_bound_token_with_its_proof_passes_once() {
    let f = fixture().await;
    let holder = Holder::new(Algorithm::ES256);
    let token = bound_token(&f.issuer, &holder.jkt());
    let proof = holder.proof("GET", &format!("{PUBLIC}/orders"), &token);
    let (status, _, body) = call(
        &f.app,
        "GET",
        "/orders",
        &format!("DPoP {token}"),
        &[&proof],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "\"jane\"");
    // The same proof again: a replay.
    let (status, challenge, _) = call(
        &f.app,
        "GET",
        "/orders",
        &format!("DPoP {token}"),
        &[&proof],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge,
        "DPoP error=\"invalid_dpop_proof\", error_description=\"the DPoP proof is invalid\", algs=\"ES256 EdDSA\""
    );
    // A fresh proof: fine again, and the query is not part of htu.
    let proof = holder.proof("GET", &format!("{PUBLIC}/orders?ignored=1"), &token);
    let (status, _, _) = call(
        &f.app,
        "GET",
        "/orders?page=2",
        &format!("dpop {token}"),
        &[&proof],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_bound_token_sent_as_bearer_is_refused() {
    let f = fixture().await;
    let holder = Holder::new(Algorithm::ES256);
    let token = bound_token(&f.issuer, &holder.jkt());
    let proof = holder.proof("GET", &format!("{PUBLIC}/orders"), &token);
    // Even with a valid proof beside it: the scheme says bearer, and bearer tokens need no
    // key, which is exactly what a thief would want.
    let (status, challenge, _) = call(
        &f.app,
        "GET",
        "/orders",
        &format!("Bearer {token}"),
        &[&proof],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.starts_with("DPoP error=\"invalid_token\""),
        "{challenge}"
    );
    // And the seed's bare form is bearer too.
    let (status, _, _) = call(&f.app, "GET", "/orders", &token, &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refusals_of_a_dpop_request_are_dpop_challenges() {
    let f = fixture().await;
    let holder = Holder::new(Algorithm::ES256);
    // An expired bound token with a valid proof: the token is what fails, and the client,
    // which used the DPoP scheme, is told so in that scheme (RFC 9449 section 7.1).
    let now = tessera_jose::unix_now();
    let expired = f.issuer.token(json!({
        "iss": "https://auth.test", "aud": "api", "sub": "jane",
        "cnf": {"jkt": holder.jkt()}, "iat": now - 7200, "exp": now - 3600,
    }));
    let proof = holder.proof("GET", &format!("{PUBLIC}/orders"), &expired);
    let (status, challenge, _) = call(
        &f.app,
        "GET",
        "/orders",
        &format!("DPoP {expired}"),
        &[&proof],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge,
        "DPoP error=\"invalid_token\", error_description=\"the access token expired\", algs=\"ES256 EdDSA\""
    );
    // The same expired token as a bearer token: a Bearer challenge, as before.
    let (status, challenge, _) =
        call(&f.app, "GET", "/orders", &format!("Bearer {expired}"), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.starts_with("Bearer error=\"invalid_token\""),
        "{challenge}"
    );

    // A valid bound token without the scope a guarded route wants: 403 in the DPoP scheme,
    // naming the scope.
    let guarded = Router::new()
        .route("/orders", post(|| async { "posted" }))
        .layer(AuthLayer::new(f.verifier.clone()).policy(Guard::new().scope("orders:write")));
    let token = bound_token(&f.issuer, &holder.jkt());
    let proof = holder.proof("POST", &format!("{PUBLIC}/orders"), &token);
    let (status, challenge, _) = call(
        &guarded,
        "POST",
        "/orders",
        &format!("DPoP {token}"),
        &[&proof],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        challenge,
        "DPoP error=\"insufficient_scope\", error_description=\"the access token lacks a required scope\", algs=\"ES256 EdDSA\", scope=\"orders:write\""
    );
}

#[tokio::test]
async fn an_unbound_token_sent_as_dpop_is_refused() {
    let f = fixture().await;
    let holder = Holder::new(Algorithm::ES256);
    let token = f
        .issuer
        .token(json!({"iss": "https://auth.test", "aud": "api", "sub": "jane"}));
    let proof = holder.proof("GET", &format!("{PUBLIC}/orders"), &token);
    let (status, challenge, _) = call(
        &f.app,
        "GET",
        "/orders",
        &format!("DPoP {token}"),
        &[&proof],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    // As a bearer token it is fine.
    let (status, _, _) = call(&f.app, "GET", "/orders", &format!("Bearer {token}"), &[]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn proofs_that_do_not_fit_the_request_are_refused() {
    let f = fixture().await;
    let holder = Holder::new(Algorithm::EdDSA);
    let thief = Holder::new(Algorithm::EdDSA);
    let token = bound_token(&f.issuer, &holder.jkt());
    let url = format!("{PUBLIC}/orders");
    let cases = [
        ("no proof", vec![]),
        (
            "two proofs",
            vec![
                holder.proof("GET", &url, &token),
                holder.proof("GET", &url, &token),
            ],
        ),
        ("another method", vec![holder.proof("POST", &url, &token)]),
        (
            "another path",
            vec![holder.proof("POST", &format!("{PUBLIC}/other"), &token)],
        ),
        // The Host the client sent is not what counts: the configured public URL is.
        (
            "another host",
            vec![holder.proof("GET", "https://evil.example.com/orders", &token)],
        ),
        (
            "a proof by another key",
            vec![thief.proof("GET", &url, &token)],
        ),
        (
            "a proof for another token",
            vec![holder.proof("GET", &url, "another.access.token")],
        ),
        (
            "an ES384 proof (not allowed)",
            vec![Holder::new(Algorithm::ES384).proof("GET", &url, &token)],
        ),
    ];
    for (name, proofs) in cases {
        let refs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let (status, challenge, body) =
            call(&f.app, "GET", "/orders", &format!("DPoP {token}"), &refs).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
        assert!(
            challenge.starts_with("DPoP error=\"invalid_dpop_proof\""),
            "{name}: {challenge}"
        );
        assert!(
            challenge.contains("algs=\"ES256 EdDSA\""),
            "{name}: {challenge}"
        );
    }
    // The right proof still works after all that.
    let (status, _, _) = call(
        &f.app,
        "GET",
        "/orders",
        &format!("DPoP {token}"),
        &[&holder.proof("GET", &url, &token)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn without_a_public_url_bound_tokens_are_refused() {
    let issuer = Key::new(Algorithm::ES256, "k");
    let server = JwksServer::start(jwks_of(&[&issuer])).await;
    let verifier = Verifier::builder()
        .issuer(Issuer::jwks(server.url()).audience("api"))
        .build()
        .unwrap();
    let holder = Holder::new(Algorithm::ES256);
    let token = bound_token(&issuer, &holder.jkt());
    let proof = holder.proof("GET", "http://127.0.0.1/orders", &token);
    let mut headers = http::HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        format!("DPoP {token}").parse().unwrap(),
    );
    headers.insert("dpop", proof.parse().unwrap());
    let err = verifier
        .verify_request("GET", "/orders", &headers)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no public URL"), "{err}");
    // And the bearer API never accepts a bound token.
    let err = verifier.verify(&token).await.unwrap_err();
    assert!(
        matches!(err, tessera_verifier::Error::BoundTokenAsBearer),
        "{err}"
    );
}

#[tokio::test]
async fn without_credentials_both_schemes_are_offered() {
    let f = fixture().await;
    let response = f
        .app
        .clone()
        .oneshot(Request::get("/orders").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenges: Vec<&str> = response
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(
        challenges,
        ["Bearer realm=\"tessera\"", "DPoP algs=\"ES256 EdDSA\""]
    );
}
