//! OAuth 2.0 endpoints: the token endpoint (RFC 6749: client credentials, refresh tokens),
//! revocation (RFC 7009) and introspection (RFC 7662), with RFC 6749 section 5.2 errors.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_contract::{claims, RevocationKind};
use tessera_jose::Shown;

use crate::accounts::Client;
use crate::api::{media_type, verify_own};
use crate::error::{ApiError, OAuthError};
use crate::metrics::bump;
use crate::sessions::RefreshRefusal;
use crate::tokens::Subject;
use crate::AppState;

/// The form fields of the three endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct OAuthForm {
    grant_type: Option<String>,
    scope: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    token: Option<String>,
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

fn form(headers: &HeaderMap, body: &Bytes) -> Result<OAuthForm, ApiError> {
    if media_type(headers) != "application/x-www-form-urlencoded" {
        return Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    // RFC 6749 section 3.2: parameters must not be repeated.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("the body is not a valid form"))?;
    let mut seen: Vec<&str> = Vec::with_capacity(pairs.len());
    for (name, _) in &pairs {
        if seen.contains(&name.as_str()) {
            return Err(OAuthError::invalid_request(format!(
                "parameter `{}` is repeated",
                name.chars().take(40).collect::<String>()
            )));
        }
        seen.push(name);
    }
    serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("the body is not a valid form"))
}

/// Client authentication by HTTP Basic (RFC 6749 section 2.3.1, form-encoded id and
/// secret) or by `client_id`/`client_secret` in the body, never both.
async fn authenticate_client(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
) -> Result<Client, ApiError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, rest)| rest.trim().to_owned());
    let (id, secret, by_basic) = match (basic, &form.client_id, &form.client_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not two",
            ))
        }
        (Some(encoded), None, None) => {
            let decoded = STANDARD
                .decode(encoded.as_bytes())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| OAuthError::invalid_client(true))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(|| OAuthError::invalid_client(true))?;
            let id = form_decode(id).ok_or_else(|| OAuthError::invalid_client(true))?;
            let secret = form_decode(secret).ok_or_else(|| OAuthError::invalid_client(true))?;
            (id, secret, true)
        }
        (None, Some(id), Some(secret)) => (id.clone(), secret.clone(), false),
        (None, _, _) => return Err(OAuthError::invalid_client(true)),
    };
    if id.len() > 256 || secret.len() > 512 {
        return Err(OAuthError::invalid_client(by_basic));
    }
    match state.clients.authenticate(&id, &secret).await? {
        Some(client) => Ok(client),
        None => {
            tracing::info!(client_id = %Shown::full(&id), "client authentication failed");
            Err(OAuthError::invalid_client(by_basic))
        }
    }
}

fn form_decode(text: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={text}")).ok()?;
    pairs.into_iter().next().map(|(_, v)| v)
}

