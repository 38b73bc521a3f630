//! The authorization endpoint (GET and POST `/oauth/authorize`), the login page
//! (`POST /oauth/login`) and the consent page (`POST /oauth/consent`).
//!
//! A request is checked in the order OpenID Connect Core 3.1.2.6 requires: until the client
//! and its redirect URI are known good, an error is a page (status 400), never a redirect;
//! after, every error goes back to the client as RFC 6749 4.1.2.1 says, with `state` and
//! RFC 9207's `iss`. The checked request travels between the pages sealed under the master
//! key (`request` field): the browser cannot change it, and it expires after ten minutes.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tessera_jose::{Shown, UnverifiedJwt, Validation};

use super::browser;
use super::codes::Grant;
use super::pages::{describe_scope, security_headers};
use crate::accounts::{Client, User};
use crate::api::ClientAddress;
use crate::error::{Error, Result};
use crate::metrics::bump;
use crate::ratelimit::Refused;
use crate::AppState;

/// Scopes every client may ask for; clients also get their registered `--scope` scopes.
pub(crate) const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline_access"];
/// How long a sign-in may take, from the authorization request to the last page.
const REQUEST_LIFETIME: i64 = 600;
/// Associated data of a sealed request.
const REQUEST_PURPOSE: &str = "tessera authorization request v1";

/// An authorization request once checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Request {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub prompt_consent: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The subject of a valid `id_token_hint`.
    pub hint_subject: Option<String>,
    pub expires_at: i64,
    /// `dpop_jkt` (RFC 9449 section 10): the code will be redeemable only with a proof by
    /// the key of this thumbprint.
    #[serde(default)]
    pub dpop_jkt: Option<String>,
}

/// Why a request is refused: before the redirect URI is trusted (a page), or after (a
/// redirect back to the client).
enum Refusal {
    Page(String),
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

/// Where a step of the sign-in stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// The authorization request itself.
    Request,
    /// Just after the user signed in on the login page.
    SignedIn,
    /// Just after the user allowed on the consent page.
    Consented,
}

/// `GET /oauth/authorize`.
pub(crate) async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(query.as_deref().unwrap_or(""));
    authorize(state, headers, pairs.ok()).await
}

/// `POST /oauth/authorize` (form-encoded, as OpenID Connect Core 3.1.2.1 allows).
pub(crate) async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body);
    authorize(state, headers, pairs.ok()).await
}

async fn authorize(
    state: AppState,
    headers: HeaderMap,
    pairs: Option<Vec<(String, String)>>,
) -> Response {
    let Some(pairs) = pairs else {
        return error_page(&state, "The request could not be read.");
    };
    let request = match check(&state, pairs).await {
        Ok(request) => request,
        Err(Refusal::Page(message)) => return error_page(&state, &message),
        Err(Refusal::Redirect {
            redirect_uri,
            state: client_state,
            error,
            description,
        }) => {
            return redirect_error(
                &state,
                &redirect_uri,
                client_state.as_deref(),
                error,
                &description,
            )
        }
    };
    let cookie = browser::cookie(&state.config, &headers);
    respond(proceed(&state, &request, cookie, Step::Request).await)
}

