//! Signing keys and their lifecycle: pending (published, not signing) -> active (signing) ->
//! retired (published until every token it signed has expired) -> expired (gone, private
//! material destroyed); `revoked` removes a key at once.
//!
//! Invariants, enforced here and by the database:
//! - a key signs only after it has been published for `prepublish` seconds, except after an
//!   explicit `rotate --now` (or a revocation of the active key, or the very first key);
//! - a key stays published while a token it signed can be valid (`token_ttl + leeway` after
//!   it stopped signing);
//! - exactly one active key per algorithm (a partial unique index backs this up);
//! - every lifecycle change runs in a transaction that first takes the maintenance lock row,
//!   so replicas on one PostgreSQL database never rotate twice.

use std::sync::Arc;

use arc_swap::ArcSwap;
use aws_lc_rs::digest;
use axum::http::HeaderValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use tessera_jose::{thumbprint, Algorithm, Jwk, JwkSet, KeySet, SigningKey};

use crate::clock::Clock;
use crate::config::Config;
use crate::db::{opt_i64, put_setting, setting, Db};
use crate::error::{Error, Result};
use crate::seal::MasterKey;

/// A key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not yet signing.
    Pending,
    /// Signing.
    Active,
    /// Published, no longer signing.
    Retired,
    /// Out of the JWKS, private material destroyed.
    Expired,
    /// Removed at once by an operator.
    Revoked,
}

impl KeyState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }

    fn parse(s: &str) -> Result<KeyState> {
        Ok(match s {
            "pending" => KeyState::Pending,
            "active" => KeyState::Active,
            "retired" => KeyState::Retired,
            "expired" => KeyState::Expired,
            "revoked" => KeyState::Revoked,
            other => return Err(Error::Invalid(format!("unknown key state `{other}`"))),
        })
    }
}

/// One row of the key table, without private material.
#[derive(Debug, Clone)]
pub struct KeyInfo {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// Signing algorithm.
    pub alg: Algorithm,
    /// Lifecycle state.
    pub state: KeyState,
    /// `generated` or `imported`.
    pub source: String,
    /// When it was created (and published).
    pub created_at: i64,
    /// Earliest time it may start signing.
    pub activate_after: i64,
    /// When it started signing.
    pub activated_at: Option<i64>,
    /// When it stopped signing.
    pub retired_at: Option<i64>,
    /// When it leaves the JWKS.
    pub expires_at: Option<i64>,
}

impl KeyInfo {
    fn from_row(row: &AnyRow) -> Result<KeyInfo> {
        let alg: String = row.try_get("alg")?;
        let state: String = row.try_get("state")?;
        Ok(KeyInfo {
            kid: row.try_get("kid")?,
            alg: alg
                .parse()
                .map_err(|e| Error::Invalid(format!("stored key algorithm: {e}")))?,
            state: KeyState::parse(&state)?,
            source: row.try_get("source")?,
            created_at: row.try_get("created_at")?,
            activate_after: row.try_get("activate_after")?,
            activated_at: opt_i64(row, "activated_at")?,
            retired_at: opt_i64(row, "retired_at")?,
            expires_at: opt_i64(row, "expires_at")?,
        })
    }
}

/// What the server serves and signs with right now; swapped atomically on every change.
#[derive(Debug)]
pub struct Published {
    /// The key that signs tokens for the configured algorithm.
    pub signer: Option<Arc<SigningKey>>,
    /// The JWKS document, serialised once.
    pub jwks_body: Bytes,
    /// Its strong ETag.
    pub etag: HeaderValue,
    /// Verifiers for every published key (to check our own tokens on logout, introspection).
    pub verifier: KeySet,
    /// The published keys, for metrics.
    pub keys: Vec<KeyInfo>,
    fingerprint: String,
}

/// What a maintenance pass did, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// Messages, one per change.
    pub done: Vec<String>,
}

