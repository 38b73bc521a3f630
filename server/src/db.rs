//! Storage: one code path over SQLite and PostgreSQL through sqlx's `Any` driver, with the
//! schema migrations embedded. Only portable SQL is used (`$N` placeholders in order, TEXT
//! and BIGINT columns); the two dialects differ only in the DDL of one table.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, ConnectOptions, Executor, Row};

use crate::error::{Error, Result};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL, for several replicas.
    Postgres,
}

/// The database handle shared by the server and the admin commands.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

const MIGRATIONS_COMMON: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    state TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    private_sealed TEXT,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activate_after BIGINT NOT NULL,
    activated_at BIGINT,
    retired_at BIGINT,
    expires_at BIGINT
);
CREATE UNIQUE INDEX one_active_key_per_alg ON signing_keys (alg) WHERE state = 'active';
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE TABLE clients (
    client_id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    scope TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    role TEXT NOT NULL,
    session_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE TABLE maintenance_lock (id BIGINT PRIMARY KEY, holder TEXT NOT NULL, taken_at BIGINT NOT NULL);
INSERT INTO maintenance_lock (id, holder, taken_at) VALUES (1, '', 0);
"#,
    ),
    (
        3,
        r#"
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
ALTER TABLE refresh_tokens ADD COLUMN fingerprint_hash TEXT;
"#,
    ),
    // Users get an opaque, stable subject (`sub`), never their name; sessions become rows
    // of their own with an absolute lifetime; refresh tokens and clients say which client
    // they belong to and may introspect; failed logins are counted in the database, so
    // that every replica sees them. `backfill_v4` fills the new columns of existing rows.
    (
        4,
        r#"
ALTER TABLE users ADD COLUMN subject TEXT;
CREATE UNIQUE INDEX users_subject ON users (subject);
ALTER TABLE clients ADD COLUMN can_introspect BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN client_id TEXT;
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    subject TEXT NOT NULL,
    client_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_subject ON sessions (subject);
CREATE TABLE login_attempts (
    attempt TEXT NOT NULL,
    key TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_attempts_key ON login_attempts (key, at);
CREATE INDEX login_attempts_attempt ON login_attempts (attempt)
"#,
    ),
    // OpenID Connect: users' profile claims; clients' redirect and logout URIs, public
    // clients and remembered consent; browser sessions (a cookie secret, the time of the
    // login, and a shorter lifetime for the browser than for the session's refresh tokens);
    // which clients took part in a session (for back-channel logout); single-use
    // authorization codes; and the back-channel logouts still to deliver.
    (
        5,
        r#"
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN display_name TEXT;
ALTER TABLE clients ADD COLUMN public BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
ALTER TABLE clients ADD COLUMN skip_consent BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN auth_time BIGINT;
ALTER TABLE sessions ADD COLUMN browser_token_hash TEXT;
ALTER TABLE sessions ADD COLUMN browser_expires_at BIGINT;
CREATE UNIQUE INDEX sessions_browser ON sessions (browser_token_hash);
ALTER TABLE refresh_tokens ADD COLUMN scope TEXT;
CREATE TABLE session_clients (
    session_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    PRIMARY KEY (session_id, client_id)
);
CREATE TABLE authorization_codes (
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce TEXT,
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    session_id TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    access_jti TEXT,
    access_expires_at BIGINT,
    refresh_family TEXT
);
CREATE TABLE consents (
    subject TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (subject, client_id)
);
CREATE TABLE backchannel_logouts (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    session_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    last_error TEXT
);
CREATE INDEX backchannel_due ON backchannel_logouts (next_attempt_at)
"#,
    ),
    // DPoP (RFC 9449): clients that must prove a key; the key a refresh-token family or an
    // authorization code is bound to (its RFC 7638 thumbprint).
    (
        6,
        r#"
ALTER TABLE clients ADD COLUMN require_dpop BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT
"#,
    ),
    // Encrypted ID tokens: the client's public encryption JWK.
    (
        7,
        r#"
ALTER TABLE clients ADD COLUMN id_token_encryption_jwk TEXT
"#,
    ),
];

/// The revocations table: the dialects differ only in how the cursor column counts.
fn revocations_ddl(backend: Backend) -> String {
    let id = match backend {
        Backend::Sqlite => "INTEGER PRIMARY KEY AUTOINCREMENT",
        Backend::Postgres => "BIGSERIAL PRIMARY KEY",
    };
    format!(
        "CREATE TABLE revocations (
    id {id},
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX revocations_value ON revocations (kind, value);"
    )
}

impl Db {
    /// Connects (creating a SQLite file if absent, owner-only) and applies pending
    /// migrations.
    pub async fn connect(url: &str) -> Result<Db> {
        Db::connect_with(url, true).await
    }

    /// Connects to a database that must exist already: a SQLite file that is absent is an
    /// error, not a new empty database (read-only admin commands run from the wrong
    /// directory must say so, not answer "nothing here").
    pub async fn connect_existing(url: &str) -> Result<Db> {
        Db::connect_with(url, false).await
    }

