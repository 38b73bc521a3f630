//! Issuing access tokens (RFC 9068) with the active key.

use std::sync::Arc;

use serde::Serialize;
use tessera_contract::{claims, SharedClock};

use crate::accounts::random_token;
use crate::config::Config;
use crate::error::Result;
use crate::keys::KeyManager;

/// Claims of an access token (RFC 9068 shape, plus the seed's `role` and `sessionId`).
/// The names beyond the registered claims are the contract's ([`claims`]); serde needs
/// them as literals, and a test holds the two together.
#[derive(Debug, Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    nbf: i64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
    #[serde(rename = "sessionId", skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fgp: Option<&'a str>,
}

/// What a token is issued for.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// A user login: `sub` is the user's opaque subject, `preferred_username` the name.
    User {
        /// The user's subject.
        subject: &'a str,
        /// User name.
        name: &'a str,
        /// The `role` claim.
        role: &'a str,
        /// The `sessionId` claim.
        session_id: &'a str,
        /// SHA-256 (hex) of the fingerprint cookie, if enabled.
        fingerprint_hash: Option<&'a str>,
    },
    /// A client-credentials grant: `sub` and `client_id` are the client.
    Client {
        /// The client id.
        client_id: &'a str,
        /// Granted scopes, space-separated.
        scope: &'a str,
    },
}

/// An issued access token.
#[derive(Debug)]
pub struct Issued {
    /// The compact JWS.
    pub token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// Signs access tokens with the current active key.
#[derive(Clone)]
pub struct TokenIssuer {
    config: Arc<Config>,
    keys: Arc<KeyManager>,
    clock: SharedClock,
}

impl TokenIssuer {
    /// An issuer over the key manager.
    pub fn new(config: Arc<Config>, keys: Arc<KeyManager>, clock: SharedClock) -> TokenIssuer {
        TokenIssuer {
            config,
            keys,
            clock,
        }
    }

    /// Signs an access token. `None` means no key can sign right now (503).
    pub fn issue(&self, subject: Subject<'_>) -> Result<Option<Issued>> {
        let published = self.keys.published();
        let Some(signer) = published.signer.as_ref() else {
            return Ok(None);
        };
        let now = self.clock.unix_secs();
        let ttl = i64::try_from(self.config.token_ttl).unwrap_or(1200);
        let jti = random_token(16)?;
        let claims = match subject {
            Subject::User {
                subject,
                name,
                role,
                session_id,
                fingerprint_hash,
            } => AccessClaims {
                iss: &self.config.issuer,
                sub: subject,
                aud: &self.config.audience,
                exp: now + ttl,
                iat: now,
                nbf: now,
                jti,
                preferred_username: Some(name),
                role: Some(role),
                session_id: Some(session_id),
                client_id: None,
                scope: None,
                fgp: fingerprint_hash,
            },
            Subject::Client { client_id, scope } => AccessClaims {
                iss: &self.config.issuer,
                sub: client_id,
                aud: &self.config.audience,
                exp: now + ttl,
                iat: now,
                nbf: now,
                jti,
                preferred_username: None,
                role: None,
                session_id: None,
                client_id: Some(client_id),
                scope: (!scope.is_empty()).then_some(scope),
                fgp: None,
            },
        };
        let token = signer.sign_jwt_with_typ(Some(claims::ACCESS_TOKEN_TYP), &claims)?;
        Ok(Some(Issued {
            token,
            expires_in: self.config.token_ttl,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_names_are_the_contracts() {
        let claims = AccessClaims {
            iss: "i",
            sub: "s",
            aud: "a",
            exp: 2,
            iat: 1,
            nbf: 1,
            jti: "j".into(),
            preferred_username: Some("n"),
            role: Some("r"),
            session_id: Some("sid"),
            client_id: Some("c"),
            scope: Some("x y"),
            fgp: Some("f"),
        };
        let value = serde_json::to_value(&claims).unwrap();
        for (name, expected) in [
            (claims::ROLE, "r"),
            (claims::SESSION_ID, "sid"),
            (claims::CLIENT_ID, "c"),
            (claims::SCOPE, "x y"),
            (claims::FINGERPRINT, "f"),
        ] {
            assert_eq!(value[name], expected, "{name}");
        }
    }
}