fn token_response(body: Value) -> Response {
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /oauth/token`.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = form(&headers, &body)?;
    match form.grant_type.as_deref() {
        Some("client_credentials") => client_credentials(&state, &headers, &form).await,
        Some("refresh_token") => refresh(&state, &form).await,
        Some(_) => Err(OAuthError::unsupported_grant_type()),
        None => Err(OAuthError::invalid_request("grant_type is required")),
    }
}

async fn client_credentials(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
) -> Result<Response, ApiError> {
    let client = authenticate_client(state, headers, form).await?;
    let allowed: Vec<&str> = client.scope.split_whitespace().collect();
    let granted = match form.scope.as_deref() {
        None => client.scope.clone(),
        Some(requested) => {
            let requested: Vec<&str> = requested.split_whitespace().collect();
            if let Some(bad) = requested.iter().find(|s| !allowed.contains(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope `{}` is not allowed for this client",
                    bad.chars().take(60).collect::<String>()
                )));
            }
            requested.join(" ")
        }
    };
    let issued = state
        .issuer
        .issue(Subject::Client {
            client_id: &client.client_id,
            scope: &granted,
        })?
        .ok_or(ApiError::Unavailable)?;
    bump(&state.metrics.tokens_client_credentials);
    let mut body = json!({
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
    });
    if !granted.is_empty() {
        body["scope"] = Value::String(granted);
    }
    Ok(token_response(body))
}

async fn refresh(state: &AppState, form: &OAuthForm) -> Result<Response, ApiError> {
    let presented = form
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    if presented.len() > 256 {
        return Err(OAuthError::invalid_grant("refresh token is invalid"));
    }
    let redeemed = match state.sessions.redeem(presented).await? {
        Ok(r) => r,
        Err(refusal) => {
            if refusal == RefreshRefusal::Reused {
                bump(&state.metrics.refresh_reuse);
            }
            let why = match refusal {
                RefreshRefusal::Unknown => "refresh token is invalid",
                RefreshRefusal::Expired => "refresh token has expired",
                RefreshRefusal::Revoked => "refresh token has been revoked",
                RefreshRefusal::Reused => {
                    "refresh token was already used; its session has been revoked"
                }
            };
            return Err(OAuthError::invalid_grant(why));
        }
    };
    // The user may have been disabled since the session started.
    let user = state.users.by_subject(&redeemed.subject).await?;
    let Some(user) = user.filter(|u| !u.disabled) else {
        state.sessions.end(&redeemed.session_id).await?;
        return Err(OAuthError::invalid_grant("the user is disabled"));
    };
    let issued = state
        .issuer
        .issue(Subject::User {
            subject: &user.subject,
            name: &user.name,
            role: &user.role,
            session_id: &redeemed.session_id,
            fingerprint_hash: redeemed.fingerprint_hash.as_deref(),
        })?
        .ok_or(ApiError::Unavailable)?;
    bump(&state.metrics.tokens_refresh);
    Ok(token_response(json!({
        "access_token": issued.token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "refresh_token": redeemed.refresh_token,
    })))
}

/// The `token` parameter of revocation and introspection, and the client that asks.
async fn authenticated_token<'f>(
    state: &AppState,
    headers: &HeaderMap,
    form: &'f OAuthForm,
) -> Result<(Client, &'f str), ApiError> {
    let client = authenticate_client(state, headers, form).await?;
    let token = form
        .token
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    Ok((client, token))
}

/// `POST /oauth/revoke` (RFC 7009): a refresh token ends its session; an access token has
/// its `jti` published as revoked. A client revokes only tokens issued to it (section 2.1):
/// tokens of other clients, and those of the login API, which no client was issued, are
/// left alone. The answer is 200 in every case, as for unknown tokens (section 2.2), so it
/// tells a client nothing about tokens that are not its own.
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = form(&headers, &body)?;
    let (client, token) = authenticated_token(&state, &headers, &form).await?;
    if token.len() <= 256 {
        if let Some(refresh) = state.sessions.lookup(token).await? {
            if refresh.client_id.as_deref() == Some(client.client_id.as_str()) {
                state.sessions.end(&refresh.session_id).await?;
            } else {
                tracing::warn!(client = %Shown::full(&client.client_id), "revocation of another client's refresh token refused");
            }
            return Ok(token_response(json!({})));
        }
    }
    if let Some(jwt) = verify_own(&state, token) {
        let claims = jwt.claims();
        if issued_to(claims) != Some(client.client_id.as_str()) {
            tracing::warn!(client = %Shown::full(&client.client_id), "revocation of another client's access token refused");
            return Ok(token_response(json!({})));
        }
        if let (Some(jti), Some(exp)) = (claims.jti(), claims.exp()) {
            let until = exp.saturating_add(i64::try_from(state.config.leeway).unwrap_or(60));
            state
                .revocations
                .add(RevocationKind::Jti, jti, until)
                .await?;
        }
    }
    Ok(token_response(json!({})))
}

/// The client an access token was issued to (`client_id`; none for the login API's).
fn issued_to(claims: &tessera_jose::Claims) -> Option<&str> {
    claims.get(claims::CLIENT_ID).and_then(Value::as_str)
}

/// `POST /oauth/introspect` (RFC 7662). A client learns about tokens issued to it; one
/// registered as a resource server (`tessera client add --introspect`) about any token.
/// Every other token is `{"active": false}`, as an unknown one is.
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let form = form(&headers, &body)?;
    let (client, token) = authenticated_token(&state, &headers, &form).await?;
    let may_see =
        |owner: Option<&str>| client.can_introspect || owner == Some(client.client_id.as_str());
    if let Some(jwt) = verify_own(&state, token) {
        let claims = jwt.claims();
        let session = RevocationKind::Session.value_in(claims);
        if may_see(issued_to(claims))
            && !state.revocations.is_revoked(claims.jti(), session).await?
        {
            let mut body = Value::Object(claims.members().clone());
            body["active"] = Value::Bool(true);
            body["token_type"] = Value::String("Bearer".into());
            return Ok(token_response(body));
        }
    } else if token.len() <= 256 {
        if let Some(refresh) = state.sessions.lookup(token).await? {
            if may_see(refresh.client_id.as_deref()) {
                let mut body = json!({
                    "active": true,
                    "token_type": "refresh_token",
                    "sub": refresh.subject,
                    "exp": refresh.expires_at,
                    "iss": state.config.issuer,
                });
                if let Some(client_id) = refresh.client_id {
                    body["client_id"] = Value::String(client_id);
                }
                return Ok(token_response(body));
            }
        }
    }
    Ok(token_response(json!({ "active": false })))
}
