//! Login sessions and their refresh tokens.
//!
//! A session starts at a login and has an absolute lifetime (`session_lifetime`): refreshing
//! never carries it past that. Each user keeps at most `max_sessions_per_user` live
//! sessions; a new login ends the oldest beyond that. The session row is the one source of
//! truth for "is this session over": every refresh reads it, so a logout racing a refresh
//! cannot leave a usable successor behind.
//!
//! Refresh tokens are random, stored as SHA-256 hashes, single use, and rotate: spending one
//! and storing its successor is one transaction. Presenting a spent token again ends its
//! session (RFC 9700 section 4.14.2). Ending a session revokes its refresh tokens and
//! publishes its id on the revocation feed, so resource servers refuse its access tokens.

use std::sync::Arc;

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sqlx::{Any, Row, Transaction};
use tessera_contract::{RevocationKind, SharedClock};

use crate::accounts::random_token;
use crate::config::Config;
use crate::db::{opt_i64, Db};
use crate::error::Result;
use crate::keys::keep_seconds;
use crate::revocations::Revocations;

/// Who a session is for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Owner<'a> {
    /// The user's subject.
    pub subject: &'a str,
    /// The user's role when the session started (kept with each refresh token).
    pub role: &'a str,
    /// The client the session's tokens are issued to (`None`: the login API).
    pub client_id: Option<&'a str>,
    /// The scopes granted to that client (`None` for the login API).
    pub scope: Option<&'a str>,
    /// SHA-256 (hex) of the fingerprint cookie, carried to refreshed access tokens.
    pub fingerprint_hash: Option<&'a str>,
    /// The DPoP key the refresh tokens are bound to (its thumbprint): a refresh needs a
    /// proof by it.
    pub dpop_jkt: Option<&'a str>,
}

/// A browser's live session, found by its cookie.
#[derive(Debug, Clone)]
pub(crate) struct BrowserSession {
    /// The session id (`sid`, `sessionId`).
    pub session_id: String,
    /// The user's subject.
    pub subject: String,
    /// When the user authenticated.
    pub auth_time: i64,
}

/// A new session and its first refresh token.
#[derive(Debug)]
pub(crate) struct Started {
    /// The session id (`sessionId` in access tokens).
    pub session_id: String,
    /// Its first refresh token.
    pub refresh_token: String,
}

/// A refresh token that was redeemed: the new one, and who it is for.
#[derive(Debug)]
pub(crate) struct Redeemed {
    /// The replacement refresh token.
    pub refresh_token: String,
    /// The user's subject.
    pub subject: String,
    /// The session.
    pub session_id: String,
    /// The login's token fingerprint (`fgp`), if it had one.
    pub fingerprint_hash: Option<String>,
    /// The client the token was issued to (`None`: the login API).
    pub client_id: Option<String>,
    /// The scopes granted to it.
    pub scope: Option<String>,
    /// The DPoP key the family is bound to.
    pub dpop_jkt: Option<String>,
}

/// Why a refresh token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RefreshRefusal {
    /// Not a token we issued.
    Unknown,
    /// Past its expiry, or its session's.
    Expired,
    /// Its session has ended (logout, reuse, a disabled user, too many sessions).
    Revoked,
    /// Already used once: its session has now been ended.
    Reused,
}

/// A live refresh token, as revocation and introspection see it.
#[derive(Debug)]
pub(crate) struct RefreshInfo {
    /// The user's subject.
    pub subject: String,
    /// The session.
    pub session_id: String,
    /// The client it was issued to (`None`: the login API).
    pub client_id: Option<String>,
    /// Its expiry.
    pub expires_at: i64,
    /// The DPoP key its family is bound to (a refresh needs a proof by it).
    pub dpop_jkt: Option<String>,
}

/// Sessions and refresh tokens.
#[derive(Clone)]
pub(crate) struct Sessions {
    db: Db,
    clock: SharedClock,
    config: Arc<Config>,
    revocations: Revocations,
}

fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

impl Sessions {
    pub(crate) fn new(
        db: Db,
        clock: SharedClock,
        config: Arc<Config>,
        revocations: Revocations,
    ) -> Sessions {
        Sessions {
            db,
            clock,
            config,
            revocations,
        }
    }

