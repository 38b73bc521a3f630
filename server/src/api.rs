//! The seed's API: `POST /api/v1/auth` (password login) and `POST /api/v1/logout`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use tessera_contract::{claims, fingerprint};
use tessera_jose::{Jwt, Shown, UnverifiedJwt, Validation};

use crate::accounts::random_token;
use crate::error::ApiError;
use crate::metrics::bump;
use crate::ratelimit::Refused;
use crate::sessions::Owner;
use crate::tokens::Subject;
use crate::AppState;

/// The login body, as the seed sends it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    #[serde(rename = "userName")]
    user_name: String,
    password: String,
}

/// The client's address: the socket peer, or, when the server is configured to trust its
/// proxy, the last `X-Forwarded-For` hop (the one that proxy added; earlier hops are
/// whatever the client sent). Addresses are normalised (IPv6 to its /64) so that one
/// client cannot pose as many.
pub struct ClientAddress(pub String);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.config.trust_forwarded_for {
            if let Some(hop) = last_forwarded_hop(&parts.headers) {
                let ip = hop
                    .parse::<std::net::IpAddr>()
                    .ok()
                    // Some proxies add the port (`1.2.3.4:5678`, `[::1]:5678`): each source
                    // port must not become an address of its own.
                    .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()));
                return Ok(ClientAddress(match ip {
                    Some(ip) => address_key(ip),
                    // Not an address: still a key, but bounded.
                    None => hop.chars().take(64).collect(),
                }));
            }
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| "unknown".to_owned(), |c| address_key(c.0.ip()));
        Ok(ClientAddress(peer))
    }
}

/// The last hop of the `X-Forwarded-For` headers (several count as one list, in order):
/// the one the trusted proxy added. Read from the raw bytes, so that a byte that is not
/// visible ASCII in an earlier, client-written hop cannot make the whole header unreadable
/// and the limiter fall back to the proxy's own address.
fn last_forwarded_hop(headers: &HeaderMap) -> Option<String> {
    let hop = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .rfind(|hop| !hop.is_empty())?;
    Some(String::from_utf8_lossy(hop).into_owned())
}

/// The limiter's key for an address: IPv4 as is, IPv6 by its /64 (one subscriber usually
/// holds a whole /64), IPv4-mapped IPv6 as the IPv4 address.
fn address_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The request's media type, lowercased, without parameters ("" if absent).
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Parses a JSON or form body into `T`, refusing other content types.
pub fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, ApiError> {
    match media_type(headers).as_str() {
        "application/json" => serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!("invalid JSON body: {}", short(&e.to_string())))
        }),
        "application/x-www-form-urlencoded" => serde_urlencoded::from_bytes(body).map_err(|e| {
            ApiError::BadRequest(format!("invalid form body: {}", short(&e.to_string())))
        }),
        _ => Err(ApiError::UnsupportedMediaType(
            "application/json or application/x-www-form-urlencoded",
        )),
    }
}

fn short(message: &str) -> String {
    message.chars().take(120).collect()
}

