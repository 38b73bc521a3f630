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

mod plan;

use std::sync::Arc;

use arc_swap::ArcSwap;
use aws_lc_rs::digest;
use axum::http::HeaderValue;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use tessera_contract::SharedClock;
use tessera_jose::{thumbprint, Algorithm, Jwk, JwkSet, KeySet, SigningKey};

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
    /// The RS256 key that signs ID tokens and logout tokens (the signer itself when the
    /// configured algorithm is RS256).
    pub id_signer: Option<Arc<SigningKey>>,
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

/// What a lifecycle change did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// One line per change, for the log and the admin commands.
    pub done: Vec<String>,
    /// The kid of the key the change created or imported, if any.
    pub new_kid: Option<String>,
    /// The keys that started signing.
    pub now_signing: Vec<String>,
}

/// Owns the key lifecycle and the published JWKS: reads the keys under the maintenance
/// lock, asks the pure planner (`keys/plan.rs`) what to change, applies it in the same transaction, and
/// republishes.
pub struct KeyManager {
    db: Db,
    master: Arc<MasterKey>,
    clock: SharedClock,
    config: Arc<Config>,
    /// The algorithms that each keep one active key, the first the access tokens' one.
    algorithms: Vec<Algorithm>,
    published: ArcSwap<Published>,
}

const SELECT_KEYS: &str = "SELECT kid, alg, state, source, created_at, activate_after, activated_at, retired_at, expires_at FROM signing_keys";

impl KeyManager {
    /// A manager with nothing published yet; call [`KeyManager::maintain`] before serving.
    /// `algorithms` are those that each keep an active key, the first the one that signs
    /// access tokens.
    pub(crate) fn new(
        db: Db,
        master: Arc<MasterKey>,
        clock: SharedClock,
        config: Arc<Config>,
        algorithms: Vec<Algorithm>,
    ) -> KeyManager {
        KeyManager {
            db,
            master,
            clock,
            config,
            algorithms,
            published: ArcSwap::from_pointee(empty_published()),
        }
    }

    /// The current published state (lock-free).
    pub fn published(&self) -> Arc<Published> {
        self.published.load_full()
    }

    /// The algorithm access tokens are signed with.
    pub(crate) fn signing_algorithm(&self) -> Algorithm {
        self.algorithms.first().copied().unwrap_or(self.config.alg)
    }

    /// Applies the scheduled lifecycle rules (a first key, promotions, rotations due,
    /// expiries; the rules are in `keys/plan.rs`) and reloads what is published.
    pub async fn maintain(&self) -> Result<Changes> {
        self.run(&plan::Request::Maintain, None).await
    }

    /// Publishes a new key of the signing algorithm: it signs after the pre-publication
    /// period, or at once with `immediately` (verifiers then fetch it on the unknown kid).
    pub(crate) async fn rotate(&self, immediately: bool) -> Result<Changes> {
        let alg = self.signing_algorithm();
        let jwk = Jwk::generate(alg, None)?;
        let request = plan::Request::Add { alg, immediately };
        self.run(&request, Some(New::Generated(jwk))).await
    }

    /// Imports a private key as a new key of the signing algorithm.
    pub(crate) async fn import(
        &self,
        mut jwk: Jwk,
        alg: Option<Algorithm>,
        immediately: bool,
    ) -> Result<Changes> {
        if !jwk.is_private() || jwk.is_symmetric() {
            return Err(Error::Invalid(
                "import needs an asymmetric private key (RSA, EC or Ed25519)".into(),
            ));
        }
        let signing = self.signing_algorithm();
        let alg = alg.or(jwk.alg()).unwrap_or_else(|| jwk.default_algorithm());
        if alg != signing && alg.family() != signing.family() {
            return Err(Error::Invalid(format!(
                "the server signs with {signing}; this is a key for {alg}, which cannot sign {signing}"
            )));
        }
        if alg != signing {
            return Err(Error::Invalid(format!(
                "the server signs with {signing}; this key would be for {alg} (pass --alg {signing} if the key allows it)"
            )));
        }
        jwk.set_alg(alg)?;
        // Prove the key signs before storing it.
        SigningKey::from_jwk(&jwk, None)?;
        let request = plan::Request::Add { alg, immediately };
        self.run(&request, Some(New::Imported(jwk))).await
    }

