//! JWE algorithms (RFC 7518 sections 4 and 5, RFC 8037 for X25519): key management (`alg`)
//! and content encryption (`enc`), by name.

use std::fmt;
use std::str::FromStr;

use crate::shown::shown;

use super::JweError;

/// A key-management algorithm: how the content-encryption key reaches the recipient.
///
/// `RSA1_5` is not representable (Bleichenbacher's padding oracle); nor are the 192-bit
/// key wraps, which aws-lc-rs does not offer, and AES-GCM key wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSAES-OAEP with SHA-1 and MGF1-SHA-1 (RFC 7518 section 4.3).
    RsaOaep,
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256.
    RsaOaep256,
    /// AES-128 key wrap (RFC 3394).
    A128Kw,
    /// AES-256 key wrap.
    A256Kw,
    /// The shared key is the content-encryption key.
    Dir,
    /// ECDH-ES on P-256/384/521 or X25519; the agreed key is the content-encryption key.
    EcdhEs,
    /// ECDH-ES, then AES-128 key wrap of a random content-encryption key.
    EcdhEsA128Kw,
    /// ECDH-ES, then AES-256 key wrap.
    EcdhEsA256Kw,
    /// A password through PBKDF2-HMAC-SHA-256, then AES-128 key wrap. Decrypting it is
    /// refused unless [`JweLimits::pbes2_max_iterations`](super::JweLimits) allows it.
    Pbes2Hs256A128Kw,
    /// A password through PBKDF2-HMAC-SHA-512, then AES-256 key wrap (same opt-in).
    Pbes2Hs512A256Kw,
}

impl KeyAlgorithm {
    /// Every supported key-management algorithm.
    pub const ALL: [KeyAlgorithm; 10] = [
        KeyAlgorithm::RsaOaep256,
        KeyAlgorithm::RsaOaep,
        KeyAlgorithm::EcdhEs,
        KeyAlgorithm::EcdhEsA128Kw,
        KeyAlgorithm::EcdhEsA256Kw,
        KeyAlgorithm::A128Kw,
        KeyAlgorithm::A256Kw,
        KeyAlgorithm::Dir,
        KeyAlgorithm::Pbes2Hs256A128Kw,
        KeyAlgorithm::Pbes2Hs512A256Kw,
    ];

    /// The RFC 7518 name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::RsaOaep => "RSA-OAEP",
            KeyAlgorithm::RsaOaep256 => "RSA-OAEP-256",
            KeyAlgorithm::A128Kw => "A128KW",
            KeyAlgorithm::A256Kw => "A256KW",
            KeyAlgorithm::Dir => "dir",
            KeyAlgorithm::EcdhEs => "ECDH-ES",
            KeyAlgorithm::EcdhEsA128Kw => "ECDH-ES+A128KW",
            KeyAlgorithm::EcdhEsA256Kw => "ECDH-ES+A256KW",
            KeyAlgorithm::Pbes2Hs256A128Kw => "PBES2-HS256+A128KW",
            KeyAlgorithm::Pbes2Hs512A256Kw => "PBES2-HS512+A256KW",
        }
    }

    /// The key type it needs: `RSA`, `EC` (or `OKP` X25519), or `oct`.
    pub(crate) fn family(self) -> KeyFamily {
        match self {
            KeyAlgorithm::RsaOaep | KeyAlgorithm::RsaOaep256 => KeyFamily::Rsa,
            KeyAlgorithm::EcdhEs | KeyAlgorithm::EcdhEsA128Kw | KeyAlgorithm::EcdhEsA256Kw => {
                KeyFamily::Ecdh
            }
            KeyAlgorithm::A128Kw | KeyAlgorithm::A256Kw | KeyAlgorithm::Dir => KeyFamily::Oct,
            KeyAlgorithm::Pbes2Hs256A128Kw | KeyAlgorithm::Pbes2Hs512A256Kw => KeyFamily::Password,
        }
    }

    /// The AES key-wrap key length in bytes, for the wrapping algorithms.
    pub(crate) fn wrap_key_len(self) -> Option<usize> {
        match self {
            KeyAlgorithm::A128Kw | KeyAlgorithm::EcdhEsA128Kw | KeyAlgorithm::Pbes2Hs256A128Kw => {
                Some(16)
            }
            KeyAlgorithm::A256Kw | KeyAlgorithm::EcdhEsA256Kw | KeyAlgorithm::Pbes2Hs512A256Kw => {
                Some(32)
            }
            _ => None,
        }
    }
}

