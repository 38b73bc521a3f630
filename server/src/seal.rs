//! Private keys at rest: AES-256-GCM under a master key, with the key id as associated data
//! so a sealed blob cannot be moved to another key's row.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use zeroize::Zeroizing;

use crate::db::{setting, Db};
use crate::error::{Error, Result};

const PREFIX: &str = "v1:";
/// The `settings` row holding a known value sealed under the master key.
const CHECK_SETTING: &str = "master_key_check";
const CHECK_PLAINTEXT: &[u8] = b"tessera master key check";

/// The key that seals private keys. Never logged; `Debug` shows nothing.
pub struct MasterKey {
    key: LessSafeKey,
    /// The master key as an HMAC key, for [`MasterKey::derive`].
    prf: aws_lc_rs::hmac::Key,
    rng: SystemRandom,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Where the master key came from, for the start-up log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `TESSERA_MASTER_KEY`.
    Environment,
    /// An existing key file.
    File(String),
    /// A key file created now.
    Created(String),
}

impl MasterKey {
    /// From 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<MasterKey> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| Error::Seal("the master key must be 32 bytes".into()))?;
        Ok(MasterKey {
            key: LessSafeKey::new(unbound),
            prf: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, bytes),
            rng: SystemRandom::new(),
        })
    }

    /// From text: 32 bytes as base64 (standard or url-safe) or as 64 hex digits.
    pub fn from_text(text: &str) -> Result<MasterKey> {
        let text = text.trim();
        let bytes = Zeroizing::new(
            decode_hex(text)
                .or_else(|| STANDARD.decode(text).ok())
                .or_else(|| URL_SAFE_NO_PAD.decode(text).ok())
                .ok_or_else(|| {
                    Error::Seal("the master key must be 32 bytes in base64 or hex".into())
                })?,
        );
        MasterKey::from_bytes(&bytes)
    }

    /// `TESSERA_MASTER_KEY` if set, else the key file, created with mode 0600 if absent.
    /// Prefer [`MasterKey::for_database`], which refuses to create a second key for a
    /// database whose keys are sealed under another one.
    pub fn load_or_create(env: Option<&str>, file: &Path) -> Result<(MasterKey, MasterKeySource)> {
        match MasterKey::load(env, file)? {
            Some(found) => Ok(found),
            None => MasterKey::create(file),
        }
    }

    /// `TESSERA_MASTER_KEY` if set, else the key file; `None` if neither exists.
    pub fn load(env: Option<&str>, file: &Path) -> Result<Option<(MasterKey, MasterKeySource)>> {
        if let Some(text) = env {
            return Ok(Some((
                MasterKey::from_text(text)?,
                MasterKeySource::Environment,
            )));
        }
        let shown = file.display().to_string();
        refuse_if_shared(file)?;
        match std::fs::read_to_string(file) {
            Ok(text) => Ok(Some((
                MasterKey::from_text(&text).map_err(|e| Error::Seal(format!("{shown}: {e}")))?,
                MasterKeySource::File(shown),
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Seal(format!("cannot read {shown}: {e}"))),
        }
    }

    /// Creates a new random key file (mode 0600). Fails if the file exists.
    pub fn create(file: &Path) -> Result<(MasterKey, MasterKeySource)> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| Error::Seal("random source failed".into()))?;
        let text = Zeroizing::new(STANDARD.encode(bytes.as_ref()));
        write_private_file(file, text.as_bytes())?;
        Ok((
            MasterKey::from_bytes(bytes.as_ref())?,
            MasterKeySource::Created(file.display().to_string()),
        ))
    }

    /// The master key for `db`: `TESSERA_MASTER_KEY` or the key file, checked against the
    /// database (see [`MasterKey::check`]). A new key file is created only for a database
    /// that holds nothing sealed yet; otherwise a missing key is an error, so that running
    /// a command from another directory cannot start a second, unrelated master key.
    pub async fn for_database(
        db: &Db,
        env: Option<&str>,
        file: &Path,
    ) -> Result<(MasterKey, MasterKeySource)> {
        let (key, source) = match MasterKey::load(env, file)? {
            Some(found) => found,
            None => {
                if setting(db.pool(), CHECK_SETTING).await?.is_some()
                    || any_sealed_key(db).await?.is_some()
                {
                    return Err(Error::Seal(format!(
                        "no master key: TESSERA_MASTER_KEY is not set and {} does not exist, but \
                         this database holds keys sealed under a master key; run from the \
                         directory that holds the server's key file, set master_key_file in \
                         the --config file, or set TESSERA_MASTER_KEY",
                        file.display()
                    )));
                }
                MasterKey::create(file)?
            }
        };
        key.check(db).await?;
        Ok((key, source))
    }

    /// Checks that this is the master key the database's private keys are sealed under,
    /// and records a check value on first use, so that a wrong key is refused before it
    /// seals anything (which would leave keys no other process can open).
    pub async fn check(&self, db: &Db) -> Result<()> {
        let mismatch = || {
            Error::Seal(
                "the master key is not the one this database's keys are sealed under (check \
                 TESSERA_MASTER_KEY or master_key_file)"
                    .into(),
            )
        };
        if let Some(stored) = setting(db.pool(), CHECK_SETTING).await? {
            return self
                .open(CHECK_SETTING, &stored)
                .map(drop)
                .map_err(|_| mismatch());
        }
        if let Some((kid, sealed)) = any_sealed_key(db).await? {
            self.open(&kid, &sealed).map_err(|_| mismatch())?;
        }
        let value = self.seal(CHECK_SETTING, CHECK_PLAINTEXT)?;
        sqlx::query(
            "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(CHECK_SETTING)
        .bind(value)
        .execute(db.pool())
        .await?;
        // Another process may have recorded its own key first: it must be this one.
        let stored = setting(db.pool(), CHECK_SETTING)
            .await?
            .ok_or_else(mismatch)?;
        self.open(CHECK_SETTING, &stored)
            .map(drop)
            .map_err(|_| mismatch())
    }

    /// A 32-byte secret for `purpose`, derived from the master key (HMAC-SHA256 of the
    /// purpose, keyed by the master key), so that every replica with the same master key
    /// has the same secret and none is stored.
    pub fn derive(&self, purpose: &str) -> Zeroizing<Vec<u8>> {
        let tag = aws_lc_rs::hmac::sign(&self.prf, format!("tessera derive {purpose}").as_bytes());
        Zeroizing::new(tag.as_ref().to_vec())
    }

    /// Encrypts `plaintext` bound to `kid`.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| Error::Seal("random source failed".into()))?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Error::Seal("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
    }

    /// Decrypts a blob sealed for `kid`; fails on a wrong master key or any tampering.
    pub fn open(&self, kid: &str, sealed: &str) -> Result<Zeroizing<Vec<u8>>> {
        let body = sealed
            .strip_prefix(PREFIX)
            .ok_or_else(|| Error::Seal(format!("key {kid}: unknown sealing format")))?;
        let raw = STANDARD
            .decode(body)
            .map_err(|_| Error::Seal(format!("key {kid}: sealed data is not base64")))?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(Error::Seal(format!("key {kid}: sealed data is truncated")));
        }
        let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| Error::Seal(format!("key {kid}: bad nonce")))?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| {
                Error::Seal(format!(
                    "key {kid}: cannot decrypt (wrong master key, or the data was altered)"
                ))
            })?
            .len();
        buf.truncate(plain_len);
        Ok(buf)
    }
}