/// Checks an authorization request.
async fn check(
    state: &AppState,
    pairs: Vec<(String, String)>,
) -> std::result::Result<Request, Refusal> {
    let mut params: HashMap<String, String> = HashMap::new();
    let mut repeated = None;
    for (name, value) in pairs {
        match params.entry(name) {
            std::collections::hash_map::Entry::Occupied(taken) => {
                repeated = Some(taken.key().clone());
            }
            std::collections::hash_map::Entry::Vacant(free) => {
                free.insert(value);
            }
        }
    }
    let get = |name: &str| {
        params
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    // The client and its redirect URI first: until both are good, nothing is redirected.
    let Some(client_id) = get("client_id") else {
        return Err(Refusal::Page(
            "The application did not say who it is (no client_id).".into(),
        ));
    };
    let client = match state.clients.find(client_id).await {
        Ok(Some(client)) if !client.disabled => client,
        Ok(_) => {
            return Err(Refusal::Page(
                "The application is not registered here.".into(),
            ))
        }
        Err(e) => {
            tracing::error!(error = %Shown::full(&e.to_string()), "client lookup failed");
            return Err(Refusal::Page(
                "The sign-in service is unavailable; try again later.".into(),
            ));
        }
    };
    let Some(redirect_uri) = get("redirect_uri") else {
        return Err(Refusal::Page(
            "The application did not say where to return (no redirect_uri).".into(),
        ));
    };
    if !redirect_uri_registered(&client, redirect_uri) {
        tracing::warn!(client = %Shown::full(client_id), redirect_uri = %Shown::full(redirect_uri), "authorization refused: redirect URI not registered");
        return Err(Refusal::Page(
            "The address to return to is not registered for this application.".into(),
        ));
    }
    if let Some(name) = &repeated {
        if matches!(name.as_str(), "client_id" | "redirect_uri") {
            return Err(Refusal::Page("A parameter was sent twice.".into()));
        }
    }
    let client_state = get("state").map(str::to_owned);
    let refuse = |error: &'static str, description: &str| Refusal::Redirect {
        redirect_uri: redirect_uri.to_owned(),
        state: client_state.clone(),
        error,
        description: description.to_owned(),
    };
    if let Some(name) = repeated {
        return Err(refuse(
            "invalid_request",
            &format!("parameter {} is repeated", tessera_jose::shown(&name)),
        ));
    }
    if get("request").is_some() {
        return Err(refuse(
            "request_not_supported",
            "request objects are not supported",
        ));
    }
    if get("request_uri").is_some() {
        return Err(refuse(
            "request_uri_not_supported",
            "request_uri is not supported",
        ));
    }
    match get("response_type") {
        None => return Err(refuse("invalid_request", "response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ))
        }
    }
    if get("response_mode").is_some_and(|m| m != "query") {
        return Err(refuse(
            "invalid_request",
            "only response_mode=query is supported",
        ));
    }
    let mut scopes: Vec<String> = Vec::new();
    for scope in get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        let allowed = OIDC_SCOPES.contains(&scope) || client.scope.split(' ').any(|s| s == scope);
        if !allowed {
            return Err(refuse(
                "invalid_scope",
                &format!(
                    "scope {} is not allowed for this client",
                    tessera_jose::shown(scope)
                ),
            ));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    let Some(code_challenge) = get("code_challenge") else {
        return Err(refuse(
            "invalid_request",
            "PKCE is required: send code_challenge with code_challenge_method=S256",
        ));
    };
    if get("code_challenge_method") != Some("S256") {
        return Err(refuse(
            "invalid_request",
            "code_challenge_method must be S256 (plain is not accepted)",
        ));
    }
    if code_challenge.len() != 43
        || !code_challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        return Err(refuse(
            "invalid_request",
            "code_challenge is not a base64url SHA-256",
        ));
    }
    let mut prompt_none = false;
    let mut prompt_login = false;
    let mut prompt_consent = false;
    for value in get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
    {
        match value {
            "none" => prompt_none = true,
            "login" => prompt_login = true,
            "consent" => prompt_consent = true,
            "select_account" => {}
            _ => {
                return Err(refuse(
                    "invalid_request",
                    "prompt must be none, login or consent",
                ))
            }
        }
    }
    if prompt_none && (prompt_login || prompt_consent) {
        return Err(refuse(
            "invalid_request",
            "prompt=none cannot be combined with another value",
        ));
    }
    let max_age = match get("max_age") {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return Err(refuse(
                    "invalid_request",
                    "max_age must be a number of seconds",
                ))
            }
        },
    };
    let hint_subject = match get("id_token_hint") {
        None => None,
        Some(hint) => match own_id_token(state, hint) {
            Some(claims) => claims.sub,
            None => {
                return Err(refuse(
                    "invalid_request",
                    "id_token_hint is not an ID token of this server",
                ))
            }
        },
    };
    let dpop_jkt = get("dpop_jkt");
    if dpop_jkt.is_some_and(|jkt| {
        jkt.len() != 43
            || !jkt
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    }) {
        return Err(refuse(
            "invalid_request",
            "dpop_jkt is not a base64url SHA-256 JWK thumbprint",
        ));
    }
    for (name, limit) in [("state", 2048), ("nonce", 512), ("login_hint", 256)] {
        if get(name).is_some_and(|v| v.len() > limit) {
            return Err(refuse("invalid_request", &format!("{name} is too long")));
        }
    }
    Ok(Request {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: client_state.clone(),
        nonce: get("nonce").map(str::to_owned),
        code_challenge: code_challenge.to_owned(),
        prompt_none,
        prompt_login,
        prompt_consent,
        max_age,
        login_hint: get("login_hint").map(str::to_owned),
        hint_subject,
        expires_at: state.clock.unix_secs() + REQUEST_LIFETIME,
        dpop_jkt: dpop_jkt.map(str::to_owned),
    })
}