/// Owns the key lifecycle and the published JWKS.
pub struct KeyManager {
    db: Db,
    master: Arc<MasterKey>,
    clock: Clock,
    config: Arc<Config>,
    published: ArcSwap<Published>,
}

const SELECT_KEYS: &str = "SELECT kid, alg, state, source, created_at, activate_after, activated_at, retired_at, expires_at FROM signing_keys";

impl KeyManager {
    /// A manager with nothing published yet; call [`KeyManager::maintain`] before serving.
    pub fn new(db: Db, master: Arc<MasterKey>, clock: Clock, config: Arc<Config>) -> KeyManager {
        KeyManager {
            db,
            master,
            clock,
            config,
            published: ArcSwap::from_pointee(empty_published()),
        }
    }

    /// The current published state (lock-free).
    pub fn published(&self) -> Arc<Published> {
        self.published.load_full()
    }

    /// Every key, newest first.
    pub async fn list(&self) -> Result<Vec<KeyInfo>> {
        list_keys(&self.db).await
    }

    /// Applies the lifecycle rules (bootstrap, scheduled successor, promotion, expiry) and
    /// reloads what is published.
    pub async fn maintain(&self) -> Result<Changes> {
        let alg = self.config.alg;
        // Key generation is slow (RSA): do it before taking the lock, only if it will be needed.
        let needed = self.needs_new_key(alg).await?;
        let fresh = if needed {
            Some(Jwk::generate(alg, None)?)
        } else {
            None
        };
        let mut changes = Changes::default();
        let mut tx = self.lock().await?;
        let now = self.clock.now();
        let periods = self.periods(&mut *tx).await?;
        let keys = load_live(&mut tx).await?;

        // Expire retired keys whose last token can no longer be valid.
        for key in keys
            .iter()
            .filter(|k| k.state == KeyState::Retired && k.expires_at.is_some_and(|t| t <= now))
        {
            sqlx::query("UPDATE signing_keys SET state = 'expired', private_sealed = NULL WHERE kid = $1 AND state = 'retired'")
                .bind(&key.kid)
                .execute(&mut *tx)
                .await?;
            changes
                .done
                .push(format!("key {} expired and destroyed", key.kid));
        }

        // Keys of an algorithm the server no longer signs with (its `alg` was changed) are
        // retired like any replaced key: published until their last token has expired.
        let keep_until = now + periods.keep;
        for key in keys
            .iter()
            .filter(|k| k.alg != alg && matches!(k.state, KeyState::Active | KeyState::Pending))
        {
            sqlx::query("UPDATE signing_keys SET state = 'retired', retired_at = $1, expires_at = $2 WHERE kid = $3 AND state IN ('active', 'pending')")
                .bind(now)
                .bind(keep_until)
                .bind(&key.kid)
                .execute(&mut *tx)
                .await?;
            changes.done.push(format!(
                "key {} ({}) retired: the server now signs with {alg}",
                key.kid, key.alg
            ));
        }

        for each in [alg] {
            let active = keys
                .iter()
                .find(|k| k.alg == each && k.state == KeyState::Active);
            let mut pending: Vec<&KeyInfo> = keys
                .iter()
                .filter(|k| k.alg == each && k.state == KeyState::Pending)
                .collect();
            pending.sort_by_key(|k| (k.activate_after, k.created_at));
            let ready = pending.iter().find(|k| k.activate_after <= now);
            match (active, ready) {
                (_, Some(next)) => {
                    self.promote_kid(&mut tx, active, &next.kid, now, periods)
                        .await?;
                    changes
                        .done
                        .push(format!("key {} now signs {each}", next.kid));
                }
                (None, None) if each == alg => {
                    // No key can sign: the first start, or the active key was revoked. A
                    // pending key is used early if there is one; otherwise a new key signs
                    // at once, and verifiers fetch it on the unknown kid.
                    if let Some(next) = pending.first() {
                        self.promote_kid(&mut tx, None, &next.kid, now, periods)
                            .await?;
                        changes.done.push(format!(
                            "no signing key for {each}: pending key {} activated early",
                            next.kid
                        ));
                    } else if let Some(jwk) = &fresh {
                        let kid = self.insert(&mut tx, jwk, "generated", now, now).await?;
                        self.promote_kid(&mut tx, None, &kid, now, periods).await?;
                        changes.done.push(format!(
                            "no signing key for {each}: created {kid} and activated it"
                        ));
                    }
                }
                (Some(current), None) if each == alg && pending.is_empty() => {
                    let due = current.activated_at.unwrap_or(current.created_at)
                        + secs(self.config.rotation_interval);
                    if now >= due - periods.prepublish {
                        if let Some(jwk) = &fresh {
                            let activate_after = due.max(now + periods.prepublish);
                            let kid = self
                                .insert(&mut tx, jwk, "generated", now, activate_after)
                                .await?;
                            changes.done.push(format!(
                                "scheduled rotation: key {kid} published, signs from {activate_after}"
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        tx.commit().await?;
        self.reload().await?;
        Ok(changes)
    }

    /// Publishes a new key: it signs after the pre-publication period, or at once with `now`
    /// (verifiers then fetch it on the unknown kid).
    pub async fn rotate(&self, immediately: bool) -> Result<String> {
        let jwk = Jwk::generate(self.config.alg, None)?;
        self.add(jwk, "generated", immediately).await
    }

    /// Imports a private key (any form `tessera_jose::pem::parse_key` reads) as a new key.
    pub async fn import(
        &self,
        mut jwk: Jwk,
        alg: Option<Algorithm>,
        immediately: bool,
    ) -> Result<String> {
        if !jwk.is_private() || jwk.is_symmetric() {
            return Err(Error::Invalid(
                "import needs an asymmetric private key (RSA, EC or Ed25519)".into(),
            ));
        }
        let alg = alg.or(jwk.alg()).unwrap_or_else(|| jwk.default_algorithm());
        if alg != self.config.alg && alg.family() != self.config.alg.family() {
            return Err(Error::Invalid(format!(
                "the server signs with {}; this is a key for {alg}, which cannot sign {}",
                self.config.alg, self.config.alg
            )));
        }
        if alg != self.config.alg {
            return Err(Error::Invalid(format!(
                "the server signs with {}; this key would be for {alg} (pass --alg {} if the key allows it)",
                self.config.alg, self.config.alg
            )));
        }
        jwk.set_alg(alg)?;
        // Prove the key signs before storing it.
        SigningKey::from_jwk(&jwk, None)?;
        self.add(jwk, "imported", immediately).await
    }

    async fn add(&self, mut jwk: Jwk, source: &str, immediately: bool) -> Result<String> {
        jwk.set_use_signature();
        let mut tx = self.lock().await?;
        let now = self.clock.now();
        let periods = self.periods(&mut *tx).await?;
        let activate_after = if immediately {
            now
        } else {
            now + periods.prepublish
        };
        let kid = self
            .insert(&mut tx, &jwk, source, now, activate_after)
            .await?;
        if immediately {
            let alg = jwk.alg().unwrap_or(self.config.alg);
            let keys = load_live(&mut tx).await?;
            let active = keys
                .iter()
                .find(|k| k.alg == alg && k.state == KeyState::Active);
            self.promote_kid(&mut tx, active, &kid, now, periods)
                .await?;
        }
        tx.commit().await?;
        self.reload().await?;
        Ok(kid)
    }

    /// Removes a key from the JWKS at once and destroys its private material. If it was
    /// signing, a new key is created and signs immediately, in the same transaction, so no
    /// moment exists (even after a crash) with the revoked key gone and no signer.
    pub async fn revoke(&self, kid: &str) -> Result<Option<String>> {
        let info = self.key_info(self.db.pool(), kid).await?;
        // RSA generation is slow: make the successor before taking the lock if it will
        // probably be needed.
        let mut fresh = if info.state == KeyState::Active && info.alg == self.config.alg {
            Some(Jwk::generate(self.config.alg, None)?)
        } else {
            None
        };
        let mut tx = self.lock().await?;
        let now = self.clock.now();
        let periods = self.periods(&mut *tx).await?;
        let info = self.key_info(&mut *tx, kid).await?;
        if matches!(info.state, KeyState::Revoked | KeyState::Expired) {
            return Err(Error::Invalid(format!(
                "key {kid} is already {}",
                info.state.as_str()
            )));
        }
        sqlx::query("UPDATE signing_keys SET state = 'revoked', private_sealed = NULL, retired_at = $1, expires_at = $2 WHERE kid = $3")
            .bind(now)
            .bind(now)
            .bind(kid)
            .execute(&mut *tx)
            .await?;
        let replacement = if info.state == KeyState::Active && info.alg == self.config.alg {
            // Signing must go on; the successor has not been pre-published.
            let jwk = match fresh.take() {
                Some(jwk) => jwk,
                None => Jwk::generate(self.config.alg, None)?,
            };
            let next = self.insert(&mut tx, &jwk, "generated", now, now).await?;
            self.promote_kid(&mut tx, None, &next, now, periods).await?;
            Some(next)
        } else {
            None
        };
        tx.commit().await?;
        self.reload().await?;
        Ok(replacement)
    }

    async fn key_info<'e, E>(&self, executor: E, kid: &str) -> Result<KeyInfo>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let row = sqlx::query(&format!("{SELECT_KEYS} WHERE kid = $1"))
            .bind(kid)
            .fetch_optional(executor)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no key with kid {kid}")))?;
        KeyInfo::from_row(&row)
    }

    /// Rereads the published keys; rebuilds the JWKS and signer only if something changed.
    pub async fn reload(&self) -> Result<()> {
        let rows = sqlx::query(
            "SELECT kid, alg, state, source, created_at, activate_after, activated_at, retired_at, expires_at, public_jwk, private_sealed FROM signing_keys WHERE state IN ('pending', 'active', 'retired') ORDER BY created_at, kid",
        )
        .fetch_all(self.db.pool())
        .await?;
        let mut infos = Vec::with_capacity(rows.len());
        let mut fingerprint = String::new();
        for row in &rows {
            let info = KeyInfo::from_row(row)?;
            fingerprint.push_str(&info.kid);
            fingerprint.push(':');
            fingerprint.push_str(info.state.as_str());
            fingerprint.push(';');
            infos.push(info);
        }
        if self.published.load().fingerprint == fingerprint {
            return Ok(());
        }
        let current = self.published.load_full();
        let mut public = Vec::with_capacity(rows.len());
        let mut signer = None;
        for (row, info) in rows.iter().zip(&infos) {
            let text: String = row.try_get("public_jwk")?;
            public.push(Jwk::from_json(&text)?);
            if info.state == KeyState::Active && info.alg == self.config.alg {
                let reuse = current
                    .signer
                    .as_ref()
                    .filter(|s| s.kid() == Some(info.kid.as_str()))
                    .cloned();
                signer = match reuse {
                    Some(s) => Some(s),
                    None => {
                        let sealed: Option<String> = row.try_get("private_sealed")?;
                        let sealed = sealed.ok_or_else(|| {
                            Error::Seal(format!("active key {} has no private material", info.kid))
                        })?;
                        let plain = self.master.open(&info.kid, &sealed)?;
                        let text = std::str::from_utf8(&plain)
                            .map_err(|_| Error::Seal(format!("key {} is not UTF-8", info.kid)))?;
                        let jwk = Jwk::from_json(text)?;
                        Some(Arc::new(SigningKey::from_jwk(&jwk, Some(info.alg))?))
                    }
                };
            }
        }
        let set = JwkSet::new(public);
        let body = Bytes::from(set.to_json());
        let hash = digest::digest(&digest::SHA256, &body);
        let etag = HeaderValue::from_str(&format!(
            "\"{}\"",
            URL_SAFE_NO_PAD.encode(&hash.as_ref()[..16])
        ))
        .map_err(|_| Error::Invalid("etag".into()))?;
        self.published.store(Arc::new(Published {
            signer,
            jwks_body: body,
            etag,
            verifier: KeySet::from_jwks(&set),
            keys: infos,
            fingerprint,
        }));
        Ok(())
    }

    async fn needs_new_key(&self, alg: Algorithm) -> Result<bool> {
        let now = self.clock.now();
        let rows = sqlx::query(&format!(
            "{SELECT_KEYS} WHERE alg = $1 AND state IN ('pending', 'active')"
        ))
        .bind(alg.as_str())
        .fetch_all(self.db.pool())
        .await?;
        let keys: Vec<KeyInfo> = rows.iter().map(KeyInfo::from_row).collect::<Result<_>>()?;
        let active = keys.iter().find(|k| k.state == KeyState::Active);
        let pending = keys.iter().any(|k| k.state == KeyState::Pending);
        Ok(match active {
            None => !pending,
            Some(current) => {
                let due = current.activated_at.unwrap_or(current.created_at)
                    + secs(self.config.rotation_interval);
                !pending && now >= due - self.periods(self.db.pool()).await?.prepublish
            }
        })
    }

    /// Records this server's lifecycle periods in the database, so that admin commands
    /// run elsewhere (with their own, possibly default, configuration) keep keys published
    /// and pre-published at least as long as the server needs.
    ///
    /// Replicas may run with different settings: the longest of them is kept (the safe
    /// direction: keys published longer), so one started with shorter periods does not
    /// override another's longer ones.
    pub async fn record_periods(&self) -> Result<()> {
        let periods = self.periods(self.db.pool()).await?;
        put_setting(
            self.db.pool(),
            PERIODS_SETTING,
            &format!("keep={};prepublish={}", periods.keep, periods.prepublish),
        )
        .await
    }

    /// The periods to apply: the longer of this process's and the recorded ones.
    async fn periods<'e, E>(&self, executor: E) -> Result<Periods>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        applied_periods(executor, &self.config).await
    }

    /// Opens a transaction holding the maintenance lock: an UPDATE of the single lock row,
    /// which takes a row lock on PostgreSQL and the write lock on SQLite, until commit.
    async fn lock(&self) -> Result<Transaction<'static, Any>> {
        let mut tx = self.db.pool().begin().await?;
        sqlx::query("UPDATE maintenance_lock SET holder = $1, taken_at = $2 WHERE id = 1")
            .bind(format!("pid {}", std::process::id()))
            .bind(self.clock.now())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    async fn insert(
        &self,
        tx: &mut Transaction<'static, Any>,
        jwk: &Jwk,
        source: &str,
        now: i64,
        activate_after: i64,
    ) -> Result<String> {
        let alg = jwk.alg().unwrap_or(self.config.alg);
        let kid = thumbprint(jwk);
        let mut private = jwk.clone();
        private.set_kid(kid.clone());
        private.set_use_signature();
        let sealed = self.master.seal(&kid, private.to_json().as_bytes())?;
        let public = private.to_public().to_json();
        let exists = sqlx::query("SELECT kid FROM signing_keys WHERE kid = $1")
            .bind(&kid)
            .fetch_optional(&mut **tx)
            .await?;
        if exists.is_some() {
            return Err(Error::Invalid(format!("key {kid} is already known")));
        }
        sqlx::query("INSERT INTO signing_keys (kid, alg, state, public_jwk, private_sealed, source, created_at, activate_after) VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7)")
            .bind(&kid)
            .bind(alg.as_str())
            .bind(public)
            .bind(sealed)
            .bind(source)
            .bind(now)
            .bind(activate_after)
            .execute(&mut **tx)
            .await?;
        Ok(kid)
    }

    async fn promote_kid(
        &self,
        tx: &mut Transaction<'static, Any>,
        active: Option<&KeyInfo>,
        kid: &str,
        now: i64,
        periods: Periods,
    ) -> Result<()> {
        if let Some(old) = active {
            // Retire first: the unique index allows one active key per algorithm.
            let keep_until = now + periods.keep;
            sqlx::query("UPDATE signing_keys SET state = 'retired', retired_at = $1, expires_at = $2 WHERE kid = $3 AND state = 'active'")
                .bind(now)
                .bind(keep_until)
                .bind(&old.kid)
                .execute(&mut **tx)
                .await?;
        }
        sqlx::query("UPDATE signing_keys SET state = 'active', activated_at = $1 WHERE kid = $2 AND state = 'pending'")
            .bind(now)
            .bind(kid)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// Every key in the database, newest first (needs no master key), for `tessera key list`.
pub async fn list_keys(db: &Db) -> Result<Vec<KeyInfo>> {
    let rows = sqlx::query(&format!("{SELECT_KEYS} ORDER BY created_at DESC, kid"))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(KeyInfo::from_row).collect()
}

async fn load_live(tx: &mut Transaction<'static, Any>) -> Result<Vec<KeyInfo>> {
    let rows = sqlx::query(&format!(
        "{SELECT_KEYS} WHERE state IN ('pending', 'active', 'retired') ORDER BY created_at, kid"
    ))
    .fetch_all(&mut **tx)
    .await?;
    rows.iter().map(KeyInfo::from_row).collect()
}

/// How long a token issued now can stay valid (token lifetime plus leeway), on the longer
/// of this process's configuration and the one the server recorded.
pub(crate) async fn keep_seconds(db: &Db, config: &Config) -> Result<i64> {
    Ok(applied_periods(db.pool(), config).await?.keep)
}

/// The longer of `config`'s periods and the recorded ones.
async fn applied_periods<'e, E>(executor: E, config: &Config) -> Result<Periods>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let own = Periods::of(config);
    let stored = setting(executor, PERIODS_SETTING)
        .await?
        .and_then(|text| Periods::parse(&text));
    Ok(match stored {
        Some(s) => Periods {
            keep: own.keep.max(s.keep),
            prepublish: own.prepublish.max(s.prepublish),
        },
        None => own,
    })
}

/// The `settings` row with the server's lifecycle periods.
const PERIODS_SETTING: &str = "key_lifecycle";

/// How long keys stay published after they stop signing, and before they start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Periods {
    /// Seconds a retired key stays published: the token lifetime plus leeway.
    keep: i64,
    /// Seconds a new key is published before it signs.
    prepublish: i64,
}

impl Periods {
    fn of(config: &Config) -> Periods {
        Periods {
            keep: secs(config.token_ttl).saturating_add(secs(config.leeway)),
            prepublish: secs(config.prepublish),
        }
    }

    fn parse(text: &str) -> Option<Periods> {
        let mut keep = None;
        let mut prepublish = None;
        for part in text.split(';') {
            match part.split_once('=')? {
                ("keep", v) => keep = v.parse::<i64>().ok().filter(|v| *v >= 0),
                ("prepublish", v) => prepublish = v.parse::<i64>().ok().filter(|v| *v >= 0),
                _ => {}
            }
        }
        Some(Periods {
            keep: keep?,
            prepublish: prepublish?,
        })
    }
}

fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX / 4)
}

fn empty_published() -> Published {
    Published {
        signer: None,
        jwks_body: Bytes::from_static(br#"{"keys":[]}"#),
        etag: HeaderValue::from_static("\"empty\""),
        verifier: KeySet::default(),
        keys: Vec::new(),
        fingerprint: String::from("-"),
    }
}
