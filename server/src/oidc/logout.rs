//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) at `/oauth/logout`, GET and
//! POST. With a valid `id_token_hint` the session it names ends at once and the browser goes
//! to the registered `post_logout_redirect_uri` (with `state`); without one, the user
//! confirms on a page first. An unregistered `post_logout_redirect_uri` is never followed.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use tessera_jose::Shown;

use super::authorize::{error_page, own_id_token, redirect_to};
use super::browser;
use crate::accounts::Client;
use crate::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct LogoutParams {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
    csrf_token: Option<String>,
    confirm: Option<String>,
}

/// `GET /oauth/logout`.
pub(crate) async fn logout_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    logout(state, headers, params, false).await
}

/// `POST /oauth/logout` (the RP's form, or the confirmation page's).
pub(crate) async fn logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    logout(state, headers, params, true).await
}

async fn logout(
    state: AppState,
    headers: HeaderMap,
    params: LogoutParams,
    posted: bool,
) -> Response {
    let hint = params
        .id_token_hint
        .as_deref()
        .filter(|h| h.len() <= 16 * 1024)
        .and_then(|h| own_id_token(&state, h));
    let client_id = match (
        hint.as_ref().and_then(|h| h.aud.clone()),
        params.client_id.clone(),
    ) {
        (Some(from_hint), Some(given)) if from_hint != given => {
            return error_page(
                &state,
                "The sign-out request names two different applications.",
            );
        }
        (from_hint, given) => from_hint.or(given),
    };
    let client = match &client_id {
        Some(id) => match state.clients.find(id).await {
            Ok(found) => found,
            Err(_) => return unavailable(),
        },
        None => None,
    };
    let redirect = match (&params.post_logout_redirect_uri, &client) {
        (None, _) => None,
        (Some(uri), Some(client)) if registered(client, uri) => Some(uri.clone()),
        (Some(uri), _) => {
            tracing::warn!(client = %Shown::full(client_id.as_deref().unwrap_or("-")), uri = %Shown::full(uri), "logout: post-logout redirect URI not registered");
            return error_page(
                &state,
                "The address to return to after signing out is not registered for this application.",
            );
        }
    };
    let cookie = browser::cookie(&state.config, &headers);
    let browser_session = match &cookie {
        Some(secret) => match state.sessions.browser(secret).await {
            Ok(s) => s,
            Err(_) => return unavailable(),
        },
        None => None,
    };
    // Which session ends: the one a valid hint names, or, once confirmed on the page with
    // a good CSRF token, the browser's own.
    let ending = if let Some(hint) = &hint {
        hint.sid
            .clone()
            .or_else(|| browser_session.as_ref().map(|s| s.session_id.clone()))
    } else if posted
        && params.confirm.as_deref() == Some("yes")
        && browser::csrf_ok(
            &state.master,
            cookie.as_deref(),
            params.csrf_token.as_deref(),
        )
    {
        browser_session.as_ref().map(|s| s.session_id.clone())
    } else {
        return confirmation_page(
            &state,
            cookie,
            &params,
            client.as_ref(),
            redirect.as_deref(),
        );
    };
    if let Some(session) = &ending {
        if let Err(e) = state.sessions.end(session).await {
            tracing::error!(error = %Shown::full(&e.to_string()), "logout failed");
            return unavailable();
        }
        tracing::info!(session = %session, "session ended by the relying party's logout");
    }
    let mut response = match &redirect {
        Some(uri) => {
            let mut query = Vec::new();
            if let Some(s) = &params.state {
                query.push(("state", s.as_str()));
            }
            redirect_to(uri, &query)
        }
        None => signed_out_page(&state),
    };
    // The browser forgets the session it ended (not another one a hint named).
    let browser_ended = browser_session
        .as_ref()
        .is_some_and(|s| ending.as_deref() == Some(s.session_id.as_str()));
    if browser_ended {
        response
            .headers_mut()
            .append(header::SET_COOKIE, browser::clear_cookie(&state.config));
    }
    response
}

fn registered(client: &Client, uri: &str) -> bool {
    client.post_logout_redirect_uris.iter().any(|r| r == uri)
}

fn confirmation_page(
    state: &AppState,
    cookie: Option<String>,
    params: &LogoutParams,
    client: Option<&Client>,
    redirect: Option<&str>,
) -> Response {
    let (secret, new) = match cookie {
        Some(secret) => (secret, false),
        None => match browser::new_secret() {
            Ok(secret) => (secret, true),
            Err(_) => return unavailable(),
        },
    };
    let Ok(csrf) = browser::csrf_token(&state.master, &secret) else {
        return unavailable();
    };
    let base = url::Url::parse(&state.config.issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let targets: Vec<String> = redirect
        .and_then(|uri| url::Url::parse(uri).ok())
        .map(|u| match u.scheme() {
            "http" | "https" => u.origin().ascii_serialization(),
            other => format!("{other}:"),
        })
        .into_iter()
        .collect();
    let mut response = state.pages.render(
        "logout.html",
        json!({
            "title": "Sign out",
            "static_base": format!("{base}/oauth/static"),
            "client": client.map(|c| c.client_id.clone()),
            "client_id": client.map(|c| c.client_id.clone()),
            "post_logout_redirect_uri": redirect,
            "state": params.state,
            "action": format!("{base}/oauth/logout"),
            "csrf_token": csrf,
        }),
        StatusCode::OK,
        &targets,
    );
    if new {
        response.headers_mut().append(
            header::SET_COOKIE,
            browser::set_cookie(&state.config, &secret, None),
        );
    }
    response
}

fn signed_out_page(state: &AppState) -> Response {
    let base = url::Url::parse(&state.config.issuer)
        .map(|u| u.path().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    state.pages.render(
        "signed_out.html",
        json!({"title": "Signed out", "static_base": format!("{base}/oauth/static")}),
        StatusCode::OK,
        &[],
    )
}

fn unavailable() -> Response {
    super::pages::html(
        StatusCode::SERVICE_UNAVAILABLE,
        "<!doctype html><title>Unavailable</title><p>Temporarily unavailable.</p>".into(),
        &[],
    )
}