/// Exact match with a registered URI; for a public client registered with a loopback
/// `http` URI, any port of the same loopback address and path (RFC 8252 section 7.3).
pub(crate) fn redirect_uri_registered(client: &Client, uri: &str) -> bool {
    if client.redirect_uris.iter().any(|r| r == uri) {
        return true;
    }
    if !client.public {
        return false;
    }
    let Ok(asked) = url::Url::parse(uri) else {
        return false;
    };
    client.redirect_uris.iter().any(|registered| {
        let Ok(registered) = url::Url::parse(registered) else {
            return false;
        };
        let loopback = |u: &url::Url| {
            u.scheme() == "http"
                && matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip == std::net::Ipv4Addr::LOCALHOST)
                || u.scheme() == "http"
                    && matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip == std::net::Ipv6Addr::LOCALHOST)
        };
        loopback(&registered)
            && loopback(&asked)
            && registered.host() == asked.host()
            && registered.path() == asked.path()
            && registered.query() == asked.query()
            && asked.fragment().is_none()
            && asked.username().is_empty()
            && asked.password().is_none()
    })
}

/// The claims of an ID token this server signed (expired ones too: a hint is often old).
pub(crate) struct HintClaims {
    pub sub: Option<String>,
    pub sid: Option<String>,
    pub aud: Option<String>,
}

pub(crate) fn own_id_token(state: &AppState, token: &str) -> Option<HintClaims> {
    let validation = Validation::new()
        .issuer(state.config.issuer.clone())
        .insecure_any_audience()
        .insecure_disable_time_checks();
    let published = state.keys.published();
    let jwt = UnverifiedJwt::parse(token)
        .and_then(|t| t.verify(&published.verifier, &validation))
        .ok()?;
    let claims = jwt.claims();
    let aud = claims.aud();
    Some(HintClaims {
        sub: claims.sub().map(str::to_owned),
        sid: claims
            .get("sid")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        aud: aud.first().map(|s| (*s).to_owned()),
    })
}

/// What a step answers, with the cookie to set if it changed.
struct Answer {
    response: Response,
    set_cookie: Option<HeaderValue>,
}

