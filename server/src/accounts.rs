//! Users (argon2id passwords) and OAuth clients (high-entropy secrets, SHA-256 at rest).

use std::collections::HashMap;
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm as Argon2Algorithm, Argon2, Block, Params, Version};
use aws_lc_rs::constant_time;
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::db::Db;
use crate::error::{Error, Result};
use tessera_contract::SharedClock;

/// OWASP's argon2id setting of 12 MiB, 3 passes, 1 lane: memory-hard, and light enough
/// that concurrent logins stay within the server's memory budget.
fn argon2() -> Argon2<'static> {
    // These parameters are valid by construction (checked by a unit test).
    let params = Params::new(12 * 1024, 3, 1, None).unwrap_or_default();
    Argon2::new(Argon2Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with argon2id and a random salt (PHC string).
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Invalid(format!("cannot hash password: {e}")))
}

/// A user as stored.
#[derive(Debug, Clone)]
pub struct User {
    /// Opaque, stable identifier: the token's `sub`. Never the name, which a later user may
    /// take after this one is gone; never equal to a client id.
    pub subject: String,
    /// Login name, in tokens as `preferred_username`.
    pub name: String,
    /// The `role` claim.
    pub role: String,
    /// Disabled users cannot log in.
    pub disabled: bool,
    /// Creation time.
    pub created_at: i64,
    /// The `email` claim (scope `email`).
    pub email: Option<String>,
    /// The `name` claim (scope `profile`): the full name.
    pub display_name: Option<String>,
}

impl User {
    fn from_row(r: &sqlx::any::AnyRow) -> std::result::Result<User, sqlx::Error> {
        Ok(User {
            subject: r.try_get("subject")?,
            name: r.try_get("name")?,
            role: r.try_get("role")?,
            disabled: r.try_get::<i64, _>("disabled")? != 0,
            created_at: r.try_get("created_at")?,
            email: r.try_get("email")?,
            display_name: r.try_get("display_name")?,
        })
    }
}

/// What `tessera user add` registers beside the name, role and password.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// The `email` claim.
    pub email: Option<String>,
    /// The `name` claim.
    pub display_name: Option<String>,
}

impl Profile {
    fn validate(&self) -> Result<()> {
        if let Some(email) = &self.email {
            let ok = email.len() <= 254
                && email.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && domain.contains('.') && !domain.starts_with('.')
                })
                && !email.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok {
                return Err(Error::Invalid(format!(
                    "invalid email address `{}`",
                    tessera_jose::shown(email)
                )));
            }
        }
        if let Some(name) = &self.display_name {
            if name.trim().is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
                return Err(Error::Invalid(
                    "a full name must be 1-200 characters without control characters".into(),
                ));
            }
        }
        Ok(())
    }
}

/// A new user subject: 128 random bits, base64url.
pub(crate) fn new_subject() -> Result<String> {
    random_token(16)
}

/// Password hashing and checks on a fixed set of worker threads (one per core), each
/// reusing one argon2 memory buffer: memory stays at `cores x 12 MiB` however many logins
/// arrive, and a burst queues instead of spawning threads.
#[derive(Clone)]
pub struct PasswordChecker {
    jobs: tokio::sync::mpsc::Sender<Job>,
}

enum Job {
    /// Check a password against a PHC string (`None`: the dummy hash).
    Verify {
        password: Zeroizing<String>,
        phc: Option<String>,
        reply: tokio::sync::oneshot::Sender<bool>,
    },
    /// Hash a password into a PHC string.
    Hash {
        password: Zeroizing<String>,
        reply: tokio::sync::oneshot::Sender<Option<String>>,
    },
}

