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
    /// A refusal in the DPoP scheme (RFC 9449 section 7.1), with `WWW-Authenticate: DPoP`:
    /// a bad proof (`invalid_dpop_proof`), a token in the wrong scheme (`invalid_token`: a
    /// bound token sent as `Bearer`, an unbound one sent as `DPoP`), or any other refusal of
    /// a request that used the DPoP scheme (see [`Rejection::in_scheme`]). 401, or 403 for
    /// `insufficient_scope`.
    Dpop {
        /// The error code.
        error: &'static str,
        /// A short, generic description for the client.
        description: &'static str,
        /// The proof algorithms accepted, space-separated (the challenge's `algs`).
        algs: String,
        /// For `insufficient_scope`: the scopes the resource requires, space-separated.
        scope: Option<String>,
    },
}

const REALM: &str = "tessera";
const INSUFFICIENT_SCOPE: &str = "insufficient_scope";

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
                scope: None,
            },
            Error::BoundTokenAsBearer => Rejection::Dpop {
                error: "invalid_token",
                description:
                    "the access token is bound to a key: send it with the DPoP scheme and a proof",
                algs: String::new(),
                scope: None,
            },
            Error::NotBound => Rejection::Dpop {
                error: "invalid_token",
                description: "the access token is not bound to a key",
                algs: String::new(),
                scope: None,
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
            Rejection::Dpop { error, .. } if *error == INSUFFICIENT_SCOPE => StatusCode::FORBIDDEN,
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
                Some(INSUFFICIENT_SCOPE)
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

    /// The same refusal in the scheme the request used, with the proof algorithms accepted:
    /// a request that sent `Authorization: DPoP` is answered with a `DPoP` challenge whatever
    /// went wrong (an expired or revoked token, a missing scope or role), as RFC 9449
    /// section 7.1 asks; a request without credentials is offered both schemes.
    pub fn in_scheme(self, scheme: Option<tessera_contract::Scheme>, accepted: &str) -> Rejection {
        let this = self.with_dpop_algs(accepted);
        if scheme != Some(tessera_contract::Scheme::DPoP) {
            return this;
        }
        let algs = accepted.to_owned();
        match this {
            Rejection::InvalidToken { description } => Rejection::Dpop {
                error: "invalid_token",
                description,
                algs,
                scope: None,
            },
            Rejection::InsufficientScope { scope } => Rejection::Dpop {
                error: INSUFFICIENT_SCOPE,
                description: "the access token lacks a required scope",
                algs,
                scope,
            },
            Rejection::MissingRole => Rejection::Dpop {
                error: INSUFFICIENT_SCOPE,
                description: "the access token's role is not allowed here",
                algs,
                scope: None,
            },
            other => other,
        }
    }

    /// The `WWW-Authenticate` challenge.
    pub fn challenge(&self) -> HeaderValue {
        if let Rejection::Dpop {
            error,
            description,
            algs,
            scope,
        } = self
        {
            let mut text = format!("DPoP error=\"{error}\", error_description=\"{description}\"");
            if !algs.is_empty() {
                text.push_str(&format!(", algs=\"{algs}\""));
            }
            push_scope(&mut text, scope.as_deref());
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
        if let Rejection::InsufficientScope { scope } = self {
            push_scope(&mut text, scope.as_deref());
        }
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
    }
}

/// Appends `, scope="..."` when the scopes are RFC 6749 scope tokens (no `"` or `\`);
/// anything else is left out.
fn push_scope(text: &mut String, scope: Option<&str>) {
    if let Some(scope) = scope {
        if scope
            .bytes()
            .all(|b| b == b' ' || (b.is_ascii_graphic() && b != b'"' && b != b'\\'))
        {
            text.push_str(&format!(", scope=\"{scope}\""));
        }
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
