//! Errors: one enum for the crate, turned into stable, generic HTTP bodies (details go to the
//! log, never to the client).
//!
//! A variant that wraps another error shows it in its own message and does not also return
//! it from `source()`, so no report prints a cause twice.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tessera_jose::Shown;

/// Everything that can go wrong in the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed.
    #[error("database: {0}")]
    Db(sqlx::Error),
    /// The JOSE core refused something.
    #[error("{0}")]
    Jose(tessera_jose::Error),
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
    Io(std::io::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Db(e)
    }
}

impl From<tessera_jose::Error> for Error {
    fn from(e: tessera_jose::Error) -> Self {
        Error::Jose(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
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
    /// 400 for a refused DPoP proof at the token or login endpoint (RFC 9449 section 5):
    /// `invalid_dpop_proof`, or `use_dpop_nonce` with the nonce to use in `DPoP-Nonce`.
    Dpop {
        /// The error code.
        code: &'static str,
        /// What was wrong (names the rule; no secret).
        description: String,
        /// A current server nonce, when the server demands them.
        nonce: Option<String>,
    },
    /// 401 with `WWW-Authenticate: DPoP error="..."` at the server's own protected
    /// endpoints: a bound token without its proof, or sent in the wrong scheme.
    DpopToken(&'static str),
    /// 503: no signing key yet, or the database is down.
    Unavailable,
    /// 500: logged with its cause, generic to the client.
    Internal(Error),
}

/// An RFC 6749 section 5.2 error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthCode {
    /// `invalid_request` (400).
    InvalidRequest,
    /// `invalid_client` (401).
    InvalidClient,
    /// `invalid_grant` (400).
    InvalidGrant,
    /// `invalid_scope` (400).
    InvalidScope,
    /// `unsupported_grant_type` (400).
    UnsupportedGrantType,
}

impl OAuthCode {
    /// The code as RFC 6749 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthCode::InvalidRequest => "invalid_request",
            OAuthCode::InvalidClient => "invalid_client",
            OAuthCode::InvalidGrant => "invalid_grant",
            OAuthCode::InvalidScope => "invalid_scope",
            OAuthCode::UnsupportedGrantType => "unsupported_grant_type",
        }
    }

    /// The HTTP status: 401 for a failed client authentication, 400 for the rest.
    pub fn status(self) -> StatusCode {
        match self {
            OAuthCode::InvalidClient => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An RFC 6749 section 5.2 error.
#[derive(Debug)]
pub struct OAuthError {
    /// The `error` code.
    pub code: OAuthCode,
    /// The `error_description`.
    pub description: String,
    /// Whether to add `WWW-Authenticate: Basic` (client authentication by HTTP Basic failed).
    pub basic_challenge: bool,
}

impl OAuthError {
    fn api(code: OAuthCode, description: impl Into<String>) -> ApiError {
        ApiError::OAuth(OAuthError {
            code,
            description: description.into(),
            basic_challenge: false,
        })
    }

    /// `invalid_request` (400).
    pub fn invalid_request(description: impl Into<String>) -> ApiError {
        OAuthError::api(OAuthCode::InvalidRequest, description)
    }
    /// `invalid_client` (401).
    pub fn invalid_client(basic: bool) -> ApiError {
        ApiError::OAuth(OAuthError {
            code: OAuthCode::InvalidClient,
            description: "client authentication failed".into(),
            basic_challenge: basic,
        })
    }
    /// `invalid_grant` (400).
    pub fn invalid_grant(description: impl Into<String>) -> ApiError {
        OAuthError::api(OAuthCode::InvalidGrant, description)
    }
    /// `invalid_scope` (400).
    pub fn invalid_scope(description: impl Into<String>) -> ApiError {
        OAuthError::api(OAuthCode::InvalidScope, description)
    }
    /// `unsupported_grant_type` (400).
    pub fn unsupported_grant_type() -> ApiError {
        OAuthError::api(
            OAuthCode::UnsupportedGrantType,
            "grant_type must be authorization_code, client_credentials or refresh_token",
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Db(_) => {
                tracing::error!(error = %Shown::full(&e.to_string()), "database error while serving a request");
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
            ApiError::OAuth(e) => (
                e.code.status(),
                json!({ "error": e.code.as_str(), "error_description": e.description }),
            ),
            ApiError::Dpop {
                code, description, ..
            } => (
                StatusCode::BAD_REQUEST,
                json!({ "error": code, "error_description": description }),
            ),
            ApiError::DpopToken(code) => (
                StatusCode::UNAUTHORIZED,
                json!({ "error": code, "message": "missing, invalid or unproven token" }),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({ "message": "temporarily unavailable" }),
            ),
            ApiError::Internal(e) => {
                tracing::error!(error = %Shown::full(&e.to_string()), "internal error");
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
            ApiError::Dpop {
                nonce: Some(nonce), ..
            } => {
                if let Ok(v) = HeaderValue::from_str(nonce) {
                    headers.insert(tessera_contract::dpop::NONCE_HEADER, v);
                }
            }
            ApiError::DpopToken(code) => {
                let algs = tessera_contract::dpop::DEFAULT_ALGORITHMS
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                if let Ok(v) =
                    HeaderValue::from_str(&format!("DPoP error=\"{code}\", algs=\"{algs}\""))
                {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
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
