//! Users (argon2id passwords) and OAuth clients (high-entropy secrets, SHA-256 at rest).

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm as Argon2Algorithm, Argon2, Params, Version};
use aws_lc_rs::constant_time;
use aws_lc_rs::digest;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sqlx::Row;
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::{Error, Result};

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

fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A user as stored.
#[derive(Debug, Clone)]
pub struct User {
    /// Login name, also the token `sub`.
    pub name: String,
    /// The `role` claim.
    pub role: String,
    /// Disabled users cannot log in.
    pub disabled: bool,
    /// Creation time.
    pub created_at: i64,
}

/// Password checks, run off the async threads and limited to one per core so that a burst
/// of logins cannot exhaust memory.
#[derive(Clone)]
pub struct PasswordChecker {
    permits: Arc<Semaphore>,
    /// A hash of a random password, checked when the user does not exist so that an unknown
    /// user and a wrong password take the same time.
    dummy: Arc<String>,
}

impl PasswordChecker {
    /// Prepares the checker (computes the dummy hash once).
    pub fn new() -> Result<PasswordChecker> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(PasswordChecker {
            permits: Arc::new(Semaphore::new(cores)),
            dummy: Arc::new(hash_password(&random_token(16)?)?),
        })
    }

    /// Checks `password` against `stored` (or the dummy hash when `None`), always paying
    /// the full argon2id cost. Returns true only for a stored hash that matches.
    pub async fn check(&self, password: String, stored: Option<String>) -> Result<bool> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Invalid("shutting down".into()))?;
        let dummy = self.dummy.clone();
        tokio::task::spawn_blocking(move || match stored {
            Some(phc) => verify_password(&password, &phc),
            None => {
                let _ = verify_password(&password, &dummy);
                false
            }
        })
        .await
        .map_err(|e| Error::Invalid(format!("password check failed: {e}")))
    }
}

/// User storage.
#[derive(Clone)]
pub struct Users {
    db: Db,
    clock: Clock,
}

impl Users {
    /// User storage on `db`.
    pub fn new(db: Db, clock: Clock) -> Users {
        Users { db, clock }
    }

    /// Adds a user; fails if the name is taken.
    pub async fn add(&self, name: &str, password: &str, role: &str) -> Result<()> {
        validate_name(name, "user name")?;
        validate_name(role, "role")?;
        if password.len() < 8 {
            return Err(Error::Invalid(
                "passwords need at least 8 characters".into(),
            ));
        }
        let hash = hash_password(password)?;
        self.insert(name, &hash, role).await
    }

    /// Adds a user if absent (for `--demo`); returns whether it was added.
    pub async fn ensure(&self, name: &str, password: &str, role: &str) -> Result<bool> {
        if self.find(name).await?.is_some() {
            return Ok(false);
        }
        let hash = hash_password(password)?;
        match self.insert(name, &hash, role).await {
            Ok(()) => Ok(true),
            // Another replica added it meanwhile.
            Err(Error::Invalid(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn insert(&self, name: &str, hash: &str, role: &str) -> Result<()> {
        let result = sqlx::query(
            "INSERT INTO users (name, password_hash, role, disabled, created_at) VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(name)
        .bind(hash)
        .bind(role)
        .bind(self.clock.now())
        .execute(self.db.pool())
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(Error::Invalid(format!("user {name} already exists")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Looks a user up, with the password hash.
    pub async fn find_with_hash(&self, name: &str) -> Result<Option<(User, String)>> {
        let row = sqlx::query(
            "SELECT name, role, disabled, created_at, password_hash FROM users WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(self.db.pool())
        .await?;
        row.map(|r| {
            Ok((
                User {
                    name: r.try_get("name")?,
                    role: r.try_get("role")?,
                    disabled: r.try_get::<i64, _>("disabled")? != 0,
                    created_at: r.try_get("created_at")?,
                },
                r.try_get("password_hash")?,
            ))
        })
        .transpose()
    }

    /// Looks a user up.
    pub async fn find(&self, name: &str) -> Result<Option<User>> {
        Ok(self.find_with_hash(name).await?.map(|(u, _)| u))
    }

    /// Every user.
    pub async fn list(&self) -> Result<Vec<User>> {
        let rows = sqlx::query("SELECT name, role, disabled, created_at FROM users ORDER BY name")
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(User {
                    name: r.try_get("name")?,
                    role: r.try_get("role")?,
                    disabled: r.try_get::<i64, _>("disabled")? != 0,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Disables a user: no new logins, and refresh tokens stop working.
    pub async fn disable(&self, name: &str) -> Result<()> {
        let done = sqlx::query("UPDATE users SET disabled = 1 WHERE name = $1")
            .bind(name)
            .execute(self.db.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound(format!("no user named {name}")));
        }
        Ok(())
    }
}

/// An OAuth client as stored.
#[derive(Debug, Clone)]
pub struct Client {
    /// `client_id`.
    pub client_id: String,
    /// Space-separated scopes it may ask for.
    pub scope: String,
    /// Disabled clients cannot authenticate.
    pub disabled: bool,
}

/// Client storage and authentication.
#[derive(Clone)]
pub struct Clients {
    db: Db,
    clock: Clock,
}

/// Client secrets are 256-bit random values, so a fast hash is as strong as a slow one and
/// keeps client-credentials issuance at signing speed.
fn secret_hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, secret.as_bytes()))
}

impl Clients {
    /// Client storage on `db`.
    pub fn new(db: Db, clock: Clock) -> Clients {
        Clients { db, clock }
    }

    /// Registers a client and returns its secret (shown only this once).
    pub async fn add(&self, client_id: &str, scope: &str) -> Result<String> {
        validate_name(client_id, "client id")?;
        for s in scope.split_whitespace() {
            if !s
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
            {
                return Err(Error::Invalid(format!("invalid scope `{s}`")));
            }
        }
        let scope = scope.split_whitespace().collect::<Vec<_>>().join(" ");
        let secret = random_token(32)?;
        let result = sqlx::query(
            "INSERT INTO clients (client_id, secret_hash, scope, disabled, created_at) VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(client_id)
        .bind(secret_hash(&secret))
        .bind(&scope)
        .bind(self.clock.now())
        .execute(self.db.pool())
        .await;
        match result {
            Ok(_) => Ok(secret),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(Error::Invalid(format!("client {client_id} already exists")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a client's credentials in constant time; unknown and disabled clients and
    /// wrong secrets are indistinguishable to the caller.
    pub async fn authenticate(&self, client_id: &str, secret: &str) -> Result<Option<Client>> {
        let row = sqlx::query(
            "SELECT client_id, secret_hash, scope, disabled FROM clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(self.db.pool())
        .await?;
        let presented = secret_hash(secret);
        let Some(row) = row else {
            let _ =
                constant_time::verify_slices_are_equal(presented.as_bytes(), presented.as_bytes());
            return Ok(None);
        };
        let stored: String = row.try_get("secret_hash")?;
        let matches =
            constant_time::verify_slices_are_equal(presented.as_bytes(), stored.as_bytes()).is_ok();
        let client = Client {
            client_id: row.try_get("client_id")?,
            scope: row.try_get("scope")?,
            disabled: row.try_get::<i64, _>("disabled")? != 0,
        };
        Ok((matches && !client.disabled).then_some(client))
    }
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
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct horse!", &phc));
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("jane.doe@example", "user name").is_ok());
        assert!(validate_name("' OR 1=1 --", "user name").is_err());
        assert!(validate_name("", "user name").is_err());
    }
}