impl PasswordChecker {
    /// Starts the workers.
    pub fn new() -> Result<PasswordChecker> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let (jobs, receiver) = tokio::sync::mpsc::channel::<Job>(1024);
        let receiver = Arc::new(std::sync::Mutex::new(receiver));
        // A hash of a random password, checked when the user does not exist so that an
        // unknown user and a wrong password take the same time. Made before any request
        // (so the first unknown user is not the one login that takes twice as long), and
        // proven to verify: a dummy that failed to parse would answer at once and tell
        // unknown users apart.
        let dummy = Arc::new(dummy_hash()?);
        for n in 0..cores {
            let receiver = receiver.clone();
            let dummy = dummy.clone();
            std::thread::Builder::new()
                .name(format!("tessera-argon2-{n}"))
                .spawn(move || {
                    let mut memory: Vec<Block> = Vec::new();
                    loop {
                        let job = match receiver.lock() {
                            Ok(mut rx) => rx.blocking_recv(),
                            Err(_) => None,
                        };
                        match job {
                            None => return,
                            // Nobody waits for it any more (the request timed out or the
                            // client went away): skip the hash, or a flood would leave
                            // the queue full of work whose answer nobody reads.
                            Some(Job::Verify { reply, .. }) if reply.is_closed() => {}
                            Some(Job::Verify {
                                password,
                                phc,
                                reply,
                            }) => {
                                let ok = match phc {
                                    Some(phc) => verify_with_memory(&password, &phc, &mut memory),
                                    None => {
                                        let _ = verify_with_memory(&password, &dummy, &mut memory);
                                        false
                                    }
                                };
                                let _ = reply.send(ok);
                            }
                            Some(Job::Hash { password, reply }) => {
                                let _ = reply.send(hash_with_memory(&password, &mut memory));
                            }
                        }
                    }
                })
                .map_err(|e| Error::Invalid(format!("cannot start password workers: {e}")))?;
        }
        Ok(PasswordChecker { jobs })
    }

    /// Checks `password` against `stored` (or the dummy hash when `None`), always paying
    /// the full argon2id cost. Returns true only for a stored hash that matches.
    pub async fn check(&self, password: String, stored: Option<String>) -> Result<bool> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Job::Verify {
            password: Zeroizing::new(password),
            phc: stored,
            reply,
        })
        .await?;
        answer
            .await
            .map_err(|_| Error::Invalid("password worker failed".into()))
    }

    /// Hashes a password with argon2id on a worker.
    pub async fn hash(&self, password: &str) -> Result<String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Job::Hash {
            password: Zeroizing::new(password.to_owned()),
            reply,
        })
        .await?;
        answer
            .await
            .ok()
            .flatten()
            .ok_or_else(|| Error::Invalid("password hashing failed".into()))
    }

    async fn send(&self, job: Job) -> Result<()> {
        self.jobs
            .send(job)
            .await
            .map_err(|_| Error::Invalid("password workers stopped".into()))
    }
}

/// The hash checked for unknown users: of a random password, and verified once, so that
/// checking it costs the full argon2id work.
fn dummy_hash() -> Result<String> {
    let secret = random_token(16)?;
    let mut memory = Vec::new();
    let phc = hash_with_memory(&secret, &mut memory)
        .ok_or_else(|| Error::Invalid("cannot make the dummy password hash".into()))?;
    if !verify_with_memory(&secret, &phc, &mut memory) {
        return Err(Error::Invalid(
            "the dummy password hash does not verify".into(),
        ));
    }
    Ok(phc)
}

/// Hashes into a PHC string with the OWASP parameters, using the caller's memory buffer.
fn hash_with_memory(password: &str, memory: &mut Vec<Block>) -> Option<String> {
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).ok()?;
    let argon = argon2();
    let blocks = argon.params().block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = [0u8; 32];
    argon
        .hash_password_into_with_memory(
            password.as_bytes(),
            salt_bytes,
            &mut out,
            &mut memory[..blocks],
        )
        .ok()?;
    let p = argon.params();
    Some(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        p.m_cost(),
        p.t_cost(),
        p.p_cost(),
        salt.as_str(),
        STANDARD_NO_PAD.encode(out)
    ))
}

/// Verifies a PHC argon2id string using (and growing if needed) the caller's memory buffer.
fn verify_with_memory(password: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return false;
    }
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(&parsed), parsed.salt, parsed.hash)
    else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let argon = Argon2::new(Argon2Algorithm::Argon2id, Version::V0x13, params);
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    if argon
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_err()
    {
        return false;
    }
    constant_time::verify_slices_are_equal(&out, expected.as_bytes()).is_ok()
}

/// User storage.
#[derive(Clone)]
pub struct Users {
    db: Db,
    clock: SharedClock,
}

impl Users {
    /// User storage on `db`.
    pub fn new(db: Db, clock: SharedClock) -> Users {
        Users { db, clock }
    }

