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
use tessera_jose::jwe::ContentEncryption;
use tessera_jose::Shown;

use crate::accounts::Client;
use crate::api::{media_type, verify_own};
use crate::error::{ApiError, OAuthError};
use crate::metrics::bump;
use crate::oidc::codes::{pkce_matches, Redemption};
use crate::oidc::userinfo::scope_claims;
use crate::sessions::{Owner, RefreshRefusal};
use crate::tokens::{IdToken, Subject};
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
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
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

/// The client of a request that may come from a public client: a confidential client
/// authenticates as [`authenticate_client`] says; a public one (an SPA, a native app) sends
/// only its `client_id` (`token_endpoint_auth_method` `none`).
async fn identify_client(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
) -> Result<Client, ApiError> {
    let has_credentials =
        form.client_secret.is_some() || headers.contains_key(header::AUTHORIZATION);
    if has_credentials {
        return authenticate_client(state, headers, form).await;
    }
    let Some(id) = form.client_id.as_deref().filter(|id| id.len() <= 256) else {
        return Err(OAuthError::invalid_client(false));
    };
    match state.clients.find(id).await? {
        Some(client) if client.public && !client.disabled => Ok(client),
        _ => {
            tracing::info!(client_id = %Shown::full(id), "client authentication failed: not a public client");
            Err(OAuthError::invalid_client(false))
        }
    }
}

fn form_decode(text: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={text}")).ok()?;
    pairs.into_iter().next().map(|(_, v)| v)
}

/// Where the token endpoint is served (a DPoP proof names it).
const TOKEN_PATH: &str = "/oauth/token";

/// `token_type`: `DPoP` for a token bound to a key, `Bearer` otherwise.
fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() {
        "DPoP"
    } else {
        "Bearer"
    }
}

fn token_response(state: &AppState, body: Value) -> Response {
    let mut response = Json(body).into_response();
    crate::dpop::add_nonce(state, response.headers_mut());
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
        Some("refresh_token") => refresh(&state, &headers, &form).await,
        Some("authorization_code") => authorization_code(&state, &headers, &form).await,
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
    let proof =
        crate::dpop::token_request_proof(state, headers, TOKEN_PATH, None, client.require_dpop)?;
    let jkt = proof.as_ref().map(|p| p.jkt.as_str());
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
        .issue(
            Subject::Client {
                client_id: &client.client_id,
                scope: &granted,
            },
            jkt,
        )?
        .ok_or(ApiError::Unavailable)?;
    bump(&state.metrics.tokens_client_credentials);
    let mut body = json!({
        "access_token": issued.token,
        "token_type": token_type(jkt),
        "expires_in": issued.expires_in,
    });
    if !granted.is_empty() {
        body["scope"] = Value::String(granted);
    }
    Ok(token_response(state, body))
}

