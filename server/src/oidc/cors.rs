//! CORS for the endpoints browser applications call (token, userinfo, revocation, discovery,
//! JWKS), for the origins of registered redirect URIs only. Nothing else is cross-origin.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// How long the allowed origins are trusted before they are read again, in seconds.
const REFRESH: i64 = 5;

/// The origins of every registered redirect URI, read from the clients now and then.
#[derive(Default)]
pub(crate) struct Origins {
    cached: Mutex<Option<(i64, Arc<HashSet<String>>)>>,
}

impl Origins {
    async fn get(&self, state: &AppState) -> Arc<HashSet<String>> {
        let now = state.clock.unix_secs();
        if let Ok(cached) = self.cached.lock() {
            if let Some((at, origins)) = cached.as_ref() {
                if now >= *at && now - at < REFRESH {
                    return origins.clone();
                }
            }
        }
        let mut origins = HashSet::new();
        match state.clients.list().await {
            Ok(clients) => {
                for uri in clients.iter().flat_map(|c| c.redirect_uris.iter()) {
                    if let Ok(url) = url::Url::parse(uri) {
                        if matches!(url.scheme(), "http" | "https") {
                            origins.insert(url.origin().ascii_serialization());
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "CORS origins could not be read"),
        }
        let origins = Arc::new(origins);
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((now, origins.clone()));
        }
        origins
    }
}

/// The middleware: a preflight from an allowed origin gets its answer here; any response to
/// an allowed origin gets `Access-Control-Allow-Origin`.
pub(crate) async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let allowed = match &origin {
        Some(origin) => state.cors_origins.get(&state).await.contains(origin),
        None => false,
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        if allowed {
            let mut r = StatusCode::NO_CONTENT.into_response();
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type, dpop"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            r
        } else {
            StatusCode::FORBIDDEN.into_response()
        }
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if allowed {
        if let Some(value) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("www-authenticate, dpop-nonce"),
            );
        }
    }
    response
}