    /// Starts a session and its first refresh token, and ends the owner's oldest live
    /// sessions beyond `max_sessions_per_user`, in one transaction.
    pub(crate) async fn start(&self, owner: Owner<'_>) -> Result<Started> {
        let now = self.clock.unix_secs();
        let session_id = random_token(16)?;
        let expires_at = now.saturating_add(secs(self.config.session_lifetime));
        let keep = keep_seconds(&self.db, &self.config).await?;
        let mut tx = self.db.begin().await?;
        sqlx::query("INSERT INTO sessions (id, subject, client_id, created_at, expires_at, auth_time) VALUES ($1, $2, $3, $4, $5, $4)")
            .bind(&session_id)
            .bind(owner.subject)
            .bind(owner.client_id)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
        let family = random_token(16)?;
        let refresh_token = self
            .insert_token(&mut tx, &family, owner, &session_id, expires_at)
            .await?;
        self.cap(&mut tx, owner.subject, &session_id, now, keep)
            .await?;
        tx.commit().await?;
        Ok(Started {
            session_id,
            refresh_token,
        })
    }

    /// Starts a browser session after a sign-in on the login page: the browser is known by
    /// `browser_token` (kept only as its hash), for `browser_session_lifetime`; tokens issued
    /// in it live as long as any session. Ends the user's oldest sessions beyond the cap.
    pub(crate) async fn start_browser(&self, subject: &str, browser_token: &str) -> Result<String> {
        let now = self.clock.unix_secs();
        let session_id = random_token(16)?;
        let expires_at = now.saturating_add(secs(self.config.session_lifetime));
        let browser_expires_at = now
            .saturating_add(secs(self.config.browser_session_lifetime))
            .min(expires_at);
        let keep = keep_seconds(&self.db, &self.config).await?;
        let mut tx = self.db.begin().await?;
        sqlx::query("INSERT INTO sessions (id, subject, created_at, expires_at, auth_time, browser_token_hash, browser_expires_at) VALUES ($1, $2, $3, $4, $3, $5, $6)")
            .bind(&session_id)
            .bind(subject)
            .bind(now)
            .bind(expires_at)
            .bind(token_hash(browser_token))
            .bind(browser_expires_at)
            .execute(&mut *tx)
            .await?;
        self.cap(&mut tx, subject, &session_id, now, keep).await?;
        tx.commit().await?;
        Ok(session_id)
    }

