//! JSON Web Encryption (RFC 7516), compact serialisation, with the algorithms of RFC 7518
//! that aws-lc-rs provides, and nested JWTs (a JWS, then encrypted; `cty` `JWT`).
//!
//! The API is typed by use: an [`EncryptionKey`] (the recipient's public key, or a shared
//! one) encrypts, a [`DecryptionKey`] decrypts, and neither can be made from a signing key
//! nor made into one. The caller says what it expects: [`DecryptionKey::decrypt`] takes
//! only a JWE (a JWS is refused, and [`UnverifiedJwt`] refuses a JWE),
//! and the plaintext of a nested JWT comes out as an [`UnverifiedJwt`]
//! whose claims are readable only after its signature and claims have been verified: no
//! path turns a decrypted payload into trusted claims without a signature.
//!
//! ```
//! use tessera_jose::jwe::{ContentEncryption, DecryptionKey, EncryptionKey, KeyAlgorithm};
//! use tessera_jose::{Algorithm, Jwk, SigningKey, Validation, VerifyingKey};
//!
//! // The resource server's encryption key pair, and the issuer's signing key.
//! let enc = Jwk::generate_encryption(KeyAlgorithm::EcdhEs, None, Some("X25519"))?;
//! let sig = Jwk::generate(Algorithm::ES256, None)?;
//!
//! // The issuer signs, then encrypts to the resource server's public key.
//! let jws = SigningKey::from_jwk(&sig, None)?
//!     .sign_jwt(&serde_json::json!({"sub": "jane", "exp": 4102444800u64}))?;
//! let token = EncryptionKey::from_jwk(&enc.to_public(), None)?
//!     .encrypt_jws(&jws, ContentEncryption::A256Gcm)?;
//!
//! // The resource server decrypts, then verifies the inner JWS.
//! let nested = DecryptionKey::from_jwk(&enc, None)?.decrypt_nested(&token)?;
//! let jwt = nested.verify(&VerifyingKey::from_jwk(&sig.to_public())?, &Validation::new())?;
//! assert_eq!(jwt.claims().sub(), Some("jane"));
//! # Ok::<(), tessera_jose::Error>(())
//! ```

mod alg;
mod content;
mod keys;

use serde_json::{Map, Value};
use zeroize::Zeroizing;

pub use alg::{ContentEncryption, KeyAlgorithm};
pub use keys::{DecryptionKey, EncryptionKey};

pub(crate) use alg::KeyFamily;
pub(crate) use keys::check_fits;

use crate::error::Error;
use crate::json;
use crate::jws::Limits;
use crate::jwt::{Jwt, KeyResolver, UnverifiedJwt};
use crate::validation::Validation;

