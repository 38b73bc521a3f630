//! Authorization codes: random, stored as SHA-256 hashes, valid for 60 seconds, single
//! use, and bound to the client, the redirect URI, the PKCE challenge and the nonce. A code
//! presented a second time revokes what its first use issued (RFC 9700 section 4.2.4).

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sqlx::Row;
use tessera_contract::SharedClock;

use crate::accounts::random_token;
use crate::db::{opt_i64, Db};
use crate::error::Result;

/// How long a code may wait for its redemption.
pub(crate) const CODE_LIFETIME: i64 = 60;

/// What a code is issued for.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: String,
    pub subject: String,
    pub session_id: String,
    pub auth_time: i64,
    /// The DPoP key the code is bound to (`dpop_jkt`, RFC 9449 section 10): redeeming it
    /// needs a proof by that key.
    pub dpop_jkt: Option<String>,
}

/// What presenting a code found.
#[derive(Debug)]
pub(crate) enum Redemption {
    /// Not a code of ours.
    Unknown,
    /// Spent by this call: the grant, for the caller to check against the request.
    Fresh { grant: Grant, expires_at: i64 },
    /// Spent before: what that use issued, to be revoked.
    Reused {
        access_jti: Option<String>,
        access_expires_at: Option<i64>,
        refresh_family: Option<String>,
    },
}

/// Code storage.
#[derive(Clone)]
pub(crate) struct Codes {
    db: Db,
    clock: SharedClock,
}

fn code_hash(code: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, code.as_bytes()))
}

impl Codes {
    pub(crate) fn new(db: Db, clock: SharedClock) -> Codes {
        Codes { db, clock }
    }

    /// Stores a new code for `grant` and returns it.
    pub(crate) async fn issue(&self, grant: &Grant) -> Result<String> {
        let code = random_token(32)?;
        let now = self.clock.unix_secs();
        sqlx::query("INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, nonce, scope, subject, session_id, auth_time, created_at, expires_at, dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
            .bind(code_hash(&code))
            .bind(&grant.client_id)
            .bind(&grant.redirect_uri)
            .bind(&grant.code_challenge)
            .bind(grant.nonce.as_deref())
            .bind(&grant.scope)
            .bind(&grant.subject)
            .bind(&grant.session_id)
            .bind(grant.auth_time)
            .bind(now)
            .bind(now + CODE_LIFETIME)
            .bind(grant.dpop_jkt.as_deref())
            .execute(self.db.pool())
            .await?;
        Ok(code)
    }

    /// The DPoP key an unspent code is bound to, if any (checked before it is spent).
    pub(crate) async fn bound_key(&self, code: &str) -> Result<Option<String>> {
        if code.len() > 256 {
            return Ok(None);
        }
        let row = sqlx::query(
            "SELECT dpop_jkt FROM authorization_codes WHERE code_hash = $1 AND used_at IS NULL",
        )
        .bind(code_hash(code))
        .fetch_optional(self.db.pool())
        .await?;
        Ok(match row {
            Some(row) => row.try_get("dpop_jkt")?,
            None => None,
        })
    }

    /// Spends a code (one statement, so two concurrent redemptions cannot both win).
    pub(crate) async fn redeem(&self, code: &str) -> Result<Redemption> {
        if code.len() > 256 {
            return Ok(Redemption::Unknown);
        }
        let hash = code_hash(code);
        let spent = sqlx::query(
            "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
        )
        .bind(self.clock.unix_secs())
        .bind(&hash)
        .execute(self.db.pool())
        .await?;
        let row = sqlx::query("SELECT client_id, redirect_uri, code_challenge, nonce, scope, subject, session_id, auth_time, expires_at, access_jti, access_expires_at, refresh_family, dpop_jkt FROM authorization_codes WHERE code_hash = $1")
            .bind(&hash)
            .fetch_optional(self.db.pool())
            .await?;
        let Some(row) = row else {
            return Ok(Redemption::Unknown);
        };
        if spent.rows_affected() != 1 {
            return Ok(Redemption::Reused {
                access_jti: row.try_get("access_jti")?,
                access_expires_at: opt_i64(&row, "access_expires_at")?,
                refresh_family: row.try_get("refresh_family")?,
            });
        }
        Ok(Redemption::Fresh {
            grant: Grant {
                client_id: row.try_get("client_id")?,
                redirect_uri: row.try_get("redirect_uri")?,
                code_challenge: row.try_get("code_challenge")?,
                nonce: row.try_get("nonce")?,
                scope: row.try_get("scope")?,
                subject: row.try_get("subject")?,
                session_id: row.try_get("session_id")?,
                auth_time: row.try_get("auth_time")?,
                dpop_jkt: row.try_get("dpop_jkt")?,
            },
            expires_at: row.try_get("expires_at")?,
        })
    }

    /// Records what a code's use issued, so that a second use can revoke it.
    pub(crate) async fn record(
        &self,
        code: &str,
        access_jti: &str,
        access_expires_at: i64,
        refresh_family: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE authorization_codes SET access_jti = $1, access_expires_at = $2, refresh_family = $3 WHERE code_hash = $4")
            .bind(access_jti)
            .bind(access_expires_at)
            .bind(refresh_family)
            .bind(code_hash(code))
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// Forgets codes long past their use (kept a day, so a late reuse still revokes).
    pub(crate) async fn sweep(&self) -> Result<()> {
        sqlx::query("DELETE FROM authorization_codes WHERE expires_at < $1")
            .bind(self.clock.unix_secs() - 86_400)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }
}

/// RFC 7636 S256: the verifier (43-128 unreserved characters) hashes to the challenge.
pub(crate) fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    if !(43..=128).contains(&verifier.len())
        || !verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
    {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    aws_lc_rs::constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_s256() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
        // `plain` (the verifier itself as challenge) never passes.
        assert!(!pkce_matches(verifier, verifier));
        assert!(!pkce_matches("short", "x"), "43 characters at least");
    }
}
