//! Errors: one enum for the crate, turned into stable, generic HTTP bodies (details go to the
//! log, never to the client).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything that can go wrong in the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The JOSE core refused something.
    #[error("jose: {0}")]
    Jose(#[from] tessera_jose::Error),
    /// Configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// Sealing or unsealing a private key failed (wrong master key, or corrupted data).
    #[error("key sealing: {0}")]
    Seal(String),
    /// A request the admin CLI or an API refuses, with a message fit for the user.
    #[error("{0}")]
    Invalid(String),
    /// Something the caller asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// An I/O error (key file, listener).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Result alias for the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An HTTP error response. Bodies are fixed per kind so that nothing internal leaks.
#[derive(Debug)]
pub enum ApiError {
    /// 400 with a JSON `{"message"}` body (the seed's API style).
    BadRequest(String),
    /// 401 on the login endpoint.
    InvalidCredentials,
    /// 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
    InvalidToken,
    /// 429 with `Retry-After`.
    TooManyAttempts(u64),
    /// 415 unsupported media type.
    UnsupportedMediaType(&'static str),
    /// An RFC 6749 section 5.2 error for the OAuth endpoints.
    OAuth(OAuthError),
    /// 503: no signing key yet, or the database is down.
    Unavailable,
    /// 500: logged with its cause, generic to the client.
    Internal(Error),
}

/// RFC 6749 error codes.
#[derive(Debug)]
pub struct OAuthError {
    /// The `error` code.
    pub code: &'static str,
    /// The `error_description`.
    pub description: String,
    /// Whether to add `WWW-Authenticate: Basic` (client authentication by HTTP Basic failed).
    pub basic_challenge: bool,
}

impl OAuthError {
    /// `invalid_request` (400).
    pub fn invalid_request(description: impl Into<String>) -> ApiError {
        ApiError::OAuth(OAuthError {
            code: "invalid_request",
            description: description.into(),
            basic_challenge: false,
        })
    }
    /// `invalid_client` (401).
    pub fn invalid_client(basic: bool) -> ApiError {
        ApiError::OAuth(OAuthError {
            code: "invalid_client",
            description: "client authentication failed".into(),
            basic_challenge: basic,
        })
    }
    /// `invalid_grant` (400).
    pub fn invalid_grant(description: impl Into<String>) -> ApiError {
        ApiError::OAuth(OAuthError {
            code: "invalid_grant",
            description: description.into(),
            basic_challenge: false,
        })
    }
    /// `invalid_scope` (400).
    pub fn invalid_scope(description: impl Into<String>) -> ApiError {
        ApiError::OAuth(OAuthError {
            code: "invalid_scope",
            description: description.into(),
            basic_challenge: false,
        })
    }
    /// `unsupported_grant_type` (400).
    pub fn unsupported_grant_type() -> ApiError {
        ApiError::OAuth(OAuthError {
            code: "unsupported_grant_type",
            description: "grant_type must be client_credentials or refresh_token".into(),
            basic_challenge: false,
        })
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Db(_) => {
                tracing::error!(error = %e, "database error while serving a request");
                ApiError::Unavailable
            }
            other => ApiError::Internal(other),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::from(Error::Db(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            ApiError::BadRequest(msg) => (StatusCode::BAD_REQUEST, json!({ "message": msg })),
            ApiError::InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                json!({ "message": "invalid user name or password" }),
            ),
            ApiError::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                json!({ "error": "invalid_token", "message": "missing, invalid or revoked token" }),
            ),
            ApiError::TooManyAttempts(_) => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "message": "too many failed attempts; try again later" }),
            ),
            ApiError::UnsupportedMediaType(expected) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                json!({ "message": format!("expected {expected}") }),
            ),
            ApiError::OAuth(e) => {
                let status = if e.code == "invalid_client" {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::BAD_REQUEST
                };
                (
                    status,
                    json!({ "error": e.code, "error_description": e.description }),
                )
            }
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "message": "temporarily unavailable" }),
            ),
            ApiError::Internal(e) => {
                tracing::error!(error = %e, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "message": "internal error" }),
                )
            }
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match &self {
            ApiError::InvalidToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer error="invalid_token""#),
                );
            }
            ApiError::TooManyAttempts(secs) => {
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    headers.insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::OAuth(OAuthError {
                basic_challenge: true,
                ..
            }) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="tessera""#),
                );
            }
            _ => {}
        }
        response
    }
}