    /// Removes a key from the JWKS at once and destroys its private material. If it was
    /// signing, a published pending key takes over, or else a new key signs at once, in
    /// the same transaction: no moment exists (even after a crash) with no signer.
    pub(crate) async fn revoke(&self, kid: &str) -> Result<Changes> {
        self.run(
            &plan::Request::Revoke {
                kid: kid.to_owned(),
            },
            None,
        )
        .await
    }

    /// Plans `request` and applies the plan under the maintenance lock. A new key the plan
    /// needs is generated before the lock is taken (RSA generation is slow), from a first
    /// plan on the keys read without the lock; the plan that counts is made again under it.
    async fn run(&self, request: &plan::Request, supplied: Option<New>) -> Result<Changes> {
        // The new keys, one per algorithm the plan inserts for.
        let mut fresh: Vec<(Algorithm, New)> = Vec::new();
        if let Some(new) = supplied {
            fresh.push((new.algorithm(request), new));
        } else {
            let keys = list_keys(&self.db).await?;
            let policy = self.policy(self.db.pool()).await?;
            let draft =
                plan::plan(&keys, self.clock.unix_secs(), &policy, request).map_err(refused)?;
            if draft.is_empty() {
                // Nothing is due: no lock (a write on SQLite) on every scheduled pass.
                self.reload().await?;
                return Ok(Changes::default());
            }
            self.generate_for(&draft, &mut fresh)?;
        }
        let mut tx = self.lock().await?;
        let now = self.clock.unix_secs();
        let policy = self.policy(&mut *tx).await?;
        let keys = load_all(&mut tx).await?;
        let actions = plan::plan(&keys, now, &policy, request).map_err(refused)?;
        // The keys may have changed between the two plans (another replica): rare, and the
        // lock is then held for a generation.
        self.generate_for(&actions, &mut fresh)?;
        let mut changes = Changes::default();
        let mut inserted: Vec<(Algorithm, String)> = Vec::new();
        for action in &actions {
            self.apply(&mut tx, action, now, &fresh, &mut inserted, &mut changes)
                .await?;
            changes.done.push(match action {
                plan::Action::Insert { alg, .. } => {
                    let kid = inserted
                        .iter()
                        .find(|(a, _)| a == alg)
                        .map(|(_, k)| k.as_str());
                    format!("{action}: key {}", kid.unwrap_or("-"))
                }
                _ => action.to_string(),
            });
        }
        changes.new_kid = inserted.into_iter().next().map(|(_, kid)| kid);
        tx.commit().await?;
        self.reload().await?;
        Ok(changes)
    }

