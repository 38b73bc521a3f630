//! The seed's resource server, on Tessera: `GET /api/v1/protected` answers 200
//! `{"message", "user": <claims>}` for a valid token and 401 (RFC 6750) otherwise. Tokens
//! bound to a key (DPoP, RFC 9449) are accepted as `Authorization: DPoP` with a proof.
//!
//! Environment:
//! - `PORT` (default 3000);
//! - `HOST`: the address to listen on (default `127.0.0.1`, loopback only; `0.0.0.0` or
//!   `::` to accept connections from other machines);
//! - `JWKS_SERVER`: the JWKS URL (required; `https`, or `http` on loopback);
//! - `ISSUER`: when set, tokens must carry exactly this `iss`;
//! - `AUDIENCE`: when set, a token's `aud` must contain it;
//! - `REVOCATIONS`: when set, the auth server's base URL, whose revocation stream is
//!   followed so that logged-out sessions are refused at once;
//! - `TOKEN_CACHE`: how many verified tokens to remember (default 1024; `0` turns the cache
//!   off). A token sent again skips its signature check while the key set is unchanged;
//!   expiry and revocation are still checked on every request;
//! - `PUBLIC_URL`: the URL clients reach this service at (default `http://127.0.0.1:PORT`):
//!   a DPoP proof's `htu` must be it followed by the request path. Set it when the consumer
//!   sits behind a proxy; it is never taken from the request's headers;
//! - `DECRYPT_KEY`: a private JWK file; when set, encrypted access tokens (nested JWTs, as
//!   `tessera serve --encrypt-access-tokens` issues them) are decrypted with it and then
//!   verified; `REQUIRE_ENCRYPTION=1` refuses plain ones;
//! - `MAX_CONNECTIONS`: open connections at most (default: below the descriptor limit,
//!   which is raised to its hard limit at start); idle ones are closed to make room;
//! - `RUST_LOG`: log filter (default `info`).
//!
//! ```sh
//! JWKS_SERVER=http://127.0.0.1:3001/.well-known/jwks.json cargo run --release --example consumer
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:3000/api/v1/protected
//! ```

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tessera_jose::Validation;
use tessera_verifier::{AuthLayer, Issuer, VerifiedToken, Verifier};

#[tokio::main]
async fn main() -> ExitCode {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("consumer: {message}");
            ExitCode::FAILURE
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

async fn run() -> Result<(), String> {
    let port: u16 = match env("PORT") {
        Some(p) => p
            .parse()
            .map_err(|_| format!("PORT is not a port number: {p}"))?,
        None => 3000,
    };
    let jwks = env("JWKS_SERVER").ok_or("JWKS_SERVER (the JWKS URL) is required")?;

    let mut issuer = Issuer::jwks(jwks);
    if let Some(iss) = env("ISSUER") {
        issuer = issuer.issuer(iss);
    }
    issuer = match env("AUDIENCE") {
        Some(aud) => issuer.audience(aud),
        // No audience configured: the seed's consumer accepted any `aud`, so this one does
        // too, explicitly (RFC 7519 section 4.1.3 says a recipient not named in `aud` must
        // refuse the token: set AUDIENCE in production).
        None => issuer.validation(Validation::new().insecure_any_audience()),
    };
    let token_cache: usize = match env("TOKEN_CACHE") {
        Some(n) => n
            .parse()
            .map_err(|_| format!("TOKEN_CACHE is not a number: {n}"))?,
        None => 1024,
    };
    let public_url = env("PUBLIC_URL").unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
    let mut builder = Verifier::builder()
        .issuer(issuer)
        .token_cache(token_cache)
        .public_url(public_url);
    if let Some(server) = env("REVOCATIONS") {
        builder = builder.revocation_feed(server);
    }
    if let Some(path) = env("DECRYPT_KEY") {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("DECRYPT_KEY: cannot read {path}: {e}"))?;
        let jwk = tessera_jose::Jwk::from_json(&text).map_err(|e| format!("DECRYPT_KEY: {e}"))?;
        let key = tessera_jose::jwe::DecryptionKey::from_jwk(&jwk, None)
            .map_err(|e| format!("DECRYPT_KEY: {e}"))?;
        let required = match env("REQUIRE_ENCRYPTION").as_deref() {
            None | Some("0") | Some("false") => false,
            Some("1") | Some("true") => true,
            Some(other) => return Err(format!("REQUIRE_ENCRYPTION must be 1 or 0, not {other}")),
        };
        builder = builder.decryption_key(key, required);
    } else if env("REQUIRE_ENCRYPTION").is_some() {
        return Err("REQUIRE_ENCRYPTION needs DECRYPT_KEY".into());
    }
    let verifier = Arc::new(builder.build().map_err(|e| e.to_string())?);
    // Not fatal: an issuer that starts later is fetched on the first request.
    let _ = verifier.prefetch().await;

    let app = Router::new()
        .route("/api/v1/protected", get(protected))
        .route_layer(AuthLayer::new(verifier))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, Json(json!({"message": "not found"}))) });

    let host: IpAddr = match env("HOST") {
        Some(h) => h
            .parse()
            .map_err(|_| format!("HOST is not an IP address: {h}"))?,
        None => IpAddr::from([127, 0, 0, 1]),
    };
    let addr = SocketAddr::new(host, port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    tracing::info!(%addr, "consumer listening");
    // The same listener as the auth server's: slow and silent clients are cut off.
    let mut limits = tessera_listen::Limits::for_this_process();
    if let Some(n) = env("MAX_CONNECTIONS") {
        limits.max_connections = n
            .parse()
            .map_err(|_| format!("MAX_CONNECTIONS is not a number: {n}"))?;
    }
    tessera_listen::serve_router(
        listener,
        None,
        app,
        limits,
        tessera_listen::Shutdown::on_signal(),
    )
    .await;
    Ok(())
}

async fn protected(VerifiedToken(jwt): VerifiedToken) -> Response {
    // The payload as signed is a checked JSON object: embed it as is rather than re-encode it.
    let claims = String::from_utf8_lossy(jwt.claims().raw());
    let body =
        format!(r#"{{"message":"Protected resource accessed successfully","user":{claims}}}"#);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
