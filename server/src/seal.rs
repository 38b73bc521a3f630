//! Private keys at rest: AES-256-GCM under a master key, with the key id as associated data
//! so a sealed blob cannot be moved to another key's row.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

const PREFIX: &str = "v1:";

/// The key that seals private keys. Never logged; `Debug` shows nothing.
pub struct MasterKey {
    key: LessSafeKey,
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
    pub fn load_or_create(env: Option<&str>, file: &Path) -> Result<(MasterKey, MasterKeySource)> {
        if let Some(text) = env {
            return Ok((MasterKey::from_text(text)?, MasterKeySource::Environment));
        }
        let shown = file.display().to_string();
        match std::fs::read_to_string(file) {
            Ok(text) => Ok((MasterKey::from_text(&text)?, MasterKeySource::File(shown))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = Zeroizing::new([0u8; 32]);
                SystemRandom::new()
                    .fill(bytes.as_mut())
                    .map_err(|_| Error::Seal("random source failed".into()))?;
                let text = Zeroizing::new(STANDARD.encode(bytes.as_ref()));
                write_private_file(file, text.as_bytes())?;
                Ok((
                    MasterKey::from_bytes(bytes.as_ref())?,
                    MasterKeySource::Created(shown),
                ))
            }
            Err(e) => Err(Error::Seal(format!("cannot read {shown}: {e}"))),
        }
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

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..32)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok())
        .collect()
}

#[cfg(unix)]
fn write_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::Seal(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::Seal(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
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
    }
}