    /// Generates a key for each algorithm the plan inserts one for and `fresh` has none.
    fn generate_for(
        &self,
        actions: &[plan::Action],
        fresh: &mut Vec<(Algorithm, New)>,
    ) -> Result<()> {
        for action in actions {
            if let plan::Action::Insert { alg, .. } = action {
                if !fresh.iter().any(|(a, _)| a == alg) {
                    fresh.push((*alg, New::Generated(Jwk::generate(*alg, None)?)));
                }
            }
        }
        Ok(())
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'static, Any>,
        action: &plan::Action,
        now: i64,
        fresh: &[(Algorithm, New)],
        inserted: &mut Vec<(Algorithm, String)>,
        changes: &mut Changes,
    ) -> Result<()> {
        match action {
            plan::Action::Insert {
                alg,
                activate_after,
            } => {
                let (_, new) = fresh
                    .iter()
                    .find(|(a, _)| a == alg)
                    .ok_or_else(|| Error::Invalid(format!("no new {alg} key to insert")))?;
                if inserted.iter().any(|(a, _)| a == alg) {
                    return Err(Error::Invalid(format!(
                        "a plan inserts one {alg} key at most"
                    )));
                }
                let kid = self
                    .insert(tx, new.jwk(), *alg, new.source(), now, *activate_after)
                    .await?;
                inserted.push((*alg, kid));
            }
            plan::Action::Retire { kid, expires_at } => {
                sqlx::query("UPDATE signing_keys SET state = 'retired', retired_at = $1, expires_at = $2 WHERE kid = $3 AND state IN ('active', 'pending')")
                    .bind(now)
                    .bind(*expires_at)
                    .bind(kid)
                    .execute(&mut **tx)
                    .await?;
            }
            plan::Action::Activate { key, .. } => {
                let kid = match key {
                    plan::KeyRef::Kid(kid) => kid.clone(),
                    plan::KeyRef::New(alg) => inserted
                        .iter()
                        .find(|(a, _)| a == alg)
                        .map(|(_, kid)| kid.clone())
                        .ok_or_else(|| Error::Invalid("activating a key not inserted".into()))?,
                };
                sqlx::query("UPDATE signing_keys SET state = 'active', activated_at = $1 WHERE kid = $2 AND state = 'pending'")
                    .bind(now)
                    .bind(&kid)
                    .execute(&mut **tx)
                    .await?;
                changes.now_signing.push(kid);
            }
            plan::Action::Expire { kid } => {
                sqlx::query("UPDATE signing_keys SET state = 'expired', private_sealed = NULL WHERE kid = $1 AND state = 'retired'")
                    .bind(kid)
                    .execute(&mut **tx)
                    .await?;
            }
            plan::Action::Revoke { kid } => {
                sqlx::query("UPDATE signing_keys SET state = 'revoked', private_sealed = NULL, retired_at = $1, expires_at = $1 WHERE kid = $2")
                    .bind(now)
                    .bind(kid)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(())
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
        let signing_alg = self.signing_algorithm();
        let mut public = Vec::with_capacity(rows.len());
        let mut signer = None;
        let mut id_signer = None;
        for (row, info) in rows.iter().zip(&infos) {
            let text: String = row.try_get("public_jwk")?;
            public.push(Jwk::from_json(&text)?);
            if info.state != KeyState::Active {
                continue;
            }
            let is_signer = info.alg == signing_alg;
            let is_id_signer = info.alg == Algorithm::RS256;
            if !is_signer && !is_id_signer {
                continue;
            }
            let reuse = [&current.signer, &current.id_signer]
                .into_iter()
                .flatten()
                .find(|s| s.kid() == Some(info.kid.as_str()))
                .cloned();
            let key = match reuse {
                Some(s) => s,
                None => {
                    let sealed: Option<String> = row.try_get("private_sealed")?;
                    let sealed = sealed.ok_or_else(|| {
                        Error::Seal(format!("active key {} has no private material", info.kid))
                    })?;
                    let plain = self.master.open(&info.kid, &sealed)?;
                    let text = std::str::from_utf8(&plain)
                        .map_err(|_| Error::Seal(format!("key {} is not UTF-8", info.kid)))?;
                    let jwk = Jwk::from_json(text)?;
                    Arc::new(SigningKey::from_jwk(&jwk, Some(info.alg))?)
                }
            };
            if is_signer {
                signer = Some(key.clone());
            }
            if is_id_signer {
                id_signer = Some(key);
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
            id_signer,
            jwks_body: body,
            etag,
            verifier: KeySet::from_jwks(&set),
            keys: infos,
            fingerprint,
        }));
        Ok(())
    }

    /// Records this server's lifecycle settings in the database, so that admin commands
    /// run elsewhere (with their own, possibly default, configuration) keep keys published
    /// and pre-published at least as long as the server needs, and rotate the algorithms
    /// the server signs with.
    ///
    /// Replicas may run with different periods: the longest of them is kept (the safe
    /// direction: keys published longer), so one started with shorter periods does not
    /// override another's longer ones.
    pub(crate) async fn record_policy(&self) -> Result<()> {
        let periods = self.periods(self.db.pool()).await?;
        put_setting(
            self.db.pool(),
            PERIODS_SETTING,
            &format!("keep={};prepublish={}", periods.keep, periods.prepublish),
        )
        .await?;
        let algorithms: Vec<&str> = self.algorithms.iter().map(|a| a.as_str()).collect();
        put_setting(self.db.pool(), ALGORITHMS_SETTING, &algorithms.join(",")).await
    }

    /// The lifecycle policy now: this process's algorithms and rotation interval, and the
    /// longer of its periods and the recorded ones.
    async fn policy<'e, E>(&self, executor: E) -> Result<plan::Policy>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let periods = self.periods(executor).await?;
        Ok(plan::Policy {
            algorithms: self.algorithms.clone(),
            rotation_interval: secs(self.config.rotation_interval),
            keep: periods.keep,
            prepublish: periods.prepublish,
        })
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
        let mut tx = self.db.begin().await?;
        sqlx::query("UPDATE maintenance_lock SET holder = $1, taken_at = $2 WHERE id = 1")
            .bind(format!("pid {}", std::process::id()))
            .bind(self.clock.unix_secs())
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    async fn insert(
        &self,
        tx: &mut Transaction<'static, Any>,
        jwk: &Jwk,
        alg: Algorithm,
        source: &str,
        now: i64,
        activate_after: i64,
    ) -> Result<String> {
        let kid = thumbprint(jwk);
        let mut private = jwk.clone();
        private.set_kid(kid.clone());
        private.set_alg(alg)?;
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
}

/// The key a plan inserts, made by the caller.
enum New {
    /// Generated for a rotation or a first key.
    Generated(Jwk),
    /// Imported by an operator.
    Imported(Jwk),
}

impl New {
    /// The algorithm the request adds this key for.
    fn algorithm(&self, request: &plan::Request) -> Algorithm {
        match request {
            plan::Request::Add { alg, .. } => *alg,
            _ => self.jwk().alg().unwrap_or(Algorithm::RS256),
        }
    }

    fn jwk(&self) -> &Jwk {
        match self {
            New::Generated(jwk) | New::Imported(jwk) => jwk,
        }
    }

    fn source(&self) -> &'static str {
        match self {
            New::Generated(_) => "generated",
            New::Imported(_) => "imported",
        }
    }
}

fn refused(refusal: plan::Refusal) -> Error {
    match refusal {
        plan::Refusal::UnknownKid(kid) => Error::NotFound(format!("no key with kid {kid}")),
        plan::Refusal::AlreadyGone { kid, state } => {
            Error::Invalid(format!("key {kid} is already {}", state.as_str()))
        }
    }
}

/// The algorithms the server recorded that it signs with, if it did.
pub(crate) async fn recorded_algorithms(db: &Db) -> Result<Option<Vec<Algorithm>>> {
    let Some(text) = setting(db.pool(), ALGORITHMS_SETTING).await? else {
        return Ok(None);
    };
    let algorithms = text
        .split(',')
        .map(|name| {
            name.parse::<Algorithm>()
                .map_err(|e| Error::Invalid(format!("recorded signing algorithm: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((!algorithms.is_empty()).then_some(algorithms))
}

/// Every key in the database, newest first (needs no master key), for `tessera key list`.
pub(crate) async fn list_keys(db: &Db) -> Result<Vec<KeyInfo>> {
    let rows = sqlx::query(&format!("{SELECT_KEYS} ORDER BY created_at DESC, kid"))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(KeyInfo::from_row).collect()
}

async fn load_all(tx: &mut Transaction<'static, Any>) -> Result<Vec<KeyInfo>> {
    let rows = sqlx::query(&format!("{SELECT_KEYS} ORDER BY created_at, kid"))
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
/// The `settings` row with the algorithms the server signs with.
const ALGORITHMS_SETTING: &str = "signing_algorithms";

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
        id_signer: None,
        jwks_body: Bytes::from_static(br#"{"keys":[]}"#),
        etag: HeaderValue::from_static("\"empty\""),
        verifier: KeySet::default(),
        keys: Vec::new(),
        fingerprint: String::from("-"),
    }
}
