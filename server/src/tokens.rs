//! Issuing access tokens, and refresh tokens that rotate on every use with reuse detection.

use std::sync::Arc;

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;
use sqlx::{Any, Row, Transaction};
use tessera_contract::{claims, RevocationKind};

use crate::accounts::random_token;
use crate::config::Config;
use crate::db::{opt_i64, Db};
use crate::error::{Error, Result};
use crate::keys::{keep_seconds, KeyManager};
use crate::revocations::Revocations;
use tessera_contract::SharedClock;

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
    /// A user login: `sub` is the user name.
    User {
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
                name,
                role,
                session_id,
                fingerprint_hash,
            } => AccessClaims {
                iss: &self.config.issuer,
                sub: name,
                aud: &self.config.audience,
                exp: now + ttl,
                iat: now,
                nbf: now,
                jti,
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

/// A refresh token that was redeemed: the new one, and who it is for.
#[derive(Debug)]
pub struct Redeemed {
    /// The replacement refresh token (same family).
    pub refresh_token: String,
    /// User name.
    pub subject: String,
    /// The session the family belongs to.
    pub session_id: String,
    /// The login's token fingerprint (`fgp`), if it had one.
    pub fingerprint_hash: Option<String>,
}

/// Why a refresh token was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshRefusal {
    /// Not a token we issued.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Revoked (logout, or its family was revoked).
    Revoked,
    /// Already used once: the whole family has now been revoked.
    Reused,
}

/// Refresh-token storage. Only SHA-256 hashes of the tokens are stored.
#[derive(Clone)]
pub struct RefreshTokens {
    db: Db,
    clock: SharedClock,
    config: Arc<Config>,
    revocations: Revocations,
}

/// True if any refresh token of the session has been revoked (which revokes them all).
async fn session_revoked(tx: &mut Transaction<'static, Any>, session_id: &str) -> Result<bool> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM refresh_tokens WHERE session_id = $1 AND revoked_at IS NOT NULL",
    )
    .bind(session_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get::<i64, _>("n")? > 0)
}

fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

impl RefreshTokens {
    /// Storage on `db`.
    pub fn new(
        db: Db,
        clock: SharedClock,
        config: Arc<Config>,
        revocations: Revocations,
    ) -> RefreshTokens {
        RefreshTokens {
            db,
            clock,
            config,
            revocations,
        }
    }

    /// Starts a new family for a login. `fingerprint_hash` is the login's `fgp`, carried
    /// over to the access tokens that refreshes issue.
    pub async fn create(
        &self,
        subject: &str,
        role: &str,
        session_id: &str,
        fingerprint_hash: Option<&str>,
    ) -> Result<String> {
        let family = random_token(16)?;
        let mut tx = self.db.pool().begin().await?;
        let token = self
            .insert(
                &mut tx,
                &family,
                subject,
                role,
                session_id,
                fingerprint_hash,
            )
            .await?;
        tx.commit().await?;
        Ok(token)
    }