    /// Adds a user; fails if the name is taken.
    pub async fn add(
        &self,
        name: &str,
        password: &str,
        role: &str,
        profile: &Profile,
    ) -> Result<()> {
        validate_name(name, "user name")?;
        validate_name(role, "role")?;
        profile.validate()?;
        if password.len() < 8 {
            return Err(Error::Invalid(
                "passwords need at least 8 characters".into(),
            ));
        }
        let hash = hash_password(password)?;
        self.insert(name, &hash, role, profile).await
    }

    /// Adds a user if absent (for `--demo`), hashing on the server's password workers;
    /// returns whether it was added.
    pub async fn ensure(
        &self,
        name: &str,
        password: &str,
        role: &str,
        passwords: &PasswordChecker,
    ) -> Result<bool> {
        if self.find(name).await?.is_some() {
            return Ok(false);
        }
        let hash = passwords.hash(password).await?;
        match self.insert(name, &hash, role, &Profile::default()).await {
            Ok(()) => Ok(true),
            // Another replica added it meanwhile.
            Err(Error::Invalid(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn insert(&self, name: &str, hash: &str, role: &str, profile: &Profile) -> Result<()> {
        let mut tx = self.db.begin().await?;
        // Random, so equal to a client id only by an astronomical chance; checked anyway,
        // since a client's tokens carry its id as `sub`.
        let subject = loop {
            let candidate = new_subject()?;
            let taken = sqlx::query("SELECT client_id FROM clients WHERE client_id = $1")
                .bind(&candidate)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_none() {
                break candidate;
            }
        };
        let result = sqlx::query(
            "INSERT INTO users (subject, name, password_hash, role, disabled, created_at, email, display_name) VALUES ($1, $2, $3, $4, 0, $5, $6, $7)",
        )
        .bind(&subject)
        .bind(name)
        .bind(hash)
        .bind(role)
        .bind(self.clock.unix_secs())
        .bind(profile.email.as_deref())
        .bind(profile.display_name.as_deref())
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(Error::Invalid(format!("user {name} already exists")))
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit().await?;
        Ok(())
    }

    /// Looks a user up by name, with the password hash.
    pub async fn find_with_hash(&self, name: &str) -> Result<Option<(User, String)>> {
        // No stored name holds NUL (names are validated), and PostgreSQL refuses NUL in
        // text parameters: answer "no such user" without asking.
        if name.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, password_hash FROM users WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| Ok((User::from_row(&r)?, r.try_get("password_hash")?)))
            .transpose()
    }

    /// Looks a user up by name.
    pub async fn find(&self, name: &str) -> Result<Option<User>> {
        Ok(self.find_with_hash(name).await?.map(|(u, _)| u))
    }

    /// Looks a user up by subject (`sub`).
    pub async fn by_subject(&self, subject: &str) -> Result<Option<User>> {
        if subject.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE subject = $1"
        ))
        .bind(subject)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.map(|r| User::from_row(&r)).transpose()?)
    }

    /// Every user.
    pub async fn list(&self) -> Result<Vec<User>> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY name"))
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows
            .iter()
            .map(User::from_row)
            .collect::<std::result::Result<_, _>>()?)
    }

    /// Disables a user inside the caller's transaction (no new logins or refreshes);
    /// returns its subject, whose sessions the caller ends in the same transaction.
    pub(crate) async fn disable_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        name: &str,
    ) -> Result<String> {
        let row = sqlx::query("SELECT subject FROM users WHERE name = $1")
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no user named {name}")))?;
        sqlx::query("UPDATE users SET disabled = 1 WHERE name = $1")
            .bind(name)
            .execute(&mut **tx)
            .await?;
        Ok(row.try_get("subject")?)
    }
}

/// The columns [`User::from_row`] reads.
const USER_COLUMNS: &str = "subject, name, role, disabled, created_at, email, display_name";