    /// The live browser session a cookie names, if any.
    pub(crate) async fn browser(&self, browser_token: &str) -> Result<Option<BrowserSession>> {
        let now = self.clock.unix_secs();
        let row = sqlx::query("SELECT id, subject, auth_time FROM sessions WHERE browser_token_hash = $1 AND revoked_at IS NULL AND browser_expires_at > $2 AND expires_at > $2")
            .bind(token_hash(browser_token))
            .bind(now)
            .fetch_optional(self.db.pool())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(BrowserSession {
            session_id: row.try_get("id")?,
            subject: row.try_get("subject")?,
            auth_time: opt_i64(&row, "auth_time")?.unwrap_or(0),
        }))
    }

    /// Records that `client_id` received tokens in a session (it is told when it ends).
    pub(crate) async fn join(&self, session_id: &str, client_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO session_clients (session_id, client_id) VALUES ($1, $2) ON CONFLICT (session_id, client_id) DO NOTHING")
            .bind(session_id)
            .bind(client_id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// A new refresh-token family in an existing, live session (the authorization-code
    /// grant with `offline_access`). Returns the token and its family.
    pub(crate) async fn add_refresh(
        &self,
        session_id: &str,
        owner: Owner<'_>,
    ) -> Result<Option<(String, String)>> {
        let now = self.clock.unix_secs();
        let mut tx = self.db.begin().await?;
        let row = sqlx::query("SELECT expires_at FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2")
            .bind(session_id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let expires_at: i64 = row.try_get("expires_at")?;
        let family = random_token(16)?;
        let token = self
            .insert_token(&mut tx, &family, owner, session_id, expires_at)
            .await?;
        tx.commit().await?;
        Ok(Some((token, family)))
    }

    /// True if the session exists, has not ended and has not expired.
    pub(crate) async fn is_live(&self, session_id: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT id FROM sessions WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(session_id)
        .bind(self.clock.unix_secs())
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.is_some())
    }

    /// Revokes one refresh-token family (what an authorization code's first use issued,
    /// when the code is presented again).
    pub(crate) async fn revoke_family(&self, family: &str) -> Result<()> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
        )
        .bind(self.clock.unix_secs())
        .bind(family)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Ends the owner's oldest live sessions beyond `max_sessions_per_user`, the new one
    /// counting first.
    async fn cap(
        &self,
        tx: &mut Transaction<'static, Any>,
        subject: &str,
        session_id: &str,
        now: i64,
        keep: i64,
    ) -> Result<()> {
        // The new session counts first; of the others, the newest stay.
        let others = sqlx::query("SELECT id FROM sessions WHERE subject = $1 AND id <> $2 AND revoked_at IS NULL AND expires_at > $3 ORDER BY created_at DESC, id")
            .bind(subject)
            .bind(session_id)
            .bind(now)
            .fetch_all(&mut **tx)
            .await?;
        let cap = self.config.max_sessions_per_user.max(1);
        for row in others.iter().skip(cap - 1) {
            let old: String = row.try_get("id")?;
            self.end_in(tx, &old, now, keep).await?;
            tracing::info!(session = %old, "oldest session ended: too many for one user");
        }
        Ok(())
    }

    async fn insert_token(
        &self,
        tx: &mut Transaction<'static, Any>,
        family: &str,
        owner: Owner<'_>,
        session_id: &str,
        session_expires_at: i64,
    ) -> Result<String> {
        let token = random_token(32)?;
        let now = self.clock.unix_secs();
        let expires_at = now
            .saturating_add(secs(self.config.refresh_ttl))
            .min(session_expires_at);
        sqlx::query("INSERT INTO refresh_tokens (token_hash, family_id, subject, role, session_id, created_at, expires_at, fingerprint_hash, client_id, scope, dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
            .bind(token_hash(&token))
            .bind(family)
            .bind(owner.subject)
            .bind(owner.role)
            .bind(session_id)
            .bind(now)
            .bind(expires_at)
            .bind(owner.fingerprint_hash)
            .bind(owner.client_id)
            .bind(owner.scope)
            .bind(owner.dpop_jkt)
            .execute(&mut **tx)
            .await?;
        Ok(token)
    }

    /// Spends a refresh token and issues its successor, in one transaction. A second use of
    /// a spent token ends the session.
    pub(crate) async fn redeem(&self, token: &str) -> Result<Result<Redeemed, RefreshRefusal>> {
        let hash = token_hash(token);
        let now = self.clock.unix_secs();
        let mut tx = self.db.begin().await?;
        // One statement, so two concurrent uses cannot both succeed.
        let spent = sqlx::query("UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $1")
            .bind(now)
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query("SELECT t.family_id, t.subject, t.role, t.session_id, t.client_id, t.scope, t.used_at, t.revoked_at, t.fingerprint_hash, t.dpop_jkt, s.expires_at AS session_expires_at, s.revoked_at AS session_revoked_at FROM refresh_tokens t LEFT JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = $1")
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(Err(RefreshRefusal::Unknown));
        };
        let session_id: String = row.try_get("session_id")?;
        let session_expires_at = opt_i64(&row, "session_expires_at")?;
        let session_over =
            session_expires_at.is_none() || opt_i64(&row, "session_revoked_at")?.is_some();
        if spent.rows_affected() == 1 {
            if session_over {
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE token_hash = $2")
                    .bind(now)
                    .bind(&hash)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(Err(RefreshRefusal::Revoked));
            }
            let session_expires_at = session_expires_at.unwrap_or(now);
            if session_expires_at <= now {
                tx.commit().await?;
                return Ok(Err(RefreshRefusal::Expired));
            }
            let family: String = row.try_get("family_id")?;
            let subject: String = row.try_get("subject")?;
            let role: String = row.try_get("role")?;
            let client_id: Option<String> = row.try_get("client_id")?;
            let scope: Option<String> = row.try_get("scope")?;
            let fingerprint_hash: Option<String> = row.try_get("fingerprint_hash")?;
            let dpop_jkt: Option<String> = row.try_get("dpop_jkt")?;
            let owner = Owner {
                subject: &subject,
                role: &role,
                client_id: client_id.as_deref(),
                scope: scope.as_deref(),
                fingerprint_hash: fingerprint_hash.as_deref(),
                dpop_jkt: dpop_jkt.as_deref(),
            };
            let refresh_token = self
                .insert_token(&mut tx, &family, owner, &session_id, session_expires_at)
                .await?;
            tx.commit().await?;
            return Ok(Ok(Redeemed {
                refresh_token,
                subject,
                session_id,
                fingerprint_hash,
                client_id,
                scope,
                dpop_jkt,
            }));
        }
        drop(tx);
        if session_over || opt_i64(&row, "revoked_at")?.is_some() {
            return Ok(Err(RefreshRefusal::Revoked));
        }
        if opt_i64(&row, "used_at")?.is_some() {
            let family: String = row.try_get("family_id")?;
            tracing::warn!(family = %family, session = %session_id, "refresh token reused: ending its session");
            self.end(&session_id).await?;
            return Ok(Err(RefreshRefusal::Reused));
        }
        Ok(Err(RefreshRefusal::Expired))
    }

    /// Ends a session: its refresh tokens stop working and its id is published as revoked
    /// until its last access token has expired.
    pub(crate) async fn end(&self, session_id: &str) -> Result<()> {
        let now = self.clock.unix_secs();
        let keep = keep_seconds(&self.db, &self.config).await?;
        let mut tx = self.db.begin().await?;
        self.end_in(&mut tx, session_id, now, keep).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn end_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        session_id: &str,
        now: i64,
        keep: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(session_id)
            .execute(&mut **tx)
            .await?;
        sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE session_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(session_id)
            .execute(&mut **tx)
            .await?;
        // Until the session's last access token has expired, on any replica's settings.
        self.revocations
            .add_in(
                tx,
                RevocationKind::Session,
                session_id,
                now.saturating_add(keep),
            )
            .await?;
        // Every client of the session with a back-channel logout URI is told, by the
        // delivery task, which survives restarts: the jobs are rows of this transaction.
        sqlx::query("INSERT INTO backchannel_logouts (id, client_id, uri, session_id, subject, next_attempt_at, created_at) SELECT s.session_id || ' ' || c.client_id, c.client_id, c.backchannel_logout_uri, s.session_id, x.subject, $2, $2 FROM session_clients s JOIN clients c ON c.client_id = s.client_id JOIN sessions x ON x.id = s.session_id WHERE s.session_id = $1 AND c.backchannel_logout_uri IS NOT NULL ON CONFLICT (id) DO NOTHING")
            .bind(session_id)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Ends every live session of a user inside the caller's transaction (a user being
    /// disabled); returns how many.
    pub(crate) async fn end_all_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        subject: &str,
    ) -> Result<usize> {
        let now = self.clock.unix_secs();
        let keep = keep_seconds(&self.db, &self.config).await?;
        let rows = sqlx::query(
            "SELECT id FROM sessions WHERE subject = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(subject)
        .bind(now)
        .fetch_all(&mut **tx)
        .await?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            self.end_in(tx, &id, now, keep).await?;
        }
        Ok(rows.len())
    }

    /// A refresh token we issued that can still be redeemed.
    pub(crate) async fn lookup(&self, token: &str) -> Result<Option<RefreshInfo>> {
        let row = sqlx::query("SELECT t.subject, t.session_id, t.client_id, t.expires_at, t.dpop_jkt FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = $1 AND t.used_at IS NULL AND t.revoked_at IS NULL AND t.expires_at > $2 AND s.revoked_at IS NULL AND s.expires_at > $2")
            .bind(token_hash(token))
            .bind(self.clock.unix_secs())
            .fetch_optional(self.db.pool())
            .await?;
        let Some(r) = row else {
            return Ok(None);
        };
        Ok(Some(RefreshInfo {
            subject: r.try_get("subject")?,
            session_id: r.try_get("session_id")?,
            client_id: r.try_get("client_id")?,
            expires_at: r.try_get("expires_at")?,
            dpop_jkt: r.try_get("dpop_jkt")?,
        }))
    }
}

fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX / 4)
}
