//! The crate's error types. Every variant says what failed, so a log line is enough to
//! understand why a token was refused or a key set could not be fetched.

use std::sync::Arc;

use tessera_contract::{AuthorizationError, RevocationKind};

/// Why a token was not accepted, or why the verifier could not be set up.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No token could be read from the request's `Authorization` header.
    #[error("{0}")]
    Authorization(AuthorizationError),

    /// The token failed parsing, signature verification or claims validation.
    #[error(transparent)]
    Token(Arc<tessera_jose::Error>),

    /// The token's `iss` names no configured issuer.
    #[error("issuer {0} is not configured")]
    UnknownIssuer(String),

    /// The issuer's key set could not be obtained and no usable cached copy exists.
    #[error("keys of issuer {issuer} are unavailable: {cause}")]
    KeysUnavailable {
        /// The issuer (or JWKS URL) whose keys are missing.
        issuer: String,
        /// Why the last fetch failed.
        cause: FetchError,
    },

    /// The token's `jti` or session was revoked.
    #[error("token revoked: {kind} `{value}`")]
    Revoked {
        /// What was revoked: the token or its session.
        kind: RevocationKind,
        /// The revoked identifier.
        value: String,
    },

    /// The token is bound to a key (`cnf`) but came as a bearer token, without a proof.
    #[error("token is bound to a DPoP key: it must come as `Authorization: DPoP` with a proof")]
    BoundTokenAsBearer,

    /// The token came with the `DPoP` scheme but is not bound to a key (`cnf.jkt`).
    #[error("token sent with the DPoP scheme is not DPoP-bound (no `cnf.jkt`)")]
    NotBound,

    /// Encrypted tokens are required and this one is a plain JWS.
    #[error("token is not encrypted, and this service accepts only encrypted (nested) tokens")]
    EncryptionRequired,

    /// The DPoP proof was refused (RFC 9449).
    #[error("{0}")]
    Dpop(tessera_contract::dpop::ProofError),

    /// The verifier was configured wrongly.
    #[error("configuration error: {0}")]
    Config(String),
}

impl From<tessera_jose::Error> for Error {
    fn from(e: tessera_jose::Error) -> Self {
        Error::Token(Arc::new(e))
    }
}

impl Error {
    /// True when the token itself is at fault (as opposed to the verifier's configuration
    /// or the issuer's availability).
    pub fn is_token_error(&self) -> bool {
        matches!(
            self,
            Error::Authorization(_)
                | Error::Token(_)
                | Error::UnknownIssuer(_)
                | Error::Revoked { .. }
                | Error::BoundTokenAsBearer
                | Error::NotBound
                | Error::EncryptionRequired
                | Error::Dpop(_)
        )
    }

    /// True when the token is refused because it has expired.
    pub fn is_expired(&self) -> bool {
        matches!(
            self,
            Error::Token(e) if matches!(
                e.as_ref(),
                tessera_jose::Error::Claim(tessera_jose::ClaimError::Expired { .. })
            )
        )
    }

    /// The `kid` the token named, when the error is that no key has it.
    pub fn unknown_kid(&self) -> Option<&str> {
        match self {
            Error::Token(e) => match e.as_ref() {
                tessera_jose::Error::UnknownKid(kid) => Some(kid),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Why fetching a key set, a discovery document or the revocation feed failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not acceptable (plain http to a non-loopback host, another scheme...).
    #[error("URL refused: {0}")]
    Url(String),
    /// The request failed (connection, TLS, timeout, redirect refused).
    #[error("request to {url} failed: {reason}")]
    Request {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server answered with an unexpected status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body exceeded the size limit.
    #[error("{url} sent more than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not the expected document.
    #[error("{url} sent an invalid document: {reason}")]
    Invalid {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No fetch has been attempted yet, or an earlier failure is still cooling down.
    #[error("no key set fetched yet")]
    NotFetched,
}