fn respond(answer: Result<Answer>) -> Response {
    match answer {
        Ok(Answer {
            mut response,
            set_cookie,
        }) => {
            if let Some(cookie) = set_cookie {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(e) => {
            tracing::error!(error = %Shown::full(&e.to_string()), "sign-in step failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"message": "temporarily unavailable"})),
            )
                .into_response()
        }
    }
}

/// Takes a checked request as far as it can go: the login page, the consent page, an error
/// for the client, or a code.
async fn proceed(
    state: &AppState,
    request: &Request,
    cookie: Option<String>,
    step: Step,
) -> Result<Answer> {
    let now = state.clock.unix_secs();
    let session = match &cookie {
        Some(secret) => state.sessions.browser(secret).await?,
        None => None,
    };
    let signed_in = match session {
        Some(session) => match state.users.by_subject(&session.subject).await? {
            Some(user) if !user.disabled => Some((session, user)),
            _ => None,
        },
        None => None,
    };
    let needs_login = match &signed_in {
        None => true,
        Some((session, _)) => {
            step == Step::Request
                && (request.prompt_login
                    || request
                        .max_age
                        .is_some_and(|max_age| now - session.auth_time > max_age)
                    || request
                        .hint_subject
                        .as_ref()
                        .is_some_and(|sub| *sub != session.subject))
        }
    };
    let Some((session, user)) = signed_in.filter(|_| !needs_login) else {
        if request.prompt_none {
            return Ok(plain(redirect_error(
                state,
                &request.redirect_uri,
                request.state.as_deref(),
                "login_required",
                "the user must sign in",
            )));
        }
        return login_page(state, request, cookie, None, StatusCode::OK);
    };
    let Some(client) = state
        .clients
        .find(&request.client_id)
        .await?
        .filter(|c| !c.disabled)
    else {
        return Ok(plain(error_page(
            state,
            "The application is no longer registered here.",
        )));
    };
    let needs_consent = !client.skip_consent
        && step != Step::Consented
        && (request.prompt_consent
            || !consented(state, &user.subject, &client.client_id, &request.scopes).await?);
    if needs_consent {
        if request.prompt_none {
            return Ok(plain(redirect_error(
                state,
                &request.redirect_uri,
                request.state.as_deref(),
                "consent_required",
                "the user must allow this application",
            )));
        }
        return consent_page(state, request, cookie, &user);
    }
    let grant = Grant {
        client_id: client.client_id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
        scope: request.scopes.join(" "),
        subject: user.subject.clone(),
        session_id: session.session_id.clone(),
        auth_time: session.auth_time,
        dpop_jkt: request.dpop_jkt.clone(),
    };
    let code = state.codes.issue(&grant).await?;
    state
        .sessions
        .join(&session.session_id, &client.client_id)
        .await?;
    tracing::info!(client = %Shown::full(&client.client_id), user = %Shown::full(&user.name), "authorization code issued");
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    params.push(("iss", &state.config.issuer));
    Ok(plain(redirect_to(&request.redirect_uri, &params)))
}

fn plain(response: Response) -> Answer {
    Answer {
        response,
        set_cookie: None,
    }
}

/// True if the user has allowed this client every scope asked for.
async fn consented(
    state: &AppState,
    subject: &str,
    client_id: &str,
    scopes: &[String],
) -> Result<bool> {
    let row = sqlx::query("SELECT scope FROM consents WHERE subject = $1 AND client_id = $2")
        .bind(subject)
        .bind(client_id)
        .fetch_optional(state.db.pool())
        .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let granted: String = sqlx::Row::try_get(&row, "scope")?;
    Ok(scopes.iter().all(|s| granted.split(' ').any(|g| g == s)))
}

/// Remembers a consent: the scopes allowed before and these.
async fn remember_consent(
    state: &AppState,
    subject: &str,
    client_id: &str,
    scopes: &[String],
) -> Result<()> {
    let now = state.clock.unix_secs();
    let mut tx = state.db.begin().await?;
    let row = sqlx::query("SELECT scope FROM consents WHERE subject = $1 AND client_id = $2")
        .bind(subject)
        .bind(client_id)
        .fetch_optional(&mut *tx)
        .await?;
    let mut all: Vec<String> = match row {
        Some(row) => sqlx::Row::try_get::<String, _>(&row, "scope")?
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    for scope in scopes {
        if !all.contains(scope) {
            all.push(scope.clone());
        }
    }
    sqlx::query("INSERT INTO consents (subject, client_id, scope, granted_at) VALUES ($1, $2, $3, $4) ON CONFLICT (subject, client_id) DO UPDATE SET scope = excluded.scope, granted_at = excluded.granted_at")
        .bind(subject)
        .bind(client_id)
        .bind(all.join(" "))
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The path the issuer's URLs start with (empty for an issuer at the root).
fn base_path(state: &AppState) -> String {
    url::Url::parse(&state.config.issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default()
}

/// Where a form on a page may end up after its redirect: the request's redirect origin.
fn redirect_origin(uri: &str) -> Vec<String> {
    match url::Url::parse(uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => vec![u.origin().ascii_serialization()],
        Ok(u) => vec![format!("{}:", u.scheme())],
        Err(_) => Vec::new(),
    }
}

/// The cookie secret a form is bound to: the browser's, or a new one (then set).
fn anchor(cookie: Option<String>) -> Result<(String, bool)> {
    match cookie {
        Some(secret) => Ok((secret, false)),
        None => Ok((browser::new_secret()?, true)),
    }
}

fn login_page(
    state: &AppState,
    request: &Request,
    cookie: Option<String>,
    error: Option<&str>,
    status: StatusCode,
) -> Result<Answer> {
    let (secret, new) = anchor(cookie)?;
    let sealed = seal_request(state, request)?;
    let base = base_path(state);
    let response = state.pages.render(
        "login.html",
        json!({
            "title": "Sign in",
            "static_base": format!("{base}/oauth/static"),
            "client": request.client_id,
            "action": format!("{base}/oauth/login"),
            "csrf_token": browser::csrf_token(&state.master, &secret)?,
            "request": sealed,
            "username": request.login_hint,
            "error": error,
        }),
        status,
        &redirect_origin(&request.redirect_uri),
    );
    Ok(Answer {
        response,
        set_cookie: new.then(|| browser::set_cookie(&state.config, &secret, None)),
    })
}

fn consent_page(
    state: &AppState,
    request: &Request,
    cookie: Option<String>,
    user: &User,
) -> Result<Answer> {
    let (secret, new) = anchor(cookie)?;
    let base = base_path(state);
    let scopes: Vec<_> = request.scopes.iter().map(|s| describe_scope(s)).collect();
    let response = state.pages.render(
        "consent.html",
        json!({
            "title": "Allow access",
            "static_base": format!("{base}/oauth/static"),
            "client": request.client_id,
            "scopes": scopes,
            "user": user.name,
            "action": format!("{base}/oauth/consent"),
            "csrf_token": browser::csrf_token(&state.master, &secret)?,
            "request": seal_request(state, request)?,
        }),
        StatusCode::OK,
        &redirect_origin(&request.redirect_uri),
    );
    Ok(Answer {
        response,
        set_cookie: new.then(|| browser::set_cookie(&state.config, &secret, None)),
    })
}

fn seal_request(state: &AppState, request: &Request) -> Result<String> {
    let text = serde_json::to_vec(request).map_err(|e| Error::Invalid(e.to_string()))?;
    state.master.seal(REQUEST_PURPOSE, &text)
}

fn open_request(state: &AppState, sealed: Option<&str>) -> Option<Request> {
    let sealed = sealed.filter(|s| s.len() <= 8192)?;
    let plain = state.master.open(REQUEST_PURPOSE, sealed).ok()?;
    let request: Request = serde_json::from_slice(&plain).ok()?;
    (request.expires_at > state.clock.unix_secs()).then_some(request)
}

/// The login form's fields.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    csrf_token: Option<String>,
    request: Option<String>,
}

/// `POST /oauth/login`: the login page's form.
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: LoginForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Some(request) = open_request(&state, form.request.as_deref()) else {
        return error_page(
            &state,
            "This sign-in took too long or was altered. Start again from the application.",
        );
    };
    let cookie = browser::cookie(&state.config, &headers);
    if !browser::csrf_ok(&state.master, cookie.as_deref(), form.csrf_token.as_deref()) {
        tracing::warn!(address = %Shown::full(&address), "login form refused: missing or foreign CSRF token");
        return error_page(&state, "This form has expired or did not come from this page. Start again from the application.");
    }
    let username = form.username.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    respond(login_step(&state, &request, cookie, &address, username, password).await)
}

async fn login_step(
    state: &AppState,
    request: &Request,
    cookie: Option<String>,
    address: &str,
    username: String,
    password: String,
) -> Result<Answer> {
    let retry = |mut request: Request, cookie, message: &str, status| {
        request.login_hint = Some(username.clone()).filter(|u| !u.is_empty() && u.len() <= 256);
        login_page(state, &request, cookie, Some(message), status)
    };
    if username.is_empty() || username.len() > 256 || password.len() > 1024 {
        return retry(
            request.clone(),
            cookie,
            "Wrong user name or password.",
            StatusCode::UNAUTHORIZED,
        );
    }
    let now = state.clock.unix_secs();
    let attempt = match state.limiter.begin(&username, address, now).await? {
        Ok(attempt) => attempt,
        Err(refused) => {
            bump(&state.metrics.logins_limited);
            tracing::warn!(user = %Shown::full(&username), address = %Shown::full(address), why = ?refused, "login page refused: too many attempts");
            let message = match refused {
                Refused::Limited(_) => {
                    "Too many failed attempts. Wait a few minutes and try again."
                }
                Refused::Busy => "Too many sign-ins at once. Try again in a moment.",
            };
            return retry(
                request.clone(),
                cookie,
                message,
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
    };
    let (user, hash) = match state.users.find_with_hash(&username).await? {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let password_ok = state.passwords.check(password, hash).await?;
    let user = match user {
        Some(user) if password_ok && !user.disabled => user,
        _ => {
            attempt.failed();
            bump(&state.metrics.logins_failed);
            tracing::info!(user = %Shown::full(&username), address = %Shown::full(address), "login page: sign-in failed");
            return retry(
                request.clone(),
                cookie,
                "Wrong user name or password.",
                StatusCode::UNAUTHORIZED,
            );
        }
    };
    attempt.succeeded().await?;
    // A new secret for the signed-in browser: a value known before the sign-in (set by
    // someone else, say) is worth nothing after it.
    let secret = browser::new_secret()?;
    state.sessions.start_browser(&user.subject, &secret).await?;
    bump(&state.metrics.tokens_password);
    tracing::info!(user = %Shown::full(&user.name), client = %Shown::full(&request.client_id), "login page: signed in");
    let mut answer = proceed(state, request, Some(secret.clone()), Step::SignedIn).await?;
    answer.set_cookie = Some(browser::set_cookie(
        &state.config,
        &secret,
        Some(state.config.browser_session_lifetime),
    ));
    Ok(answer)
}

/// The consent form's fields.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ConsentForm {
    decision: Option<String>,
    csrf_token: Option<String>,
    request: Option<String>,
}

/// `POST /oauth/consent`: the consent page's form.
pub(crate) async fn consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: ConsentForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let Some(request) = open_request(&state, form.request.as_deref()) else {
        return error_page(
            &state,
            "This sign-in took too long or was altered. Start again from the application.",
        );
    };
    let cookie = browser::cookie(&state.config, &headers);
    if !browser::csrf_ok(&state.master, cookie.as_deref(), form.csrf_token.as_deref()) {
        tracing::warn!("consent form refused: missing or foreign CSRF token");
        return error_page(&state, "This form has expired or did not come from this page. Start again from the application.");
    }
    respond(consent_step(&state, &request, cookie, form.decision.as_deref()).await)
}

async fn consent_step(
    state: &AppState,
    request: &Request,
    cookie: Option<String>,
    decision: Option<&str>,
) -> Result<Answer> {
    let session = match &cookie {
        Some(secret) => state.sessions.browser(secret).await?,
        None => None,
    };
    let Some(session) = session else {
        // Signed out meanwhile: sign in again.
        return login_page(state, request, cookie, None, StatusCode::OK);
    };
    match decision {
        Some("allow") => {
            remember_consent(state, &session.subject, &request.client_id, &request.scopes).await?;
            proceed(state, request, cookie, Step::Consented).await
        }
        Some("deny") => {
            tracing::info!(client = %Shown::full(&request.client_id), "consent denied");
            Ok(plain(redirect_error(
                state,
                &request.redirect_uri,
                request.state.as_deref(),
                "access_denied",
                "the user did not allow access",
            )))
        }
        _ => consent_page(
            state,
            request,
            cookie,
            &state
                .users
                .by_subject(&session.subject)
                .await?
                .ok_or_else(|| Error::NotFound("the signed-in user is gone".into()))?,
        ),
    }
}

/// The error page shown when the request cannot go back to the application (status 400).
pub(crate) fn error_page(state: &AppState, message: &str) -> Response {
    let base = base_path(state);
    state.pages.render(
        "error.html",
        json!({
            "title": "Cannot sign in",
            "static_base": format!("{base}/oauth/static"),
            "heading": "This request cannot be completed",
            "message": message,
        }),
        StatusCode::BAD_REQUEST,
        &[],
    )
}

/// A redirect to the client with an RFC 6749 4.1.2.1 error, `state` and `iss`.
fn redirect_error(
    state: &AppState,
    redirect_uri: &str,
    client_state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = client_state {
        params.push(("state", s));
    }
    params.push(("iss", &state.config.issuer));
    redirect_to(redirect_uri, &params)
}

/// 303 See Other to `uri` with `params` added to its query.
pub(crate) fn redirect_to(uri: &str, params: &[(&str, &str)]) -> Response {
    let Ok(mut url) = url::Url::parse(uri) else {
        return (StatusCode::BAD_REQUEST, "bad redirect URI").into_response();
    };
    // Without parameters the registered URI is used as it is (no stray `?`).
    if !params.is_empty() {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
    }
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return (StatusCode::BAD_REQUEST, "bad redirect URI").into_response();
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    security_headers(response.headers_mut(), &[]);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(response: &Response) -> &str {
        response.headers()[header::LOCATION].to_str().unwrap()
    }

    #[test]
    fn a_redirect_without_parameters_is_the_registered_uri_exactly() {
        let response = redirect_to("http://127.0.0.1:8000/", &[]);
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&response), "http://127.0.0.1:8000/");
    }

    #[test]
    fn parameters_are_appended_to_the_registered_query() {
        let response = redirect_to("https://app.example/cb?tenant=a", &[("state", "x y&z")]);
        assert_eq!(
            location(&response),
            "https://app.example/cb?tenant=a&state=x+y%26z"
        );
    }

    #[test]
    fn an_unparsable_uri_is_a_client_error_not_a_redirect() {
        let response = redirect_to("not a uri", &[]);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get(header::LOCATION).is_none());
    }
}
