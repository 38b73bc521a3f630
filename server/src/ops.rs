//! Operations endpoints and the revocation feed for resource servers.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tessera_contract::revocation::{self as wire, RevocationPage};
use tokio_stream::wrappers::BroadcastStream;

use crate::error::ApiError;
use crate::AppState;

/// `GET /healthz`: the process is up.
pub async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers and a key can sign.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let db = state.db.ping().await;
    let signer = state.keys.published().signer.is_some();
    let status = if db && signer {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "database": db, "signing_key": signer })),
    )
        .into_response()
}

/// `GET /metrics`; with `metrics_token`, only for `Authorization: Bearer <token>`.
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics_token {
        let presented = tessera_contract::bearer_token(&headers).unwrap_or_default();
        if !token.matches(presented) {
            return ApiError::InvalidToken.into_response();
        }
    }
    let body = state
        .metrics
        .render(&state.keys.published(), state.clock.unix_secs());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        body,
    )
        .into_response()
}

/// Gives every error response a JSON body: the rejections of extractors and of the body
/// limit come as plain text otherwise, and clients deserve one stable error shape.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    // JSON already, or a page meant for a person (the sign-in pages' errors).
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if !status.is_client_error() || is_json || status == StatusCode::NOT_MODIFIED {
        return response;
    }
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request body too large",
        StatusCode::REQUEST_TIMEOUT => "request not received in time",
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported media type",
        _ => "bad request",
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(
        parts,
        axum::body::Body::from(json!({ "message": message }).to_string()),
    )
}

/// Any unknown path.
pub async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "message": "not found" })),
    )
}

/// Query of the revocation list and stream.
#[derive(Debug, Deserialize)]
pub struct Since {
    since: Option<i64>,
}

/// `GET /revocations?since=CURSOR`: unexpired revocations after the cursor.
pub async fn revocations(
    State(state): State<AppState>,
    query: Result<Query<Since>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Ok(Query(Since { since })) = query else {
        return Err(ApiError::BadRequest(
            "`since` must be an integer cursor".into(),
        ));
    };
    let since = since.unwrap_or(0).max(0);
    let revocations = state.revocations.since(since, 1000).await?;
    let cursor = revocations.last().map_or(since, |r| r.id);
    Ok(Json(RevocationPage {
        revocations,
        cursor,
    })
    .into_response())
}

/// Most backlog events one stream sends before it ends (the client then resumes).
const BACKLOG_PAGE: i64 = 10_000;

/// `GET /revocations/stream`: Server-Sent Events, one event per revocation, `id` = cursor.
/// Resumes after `Last-Event-ID` (or `?since=`): the backlog first, then live events.
pub async fn revocation_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<Since>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let from_header = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().parse::<i64>());
    let since = match (from_header, query) {
        (Some(Ok(id)), _) => id,
        (Some(Err(_)), _) => {
            return Err(ApiError::BadRequest(
                "Last-Event-ID must be an integer".into(),
            ))
        }
        (None, Ok(Query(Since { since }))) => match since {
            Some(s) => s,
            None => state.revocations.latest().await?,
        },
        (None, Err(_)) => {
            return Err(ApiError::BadRequest(
                "`since` must be an integer cursor".into(),
            ))
        }
    }
    .max(0);
    // Each stream holds a connection for as long as its resource server runs: bounded, so
    // that streams cannot take every connection the listener allows.
    let Ok(permit) = state.event_streams.clone().try_acquire_owned() else {
        tracing::warn!(
            max = state.config.max_event_streams,
            "revocation stream refused: too many open"
        );
        return Err(ApiError::Unavailable);
    };
    // Subscribe before reading the backlog so nothing falls in between; duplicates are
    // dropped by cursor below.
    let shutdown = state.shutdown.clone();
    let live = BroadcastStream::new(state.revocations.subscribe());
    let backlog = state.revocations.since(since, BACKLOG_PAGE).await?;
    // A full page may not be all: end the stream after it, and the client's reconnect
    // (with the last id it saw) fetches the next page, rather than skipping to live events.
    let complete = backlog.len() < usize::try_from(BACKLOG_PAGE).unwrap_or(usize::MAX);
    let mut last = backlog.last().map_or(since, |r| r.id);
    let backlog = stream::iter(backlog.into_iter().map(Ok));
    let live = live.filter_map(move |item| {
        let out = match item {
            Ok(r) if r.id > last => {
                last = r.id;
                Some(Ok(r))
            }
            Ok(_) => None,
            // A slow reader lost events: end the stream so the client reconnects with its
            // Last-Event-ID and gets the backlog from the database.
            Err(_) => Some(Err(())),
        };
        std::future::ready(out)
    });
    let live = stream::iter(complete.then_some(live)).flatten();
    let events = backlog
        .chain(live)
        .take_while(|item| std::future::ready(item.is_ok()))
        .filter_map(|item| {
            std::future::ready(item.ok().map(|r| {
                let data = serde_json::to_string(&r).unwrap_or_default();
                Ok(Event::default()
                    .id(r.id.to_string())
                    .event(wire::EVENT)
                    .data(data))
            }))
        })
        // At shutdown the stream ends (its resource server reconnects to another replica or
        // after the restart, resuming from its last id), so the drain does not wait for it.
        .take_until(async move { shutdown.fired().await })
        // The stream's permit is released with the stream.
        .map(move |event| {
            let _held = &permit;
            event
        });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
