//! UserInfo (OpenID Connect Core 5.3), GET and POST: the `sub` of a user's access token
//! and the claims of its granted scopes.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use tessera_contract::{claims, RevocationKind};

use crate::accounts::User;
use crate::error::ApiError;
use crate::AppState;

/// Where UserInfo is served (a DPoP proof names it).
pub(crate) const USERINFO_PATH: &str = "/oauth/userinfo";

/// `GET /oauth/userinfo` and `POST /oauth/userinfo`.
pub(crate) async fn userinfo(
    State(state): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> Response {
    match answer(&state, method.as_str(), &headers).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn answer(state: &AppState, method: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let jwt = crate::dpop::presented_token(state, method, USERINFO_PATH, headers)?;
    let token_claims = jwt.claims();
    let session = RevocationKind::Session.value_in(token_claims);
    if state
        .revocations
        .is_revoked(token_claims.jti(), session)
        .await?
    {
        return Err(crate::dpop::invalid_token(headers));
    }
    let scopes: Vec<&str> = token_claims
        .get(claims::SCOPE)
        .and_then(Value::as_str)
        .unwrap_or("")
        .split(' ')
        .collect();
    if !scopes.contains(&"openid") {
        return Ok(insufficient_scope(crate::dpop::is_dpop_scheme(headers)));
    }
    let user = match token_claims.sub() {
        Some(sub) => state.users.by_subject(sub).await?,
        None => None,
    };
    let Some(user) = user.filter(|u| !u.disabled) else {
        return Err(crate::dpop::invalid_token(headers));
    };
    let mut body = Map::new();
    body.insert("sub".into(), user.subject.clone().into());
    for (name, value) in scope_claims(&user, &scopes) {
        body.insert(name.into(), value);
    }
    let mut response = Json(Value::Object(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The claims the scopes `profile` and `email` grant. Email addresses are set by an
/// administrator (`tessera user add --email`), so they are asserted as verified.
pub(crate) fn scope_claims(user: &User, scopes: &[&str]) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    if scopes.contains(&"profile") {
        out.push(("preferred_username", json!(user.name)));
        if let Some(name) = &user.display_name {
            out.push(("name", json!(name)));
        }
    }
    if scopes.contains(&"email") {
        if let Some(email) = &user.email {
            out.push(("email", json!(email)));
            out.push(("email_verified", json!(true)));
        }
    }
    out
}

/// 403 `insufficient_scope`, its challenge in the scheme the request used.
fn insufficient_scope(dpop: bool) -> Response {
    let mut response = (
        StatusCode::FORBIDDEN,
        Json(json!({"error": "insufficient_scope", "error_description": "the access token was not granted the openid scope"})),
    )
        .into_response();
    let challenge = if dpop {
        r#"DPoP error="insufficient_scope", scope="openid""#
    } else {
        r#"Bearer error="insufficient_scope", scope="openid""#
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}