/// An OAuth client as stored.
#[derive(Debug, Clone)]
pub struct Client {
    /// `client_id`.
    pub client_id: String,
    /// Space-separated scopes it may ask for with client credentials.
    pub scope: String,
    /// Disabled clients cannot authenticate.
    pub disabled: bool,
    /// A resource server allowed to introspect tokens issued to other clients.
    pub can_introspect: bool,
    /// A public client (an SPA, a native app): no secret, PKCE only.
    pub public: bool,
    /// Where authorization responses may go (exact match).
    pub redirect_uris: Vec<String>,
    /// Where the browser may go after a logout it asked for (exact match).
    pub post_logout_redirect_uris: Vec<String>,
    /// Where ended sessions are announced (OpenID Connect Back-Channel Logout).
    pub backchannel_logout_uri: Option<String>,
    /// Never show the consent page for this client (a first-party application).
    pub skip_consent: bool,
    /// Tokens are issued to it only with a DPoP proof (RFC 9449).
    pub require_dpop: bool,
    /// Its public encryption JWK: its ID tokens are encrypted to it.
    pub id_token_encryption_jwk: Option<String>,
}

/// What `tessera client add` registers.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    /// The client id.
    pub client_id: String,
    /// Space-separated scopes it may ask for with client credentials.
    pub scope: String,
    /// May introspect tokens issued to other clients (a resource server).
    pub can_introspect: bool,
    /// A public client: no secret, PKCE only.
    pub public: bool,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout URI.
    pub backchannel_logout_uri: Option<String>,
    /// Never ask for consent.
    pub skip_consent: bool,
    /// Issue tokens only with a DPoP proof.
    pub require_dpop: bool,
    /// The client's public encryption key (a JWK, JSON): ID tokens are then encrypted to
    /// it (nested JWTs, A128CBC-HS256 as OpenID Connect Registration defaults).
    pub id_token_encryption_jwk: Option<String>,
}

impl ClientSpec {
    fn validate(&self) -> Result<()> {
        validate_name(&self.client_id, "client id")?;
        if let Some(text) = &self.id_token_encryption_jwk {
            id_token_encrypter(text)?;
        }
        for s in self.scope.split_whitespace() {
            if !s
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
            {
                return Err(Error::Invalid(format!(
                    "invalid scope `{}`",
                    tessera_jose::shown(s)
                )));
            }
        }
        for uri in &self.redirect_uris {
            check_redirect_uri(uri, self.public, "redirect URI")?;
        }
        for uri in &self.post_logout_redirect_uris {
            check_redirect_uri(uri, self.public, "post-logout redirect URI")?;
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            let parsed = url::Url::parse(uri).map_err(|e| {
                Error::Invalid(format!(
                    "back-channel logout URI `{}`: {e}",
                    tessera_jose::shown(uri)
                ))
            })?;
            tessera_contract::check_fetch_url(&parsed)
                .map_err(|e| Error::Invalid(format!("back-channel logout URI: {e}")))?;
            if parsed.fragment().is_some() {
                return Err(Error::Invalid(
                    "a back-channel logout URI has no fragment".into(),
                ));
            }
        }
        Ok(())
    }
}

/// A redirect URI a client may register: absolute, without a fragment; `https`, or plain
/// `http` to a loopback host; or, for public (native) clients, a private-use scheme named
/// after a domain (`com.example.app:/callback`, RFC 8252 section 7.1).
fn check_redirect_uri(uri: &str, public: bool, what: &str) -> Result<()> {
    let bad = |why: &str| Error::Invalid(format!("{what} `{}`: {why}", tessera_jose::shown(uri)));
    let parsed = url::Url::parse(uri).map_err(|e| bad(&e.to_string()))?;
    if parsed.fragment().is_some() {
        return Err(bad("it must not have a fragment"));
    }
    match parsed.scheme() {
        "https" if parsed.host().is_some() => Ok(()),
        "http" => tessera_contract::check_fetch_url(&parsed)
            .map_err(|_| bad("plain http is allowed for loopback hosts only")),
        scheme if public && scheme.contains('.') => Ok(()),
        "javascript" | "data" | "file" | "vbscript" => Err(bad("not a scheme to redirect to")),
        _ => Err(bad(
            "use https, http on loopback, or (public clients) a scheme like com.example.app",
        )),
    }
}