    async fn connect_with(url: &str, create: bool) -> Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(Error::Config(format!(
                "unsupported database URL `{}`: use sqlite://FILE or postgres://...",
                redact(url)
            )));
        };
        if backend == Backend::Sqlite {
            if let Some(path) = sqlite_path(url) {
                if create {
                    create_private_file(path)?;
                } else if !path.exists() {
                    return Err(Error::Config(format!(
                        "database {} does not exist (start `tessera serve` once, or pass --db or \
                         --config to name the server's database)",
                        path.display()
                    )));
                }
            }
        }
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => {
                format!("{url}?mode={}", if create { "rwc" } else { "rw" })
            }
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .map_err(|e| Error::Config(format!("database URL: {e}")))?
            .disable_statement_logging();
        // One connection first, so that a bad URL, an unreachable server or a file that is
        // not a database is reported as such at once (the pool would retry until its
        // timeout and then say only "pool timed out").
        {
            use sqlx::Connection;
            let mut probe = sqlx::AnyConnection::connect_with(&options)
                .await
                .map_err(|e| Error::Config(format!("database {}: {e}", redact(&url))))?;
            if backend == Backend::Sqlite {
                probe
                    .execute("PRAGMA journal_mode = WAL")
                    .await
                    .map_err(|e| Error::Config(format!("database {}: {e}", redact(&url))))?;
            }
            let _ = probe.close().await;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 4,
                Backend::Postgres => 8,
            })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL for readers beside the writer; FULL sync so a committed key,
                        // user or revocation survives a crash; wait rather than fail on a lock.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let db = Db { pool, backend };
        db.migrate().await?;
        Ok(db)
    }

    /// The pool, for queries.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a transaction that read first and wrote later would otherwise
    /// fail with "database is locked", without waiting, whenever another writer committed
    /// in between (WAL mode cannot upgrade a stale read snapshot).
    pub(crate) async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> Result<()> {
        self.migrate_up_to(i64::MAX).await
    }

    /// Applies the migrations up to `last` (all of them in production; tests stop earlier
    /// to write rows as an older version did).
    async fn migrate_up_to(&self, last: i64) -> Result<()> {
        // Two replicas starting on a new PostgreSQL database would race on the catalog
        // even with IF NOT EXISTS; a transaction-scoped advisory lock serialises them.
        let mut tx = self.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS tessera_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let revocations = revocations_ddl(self.backend);
        let mut all: Vec<(i64, &str)> = MIGRATIONS_COMMON.to_vec();
        all.push((2, revocations.as_str()));
        all.sort_by_key(|(version, _)| *version);
        for (version, sql) in all.into_iter().filter(|(v, _)| *v <= last) {
            let mut tx = self.begin().await?;
            // Serialise concurrent starts: the second replica waits here, then sees the row.
            if self.backend == Backend::Postgres {
                sqlx::query("LOCK TABLE tessera_migrations IN EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
            }
            let done: Option<AnyRow> =
                sqlx::query("SELECT version FROM tessera_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_some() {
                tx.commit().await?;
                continue;
            }
            for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            if version == 4 {
                backfill_v4(&mut tx).await?;
            }
            sqlx::query("INSERT INTO tessera_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(version)
                .bind(tessera_jose::unix_now())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// True if the database answers.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await.is_ok()
    }
}

/// Fills what migration 4 added for rows written before it: an opaque subject for every
/// user (their refresh tokens then name it instead of the user name), and a session row
/// for every session that still has refresh tokens (ending when its last token does).
async fn backfill_v4(tx: &mut sqlx::Transaction<'static, sqlx::Any>) -> Result<()> {
    let names: Vec<String> = sqlx::query("SELECT name FROM users WHERE subject IS NULL")
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| r.try_get("name"))
        .collect::<std::result::Result<_, _>>()?;
    for name in names {
        let subject = crate::accounts::new_subject()?;
        sqlx::query("UPDATE users SET subject = $1 WHERE name = $2")
            .bind(&subject)
            .bind(&name)
            .execute(&mut **tx)
            .await?;
        sqlx::query("UPDATE refresh_tokens SET subject = $1 WHERE subject = $2")
            .bind(&subject)
            .bind(&name)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO sessions (id, subject, created_at, expires_at, revoked_at) \
         SELECT session_id, MIN(subject), MIN(created_at), MAX(expires_at), MAX(revoked_at) \
         FROM refresh_tokens GROUP BY session_id",
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The file of a `sqlite://FILE` or `sqlite:FILE` URL (none for in-memory databases).
fn sqlite_path(url: &str) -> Option<&std::path::Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.starts_with(':')).then(|| std::path::Path::new(path))
}

/// Creates an empty database file readable by its owner only, if absent. SQLite gives the
/// `-wal` and `-shm` files it creates beside it the same permissions, so password hashes
/// and sealed keys are never readable by other local users.
fn create_private_file(path: &std::path::Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            warn_if_shared(path);
            Ok(())
        }
        Err(e) => Err(Error::Config(format!(
            "cannot create database {}: {e}",
            path.display()
        ))),
    }
}

