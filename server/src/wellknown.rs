//! `/.well-known/jwks.json` (the hottest endpoint: a pre-serialised body, a strong ETag,
//! and no allocation beyond the response) and the discovery documents.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use tessera_jose::Algorithm;

use crate::metrics::bump;
use crate::AppState;

/// `GET /.well-known/jwks.json`.
pub async fn jwks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let published = state.keys.published();
    let cache = cache_control(state.config.jwks_max_age);
    if let Some(tags) = headers.get(header::IF_NONE_MATCH) {
        if etag_matches(tags.as_bytes(), published.etag.as_bytes()) {
            bump(&state.metrics.jwks_not_modified);
            return (
                StatusCode::NOT_MODIFIED,
                [
                    (header::ETAG, published.etag.clone()),
                    (header::CACHE_CONTROL, cache),
                ],
            )
                .into_response();
        }
    }
    bump(&state.metrics.jwks_served);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, published.etag.clone()),
            (header::CACHE_CONTROL, cache),
        ],
        published.jwks_body.clone(),
    )
        .into_response()
}

fn cache_control(max_age: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or_else(|_| HeaderValue::from_static("public, max-age=300"))
}

/// RFC 9110 `If-None-Match`: `*`, or a list of entity tags (weak comparison).
fn etag_matches(header: &[u8], etag: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(header) else {
        return false;
    };
    text.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate).as_bytes() == etag
    })
}

/// `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`
/// (OpenID Connect Discovery 1.0, RFC 8414).
pub async fn discovery(State(state): State<AppState>) -> impl IntoResponse {
    let issuer = state.config.issuer.trim_end_matches('/');
    let mut id_token_algs = vec![Algorithm::RS256.as_str()];
    if state.config.alg != Algorithm::RS256 {
        id_token_algs.push(state.config.alg.as_str());
    }
    let auth_methods = json!(["client_secret_basic", "client_secret_post", "none"]);
    let dpop_algs: Vec<&str> = state
        .dpop
        .checker
        .algorithm_list()
        .iter()
        .map(|a| a.as_str())
        .collect();
    let secret_methods = json!(["client_secret_basic", "client_secret_post"]);
    (
        [(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        )],
        Json(json!({
            "issuer": state.config.issuer,
            "authorization_endpoint": format!("{issuer}/oauth/authorize"),
            "token_endpoint": format!("{issuer}/oauth/token"),
            "userinfo_endpoint": format!("{issuer}/oauth/userinfo"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "end_session_endpoint": format!("{issuer}/oauth/logout"),
            "revocation_endpoint": format!("{issuer}/oauth/revoke"),
            "introspection_endpoint": format!("{issuer}/oauth/introspect"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "dpop_signing_alg_values_supported": dpop_algs,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": id_token_algs,
            // ID tokens are encrypted for clients registered with a key (asymmetric only:
            // no shared-secret key management).
            "id_token_encryption_alg_values_supported": [
                "RSA-OAEP-256", "RSA-OAEP", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW"
            ],
            "id_token_encryption_enc_values_supported": ["A128CBC-HS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": [
                "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "azp",
                "preferred_username", "name", "email", "email_verified",
                "role", "sessionId", "client_id", "scope", "jti", "nbf"
            ],
            "prompt_values_supported": ["none", "login", "consent"],
            "token_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint_auth_methods_supported": secret_methods,
            "introspection_endpoint_auth_methods_supported": secret_methods,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
            "frontchannel_logout_supported": false,
            "authorization_response_iss_parameter_supported": true,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "claims_parameter_supported": false,
        })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_forms() {
        let tag = br#""abc""#;
        assert!(etag_matches(br#""abc""#, tag));
        assert!(etag_matches(br#""x", W/"abc""#, tag));
        assert!(etag_matches(b"*", tag));
        assert!(!etag_matches(br#""abd""#, tag));
        assert!(!etag_matches(b"abc", tag));
    }
}