/// One sealed private key, to check a master key against before any check value exists.
async fn any_sealed_key(db: &Db) -> Result<Option<(String, String)>> {
    use sqlx::Row;
    let row = sqlx::query("SELECT kid, private_sealed FROM signing_keys WHERE private_sealed IS NOT NULL ORDER BY created_at DESC, kid LIMIT 1")
        .fetch_optional(db.pool())
        .await?;
    Ok(row
        .map(|r| Ok::<_, sqlx::Error>((r.try_get("kid")?, r.try_get("private_sealed")?)))
        .transpose()?)
}

/// Refuses a key file that other local users can read or write: whoever reads it can
/// decrypt every signing key in the database.
#[cfg(unix)]
fn refuse_if_shared(file: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(file) {
        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => Err(Error::Seal(format!(
            "{} is readable or writable by other users (mode {:o}): it decrypts every signing \
             key; run `chmod 600 {}`",
            file.display(),
            meta.permissions().mode() & 0o777,
            file.display()
        ))),
        _ => Ok(()),
    }
}

#[cfg(not(unix))]
fn refuse_if_shared(_file: &Path) -> Result<()> {
    Ok(())
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// Writes a new private file atomically: a temporary file in the same directory, synced,
/// then linked into place only if nothing is there yet, so a crash never leaves a partial
/// key file and two processes starting at once cannot both create one.
fn write_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Seal(format!("{} is not a file name", path.display())))?;
    let mut suffix = [0u8; 8];
    SystemRandom::new()
        .fill(&mut suffix)
        .map_err(|_| Error::Seal("random source failed".into()))?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        URL_SAFE_NO_PAD.encode(suffix)
    ));
    let cannot = |e: std::io::Error| Error::Seal(format!("cannot create {}: {e}", path.display()));
    let result = (|| -> std::io::Result<()> {
        let mut file = open_private(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        // hard_link fails if `path` exists: the first creator wins. File systems without
        // hard links (some network and FUSE mounts) get a plain exclusive create instead.
        match std::fs::hard_link(&temp, path) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::Unsupported | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                let mut file = open_private(path)?;
                file.write_all(bytes)?;
                file.sync_all()?;
            }
            Err(e) => return Err(e),
        }
        if let Ok(d) = std::fs::File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })()
    .map_err(cannot);
    let _ = std::fs::remove_file(&temp);
    result
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let key = MasterKey::from_bytes(&[7u8; 32]).unwrap();
        let sealed = key.seal("kid-a", b"secret").unwrap();
        assert!(!sealed.contains("secret"));
        assert_eq!(&*key.open("kid-a", &sealed).unwrap(), b"secret");
        // Bound to its kid: moving it to another row fails.
        assert!(key.open("kid-b", &sealed).is_err());
        // Another master key fails.
        let other = MasterKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open("kid-a", &sealed).is_err());
    }

    #[test]
    fn key_file_is_created_private() {
        let dir = std::env::temp_dir().join(format!("tessera-seal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("master.key");
        let (a, source) = MasterKey::load_or_create(None, &path).unwrap();
        assert!(matches!(source, MasterKeySource::Created(_)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (b, source) = MasterKey::load_or_create(None, &path).unwrap();
        assert!(matches!(source, MasterKeySource::File(_)));
        let sealed = a.seal("k", b"x").unwrap();
        assert_eq!(&*b.open("k", &sealed).unwrap(), b"x");
        #[cfg(unix)]
        {
            // A key file others can read is refused, with the fix in the message.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = MasterKey::load(None, &path).unwrap_err().to_string();
            assert!(err.contains("chmod 600"), "{err}");
        }
    }
}