async fn refresh(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
) -> Result<Response, ApiError> {
    let presented = form
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    if presented.len() > 256 {
        return Err(OAuthError::invalid_grant("refresh token is invalid"));
    }
    // A refresh token issued to a client is redeemed by that client only (RFC 6749 6),
    // checked before it is spent. The login API's refresh tokens belong to no client. A
    // token bound to a DPoP key needs a proof by that key, also before it is spent: a
    // thief without the key cannot burn the family.
    let mut proof = None;
    let mut checked = false;
    if let Some(info) = state.sessions.lookup(presented).await? {
        let mut required = false;
        if let Some(owner) = &info.client_id {
            let client = identify_client(state, headers, form).await?;
            if client.client_id != *owner {
                return Err(OAuthError::invalid_grant(
                    "refresh token was issued to another client",
                ));
            }
            required = client.require_dpop;
        }
        proof = crate::dpop::token_request_proof(
            state,
            headers,
            TOKEN_PATH,
            info.dpop_jkt.as_deref(),
            required,
        )?;
        checked = true;
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
    if !checked {
        // Not redeemable when looked up, yet redeemed: only a race with the clock. The
        // rules are applied now; a failure ends the session, as a stolen token would.
        match crate::dpop::token_request_proof(
            state,
            headers,
            TOKEN_PATH,
            redeemed.dpop_jkt.as_deref(),
            false,
        ) {
            Ok(p) => proof = p,
            Err(e) => {
                state.sessions.end(&redeemed.session_id).await?;
                return Err(e);
            }
        }
    }
    let jkt = proof.as_ref().map(|p| p.jkt.as_str());
    // The user may have been disabled since the session started.
    let user = state.users.by_subject(&redeemed.subject).await?;
    let Some(user) = user.filter(|u| !u.disabled) else {
        state.sessions.end(&redeemed.session_id).await?;
        return Err(OAuthError::invalid_grant("the user is disabled"));
    };
    let issued = state
        .issuer
        .issue(
            Subject::User {
                subject: &user.subject,
                name: &user.name,
                role: &user.role,
                session_id: &redeemed.session_id,
                fingerprint_hash: redeemed.fingerprint_hash.as_deref(),
                client_id: redeemed.client_id.as_deref(),
                scope: redeemed.scope.as_deref(),
            },
            jkt,
        )?
        .ok_or(ApiError::Unavailable)?;
    bump(&state.metrics.tokens_refresh);
    let mut body = json!({
        "access_token": issued.token,
        "token_type": token_type(jkt),
        "expires_in": issued.expires_in,
        "refresh_token": redeemed.refresh_token,
    });
    if let Some(scope) = redeemed.scope.filter(|s| !s.is_empty()) {
        body["scope"] = Value::String(scope);
    }
    Ok(token_response(state, body))
}

/// `grant_type=authorization_code` (RFC 6749 4.1.3, RFC 7636, OpenID Connect Core 3.1.3).
async fn authorization_code(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
) -> Result<Response, ApiError> {
    let client = identify_client(state, headers, form).await?;
    let (Some(code), Some(redirect_uri), Some(verifier)) = (
        form.code.as_deref(),
        form.redirect_uri.as_deref(),
        form.code_verifier.as_deref(),
    ) else {
        return Err(OAuthError::invalid_request(
            "code, redirect_uri and code_verifier are required",
        ));
    };
    // Checked before the code is spent: a proof by the wrong key must not burn it.
    let bound = state.codes.bound_key(code).await?;
    let proof = crate::dpop::token_request_proof(
        state,
        headers,
        TOKEN_PATH,
        bound.as_deref(),
        client.require_dpop,
    )?;
    let jkt = proof.as_ref().map(|p| p.jkt.as_str());
    let now = state.clock.unix_secs();
    let (grant, expires_at) = match state.codes.redeem(code).await? {
        Redemption::Unknown => {
            return Err(OAuthError::invalid_grant("authorization code is invalid"))
        }
        Redemption::Reused {
            access_jti,
            access_expires_at,
            refresh_family,
        } => {
            // Someone has the code besides the client: what its first use issued is revoked.
            if let (Some(jti), Some(exp)) = (access_jti, access_expires_at) {
                let until = exp.saturating_add(i64::try_from(state.config.leeway).unwrap_or(60));
                state
                    .revocations
                    .add(RevocationKind::Jti, &jti, until)
                    .await?;
            }
            if let Some(family) = refresh_family {
                state.sessions.revoke_family(&family).await?;
            }
            tracing::warn!(client = %Shown::full(&client.client_id), "authorization code reused: what it issued is revoked");
            return Err(OAuthError::invalid_grant(
                "authorization code was already used; what it issued has been revoked",
            ));
        }
        Redemption::Fresh { grant, expires_at } => (grant, expires_at),
    };
    if expires_at <= now {
        return Err(OAuthError::invalid_grant("authorization code has expired"));
    }
    if grant.client_id != client.client_id {
        tracing::warn!(client = %Shown::full(&client.client_id), "authorization code of another client presented");
        return Err(OAuthError::invalid_grant(
            "authorization code was issued to another client",
        ));
    }
    if grant.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request's",
        ));
    }
    if !pkce_matches(verifier, &grant.code_challenge) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    if !state.sessions.is_live(&grant.session_id).await? {
        return Err(OAuthError::invalid_grant(
            "the session of this code has ended",
        ));
    }
    let Some(user) = state
        .users
        .by_subject(&grant.subject)
        .await?
        .filter(|u| !u.disabled)
    else {
        return Err(OAuthError::invalid_grant("the user is disabled"));
    };
    let scopes: Vec<&str> = grant.scope.split(' ').filter(|s| !s.is_empty()).collect();
    let issued = state
        .issuer
        .issue(
            Subject::User {
                subject: &user.subject,
                name: &user.name,
                role: &user.role,
                session_id: &grant.session_id,
                fingerprint_hash: None,
                client_id: Some(&client.client_id),
                scope: Some(&grant.scope),
            },
            jkt,
        )?
        .ok_or(ApiError::Unavailable)?;
    let mut body = json!({
        "access_token": issued.token,
        "token_type": token_type(jkt),
        "expires_in": issued.expires_in,
        "scope": grant.scope,
    });
    if scopes.contains(&"openid") {
        let id_token = state
            .issuer
            .id_token(
                IdToken {
                    subject: &user.subject,
                    client_id: &client.client_id,
                    auth_time: grant.auth_time,
                    session_id: &grant.session_id,
                    nonce: grant.nonce.as_deref(),
                    profile: scope_claims(&user, &scopes),
                },
                &issued.token,
            )?
            .ok_or(ApiError::Unavailable)?;
        // A client registered with an encryption key gets its ID token encrypted to it
        // (signed, then encrypted: OpenID Connect Core 16.14), A128CBC-HS256 being the
        // Registration default `id_token_encrypted_response_enc`.
        let id_token = match &client.id_token_encryption_jwk {
            Some(jwk) => crate::accounts::id_token_encrypter(jwk)?
                .encrypt_jws(&id_token, ContentEncryption::A128CbcHs256)
                .map_err(crate::error::Error::from)?,
            None => id_token,
        };
        body["id_token"] = Value::String(id_token);
    }
    let mut family = None;
    if scopes.contains(&"offline_access") {
        let owner = Owner {
            subject: &user.subject,
            role: &user.role,
            client_id: Some(&client.client_id),
            scope: Some(&grant.scope),
            fingerprint_hash: None,
            // A public client's refresh tokens are bound to its key (RFC 9449 section 5);
            // a confidential client's are bound to its credentials already.
            dpop_jkt: jkt.filter(|_| client.public),
        };
        match state.sessions.add_refresh(&grant.session_id, owner).await? {
            Some((token, f)) => {
                body["refresh_token"] = Value::String(token);
                family = Some(f);
            }
            None => {
                return Err(OAuthError::invalid_grant(
                    "the session of this code has ended",
                ))
            }
        }
    }
    state
        .codes
        .record(code, &issued.jti, issued.expires_at, family.as_deref())
        .await?;
    bump(&state.metrics.tokens_authorization_code);
    tracing::info!(client = %Shown::full(&client.client_id), user = %Shown::full(&user.name), "tokens issued for an authorization code");
    Ok(token_response(state, body))
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
            return Ok(token_response(&state, json!({})));
        }
    }
    if let Some(jwt) = verify_own(&state, token) {
        let claims = jwt.claims();
        if issued_to(claims) != Some(client.client_id.as_str()) {
            tracing::warn!(client = %Shown::full(&client.client_id), "revocation of another client's access token refused");
            return Ok(token_response(&state, json!({})));
        }
        if let (Some(jti), Some(exp)) = (claims.jti(), claims.exp()) {
            let until = exp.saturating_add(i64::try_from(state.config.leeway).unwrap_or(60));
            state
                .revocations
                .add(RevocationKind::Jti, jti, until)
                .await?;
        }
    }
    Ok(token_response(&state, json!({})))
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
            // The claims include `cnf` for a DPoP-bound token (RFC 9449 section 6.2).
            let mut body = Value::Object(claims.members().clone());
            body["active"] = Value::Bool(true);
            let bound = claims.get("cnf").is_some();
            body["token_type"] = Value::String(if bound { "DPoP" } else { "Bearer" }.into());
            return Ok(token_response(&state, body));
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
                if let Some(jkt) = refresh.dpop_jkt {
                    body["cnf"] = json!({ "jkt": jkt });
                }
                return Ok(token_response(&state, body));
            }
        }
    }
    Ok(token_response(&state, json!({ "active": false })))
}