/// Warns, loudly, about an existing database file other local users can read: it holds
/// password hashes and sealed keys. (Not refused: changing an operator's file modes, or
/// refusing to start on an upgrade, is theirs to decide.)
fn warn_if_shared(path: &std::path::Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{mode:o}"),
                    "the database is readable by other users (password hashes, sealed keys); run chmod 600 on it and its -wal and -shm files"
                );
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Advisory-lock key for schema migrations on PostgreSQL ("tessera1" in ASCII).
const MIGRATION_LOCK: i64 = 0x7465_7373_6572_6131;
/// Advisory-lock key that orders revocation inserts on PostgreSQL ("tessera2").
pub(crate) const REVOCATION_LOCK: i64 = 0x7465_7373_6572_6132;
/// Advisory-lock key that serialises failed-login counting on PostgreSQL ("tessera3").
pub(crate) const LIMITER_LOCK: i64 = 0x7465_7373_6572_6133;

/// Reads a row of the `settings` table.
pub(crate) async fn setting<'e, E>(executor: E, name: &str) -> Result<Option<String>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_optional(executor)
        .await?;
    Ok(row.map(|r| r.try_get("value")).transpose()?)
}

/// Writes a row of the `settings` table, replacing any previous value.
pub(crate) async fn put_setting<'e, E>(executor: E, name: &str, value: &str) -> Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
        .bind(name)
        .bind(value)
        .execute(executor)
        .await?;
    Ok(())
}

/// Reads an optional BIGINT column.
pub(crate) fn opt_i64(row: &AnyRow, column: &str) -> Result<Option<i64>> {
    Ok(row.try_get::<Option<i64>, _>(column)?)
}

/// A URL with any password removed, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths() {
        assert_eq!(
            sqlite_path("sqlite://t.db"),
            Some(std::path::Path::new("t.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:/tmp/t.db?mode=rw"),
            Some(std::path::Path::new("/tmp/t.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }

    #[tokio::test]
    async fn migration_4_keeps_existing_users_and_their_sessions() {
        sqlx::any::install_default_drivers();
        let dir = std::env::temp_dir().join(format!("tessera-db-v4-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("t.db").display());
        let pool = AnyPoolOptions::new().connect(&url).await.unwrap();
        let db = Db {
            pool,
            backend: Backend::Sqlite,
        };
        // A database as version 3 left it: users by name, sessions only in refresh tokens.
        db.migrate_up_to(3).await.unwrap();
        for statement in [
            "INSERT INTO users (name, password_hash, role, disabled, created_at) VALUES ('Jane', 'h', 'write', 0, 1)",
            "INSERT INTO refresh_tokens (token_hash, family_id, subject, role, session_id, created_at, expires_at) VALUES ('t1', 'f', 'Jane', 'write', 's1', 10, 1000)",
            "INSERT INTO refresh_tokens (token_hash, family_id, subject, role, session_id, created_at, expires_at, used_at) VALUES ('t0', 'f', 'Jane', 'write', 's1', 5, 900, 10)",
            "INSERT INTO refresh_tokens (token_hash, family_id, subject, role, session_id, created_at, expires_at, revoked_at) VALUES ('t2', 'g', 'Jane', 'write', 's2', 20, 2000, 30)",
        ] {
            sqlx::query(statement).execute(db.pool()).await.unwrap();
        }
        db.migrate().await.unwrap();
        let subject: String = sqlx::query("SELECT subject FROM users WHERE name = 'Jane'")
            .fetch_one(db.pool())
            .await
            .unwrap()
            .try_get("subject")
            .unwrap();
        assert_eq!(subject.len(), 22, "an opaque subject: {subject}");
        let tokens = sqlx::query("SELECT DISTINCT subject FROM refresh_tokens")
            .fetch_all(db.pool())
            .await
            .unwrap();
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].try_get::<String, _>("subject").unwrap(), subject);
        let sessions = sqlx::query(
            "SELECT id, subject, created_at, expires_at, revoked_at FROM sessions ORDER BY id",
        )
        .fetch_all(db.pool())
        .await
        .unwrap();
        let rows: Vec<(String, i64, i64, Option<i64>)> = sessions
            .iter()
            .map(|r| {
                assert_eq!(r.try_get::<String, _>("subject").unwrap(), subject);
                (
                    r.try_get("id").unwrap(),
                    r.try_get("created_at").unwrap(),
                    r.try_get("expires_at").unwrap(),
                    opt_i64(r, "revoked_at").unwrap(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                ("s1".to_owned(), 5, 1000, None),
                ("s2".to_owned(), 20, 2000, Some(30)),
            ]
        );
        // Applying again changes nothing.
        db.migrate().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://x.db"), "sqlite://x.db");
    }
}