    async fn insert(
        &self,
        tx: &mut Transaction<'static, Any>,
        family: &str,
        subject: &str,
        role: &str,
        session_id: &str,
        fingerprint_hash: Option<&str>,
    ) -> Result<String> {
        let token = random_token(32)?;
        let now = self.clock.unix_secs();
        let ttl = i64::try_from(self.config.refresh_ttl).unwrap_or(86_400);
        sqlx::query("INSERT INTO refresh_tokens (token_hash, family_id, subject, role, session_id, created_at, expires_at, fingerprint_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(token_hash(&token))
            .bind(family)
            .bind(subject)
            .bind(role)
            .bind(session_id)
            .bind(now)
            .bind(now.saturating_add(ttl))
            .bind(fingerprint_hash)
            .execute(&mut **tx)
            .await?;
        Ok(token)
    }

    /// Spends a refresh token and issues its replacement, in one transaction (a crash
    /// between the two cannot leave a spent token without a successor). A second use of a
    /// spent token revokes the whole family and the session.
    pub async fn redeem(&self, token: &str) -> Result<Result<Redeemed, RefreshRefusal>> {
        let hash = token_hash(token);
        let now = self.clock.unix_secs();
        let mut tx = self.db.pool().begin().await?;
        // One statement, so two concurrent uses cannot both succeed.
        let spent = sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1")
            .bind(now)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT family_id, subject, role, session_id, expires_at, used_at, revoked_at, fingerprint_hash FROM refresh_tokens WHERE token_hash = $1")
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(Err(RefreshRefusal::Unknown));
        };
        let family: String = row.try_get("family_id")?;
        let subject: String = row.try_get("subject")?;
        let role: String = row.try_get("role")?;
        let session_id: String = row.try_get("session_id")?;
        let fingerprint_hash: Option<String> = row.try_get("fingerprint_hash")?;
        if spent.rows_affected() == 1 {
            // A session revoked while this token was being spent (a logout racing the
            // refresh) revokes every token it had then; the spent one among them shows it.
            if session_revoked(&mut tx, &session_id).await? {
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE token_hash = $2")
                    .bind(now)
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(Err(RefreshRefusal::Revoked));
            }
            let refresh_token = self
                .insert(
                    &mut tx,
                    &family,
                    &subject,
                    &role,
                    &session_id,
                    fingerprint_hash.as_deref(),
                )
                .await?;
            tx.commit().await?;
            return Ok(Ok(Redeemed {
                refresh_token,
                subject,
                session_id,
                fingerprint_hash,
            }));
        }
        drop(tx);
        if opt_i64(&row, "revoked_at")?.is_some() {
            return Ok(Err(RefreshRefusal::Revoked));
        }
        if opt_i64(&row, "used_at")?.is_some() {
            tracing::warn!(family = %family, subject = %subject, "refresh token reused: revoking its family and session");
            self.revoke_session(&session_id).await?;
            return Ok(Err(RefreshRefusal::Reused));
        }
        Ok(Err(RefreshRefusal::Expired))
    }

    /// Revokes every refresh token of a session and publishes the session revocation, so
    /// its access tokens are refused by subscribed resource servers (one transaction).
    pub async fn revoke_session(&self, session_id: &str) -> Result<()> {
        let now = self.clock.unix_secs();
        // Until the session's last access token has expired, on any replica's settings.
        let until = now.saturating_add(keep_seconds(&self.db, &self.config).await?);
        let mut tx = self.db.pool().begin().await?;
        self.revocations
            .add_in(&mut tx, RevocationKind::Session, session_id, until)
            .await?;
        sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE session_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes every live session of a user (when the user is disabled). Returns how many.
    pub async fn revoke_user(&self, subject: &str) -> Result<usize> {
        let rows = sqlx::query("SELECT DISTINCT session_id FROM refresh_tokens WHERE subject = $1 AND revoked_at IS NULL AND expires_at > $2")
            .bind(subject)
            .bind(self.clock.unix_secs())
            .fetch_all(self.db.pool())
            .await?;
        let sessions: Vec<String> = rows
            .iter()
            .map(|r| r.try_get("session_id"))
            .collect::<std::result::Result<_, _>>()?;
        for session in &sessions {
            self.revoke_session(session).await?;
        }
        Ok(sessions.len())
    }

    /// The session of a refresh token, if we issued it and it is still usable.
    pub async fn lookup(&self, token: &str) -> Result<Option<(String, String, i64)>> {
        let row = sqlx::query("SELECT subject, session_id, expires_at FROM refresh_tokens t WHERE token_hash = $1 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $2 AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.session_id = t.session_id AND r.revoked_at IS NOT NULL)")
            .bind(token_hash(token))
            .bind(self.clock.unix_secs())
            .fetch_optional(self.db.pool())
            .await?;
        row.map(|r| {
            Ok((
                r.try_get("subject")?,
                r.try_get("session_id")?,
                r.try_get("expires_at")?,
            ))
        })
        .transpose()
        .map_err(|e: sqlx::Error| Error::Db(e))
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
