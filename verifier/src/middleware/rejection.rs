//! Refusals rendered as RFC 6750 says: 401 with `WWW-Authenticate: Bearer` (and
//! `error="invalid_token"` for a bad token), 403 with `error="insufficient_scope"`.
//! The client gets a stable, generic description; the details go to the log.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::header::{HeaderValue, WWW_AUTHENTICATE};
use http::StatusCode;

use crate::error::Error;

/// Why a request was refused, as the client is told.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// No credentials: 401 with a bare `Bearer` challenge (RFC 6750 section 3.1).
    MissingToken,
    /// No credentials, where DPoP is accepted too: 401 with the `Bearer` challenge and a
    /// `DPoP algs="..."` one (RFC 9449 section 7.1).
    MissingCredentials {
        /// The proof algorithms accepted, space-separated.
        dpop_algs: String,
    },
    /// A bad token (malformed, expired, revoked, wrong signature, issuer or audience,
    /// fingerprint mismatch...): 401 `invalid_token`.
    InvalidToken {
        /// A short, generic description for the client.
        description: &'static str,
    },
    /// A valid token without the scope required: 403 `insufficient_scope`, with the
    /// scopes required in the challenge's `scope`.
    InsufficientScope {
        /// The scopes the resource requires, space-separated, if any.
        scope: Option<String>,
    },
    /// A valid token whose `role` is not one the resource allows: 403. RFC 6750 has no code
    /// of its own for this, so the code is `insufficient_scope`; the description says it
    /// is the role, and no `scope` attribute names the roles as if they were scopes.
    MissingRole,
    /// A DPoP refusal (RFC 9449 section 7.1): a bad proof (`invalid_dpop_proof`), or a
    /// token in the wrong scheme (`invalid_token`: a bound token sent as `Bearer`, an
    /// unbound one sent as `DPoP`): 401 with `WWW-Authenticate: DPoP`.
    Dpop {
        /// The error code.
        error: &'static str,
        /// A short, generic description for the client.
        description: &'static str,
        /// The proof algorithms accepted, space-separated (the challenge's `algs`).
        algs: String,
    },
}

const REALM: &str = "tessera";

impl Rejection {
    /// The refusal for a verification error.
    pub fn from_error(e: &Error) -> Rejection {
        match e {
            Error::Authorization(tessera_contract::AuthorizationError::Missing) => {
                Rejection::MissingToken
            }
            Error::Revoked { .. } => Rejection::InvalidToken {
                description: "the access token has been revoked",
            },
            e if e.is_expired() => Rejection::InvalidToken {
                description: "the access token expired",
            },
            Error::Dpop(e) => Rejection::Dpop {
                error: e.error_code(),
                description: "the DPoP proof is invalid",
                algs: String::new(),
            },
            Error::BoundTokenAsBearer => Rejection::Dpop {
                error: "invalid_token",
                description:
                    "the access token is bound to a key: send it with the DPoP scheme and a proof",
                algs: String::new(),
            },
            Error::NotBound => Rejection::Dpop {
                error: "invalid_token",
                description: "the access token is not bound to a key",
                algs: String::new(),
            },
            Error::KeysUnavailable { .. } => Rejection::InvalidToken {
                description: "the access token cannot be verified now",
            },
            _ => Rejection::InvalidToken {
                description: "the access token is invalid",
            },
        }
    }