/// Why a JWE was refused or could not be made. Variants name the rule; a failed
/// decryption says only that, whatever step failed (no oracle).
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
#[non_exhaustive]
pub enum JweError {
    /// `RSA1_5` is refused by name: PKCS#1 v1.5 encryption is open to padding-oracle
    /// attacks (Bleichenbacher).
    #[error("`RSA1_5` is refused (RSAES-PKCS1-v1_5 is open to padding-oracle attacks); use RSA-OAEP-256")]
    Rsa15,
    /// PBES2 (password-based) key management is not enabled.
    #[error("PBES2 password-based key management is not enabled")]
    Pbes2,
    /// A PBES2 iteration count (`p2c`) outside the accepted range: over the limit (a
    /// denial of service: each iteration is an HMAC), or too low to be a protection.
    #[error("PBES2 `p2c` is {p2c}, outside the accepted {min}..={max}")]
    Pbes2Iterations {
        /// The header's `p2c`.
        p2c: u64,
        /// The lowest accepted.
        min: u32,
        /// The highest accepted.
        max: u32,
    },
    /// Compressed plaintext (`zip`) is not enabled.
    #[error("compressed plaintext (`zip`) is not enabled")]
    Zip,
    /// Compressed plaintext that inflates past the limit (a zip bomb), or is not DEFLATE.
    #[error("compressed plaintext: {0}")]
    Inflate(String),
    /// An unknown or unsupported `alg`.
    #[error("unsupported key-management algorithm `{0}`")]
    UnsupportedAlg(String),
    /// An unknown or unsupported `enc`.
    #[error("unsupported content encryption `{0}`")]
    UnsupportedEnc(String),
    /// A token that is not a compact JWE: a JWS (three parts) where a JWE was expected,
    /// or anything else.
    #[error("expected a JWE (5 dot-separated parts), found {0} parts{hint}", hint = if *.0 == 3 { ": a JWS where a JWE was expected" } else { "" })]
    NotJwe(usize),
    /// The token is larger than the limit (checked before anything else).
    #[error("JWE is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size in bytes.
        size: usize,
        /// Limit in bytes.
        limit: usize,
    },
    /// A part is not canonical unpadded base64url.
    #[error("JWE {0} is not canonical unpadded base64url")]
    Base64(&'static str),
    /// The protected header is malformed, or a member has the wrong type.
    #[error("JWE header: {0}")]
    Header(String),
    /// The header's `alg` is not the key's.
    #[error("header `alg` is {header}, but the key is for {key}")]
    AlgMismatch {
        /// The header's `alg`.
        header: KeyAlgorithm,
        /// The key's algorithm.
        key: KeyAlgorithm,
    },
    /// The header's `enc` is not in the accepted list.
    #[error("content encryption {0} is not accepted")]
    EncNotAllowed(ContentEncryption),
    /// The initialisation vector has the wrong length for `enc`.
    #[error("{enc} needs a {expected}-byte IV, this one is {found} bytes")]
    IvLength {
        /// The content encryption.
        enc: ContentEncryption,
        /// Its IV length.
        expected: usize,
        /// The IV's length.
        found: usize,
    },
    /// The authentication tag has the wrong length for `enc`.
    #[error("{enc} needs a {expected}-byte authentication tag, this one is {found} bytes")]
    TagLength {
        /// The content encryption.
        enc: ContentEncryption,
        /// Its tag length.
        expected: usize,
        /// The tag's length.
        found: usize,
    },
    /// The content-encryption key has the wrong length for `enc` (after unwrapping, or a
    /// `dir` key).
    #[error("{enc} needs a {expected}-byte content-encryption key, this one is {found} bytes")]
    CekLength {
        /// The content encryption.
        enc: ContentEncryption,
        /// Its key length.
        expected: usize,
        /// The key's length.
        found: usize,
    },
    /// The encrypted key is present where the algorithm has none (`dir`, `ECDH-ES`).
    #[error("`{0}` takes an empty encrypted key")]
    EncryptedKeyNotEmpty(KeyAlgorithm),
    /// The ephemeral public key (`epk`) is missing, malformed, not on the curve, or on
    /// another curve than the recipient's.
    #[error("ephemeral key `epk`: {0}")]
    Epk(String),
    /// Decryption failed: the key is not the one it was encrypted to, or the token was
    /// altered. Deliberately no more precise.
    #[error("decryption failed")]
    Decryption,
    /// A nested JWT was expected and the JWE's `cty` does not say `JWT`.
    #[error("expected a nested JWT (`cty` `JWT`), the JWE's `cty` is {0}")]
    NotNested(String),
    /// The key cannot be used for this operation.
    #[error("{0}")]
    Key(String),
}

impl From<JweError> for Error {
    fn from(e: JweError) -> Error {
        Error::Jwe(e)
    }
}

/// Limits for decryption, applied before any cryptography.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JweLimits {
    /// Maximum token length in bytes (default 32 KiB: a nested ML-DSA-87 token fits).
    pub max_token_len: usize,
    /// Maximum JSON nesting depth of the header (default 16).
    pub max_depth: usize,
    /// The content encryptions accepted (default: all four).
    pub encs: Vec<ContentEncryption>,
    /// PBES2 tokens are decrypted only when this is set, with a `p2c` of at most this
    /// many iterations (default `None`: PBES2 refused).
    pub pbes2_max_iterations: Option<u32>,
    /// Compressed (`zip: "DEF"`) plaintext is accepted only when this is set, and only if it
    /// inflates to at most this many bytes (default `None`: `zip` refused).
    pub max_inflated_len: Option<usize>,
}

/// The fewest PBES2 iterations accepted (RFC 7518 section 4.8.1.2 asks for at least 1000).
pub const PBES2_MIN_ITERATIONS: u32 = 1000;

impl Default for JweLimits {
    fn default() -> Self {
        JweLimits {
            max_token_len: 32 * 1024,
            max_depth: 16,
            encs: ContentEncryption::ALL.to_vec(),
            pbes2_max_iterations: None,
            max_inflated_len: None,
        }
    }
}

/// A JWE protected header, checked.
#[derive(Debug, Clone)]
pub struct JweHeader {
    alg: KeyAlgorithm,
    enc: ContentEncryption,
    members: Map<String, Value>,
}

/// Members a JWE header may carry that Tessera understands; `crit` naming anything is
/// refused, as in a JWS.
impl JweHeader {
    /// The key-management algorithm.
    pub fn alg(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The content encryption.
    pub fn enc(&self) -> ContentEncryption {
        self.enc
    }

    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.members.get("kid").and_then(Value::as_str)
    }

    /// The media type of the whole token.
    pub fn typ(&self) -> Option<&str> {
        self.members.get("typ").and_then(Value::as_str)
    }

    /// The content type of the plaintext (`JWT` for a nested token).
    pub fn cty(&self) -> Option<&str> {
        self.members.get("cty").and_then(Value::as_str)
    }

    /// Every member as sent.
    pub fn members(&self) -> &Map<String, Value> {
        &self.members
    }