/// Client storage and authentication.
#[derive(Clone)]
pub struct Clients {
    db: Db,
    clock: SharedClock,
    /// Clients that authenticated recently, by id and the hash of the secret they showed,
    /// so client-credentials issuance does not wait on the database every time. Only a
    /// correct secret finds an entry: an unknown id and a wrong secret both go to the
    /// database, so their answers take the same time whether the id exists or not. Entries
    /// live a few seconds: disabling a client takes effect within that time.
    cache: Arc<std::sync::Mutex<ClientCache>>,
}

/// (Client id, secret hash) -> (when read, client).
type ClientCache = HashMap<(String, String), (i64, Client)>;

/// How long a client read from the database is trusted, in seconds.
const CLIENT_CACHE_SECONDS: i64 = 5;
/// Most clients cached at once.
const CLIENT_CACHE_MAX: usize = 10_000;

/// Client secrets are 256-bit random values, so a fast hash is as strong as a slow one and
/// keeps client-credentials issuance at signing speed.
fn secret_hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, secret.as_bytes()))
}

impl Clients {
    /// Client storage on `db`.
    pub fn new(db: Db, clock: SharedClock) -> Clients {
        Clients {
            db,
            clock,
            cache: Arc::new(std::sync::Mutex::new(HashMap::new())),
        }
    }

    /// Registers a client, handing its secret (none for a public client) to `deliver`
    /// (which shows it, say) before committing: if `deliver` fails, nothing is stored and
    /// the client id stays free, since a secret nobody saw would leave an unusable client.
    pub async fn add_confirmed(
        &self,
        spec: &ClientSpec,
        deliver: impl FnOnce(Option<&str>) -> std::result::Result<(), String>,
    ) -> Result<()> {
        spec.validate()?;
        let client_id = spec.client_id.as_str();
        let scope = spec.scope.split_whitespace().collect::<Vec<_>>().join(" ");
        let secret = if spec.public {
            None
        } else {
            Some(random_token(32)?)
        };
        let mut tx = self.db.begin().await?;
        // A client's tokens carry its id as `sub`: it must never name a user.
        let user = sqlx::query("SELECT name FROM users WHERE subject = $1")
            .bind(client_id)
            .fetch_optional(&mut *tx)
            .await?;
        if user.is_some() {
            return Err(Error::Invalid(format!(
                "client id {client_id} is a user's subject; choose another"
            )));
        }
        let result = sqlx::query(
            "INSERT INTO clients (client_id, secret_hash, scope, disabled, created_at, can_introspect, public, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri, skip_consent, require_dpop, id_token_encryption_jwk) VALUES ($1, $2, $3, 0, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(client_id)
        // A public client has no secret: an empty hash, which no presented secret matches.
        .bind(secret.as_deref().map(secret_hash).unwrap_or_default())
        .bind(&scope)
        .bind(self.clock.unix_secs())
        .bind(i64::from(spec.can_introspect))
        .bind(i64::from(spec.public))
        .bind(json_list(&spec.redirect_uris))
        .bind(json_list(&spec.post_logout_redirect_uris))
        .bind(spec.backchannel_logout_uri.as_deref())
        .bind(i64::from(spec.skip_consent))
        .bind(i64::from(spec.require_dpop))
        .bind(spec.id_token_encryption_jwk.as_deref())
        .execute(&mut *tx)
        .await;
        match result {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(Error::Invalid(format!("client {client_id} already exists")))
            }
            Err(e) => return Err(e.into()),
        }
        deliver(secret.as_deref()).map_err(Error::Invalid)?;
        tx.commit().await.map_err(|e| {
            Error::Invalid(format!(
                "client {client_id} was NOT created (the secret shown is void): {e}"
            ))
        })?;
        Ok(())
    }

    /// A client by id, whatever its state (for the authorization endpoint, which checks its
    /// redirect URI before anything else).
    pub async fn find(&self, client_id: &str) -> Result<Option<Client>> {
        Ok(self.lookup(client_id).await?.map(|(c, _)| c))
    }

