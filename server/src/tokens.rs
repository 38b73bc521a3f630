//! Issuing access tokens (RFC 9068) with the active key.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use tessera_contract::{claims, SharedClock};
use tessera_jose::jwe::{ContentEncryption, EncryptionKey};

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
    /// RFC 9449 section 6: the thumbprint of the key the token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
}

/// The `cnf` claim (RFC 7800) of a DPoP-bound token.
#[derive(Debug, Serialize)]
struct Confirmation<'a> {
    jkt: &'a str,
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
        /// The client the token is issued to (`None`: the login API).
        client_id: Option<&'a str>,
        /// Granted scopes, space-separated (`None`: the login API's tokens have none).
        scope: Option<&'a str>,
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
    /// Its `jti`.
    pub jti: String,
    /// Its `exp`.
    pub expires_at: i64,
}

/// Signs access tokens with the current active key.
#[derive(Clone)]
pub struct TokenIssuer {
    config: Arc<Config>,
    keys: Arc<KeyManager>,
    clock: SharedClock,
    /// When set, access tokens are nested JWTs encrypted to this key.
    encrypt_to: Option<Arc<EncryptionKey>>,
}

impl TokenIssuer {
    /// An issuer over the key manager.
    pub fn new(config: Arc<Config>, keys: Arc<KeyManager>, clock: SharedClock) -> TokenIssuer {
        TokenIssuer {
            config,
            keys,
            clock,
            encrypt_to: None,
        }
    }

    /// Encrypts every access token to `key` (nested JWTs, A256GCM).
    pub fn encrypting_to(mut self, key: Option<Arc<EncryptionKey>>) -> TokenIssuer {
        self.encrypt_to = key;
        self
    }

    /// Signs an access token, bound to the DPoP key with thumbprint `jkt` when given.
    /// `None` means no key can sign right now (503).
    pub fn issue(&self, subject: Subject<'_>, jkt: Option<&str>) -> Result<Option<Issued>> {
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
                client_id,
                scope,
            } => AccessClaims {
                iss: &self.config.issuer,
                sub: subject,
                aud: &self.config.audience,
                exp: now + ttl,
                iat: now,
                nbf: now,
                jti: jti.clone(),
                preferred_username: Some(name),
                role: Some(role),
                session_id: Some(session_id),
                client_id,
                scope: scope.filter(|s| !s.is_empty()),
                fgp: fingerprint_hash,
                cnf: jkt.map(|jkt| Confirmation { jkt }),
            },
            Subject::Client { client_id, scope } => AccessClaims {
                iss: &self.config.issuer,
                sub: client_id,
                aud: &self.config.audience,
                exp: now + ttl,
                iat: now,
                nbf: now,
                jti: jti.clone(),
                preferred_username: None,
                role: None,
                session_id: None,
                client_id: Some(client_id),
                scope: (!scope.is_empty()).then_some(scope),
                fgp: None,
                cnf: jkt.map(|jkt| Confirmation { jkt }),
            },
        };
        let mut token = signer.sign_jwt_with_typ(Some(claims::ACCESS_TOKEN_TYP), &claims)?;
        if let Some(key) = &self.encrypt_to {
            token = key.encrypt_jws(&token, ContentEncryption::A256Gcm)?;
        }
        Ok(Some(Issued {
            token,
            expires_in: self.config.token_ttl,
            jti,
            expires_at: now + ttl,
        }))
    }

    /// Signs an ID token (OpenID Connect Core 2) with the RS256 key: the registered
    /// claims, plus `at_hash` of the access token it comes with. `None` if no RS256 key can
    /// sign right now.
    pub fn id_token(&self, claims: IdToken<'_>, access_token: &str) -> Result<Option<String>> {
        let published = self.keys.published();
        let Some(signer) = published.id_signer.as_ref() else {
            return Ok(None);
        };
        let now = self.clock.unix_secs();
        let ttl = i64::try_from(self.config.token_ttl).unwrap_or(1200);
        // at_hash: the left half of the SHA-256 of the access token (RS256's hash).
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
        let at_hash = URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]);
        let mut body = serde_json::Map::new();
        body.insert("iss".into(), self.config.issuer.clone().into());
        body.insert("sub".into(), claims.subject.into());
        body.insert("aud".into(), claims.client_id.into());
        body.insert("azp".into(), claims.client_id.into());
        body.insert("exp".into(), (now + ttl).into());
        body.insert("iat".into(), now.into());
        body.insert("auth_time".into(), claims.auth_time.into());
        body.insert("at_hash".into(), at_hash.into());
        body.insert("sid".into(), claims.session_id.into());
        if let Some(nonce) = claims.nonce {
            body.insert("nonce".into(), nonce.into());
        }
        for (name, value) in claims.profile {
            body.insert(name.into(), value);
        }
        Ok(Some(signer.sign_jwt_with_typ(Some("JWT"), &body)?))
    }

    /// Signs a back-channel logout token (OpenID Connect Back-Channel Logout 2.4): no
    /// `nonce`, the logout event, `typ` `logout+jwt`.
    pub fn logout_token(
        &self,
        client_id: &str,
        subject: &str,
        session_id: &str,
    ) -> Result<Option<String>> {
        let published = self.keys.published();
        let Some(signer) = published.id_signer.as_ref() else {
            return Ok(None);
        };
        let now = self.clock.unix_secs();
        let body = serde_json::json!({
            "iss": self.config.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + 120,
            "jti": random_token(16)?,
            "sid": session_id,
            "sub": subject,
            "events": { (BACKCHANNEL_LOGOUT_EVENT): {} },
        });
        Ok(Some(signer.sign_jwt_with_typ(Some("logout+jwt"), &body)?))
    }
}

/// The event a logout token carries.
pub(crate) const BACKCHANNEL_LOGOUT_EVENT: &str =
    "http://schemas.openid.net/event/backchannel-logout";

/// What an ID token says beyond the issuer and the times.
#[derive(Debug)]
pub struct IdToken<'a> {
    /// The user's subject.
    pub subject: &'a str,
    /// The client (`aud` and `azp`).
    pub client_id: &'a str,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The session (`sid`), the access token's `sessionId`.
    pub session_id: &'a str,
    /// The request's `nonce`, if it had one.
    pub nonce: Option<&'a str>,
    /// Claims of the granted scopes (`preferred_username`, `name`, `email`...).
    pub profile: Vec<(&'static str, serde_json::Value)>,
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
            cnf: Some(Confirmation { jkt: "t" }),
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
        assert_eq!(value["cnf"]["jkt"], "t");
    }
}
