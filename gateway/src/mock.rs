//! A local JWKS server that mints tokens (`tessera mock-jwks`), so services can be tested
//! without the auth server.
//!
//! - `GET /.well-known/jwks.json`: the public keys (RS256, ES256, EdDSA and ML-DSA-65, made
//!   at start);
//! - `GET /.well-known/openid-configuration`: `issuer` and `jwks_uri`, for discovery;
//! - `POST /token` with a JSON object of claims and an optional `"alg"` (default `RS256`):
//!   a signed token, `iss`, `iat` and `exp` (+20 min) added unless given. The answer is
//!   `{"token", "access_token", "token_type", "expires_in"}`, or the bare token when the
//!   request says `Accept: text/plain`.
//!
//! It is a test tool: anyone who can reach it can mint tokens its keys sign.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tessera_jose::{unix_now, Algorithm, Jwk, JwkSet, SigningKey};

use crate::Error;

/// Default token lifetime, as the auth server's (20 minutes).
const LIFETIME: i64 = 20 * 60;

/// The algorithms the mock mints with, one key each.
const MINTS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::MlDsa65,
];

/// Keys made at start, and the issuer name put in the tokens.
#[derive(Debug)]
pub struct MockIssuer {
    issuer: String,
    signers: Vec<SigningKey>,
    jwks: String,
}

impl MockIssuer {
    /// Generates an RS256 (2048-bit), an ES256, an EdDSA and an ML-DSA-65 key for `issuer`.
    pub fn generate(issuer: impl Into<String>) -> Result<MockIssuer, Error> {
        let mut signers = Vec::new();
        let mut public = Vec::new();
        for alg in MINTS {
            let mut jwk = Jwk::generate(alg, None)?;
            jwk.set_alg(alg)?;
            jwk.set_use_signature();
            signers.push(SigningKey::from_jwk(&jwk, Some(alg))?);
            public.push(jwk.to_public());
        }
        Ok(MockIssuer {
            issuer: issuer.into(),
            signers,
            jwks: JwkSet::new(public).to_json(),
        })
    }

    /// The issuer name (`iss`).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The public JWKS document.
    pub fn jwks(&self) -> &str {
        &self.jwks
    }

    /// Signs `claims` with the key for `alg` (RS256 by default), adding `iss`, `iat` and
    /// `exp` unless present.
    pub fn mint(
        &self,
        mut claims: Map<String, Value>,
        alg: Option<Algorithm>,
    ) -> Result<String, Error> {
        let alg = alg.unwrap_or(Algorithm::RS256);
        let signer = self
            .signers
            .iter()
            .find(|s| s.algorithm() == alg)
            .ok_or_else(|| {
                Error::Config(format!(
                    "no {alg} key; use RS256, ES256, EdDSA or ML-DSA-65"
                ))
            })?;
        let now = unix_now();
        claims
            .entry("iss")
            .or_insert_with(|| Value::String(self.issuer.clone()));
        claims.entry("iat").or_insert_with(|| json!(now));
        claims.entry("exp").or_insert_with(|| json!(now + LIFETIME));
        let token = signer.sign_jwt_with_typ(Some("at+jwt"), &claims)?;
        // A token every verifier would refuse as malformed (`"exp": "soon"`, over the size
        // limit) is an error here, not a surprise later.
        tessera_jose::UnverifiedJwt::parse(&token)?;
        Ok(token)
    }

    /// The HTTP routes.
    pub fn router(self: Arc<Self>) -> Router {
        Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .route("/jwks.json", get(jwks))
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/token", post(token))
            .fallback(|| async { bad(StatusCode::NOT_FOUND, "not found") })
            // axum's own refusals (405, 413, 415) are plain text: answer JSON everywhere.
            .layer(axum::middleware::map_response(json_errors))
            .with_state(self)
    }
}