    /// Every client, by id.
    pub async fn list(&self) -> Result<Vec<Client>> {
        let rows = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS}, secret_hash FROM clients ORDER BY client_id"
        ))
        .fetch_all(self.db.pool())
        .await?;
        rows.iter().map(client_from_row).collect()
    }

    /// Removes a client: it can no longer authenticate, its refresh tokens and codes stop
    /// working, and its remembered consents go.
    pub async fn remove(&self, client_id: &str) -> Result<()> {
        let now = self.clock.unix_secs();
        let mut tx = self.db.begin().await?;
        let done = sqlx::query("DELETE FROM clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(format!("no client {client_id}")));
        }
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(client_id)
        .execute(&mut *tx)
        .await?;
        for table in [
            "consents",
            "authorization_codes",
            "session_clients",
            "backchannel_logouts",
        ] {
            sqlx::query(&format!("DELETE FROM {table} WHERE client_id = $1"))
                .bind(client_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|(id, _), _| id != client_id);
        }
        Ok(())
    }

    /// Checks a client's credentials in constant time; unknown and disabled clients and
    /// wrong secrets are indistinguishable to the caller, in answer and in time.
    pub async fn authenticate(&self, client_id: &str, secret: &str) -> Result<Option<Client>> {
        let presented = secret_hash(secret);
        let now = self.clock.unix_secs();
        let key = (client_id.to_owned(), presented);
        if let Ok(cache) = self.cache.lock() {
            if let Some((read_at, client)) = cache.get(&key) {
                if now >= *read_at && now - read_at < CLIENT_CACHE_SECONDS {
                    return Ok(Some(client.clone()));
                }
            }
        }
        let (client_id, presented) = key;
        let found = self.lookup(&client_id).await?;
        // Compared even when the id is unknown, against the presented hash itself, so both
        // paths do the same work.
        let stored = found
            .as_ref()
            .map_or(presented.as_str(), |(_, h)| h.as_str());
        let matches =
            constant_time::verify_slices_are_equal(presented.as_bytes(), stored.as_bytes()).is_ok();
        let Some((client, _)) = found.filter(|(c, _)| matches && !c.disabled && !c.public) else {
            return Ok(None);
        };
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CLIENT_CACHE_MAX {
                cache.retain(|_, (read_at, _)| now - *read_at < CLIENT_CACHE_SECONDS);
                if cache.len() >= CLIENT_CACHE_MAX {
                    cache.clear();
                }
            }
            cache.insert((client_id, presented), (now, client.clone()));
        }
        Ok(Some(client))
    }

    async fn lookup(&self, client_id: &str) -> Result<Option<(Client, String)>> {
        if client_id.contains('\0') {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS}, secret_hash FROM clients WHERE client_id = $1"
        ))
        .bind(client_id)
        .fetch_optional(self.db.pool())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let client = client_from_row(&row)?;
        Ok(Some((client, row.try_get("secret_hash")?)))
    }
}

/// The columns [`client_from_row`] reads.
const CLIENT_COLUMNS: &str = "client_id, scope, disabled, can_introspect, public, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri, skip_consent, require_dpop, id_token_encryption_jwk";

fn client_from_row(row: &sqlx::any::AnyRow) -> Result<Client> {
    let list = |column: &str| -> Result<Vec<String>> {
        let text: String = row.try_get(column)?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("stored {column} is not a JSON list: {e}")))
    };
    Ok(Client {
        client_id: row.try_get("client_id")?,
        scope: row.try_get("scope")?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        can_introspect: row.try_get::<i64, _>("can_introspect")? != 0,
        public: row.try_get::<i64, _>("public")? != 0,
        redirect_uris: list("redirect_uris")?,
        post_logout_redirect_uris: list("post_logout_redirect_uris")?,
        backchannel_logout_uri: row.try_get("backchannel_logout_uri")?,
        skip_consent: row.try_get::<i64, _>("skip_consent")? != 0,
        require_dpop: row.try_get::<i64, _>("require_dpop")? != 0,
        id_token_encryption_jwk: row.try_get("id_token_encryption_jwk")?,
    })
}