    fn parse(bytes: &[u8], limits: &JweLimits) -> Result<JweHeader, JweError> {
        if json::deeper_than(bytes, limits.max_depth) {
            return Err(JweError::Header(format!(
                "nested deeper than {} levels",
                limits.max_depth
            )));
        }
        let members = json::object_without_duplicates(bytes)
            .map_err(|e| JweError::Header(e.in_part(crate::error::Part::Header).to_string()))?;
        let text = |name: &str| -> Result<Option<&str>, JweError> {
            match members.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(other) => Err(JweError::Header(format!(
                    "`{name}` is {}, expected a string",
                    json::type_name(other)
                ))),
            }
        };
        let alg: KeyAlgorithm = text("alg")?
            .ok_or_else(|| JweError::Header("`alg` is missing".into()))?
            .parse()?;
        let enc: ContentEncryption = text("enc")?
            .ok_or_else(|| JweError::Header("`enc` is missing".into()))?
            .parse()?;
        for name in ["kid", "typ", "cty", "apu", "apv", "p2s"] {
            text(name)?;
        }
        match text("zip")? {
            None => {}
            Some(_) if limits.max_inflated_len.is_none() => return Err(JweError::Zip),
            Some("DEF") => {}
            Some(other) => {
                return Err(JweError::Header(format!(
                    "`zip` is `{}`; only DEF is defined",
                    crate::shown(other)
                )))
            }
        }
        if matches!(
            alg,
            KeyAlgorithm::Pbes2Hs256A128Kw | KeyAlgorithm::Pbes2Hs512A256Kw
        ) {
            let Some(max) = limits.pbes2_max_iterations else {
                return Err(JweError::Pbes2);
            };
            let p2c = match members.get("p2c") {
                Some(Value::Number(n)) => n
                    .as_u64()
                    .ok_or_else(|| JweError::Header("`p2c` is not a positive integer".into()))?,
                Some(_) => return Err(JweError::Header("`p2c` is not a number".into())),
                None => return Err(JweError::Header("`p2c` is missing".into())),
            };
            if p2c < u64::from(PBES2_MIN_ITERATIONS) || p2c > u64::from(max) {
                return Err(JweError::Pbes2Iterations {
                    p2c,
                    min: PBES2_MIN_ITERATIONS,
                    max,
                });
            }
        }
        if let Some(crit) = members.get("crit") {
            return Err(JweError::Header(format!(
                "`crit` names extensions this implementation does not understand: {}",
                crate::shown(&crit.to_string())
            )));
        }
        Ok(JweHeader { alg, enc, members })
    }
}

/// A decrypted JWE: its header and plaintext. The plaintext is authenticated by the
/// content encryption, so it came from someone who holds the encryption key — which, for
/// a public key, is anyone. Treat it as untrusted input, never as claims.
pub struct Decrypted {
    header: JweHeader,
    plaintext: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("header", &self.header)
            .field(
                "plaintext",
                &format_args!("[{} bytes]", self.plaintext.len()),
            )
            .finish()
    }
}

impl Decrypted {
    /// The protected header.
    pub fn header(&self) -> &JweHeader {
        &self.header
    }

    /// The plaintext.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }
}

/// The inner JWS of a nested JWT, decrypted but not yet verified. Its claims are reached
/// only through [`NestedJwt::verify`] (or [`NestedJwt::unverified`] and then
/// [`UnverifiedJwt::verify`]), which apply every JWS rule.
#[derive(Debug)]
pub struct NestedJwt {
    header: JweHeader,
    jws: String,
    limits: Limits,
}

impl NestedJwt {
    /// The outer (JWE) header.
    pub fn jwe_header(&self) -> &JweHeader {
        &self.header
    }

    /// The inner JWS, parsed (size and depth limits, header checks) but not verified.
    pub fn unverified(&self) -> Result<UnverifiedJwt<'_>, Error> {
        UnverifiedJwt::parse_with_limits(&self.jws, &self.limits)
    }

    /// Verifies the inner JWS: its signature with `keys`, and its claims with `validation`.
    pub fn verify(&self, keys: &impl KeyResolver, validation: &Validation) -> Result<Jwt, Error> {
        self.unverified()?.verify(keys, validation)
    }

    /// The inner JWS's compact text.
    pub fn inner(&self) -> &str {
        &self.jws
    }
}

/// Splits a compact JWE into its five parts, after the size check.
fn split<'a>(token: &'a str, limits: &JweLimits) -> Result<[&'a str; 5], JweError> {
    if token.len() > limits.max_token_len {
        return Err(JweError::TooLarge {
            size: token.len(),
            limit: limits.max_token_len,
        });
    }
    let mut parts = token.split('.');
    let mut out = [""; 5];
    for slot in out.iter_mut() {
        *slot = parts
            .next()
            .ok_or(JweError::NotJwe(token.split('.').count()))?;
    }
    if parts.next().is_some() {
        return Err(JweError::NotJwe(token.split('.').count()));
    }
    Ok(out)
}

fn decode(text: &str, part: &'static str) -> Result<Vec<u8>, JweError> {
    crate::b64::decode(text).ok_or(JweError::Base64(part))
}

#[cfg(test)]
mod tests;