/// `POST /api/v1/auth`: `{"userName","password"}` -> `{"jwt","refresh_token","expires_in"}`.
pub async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Login {
        user_name,
        password,
    } = parse_body(&headers, &body)?;
    if user_name.len() > 256 || password.len() > 1024 {
        return Err(ApiError::InvalidCredentials);
    }
    let now = state.clock.unix_secs();
    // The attempt reserves its place in the failure counts before the password is checked,
    // so parallel guesses cannot all pass the check before any failure is recorded.
    let attempt = match state.limiter.begin(&user_name, &address, now).await? {
        Ok(attempt) => attempt,
        Err(refused) => {
            bump(&state.metrics.logins_limited);
            let wait = match refused {
                Refused::Limited(wait) => {
                    tracing::warn!(user = %Shown::full(&user_name), address = %Shown::full(&address), "login refused: too many failures");
                    wait
                }
                Refused::Busy => {
                    tracing::warn!(user = %Shown::full(&user_name), address = %Shown::full(&address), "login refused: too many attempts of this user at once");
                    1
                }
            };
            return Err(ApiError::TooManyAttempts(wait));
        }
    };
    // The proof is checked once the limiter has let the attempt in (a limited address cannot
    // fill the replay cache) and before the password: a bad proof ends the attempt without
    // counting a failure or costing a hash.
    let proof =
        match crate::dpop::token_request_proof(&state, &headers, "/api/v1/auth", None, false) {
            Ok(proof) => proof,
            Err(refused) => {
                attempt.abandon().await?;
                return Err(refused);
            }
        };
    let jkt = proof.as_ref().map(|p| p.jkt.as_str());
    let found = state.users.find_with_hash(&user_name).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    // Unknown users are checked against a dummy hash: same work, same answer.
    let password_ok = state.passwords.check(password, hash).await?;
    let user = match user {
        Some(user) if password_ok && !user.disabled => user,
        _ => {
            attempt.failed();
            bump(&state.metrics.logins_failed);
            tracing::info!(user = %Shown::full(&user_name), address = %Shown::full(&address), "login failed");
            return Err(ApiError::InvalidCredentials);
        }
    };
    attempt.succeeded().await?;
    let (cookie, fingerprint_hash) = if state.config.fingerprint_cookie {
        let value = random_token(32)?;
        (
            Some(fingerprint::set_cookie(&value)),
            Some(fingerprint::hash(&value)),
        )
    } else {
        (None, None)
    };
    // No key can sign (a new replica before its first maintenance): refuse before a
    // session is stored that no token would ever name.
    if state.keys.published().signer.is_none() {
        return Err(ApiError::Unavailable);
    }
    let started = state
        .sessions
        .start(Owner {
            subject: &user.subject,
            role: &user.role,
            client_id: None,
            scope: None,
            fingerprint_hash: fingerprint_hash.as_deref(),
            dpop_jkt: jkt,
        })
        .await?;
    let issued = state
        .issuer
        .issue(
            Subject::User {
                subject: &user.subject,
                name: &user.name,
                role: &user.role,
                session_id: &started.session_id,
                fingerprint_hash: fingerprint_hash.as_deref(),
                client_id: None,
                scope: None,
            },
            jkt,
        )?
        .ok_or(ApiError::Unavailable)?;
    let refresh_token = started.refresh_token;
    bump(&state.metrics.tokens_password);
    tracing::info!(user = %Shown::full(&user.name), "login");
    let mut body = json!({
        "jwt": issued.token,
        "refresh_token": refresh_token,
        "expires_in": issued.expires_in,
    });
    if jkt.is_some() {
        body["token_type"] = "DPoP".into();
    }
    let mut response = Json(body).into_response();
    crate::dpop::add_nonce(&state, response.headers_mut());
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(cookie) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `POST /api/v1/logout` with the access token as a bearer: revokes the whole session.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let jwt = crate::dpop::presented_token(&state, "POST", "/api/v1/logout", &headers)?;
    let session = jwt
        .claims()
        .get(claims::SESSION_ID)
        .and_then(|v| v.as_str())
        .ok_or_else(|| crate::dpop::invalid_token(&headers))?
        .to_owned();
    state.sessions.end(&session).await?;
    tracing::info!(sub = %Shown::full(jwt.claims().sub().unwrap_or("-")), "logout");
    let mut response = (StatusCode::OK, Json(json!({ "message": "logged out" }))).into_response();
    if state.config.fingerprint_cookie {
        response.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_static(fingerprint::CLEAR_COOKIE),
        );
    }
    Ok(response)
}

/// Verifies a token this server issued (signature by a published key, issuer, time).
pub fn verify_own(state: &AppState, token: &str) -> Option<Jwt> {
    let validation = Validation::new()
        .issuer(state.config.issuer.clone())
        .audience(state.config.audience.clone())
        .leeway(state.config.leeway)
        .at_time(state.clock.unix_secs());
    let published = state.keys.published();
    // An encrypted access token (`encrypt_access_tokens`) is read back with the private
    // key when the server has it; its inner token is then checked like a plain one.
    if token.bytes().filter(|&b| b == b'.').count() == 4 {
        let nested = state.own_decrypter.as_ref()?.decrypt_nested(token).ok()?;
        return nested.verify(&published.verifier, &validation).ok();
    }
    UnverifiedJwt::parse(token)
        .and_then(|t| t.verify(&published.verifier, &validation))
        .ok()
}