/// The key a client's ID tokens are encrypted to, from its registered public JWK: an
/// asymmetric public key (RSA, EC or X25519) for a key-management algorithm.
pub(crate) fn id_token_encrypter(text: &str) -> Result<tessera_jose::jwe::EncryptionKey> {
    let jwk = tessera_jose::Jwk::from_json(text)
        .map_err(|e| Error::Invalid(format!("ID token encryption key: {e}")))?;
    if jwk.is_private() {
        return Err(Error::Invalid(
            "ID token encryption key: give the client's public key, not a private or shared one"
                .into(),
        ));
    }
    tessera_jose::jwe::EncryptionKey::from_jwk(&jwk, None)
        .map_err(|e| Error::Invalid(format!("ID token encryption key: {e}")))
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// A random URL-safe token of `bytes` random bytes.
pub fn random_token(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| Error::Invalid("random source failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

fn validate_name(value: &str, what: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@' | ':'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid {what} `{value}`: use 1-128 letters, digits, or . _ - @ :"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_parameters_are_the_owasp_ones() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=12288,t=3,p=1$"), "{phc}");
        let mut memory = Vec::new();
        assert!(verify_with_memory("correct horse", &phc, &mut memory));
    }

    #[test]
    fn the_dummy_hash_costs_a_full_check() {
        // Unknown users are checked against it: it must be a real argon2id hash with the
        // same parameters as every stored one, or their answer would come sooner.
        let phc = dummy_hash().unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=12288,t=3,p=1$"), "{phc}");
        assert_ne!(
            dummy_hash().unwrap(),
            phc,
            "a new random password each time"
        );
    }

    #[test]
    fn reused_memory_verifies_like_the_library() {
        let phc = hash_password("correct horse").unwrap();
        let mut memory = Vec::new();
        assert!(verify_with_memory("correct horse", &phc, &mut memory));
        assert!(!verify_with_memory("correct horse!", &phc, &mut memory));
        assert!(!verify_with_memory(
            "correct horse",
            "$argon2i$v=19$m=12288,t=3,p=1$c2FsdHNhbHQ$aGFzaA",
            &mut memory
        ));
        assert!(!verify_with_memory("x", "not a hash", &mut memory));
        assert_eq!(memory.len(), 12 * 1024);
    }

    #[tokio::test]
    async fn worker_hashes_verify_like_library_hashes() {
        let checker = PasswordChecker::new().unwrap();
        let phc = checker.hash("correct horse").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=12288,t=3,p=1$"), "{phc}");
        // The library accepts the worker's hash and the worker accepts the library's.
        use argon2::password_hash::PasswordVerifier;
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(argon2().verify_password(b"correct horse", &parsed).is_ok());
        assert!(checker
            .check("correct horse".into(), Some(phc.clone()))
            .await
            .unwrap());
        assert!(!checker.check("wrong".into(), Some(phc)).await.unwrap());
        assert!(!checker.check("correct horse".into(), None).await.unwrap());
        let library = hash_password("x y z").unwrap();
        assert!(checker.check("x y z".into(), Some(library)).await.unwrap());
    }

    #[tokio::test]
    async fn only_a_correct_secret_is_cached_so_ids_cannot_be_told_apart() {
        // The finding: known client ids answered ~110 us faster than unknown ones (the
        // cache held a client after any lookup). Now only a correct secret fills or hits
        // the cache: a wrong secret for a known id goes to the database like an unknown id.
        let dir = std::env::temp_dir().join(format!("tessera-clients-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.join("t.db").display()))
            .await
            .unwrap();
        let clients = Clients::new(
            db,
            tessera_contract::ManualClock::at(1_800_000_000).shared(),
        );
        let spec = ClientSpec {
            client_id: "svc".into(),
            ..ClientSpec::default()
        };
        let mut secret = String::new();
        clients
            .add_confirmed(&spec, |s| {
                secret = s.unwrap().to_owned();
                Ok(())
            })
            .await
            .unwrap();
        let cached = |clients: &Clients| clients.cache.lock().unwrap().len();
        assert!(clients
            .authenticate("svc", "wrong")
            .await
            .unwrap()
            .is_none());
        assert!(clients
            .authenticate("nobody", "wrong")
            .await
            .unwrap()
            .is_none());
        assert_eq!(cached(&clients), 0, "failures leave nothing to time");
        assert!(clients
            .authenticate("svc", &secret)
            .await
            .unwrap()
            .is_some());
        assert_eq!(cached(&clients), 1);
        // A wrong secret does not find the cached entry.
        assert!(clients
            .authenticate("svc", "wrong")
            .await
            .unwrap()
            .is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("jane.doe@example", "user name").is_ok());
        assert!(validate_name("' OR 1=1 --", "user name").is_err());
        assert!(validate_name("", "user name").is_err());
    }
}