/// The key type a key-management algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    Rsa,
    Ecdh,
    Oct,
    /// An `oct` JWK whose `k` is a password.
    Password,
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for KeyAlgorithm {
    type Err = JweError;

    fn from_str(name: &str) -> Result<KeyAlgorithm, JweError> {
        Ok(match name {
            "RSA-OAEP" => KeyAlgorithm::RsaOaep,
            "RSA-OAEP-256" => KeyAlgorithm::RsaOaep256,
            "A128KW" => KeyAlgorithm::A128Kw,
            "A256KW" => KeyAlgorithm::A256Kw,
            "dir" => KeyAlgorithm::Dir,
            "ECDH-ES" => KeyAlgorithm::EcdhEs,
            "ECDH-ES+A128KW" => KeyAlgorithm::EcdhEsA128Kw,
            "ECDH-ES+A256KW" => KeyAlgorithm::EcdhEsA256Kw,
            "PBES2-HS256+A128KW" => KeyAlgorithm::Pbes2Hs256A128Kw,
            "PBES2-HS512+A256KW" => KeyAlgorithm::Pbes2Hs512A256Kw,
            "RSA1_5" => return Err(JweError::Rsa15),
            n if n.eq_ignore_ascii_case("none") => {
                return Err(JweError::UnsupportedAlg("none".into()))
            }
            other => return Err(JweError::UnsupportedAlg(shown(other).to_string())),
        })
    }
}

/// A content-encryption algorithm (RFC 7518 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentEncryption {
    /// AES-128-GCM.
    A128Gcm,
    /// AES-256-GCM.
    A256Gcm,
    /// AES-128-CBC with HMAC-SHA-256, truncated to 128 bits.
    A128CbcHs256,
    /// AES-256-CBC with HMAC-SHA-512, truncated to 256 bits.
    A256CbcHs512,
}

impl ContentEncryption {
    /// Every supported content-encryption algorithm.
    pub const ALL: [ContentEncryption; 4] = [
        ContentEncryption::A256Gcm,
        ContentEncryption::A128Gcm,
        ContentEncryption::A256CbcHs512,
        ContentEncryption::A128CbcHs256,
    ];

    /// The RFC 7518 name.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentEncryption::A128Gcm => "A128GCM",
            ContentEncryption::A256Gcm => "A256GCM",
            ContentEncryption::A128CbcHs256 => "A128CBC-HS256",
            ContentEncryption::A256CbcHs512 => "A256CBC-HS512",
        }
    }

    /// The content-encryption key length in bytes (for CBC-HMAC: MAC key + AES key).
    pub fn key_len(self) -> usize {
        match self {
            ContentEncryption::A128Gcm => 16,
            ContentEncryption::A256Gcm => 32,
            ContentEncryption::A128CbcHs256 => 32,
            ContentEncryption::A256CbcHs512 => 64,
        }
    }

    /// The initialisation vector length in bytes.
    pub(crate) fn iv_len(self) -> usize {
        match self {
            ContentEncryption::A128Gcm | ContentEncryption::A256Gcm => 12,
            _ => 16,
        }
    }

    /// The authentication tag length in bytes.
    pub(crate) fn tag_len(self) -> usize {
        match self {
            ContentEncryption::A128Gcm | ContentEncryption::A256Gcm => 16,
            ContentEncryption::A128CbcHs256 => 16,
            ContentEncryption::A256CbcHs512 => 32,
        }
    }
}

impl fmt::Display for ContentEncryption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContentEncryption {
    type Err = JweError;

    fn from_str(name: &str) -> Result<ContentEncryption, JweError> {
        Ok(match name {
            "A128GCM" => ContentEncryption::A128Gcm,
            "A256GCM" => ContentEncryption::A256Gcm,
            "A128CBC-HS256" => ContentEncryption::A128CbcHs256,
            "A256CBC-HS512" => ContentEncryption::A256CbcHs512,
            other => return Err(JweError::UnsupportedEnc(shown(other).to_string())),
        })
    }
}