/// Listens on `addr` and serves a fresh [`MockIssuer`] (issuer `http://ADDR`, with a
/// wildcard address such as `0.0.0.0` named as loopback) until `shutdown` fires.
pub async fn serve(addr: SocketAddr, shutdown: tessera_listen::Shutdown) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::Config(e.to_string()))?;
    // A wildcard address is where it listens, not where anyone connects: name the
    // loopback address instead, which verifiers accept over plain http.
    let mut reachable = bound;
    if reachable.ip().is_unspecified() {
        reachable.set_ip(match reachable.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let bound = reachable;
    let issuer = Arc::new(MockIssuer::generate(format!("http://{bound}"))?);
    tracing::info!(
        issuer = issuer.issuer(),
        jwks = %format!("http://{bound}/.well-known/jwks.json"),
        "mock JWKS server listening; POST /token mints tokens"
    );
    tessera_listen::serve_router(
        listener,
        None,
        issuer.router(),
        tessera_listen::Limits::for_this_process(),
        shutdown,
    )
    .await;
    Ok(())
}

async fn jwks(State(issuer): State<Arc<MockIssuer>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        issuer.jwks.clone(),
    )
        .into_response()
}

async fn discovery(State(issuer): State<Arc<MockIssuer>>) -> Response {
    Json(json!({
        "issuer": issuer.issuer,
        "jwks_uri": format!("{}/.well-known/jwks.json", issuer.issuer),
        "token_endpoint": format!("{}/token", issuer.issuer),
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
    }))
    .into_response()
}

async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let message = status
        .canonical_reason()
        .unwrap_or("bad request")
        .to_lowercase();
    bad(status, &message)
}

async fn token(State(issuer): State<Arc<MockIssuer>>, headers: HeaderMap, body: Bytes) -> Response {
    let mut claims = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(map)) => map,
            Ok(_) => {
                return bad(
                    StatusCode::BAD_REQUEST,
                    "the body must be a JSON object of claims",
                )
            }
            Err(e) => {
                return bad(
                    StatusCode::BAD_REQUEST,
                    &format!("the body is not JSON: {e}"),
                )
            }
        }
    };
    let alg = match claims.remove("alg") {
        None => None,
        Some(Value::String(name)) => match name.parse::<Algorithm>() {
            Ok(alg) => Some(alg),
            Err(e) => return bad(StatusCode::BAD_REQUEST, &e.to_string()),
        },
        Some(_) => return bad(StatusCode::BAD_REQUEST, "`alg` must be a string"),
    };
    let token = match issuer.mint(claims, alg) {
        Ok(t) => t,
        Err(e) => return bad(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let wants_text = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if wants_text {
        return ([(header::CONTENT_TYPE, "text/plain")], token).into_response();
    }
    Json(json!({
        "token": token,
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": LIFETIME,
    }))
    .into_response()
}

fn bad(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_jose::{KeySet, UnverifiedJwt, Validation};

    #[test]
    fn tokens_no_verifier_would_accept_are_not_minted() {
        let issuer = MockIssuer::generate("http://127.0.0.1:1").unwrap();
        let mut claims = Map::new();
        claims.insert("exp".into(), json!("soon"));
        let err = issuer.mint(claims, None).unwrap_err();
        assert!(err.to_string().contains("claim `exp` is a string"), "{err}");
        let mut claims = Map::new();
        claims.insert("x".into(), json!("a".repeat(20_000)));
        assert!(issuer.mint(claims, None).is_err());
    }

    #[test]
    fn minted_tokens_verify_against_the_published_set_for_every_algorithm() {
        let issuer = MockIssuer::generate("http://127.0.0.1:1").unwrap();
        let keys = KeySet::from_slice(issuer.jwks().as_bytes()).unwrap();
        assert_eq!(keys.len(), MINTS.len());
        for alg in MINTS {
            let mut claims = Map::new();
            claims.insert("sub".into(), json!("dev"));
            let token = issuer.mint(claims, Some(alg)).unwrap();
            let jwt = UnverifiedJwt::parse(&token)
                .unwrap()
                .verify(&keys, &Validation::new().issuer("http://127.0.0.1:1"))
                .unwrap();
            assert_eq!(jwt.header().alg(), alg);
            let exp = jwt.claims().exp().unwrap();
            assert!((exp - unix_now() - LIFETIME).abs() <= 2);
        }
        assert!(issuer.mint(Map::new(), Some(Algorithm::PS256)).is_err());
    }
}