    /// 401 or 403.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::InsufficientScope { .. } | Rejection::MissingRole => StatusCode::FORBIDDEN,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The RFC 6750 error code, if any.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Rejection::MissingToken | Rejection::MissingCredentials { .. } => None,
            Rejection::InvalidToken { .. } => Some("invalid_token"),
            Rejection::Dpop { error, .. } => Some(error),
            Rejection::InsufficientScope { .. } | Rejection::MissingRole => {
                Some("insufficient_scope")
            }
        }
    }

    fn description(&self) -> &'static str {
        match self {
            Rejection::MissingToken | Rejection::MissingCredentials { .. } => {
                "a bearer token is required"
            }
            Rejection::InvalidToken { description } | Rejection::Dpop { description, .. } => {
                description
            }
            Rejection::InsufficientScope { .. } => "the access token lacks a required scope",
            Rejection::MissingRole => "the access token's role is not allowed here",
        }
    }

    /// The same refusal, its DPoP challenge naming these proof algorithms.
    pub fn with_dpop_algs(mut self, accepted: &str) -> Rejection {
        match &mut self {
            Rejection::Dpop { algs, .. } => accepted.clone_into(algs),
            Rejection::MissingToken => {
                return Rejection::MissingCredentials {
                    dpop_algs: accepted.to_owned(),
                }
            }
            _ => {}
        }
        self
    }

    /// The `WWW-Authenticate` challenge.
    pub fn challenge(&self) -> HeaderValue {
        if let Rejection::Dpop {
            error,
            description,
            algs,
        } = self
        {
            let mut text = format!("DPoP error=\"{error}\", error_description=\"{description}\"");
            if !algs.is_empty() {
                text.push_str(&format!(", algs=\"{algs}\""));
            }
            return HeaderValue::from_str(&text)
                .unwrap_or_else(|_| HeaderValue::from_static("DPoP"));
        }
        // The error first (`Bearer error="invalid_token", ...`): auth-param order carries no
        // meaning (RFC 9110 section 11.2), and this is the form clients and tests look for.
        let mut text = match self.error_code() {
            Some(code) => format!(
                "Bearer error=\"{code}\", error_description=\"{}\"",
                self.description()
            ),
            None => format!("Bearer realm=\"{REALM}\""),
        };
        if let Rejection::InsufficientScope { scope: Some(scope) } = self {
            // RFC 6749 scope tokens exclude `"` and `\`; anything else is left out.
            if scope
                .bytes()
                .all(|b| b == b' ' || (b.is_ascii_graphic() && b != b'"' && b != b'\\'))
            {
                text.push_str(&format!(", scope=\"{scope}\""));
            }
        }
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.error_code().unwrap_or("unauthorized"),
            "error_description": self.description(),
            "message": self.description(),
        });
        let mut response = (self.status(), Json(body)).into_response();
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, self.challenge());
        if let Rejection::MissingCredentials { dpop_algs } = &self {
            if let Ok(dpop) = HeaderValue::from_str(&format!("DPoP algs=\"{dpop_algs}\"")) {
                response.headers_mut().append(WWW_AUTHENTICATE, dpop);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc6750() {
        assert_eq!(
            Rejection::MissingToken.challenge(),
            "Bearer realm=\"tessera\""
        );
        let bad = Rejection::from_error(&Error::Revoked {
            kind: tessera_contract::RevocationKind::Jti,
            value: "x".into(),
        });
        assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            bad.challenge(),
            "Bearer error=\"invalid_token\", error_description=\"the access token has been revoked\""
        );
        let scope = Rejection::InsufficientScope {
            scope: Some("orders:write".into()),
        };
        assert_eq!(scope.status(), StatusCode::FORBIDDEN);
        assert!(scope
            .challenge()
            .to_str()
            .unwrap()
            .ends_with("error=\"insufficient_scope\", error_description=\"the access token lacks a required scope\", scope=\"orders:write\""));
        let role = Rejection::MissingRole;
        assert_eq!(role.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            role.challenge(),
            "Bearer error=\"insufficient_scope\", error_description=\"the access token's role is not allowed here\""
        );
        let dpop = Rejection::from_error(&Error::Dpop(tessera_contract::dpop::ProofError::Replay))
            .with_dpop_algs("ES256 EdDSA");
        assert_eq!(dpop.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            dpop.challenge(),
            "DPoP error=\"invalid_dpop_proof\", error_description=\"the DPoP proof is invalid\", algs=\"ES256 EdDSA\""
        );
        let as_bearer = Rejection::from_error(&Error::BoundTokenAsBearer);
        assert!(as_bearer
            .challenge()
            .to_str()
            .unwrap()
            .starts_with("DPoP error=\"invalid_token\""));
        let injected = Rejection::InsufficientScope {
            scope: Some("a\" b".into()),
        };
        assert!(!injected.challenge().to_str().unwrap().contains("scope=\""));
    }
}
