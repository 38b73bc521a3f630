//! The operator's side of the server: what `tessera user|client|key` do, as library
//! functions with their rules in one place, on the same database as running servers
//! (which pick the changes up within `reload_interval_ms`).

use std::sync::Arc;

use tessera_contract::SharedClock;
use tessera_jose::{Algorithm, Jwk};
use tokio::sync::OnceCell;
use zeroize::Zeroizing;

use crate::accounts::{Client, ClientSpec, Clients, Profile, User, Users};
use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::keys::{self, Changes, KeyInfo, KeyManager};
use crate::revocations::Revocations;
use crate::seal::MasterKey;
use crate::sessions::Sessions;

/// Whether an admin command may create the database it is pointed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The database must exist: an absent SQLite file is an error, never an empty new
    /// database (a command run from the wrong directory must not answer "no users").
    Existing,
    /// A new SQLite file may be created, as `serve` would (adding the first user or client
    /// before the server ever ran).
    Create,
}

/// Administration of one database.
pub struct Admin {
    db: Db,
    config: Arc<Config>,
    clock: SharedClock,
    users: Users,
    clients: Clients,
    sessions: Sessions,
    master_env: Option<Zeroizing<String>>,
    keys: OnceCell<Arc<KeyManager>>,
}

impl Admin {
    /// Opens the database of `config`. `master_env` is `TESSERA_MASTER_KEY` if set; the
    /// master key is needed (and checked against the database) only by key commands.
    pub async fn open(
        config: Config,
        master_env: Option<String>,
        access: Access,
        clock: SharedClock,
    ) -> Result<Admin> {
        let db = match access {
            Access::Existing => Db::connect_existing(&config.database_url).await?,
            Access::Create => Db::connect(&config.database_url).await?,
        };
        Ok(Admin::with_db(
            db,
            Arc::new(config),
            clock,
            master_env.map(Zeroizing::new),
            None,
        ))
    }

    pub(crate) fn with_db(
        db: Db,
        config: Arc<Config>,
        clock: SharedClock,
        master_env: Option<Zeroizing<String>>,
        keys: Option<Arc<KeyManager>>,
    ) -> Admin {
        let revocations = Revocations::new(db.clone(), clock.clone());
        Admin {
            users: Users::new(db.clone(), clock.clone()),
            clients: Clients::new(db.clone(), clock.clone()),
            sessions: Sessions::new(db.clone(), clock.clone(), config.clone(), revocations),
            keys: OnceCell::new_with(keys),
            master_env,
            db,
            config,
            clock,
        }
    }

    /// Adds a user with an argon2id-hashed password; fails if the name is taken.
    pub async fn add_user(
        &self,
        name: &str,
        password: &str,
        role: &str,
        profile: &Profile,
    ) -> Result<()> {
        self.users.add(name, password, role, profile).await
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        self.users.list().await
    }

    /// Disables a user: no new logins or refreshes, and every live session ends now (its
    /// refresh tokens are revoked and its `sessionId` published to resource servers).
    /// Returns how many sessions ended.
    pub async fn disable_user(&self, name: &str) -> Result<usize> {
        let mut tx = self.db.begin().await?;
        let subject = self.users.disable_in(&mut tx, name).await?;
        let ended = self.sessions.end_all_in(&mut tx, &subject).await?;
        tx.commit().await?;
        Ok(ended)
    }

    /// Registers a client and hands its secret (none for a public client) to `deliver`
    /// (which shows it) before committing: a secret nobody saw leaves no client behind.
    pub async fn add_client(
        &self,
        spec: &ClientSpec,
        deliver: impl FnOnce(Option<&str>) -> std::result::Result<(), String>,
    ) -> Result<()> {
        self.clients.add_confirmed(spec, deliver).await
    }

    /// Every client.
    pub async fn list_clients(&self) -> Result<Vec<Client>> {
        self.clients.list().await
    }

    /// Removes a client; its refresh tokens, codes and remembered consents go with it.
    pub async fn remove_client(&self, client_id: &str) -> Result<()> {
        self.clients.remove(client_id).await
    }

    /// Every key in the database, newest first (needs no master key).
    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>> {
        keys::list_keys(&self.db).await
    }

    /// Publishes a new key of the server's signing algorithm; it signs after the
    /// pre-publication period, or at once with `immediately`.
    pub async fn rotate_key(&self, immediately: bool) -> Result<Changes> {
        self.keys().await?.rotate(immediately).await
    }

    /// Imports a private key (any form [`tessera_jose::pem::parse_key`] reads) for the
    /// server's signing algorithm (`alg` to choose among a family's, e.g. PS256 for RSA).
    pub async fn import_key(
        &self,
        key: &[u8],
        alg: Option<Algorithm>,
        immediately: bool,
    ) -> Result<Changes> {
        let jwk: Jwk = tessera_jose::pem::parse_key(key)?;
        self.keys().await?.import(jwk, alg, immediately).await
    }

    /// Removes a key from the key set at once and destroys it; if it was signing, a
    /// published pending key takes over, else a new key signs at once.
    pub async fn revoke_key(&self, kid: &str) -> Result<Changes> {
        self.keys().await?.revoke(kid).await
    }

    /// The key manager, with the master key checked against the database, signing the
    /// algorithms the server recorded (so that `key rotate` keeps what `serve --alg` chose),
    /// or the configured one before any server ran.
    async fn keys(&self) -> Result<&Arc<KeyManager>> {
        self.keys
            .get_or_try_init(|| async {
                let env = self.master_env.as_ref().map(|s| s.as_str());
                let (master, _) =
                    MasterKey::for_database(&self.db, env, &self.config.master_key_file).await?;
                let algorithms = keys::recorded_algorithms(&self.db)
                    .await?
                    .unwrap_or_else(|| vec![self.config.alg]);
                Ok::<_, Error>(Arc::new(KeyManager::new(
                    self.db.clone(),
                    Arc::new(master),
                    self.clock.clone(),
                    self.config.clone(),
                    algorithms,
                )))
            })
            .await
    }
}
