//! JSON Web Keys (RFC 7517, RFC 7518 section 6, RFC 8037, and the `AKP` keys of ML-DSA,
//! RFC 9964): parsing into a form that cannot
//! hold an invalid key, serialising (public or private), and key generation.

use std::fmt;

use aws_lc_rs::encoding::{AsBigEndian, AsDer};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::alg::{Algorithm, Family};
use crate::b64;
use crate::error::{Error, KeyError};
use crate::jwe::KeyAlgorithm;
use crate::shown::{escaped_message, shown};

/// Secret bytes, wiped from memory on drop.
pub(crate) type Secret = Zeroizing<Vec<u8>>;

/// A NIST curve used by ECDSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// P-256 (ES256).
    P256,
    /// P-384 (ES384).
    P384,
    /// P-521 (ES512).
    P521,
}

impl Curve {
    /// The JWK `crv` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Curve::P256 => "P-256",
            Curve::P384 => "P-384",
            Curve::P521 => "P-521",
        }
    }

    /// The one algorithm this curve signs with.
    pub fn algorithm(self) -> Algorithm {
        match self {
            Curve::P256 => Algorithm::ES256,
            Curve::P384 => Algorithm::ES384,
            Curve::P521 => Algorithm::ES512,
        }
    }

    fn from_name(name: &str) -> Option<Curve> {
        match name {
            "P-256" => Some(Curve::P256),
            "P-384" => Some(Curve::P384),
            "P-521" => Some(Curve::P521),
            _ => None,
        }
    }

    pub(crate) fn coordinate_len(self) -> usize {
        self.algorithm().ec_coordinate_len()
    }
}

/// The intended use of a key (`use` member).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyUse {
    /// `sig`: signatures.
    Signature,
    /// `enc`: encryption; never used to verify a signature.
    Encryption,
    /// Any other value; treated as not usable for signatures.
    Other(String),
}

impl KeyUse {
    fn as_str(&self) -> &str {
        match self {
            KeyUse::Signature => "sig",
            KeyUse::Encryption => "enc",
            KeyUse::Other(s) => s,
        }
    }
}

/// The RSA private parameters, all of them: aws-lc-rs needs the CRT values.
#[derive(Clone)]
pub(crate) struct RsaPrivate {
    pub(crate) d: Secret,
    pub(crate) p: Secret,
    pub(crate) q: Secret,
    pub(crate) dp: Secret,
    pub(crate) dq: Secret,
    pub(crate) qi: Secret,
}

/// The key material, by key type. Byte strings are big-endian without leading zeros for RSA
/// integers, and fixed-length for curve coordinates.
#[derive(Clone)]
pub(crate) enum KeyParams {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
        private: Option<Box<RsaPrivate>>,
    },
    Ec {
        crv: Curve,
        x: Vec<u8>,
        y: Vec<u8>,
        d: Option<Secret>,
    },
    /// Ed25519 only: X25519 is a key-agreement curve and has no place in JWS.
    Okp {
        x: Vec<u8>,
        d: Option<Secret>,
    },
    Oct {
        k: Secret,
    },
    /// X25519 (RFC 8037), for ECDH-ES key agreement only.
    X25519 {
        x: Vec<u8>,
        d: Option<Secret>,
    },
    /// ML-DSA (RFC 9964): bound to one parameter set; the private key is the 32-byte seed.
    Akp {
        alg: Algorithm,
        public: Vec<u8>,
        seed: Option<Secret>,
    },
}

/// ML-DSA seeds are 32 bytes (FIPS 204 `xi`).
pub(crate) const ML_DSA_SEED_LEN: usize = 32;

/// A JSON Web Key. Parsing checks every member, so a `Jwk` always holds usable key
/// material of the right sizes; whether it may sign or verify is decided when it is turned
/// into a [`SigningKey`](crate::SigningKey) or [`VerifyingKey`](crate::VerifyingKey).
///
/// `Debug` never prints private material.
///
/// ```
/// use tessera_jose::{Algorithm, Jwk};
///
/// let private = Jwk::generate(Algorithm::ES256, None)?;
/// let public = private.to_public();
/// assert!(private.is_private() && !public.is_private());
/// assert_eq!(public.kid(), private.kid());
/// # Ok::<(), tessera_jose::Error>(())
/// ```
#[derive(Clone)]
pub struct Jwk {
    pub(crate) params: KeyParams,
    kid: Option<String>,
    alg: Option<Algorithm>,
    /// A JWE key-management `alg` (never set together with `alg`).
    key_alg: Option<KeyAlgorithm>,
    key_use: Option<KeyUse>,
    key_ops: Option<Vec<String>>,
}

impl Jwk {
    pub(crate) fn from_params(params: KeyParams) -> Jwk {
        Jwk {
            params,
            kid: None,
            alg: None,
            key_alg: None,
            key_use: None,
            key_ops: None,
        }
    }

    /// Parses one JWK from JSON text.
    pub fn from_json(text: &str) -> Result<Jwk, Error> {
        let raw: RawJwk = serde_json::from_str(text).map_err(|e| {
            KeyError::InvalidJwk(format!("not a JWK JSON object: {}", escaped_message(e)))
        })?;
        Ok(Jwk::try_from(raw)?)
    }

    /// Serialises to JSON, private members included if this is a private key.
    pub fn to_json(&self) -> String {
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_string(&self.to_raw()).unwrap_or_default()
    }

    /// Serialises to indented JSON.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.to_raw()).unwrap_or_default()
    }

    /// Generates a new private key for `alg`, with `use: "sig"`, `alg` set, and the RFC 7638
    /// thumbprint as `kid`. `bits` picks the RSA size (2048, 3072, 4096 or 8192; default
    /// 2048) and the HMAC key size (a multiple of 8, from the hash size to 8192; default the
    /// hash size); for EC and Ed25519 the curve fixes the size, and any other is refused.
    pub fn generate(alg: Algorithm, bits: Option<usize>) -> Result<Jwk, Error> {
        /// Longer HMAC keys add nothing (past the hash's block size they are hashed first).
        const MAX_HMAC_GENERATE_BITS: usize = 8192;
        let params = match alg.family() {
            Family::Rsa => {
                let size = match bits.unwrap_or(2048) {
                    2048 => KeySize::Rsa2048,
                    3072 => KeySize::Rsa3072,
                    4096 => KeySize::Rsa4096,
                    8192 => KeySize::Rsa8192,
                    other => {
                        return Err(KeyError::Unsupported(format!(
                            "RSA size {other}; choose 2048, 3072, 4096 or 8192"
                        ))
                        .into())
                    }
                };
                let pair = RsaKeyPair::generate(size).map_err(|_| Error::Crypto("RSA keygen"))?;
                let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
                    .map_err(|_| Error::Crypto("RSA export"))?;
                return finish_generated(crate::pem::from_der(der.as_ref())?, alg);
            }
            Family::Ec => {
                let curve_bits = match alg {
                    Algorithm::ES256 => 256,
                    Algorithm::ES384 => 384,
                    _ => 521,
                };
                if bits.is_some_and(|b| b != curve_bits) {
                    return Err(KeyError::Unsupported(format!(
                        "size {} for {alg}: its curve fixes the size at {curve_bits} bits",
                        bits.unwrap_or_default()
                    ))
                    .into());
                }
                let signing = alg
                    .ecdsa_signing()
                    .ok_or(Error::Crypto("ECDSA algorithm"))?;
                let pair =
                    EcdsaKeyPair::generate(signing).map_err(|_| Error::Crypto("EC keygen"))?;
                ec_params_from_pair(&pair, curve_for(alg)?)?
            }
            Family::Okp => {
                if bits.is_some_and(|b| b != 256) {
                    return Err(KeyError::Unsupported(format!(
                        "size {} for EdDSA: Ed25519 keys are 256 bits",
                        bits.unwrap_or_default()
                    ))
                    .into());
                }
                let pair =
                    Ed25519KeyPair::generate().map_err(|_| Error::Crypto("Ed25519 keygen"))?;
                okp_params_from_pair(&pair)?
            }
            Family::Akp => {
                if bits.is_some() {
                    return Err(KeyError::Unsupported(format!(
                        "a size for {alg}: the parameter set fixes it"
                    ))
                    .into());
                }
                let signing = alg
                    .ml_dsa_signing()
                    .ok_or(Error::Crypto("ML-DSA algorithm"))?;
                let mut seed = Zeroizing::new(vec![0u8; ML_DSA_SEED_LEN]);
                SystemRandom::new()
                    .fill(&mut seed)
                    .map_err(|_| Error::Crypto("random"))?;
                let pair = aws_lc_rs::signature::PqdsaKeyPair::from_seed(signing, &seed)
                    .map_err(|_| Error::Crypto("ML-DSA keygen"))?;
                KeyParams::Akp {
                    alg,
                    public: pair.public_key().as_ref().to_vec(),
                    seed: Some(seed),
                }
            }
            Family::Hmac => {
                if let Some(b) = bits {
                    if b % 8 != 0 || b > MAX_HMAC_GENERATE_BITS {
                        return Err(KeyError::Unsupported(format!(
                            "HMAC size {b}: use a whole number of bytes (a multiple of 8 bits), \
                             at most {MAX_HMAC_GENERATE_BITS}"
                        ))
                        .into());
                    }
                }
                let len = bits.map_or(alg.hmac_min_key_len(), |b| b / 8);
                if len < alg.hmac_min_key_len() {
                    return Err(KeyError::HmacTooShort {
                        alg,
                        min: alg.hmac_min_key_len(),
                        len,
                    }
                    .into());
                }
                let mut k = Zeroizing::new(vec![0u8; len]);
                SystemRandom::new()
                    .fill(&mut k)
                    .map_err(|_| Error::Crypto("random"))?;
                KeyParams::Oct { k }
            }
        };
        finish_generated(Jwk::from_params(params), alg)
    }

    /// Generates a private key for a JWE key-management algorithm, with `alg` set, `use`
    /// `enc` and the thumbprint as `kid`. RSA-OAEP*: `bits` 2048 (default), 3072, 4096 or
    /// 8192. ECDH-ES*: `crv` P-256 (default), P-384, P-521 or X25519. A128KW/A256KW: 128 or
    /// 256 bits. `dir`: `bits` of the content encryption it will serve (128, 256 (default)
    /// or 512).
    pub fn generate_encryption(
        alg: KeyAlgorithm,
        bits: Option<usize>,
        crv: Option<&str>,
    ) -> Result<Jwk, Error> {
        use crate::jwe::KeyFamily;
        if crv.is_some() && alg.family() != KeyFamily::Ecdh {
            return Err(KeyError::Unsupported(format!("a curve for {alg}")).into());
        }
        let mut jwk = match alg.family() {
            KeyFamily::Rsa => {
                let mut jwk = Jwk::generate(Algorithm::RS256, bits)?;
                jwk.alg = None;
                jwk
            }
            KeyFamily::Ecdh => {
                if bits.is_some() {
                    return Err(KeyError::Unsupported(format!(
                        "a size for {alg}: choose a curve (P-256, P-384, P-521, X25519)"
                    ))
                    .into());
                }
                let (agreement, curve) = match crv.unwrap_or("P-256") {
                    "P-256" => (&aws_lc_rs::agreement::ECDH_P256, Some(Curve::P256)),
                    "P-384" => (&aws_lc_rs::agreement::ECDH_P384, Some(Curve::P384)),
                    "P-521" => (&aws_lc_rs::agreement::ECDH_P521, Some(Curve::P521)),
                    "X25519" => (&aws_lc_rs::agreement::X25519, None),
                    other => {
                        return Err(KeyError::Unsupported(format!(
                            "curve `{}` for {alg}: choose P-256, P-384, P-521 or X25519",
                            shown(other)
                        ))
                        .into())
                    }
                };
                let private = aws_lc_rs::agreement::PrivateKey::generate(agreement)
                    .map_err(|_| Error::Crypto("ECDH keygen"))?;
                let public = private
                    .compute_public_key()
                    .map_err(|_| Error::Crypto("ECDH keygen"))?;
                let params = match curve {
                    Some(crv) => {
                        let d = AsBigEndian::<aws_lc_rs::encoding::EcPrivateKeyBin>::as_be_bytes(
                            &private,
                        )
                        .map_err(|_| Error::Crypto("EC export"))?;
                        let point = public.as_ref();
                        let len = crv.coordinate_len();
                        KeyParams::Ec {
                            crv,
                            x: point[1..=len].to_vec(),
                            y: point[1 + len..].to_vec(),
                            d: Some(Zeroizing::new(d.as_ref().to_vec())),
                        }
                    }
                    None => {
                        let d = AsBigEndian::<aws_lc_rs::encoding::Curve25519SeedBin>::as_be_bytes(
                            &private,
                        )
                        .map_err(|_| Error::Crypto("X25519 export"))?;
                        KeyParams::X25519 {
                            x: public.as_ref().to_vec(),
                            d: Some(Zeroizing::new(d.as_ref().to_vec())),
                        }
                    }
                };
                Jwk::from_params(params)
            }
            KeyFamily::Password => {
                return Err(KeyError::Unsupported(format!(
                    "generating a key for {alg}: its key is a password you choose, as an `oct` JWK (`k` = base64url of the password)"
                ))
                .into())
            }
            KeyFamily::Oct => {
                let len = match (alg.wrap_key_len(), bits) {
                    (Some(len), None) => len,
                    (Some(len), Some(b)) if b == len * 8 => len,
                    (Some(len), Some(b)) => {
                        return Err(KeyError::Unsupported(format!(
                            "size {b} for {alg}: its keys are {} bits",
                            len * 8
                        ))
                        .into())
                    }
                    (None, None) => 32,
                    (None, Some(b @ (128 | 256 | 512))) => b / 8,
                    (None, Some(b)) => {
                        return Err(KeyError::Unsupported(format!(
                            "size {b} for dir: choose 128 (A128GCM), 256 (A256GCM, A128CBC-HS256) or 512 (A256CBC-HS512)"
                        ))
                        .into())
                    }
                };
                let mut k = Zeroizing::new(vec![0u8; len]);
                SystemRandom::new()
                    .fill(&mut k)
                    .map_err(|_| Error::Crypto("random"))?;
                Jwk::from_params(KeyParams::Oct { k })
            }
        };
        jwk.set_key_algorithm(alg)?;
        jwk.kid = Some(crate::thumbprint::thumbprint(&jwk));
        Ok(jwk)
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Sets the key id.
    pub fn set_kid(&mut self, kid: impl Into<String>) {
        self.kid = Some(kid.into());
    }

    /// The algorithm the key is bound to, if its `alg` member is set.
    pub fn alg(&self) -> Option<Algorithm> {
        self.alg
    }

    /// Binds the key to an algorithm, after checking the key can serve it.
    pub fn set_alg(&mut self, alg: Algorithm) -> Result<(), Error> {
        self.check_alg(alg)?;
        self.alg = Some(alg);
        Ok(())
    }

    /// The JWE key-management algorithm the key is bound to, if its `alg` names one.
    pub fn key_algorithm(&self) -> Option<KeyAlgorithm> {
        self.key_alg
    }

    /// Binds the key to a key-management algorithm (and marks it `use: "enc"`), after
    /// checking the key can serve it. A key bound to a signing algorithm cannot be.
    pub fn set_key_algorithm(&mut self, alg: KeyAlgorithm) -> Result<(), Error> {
        if let Some(sig) = self.alg {
            return Err(KeyError::Unsupported(format!(
                "the key is bound to the signing algorithm {sig}"
            ))
            .into());
        }
        crate::jwe::check_fits(self, alg)?;
        self.key_alg = Some(alg);
        self.key_use = Some(KeyUse::Encryption);
        Ok(())
    }

    /// The key's `use`, if set.
    pub fn key_use(&self) -> Option<&KeyUse> {
        self.key_use.as_ref()
    }

    /// Sets `use: "sig"`.
    pub fn set_use_signature(&mut self) {
        self.key_use = Some(KeyUse::Signature);
    }

    /// The `kty` member: `RSA`, `EC`, `OKP` or `oct`.
    pub fn kty(&self) -> &'static str {
        match self.params {
            KeyParams::Rsa { .. } => "RSA",
            KeyParams::Ec { .. } => "EC",
            KeyParams::Okp { .. } | KeyParams::X25519 { .. } => "OKP",
            KeyParams::Oct { .. } => "oct",
            KeyParams::Akp { .. } => "AKP",
        }
    }

    /// True if the key holds private (or symmetric) material.
    pub fn is_private(&self) -> bool {
        match &self.params {
            KeyParams::Rsa { private, .. } => private.is_some(),
            KeyParams::Ec { d, .. } | KeyParams::Okp { d, .. } | KeyParams::X25519 { d, .. } => {
                d.is_some()
            }
            KeyParams::Akp { seed, .. } => seed.is_some(),
            KeyParams::Oct { .. } => true,
        }
    }

    /// Checks that the public key material is a key aws-lc-rs accepts, whatever the
    /// key's `use` and `alg`: an RSA modulus of at least 2048 bits, an EC point on its
    /// curve, an Ed25519 public key. `oct` keys have nothing public to check.
    pub fn check_public_material(&self) -> Result<(), Error> {
        if self.is_symmetric() {
            return Ok(());
        }
        crate::key::VerifyingKey::from_jwk(&Jwk::from_params(self.to_public().params)).map(drop)
    }

    /// True for `oct` keys.
    pub fn is_symmetric(&self) -> bool {
        matches!(self.params, KeyParams::Oct { .. })
    }

    /// The public form: private members dropped. A symmetric key has no public half: its
    /// "public form" is an `oct` key with an empty `k`, so that nothing secret can leave
    /// through this method (and an HMAC key that short is refused everywhere).
    pub fn to_public(&self) -> Jwk {
        let params = match &self.params {
            KeyParams::Rsa { n, e, .. } => KeyParams::Rsa {
                n: n.clone(),
                e: e.clone(),
                private: None,
            },
            KeyParams::Ec { crv, x, y, .. } => KeyParams::Ec {
                crv: *crv,
                x: x.clone(),
                y: y.clone(),
                d: None,
            },
            KeyParams::Okp { x, .. } => KeyParams::Okp {
                x: x.clone(),
                d: None,
            },
            KeyParams::X25519 { x, .. } => KeyParams::X25519 {
                x: x.clone(),
                d: None,
            },
            KeyParams::Oct { .. } => KeyParams::Oct {
                k: Secret::default(),
            },
            KeyParams::Akp { alg, public, .. } => KeyParams::Akp {
                alg: *alg,
                public: public.clone(),
                seed: None,
            },
        };
        Jwk {
            params,
            kid: self.kid.clone(),
            alg: self.alg,
            key_alg: self.key_alg,
            key_use: self.key_use.clone(),
            key_ops: self.key_ops.as_ref().map(|ops| {
                ops.iter()
                    .filter(|op| op.as_str() != "sign")
                    .cloned()
                    .collect()
            }),
        }
    }

    /// A short description such as `RSA 2048` or `EC P-256`, for logs and errors.
    pub fn describe(&self) -> String {
        match &self.params {
            KeyParams::Rsa { n, .. } => format!("RSA {}", bit_len(n)),
            KeyParams::Ec { crv, .. } => format!("EC {}", crv.as_str()),
            KeyParams::Okp { .. } => "OKP Ed25519".to_owned(),
            KeyParams::X25519 { .. } => "OKP X25519".to_owned(),
            KeyParams::Oct { k } => format!("oct {} bits", k.len() * 8),
            KeyParams::Akp { alg, .. } => format!("AKP {alg}"),
        }
    }

    /// The algorithms this key may be used with: its `alg` if set, otherwise every
    /// algorithm of its family (RSA: RS* and PS*; EC: the curve's; OKP: EdDSA; oct: the HS*
    /// whose hash is no longer than the key).
    pub fn algorithms(&self) -> Vec<Algorithm> {
        if let Some(alg) = self.alg {
            return vec![alg];
        }
        match &self.params {
            KeyParams::Rsa { .. } => Algorithm::ALL
                .into_iter()
                .filter(|a| a.family() == Family::Rsa)
                .collect(),
            KeyParams::Ec { crv, .. } => vec![crv.algorithm()],
            KeyParams::Okp { .. } => vec![Algorithm::EdDSA],
            KeyParams::X25519 { .. } => Vec::new(),
            KeyParams::Akp { alg, .. } => vec![*alg],
            KeyParams::Oct { k } => Algorithm::ALL
                .into_iter()
                .filter(|a| a.is_symmetric() && k.len() >= a.hmac_min_key_len())
                .collect(),
        }
    }

    /// The algorithm to sign with when none is asked for: the key's `alg`, else its
    /// family's usual one.
    pub fn default_algorithm(&self) -> Algorithm {
        if let Some(alg) = self.alg {
            return alg;
        }
        match &self.params {
            KeyParams::Rsa { .. } => Algorithm::RS256,
            KeyParams::Ec { crv, .. } => crv.algorithm(),
            // X25519 signs nothing: EdDSA is refused for it by `check_alg`.
            KeyParams::Okp { .. } | KeyParams::X25519 { .. } => Algorithm::EdDSA,
            KeyParams::Akp { alg, .. } => *alg,
            KeyParams::Oct { k } => match k.len() {
                n if n >= 64 => Algorithm::HS512,
                n if n >= 48 => Algorithm::HS384,
                _ => Algorithm::HS256,
            },
        }
    }

    /// Checks the key's type, curve and size suit `alg`.
    pub(crate) fn check_alg(&self, alg: Algorithm) -> Result<(), KeyError> {
        let fits = match &self.params {
            KeyParams::Rsa { .. } => alg.family() == Family::Rsa,
            KeyParams::Ec { crv, .. } => crv.algorithm() == alg,
            KeyParams::Okp { .. } => alg == Algorithm::EdDSA,
            KeyParams::X25519 { .. } => false,
            KeyParams::Oct { .. } => alg.is_symmetric(),
            KeyParams::Akp { alg: bound, .. } => *bound == alg,
        };
        if !fits {
            return Err(KeyError::KtyMismatch {
                kty: self.describe(),
                alg,
            });
        }
        match &self.params {
            KeyParams::Rsa { n, .. } if bit_len(n) < 2048 => Err(KeyError::RsaTooSmall(bit_len(n))),
            // aws-lc-rs verifies only moduli up to 8192 bits and odd exponents from 3 up;
            // a key outside that would sit in a set and fail every token, so say so now.
            KeyParams::Rsa { n, .. } if bit_len(n) > 8192 => Err(KeyError::Unsupported(format!(
                "RSA key of {} bits; at most 8192 are supported",
                bit_len(n)
            ))),
            KeyParams::Rsa { e, .. } if !usable_exponent(e) => Err(KeyError::Unsupported(
                "RSA public exponent: it must be odd, at least 3 and at most 33 bits".into(),
            )),
            KeyParams::Oct { k } if k.len() < alg.hmac_min_key_len() => {
                Err(KeyError::HmacTooShort {
                    alg,
                    min: alg.hmac_min_key_len(),
                    len: k.len(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Refuses keys whose `use` or `key_ops` exclude `op` (`sign` or `verify`).
    pub(crate) fn check_use(&self, op: &'static str) -> Result<(), KeyError> {
        if let Some(alg) = self.key_alg {
            return Err(KeyError::WrongUse {
                wanted: op,
                reason: format!("it is an encryption key (`alg` {alg})"),
            });
        }
        if let Some(key_use) = &self.key_use {
            if *key_use != KeyUse::Signature {
                return Err(KeyError::WrongUse {
                    wanted: op,
                    reason: format!("its `use` is \"{}\"", shown(key_use.as_str())),
                });
            }
        }
        if let Some(ops) = &self.key_ops {
            if !ops.iter().any(|o| o == op) {
                return Err(KeyError::WrongUse {
                    wanted: op,
                    reason: format!("its `key_ops` are {}", shown(&format!("{ops:?}"))),
                });
            }
        }
        Ok(())
    }

    fn to_raw(&self) -> RawJwk {
        let mut raw = RawJwk::default();
        raw.kty = self.kty().to_owned();
        raw.kid.clone_from(&self.kid);
        raw.alg = self
            .alg
            .map(|a| a.as_str())
            .or(self.key_alg.map(|a| a.as_str()))
            .map(str::to_owned);
        raw.key_use = self.key_use.as_ref().map(|u| u.as_str().to_owned());
        raw.key_ops.clone_from(&self.key_ops);
        match &self.params {
            KeyParams::Rsa { n, e, private } => {
                raw.n = Some(b64::encode(n));
                raw.e = Some(b64::encode(e));
                if let Some(p) = private {
                    raw.d = Some(b64::encode(&p.d));
                    raw.p = Some(b64::encode(&p.p));
                    raw.q = Some(b64::encode(&p.q));
                    raw.dp = Some(b64::encode(&p.dp));
                    raw.dq = Some(b64::encode(&p.dq));
                    raw.qi = Some(b64::encode(&p.qi));
                }
            }
            KeyParams::Ec { crv, x, y, d } => {
                raw.crv = Some(crv.as_str().to_owned());
                raw.x = Some(b64::encode(x));
                raw.y = Some(b64::encode(y));
                raw.d = d.as_ref().map(|d| b64::encode(d));
            }
            KeyParams::Okp { x, d } => {
                raw.crv = Some("Ed25519".to_owned());
                raw.x = Some(b64::encode(x));
                raw.d = d.as_ref().map(|d| b64::encode(d));
            }
            KeyParams::X25519 { x, d } => {
                raw.crv = Some("X25519".to_owned());
                raw.x = Some(b64::encode(x));
                raw.d = d.as_ref().map(|d| b64::encode(d));
            }
            KeyParams::Oct { k } => raw.k = Some(b64::encode(k)),
            KeyParams::Akp { alg, public, seed } => {
                // RFC 9964: `alg` is required in an AKP key.
                raw.alg = Some(alg.as_str().to_owned());
                raw.public = Some(b64::encode(public));
                raw.private = seed.as_ref().map(|s| b64::encode(s));
            }
        }
        raw
    }
}

fn finish_generated(mut jwk: Jwk, alg: Algorithm) -> Result<Jwk, Error> {
    jwk.set_alg(alg)?;
    jwk.key_use = Some(KeyUse::Signature);
    jwk.kid = Some(crate::thumbprint::thumbprint(&jwk));
    Ok(jwk)
}

fn curve_for(alg: Algorithm) -> Result<Curve, Error> {
    alg.curve()
        .and_then(Curve::from_name)
        .ok_or(Error::Crypto("curve"))
}

pub(crate) fn ec_params_from_pair(pair: &EcdsaKeyPair, crv: Curve) -> Result<KeyParams, Error> {
    let point = pair.public_key().as_ref();
    let len = crv.coordinate_len();
    if point.len() != 1 + 2 * len || point.first() != Some(&4) {
        return Err(Error::Crypto("EC public key encoding"));
    }
    let d = AsBigEndian::<aws_lc_rs::encoding::EcPrivateKeyBin>::as_be_bytes(&pair.private_key())
        .map_err(|_| Error::Crypto("EC export"))?;
    Ok(KeyParams::Ec {
        crv,
        x: point[1..=len].to_vec(),
        y: point[1 + len..].to_vec(),
        d: Some(Zeroizing::new(d.as_ref().to_vec())),
    })
}

pub(crate) fn okp_params_from_pair(pair: &Ed25519KeyPair) -> Result<KeyParams, Error> {
    let seed = pair.seed().map_err(|_| Error::Crypto("Ed25519 export"))?;
    let seed = AsBigEndian::<aws_lc_rs::encoding::Curve25519SeedBin>::as_be_bytes(&seed)
        .map_err(|_| Error::Crypto("Ed25519 export"))?;
    Ok(KeyParams::Okp {
        x: pair.public_key().as_ref().to_vec(),
        d: Some(Zeroizing::new(seed.as_ref().to_vec())),
    })
}

/// An exponent aws-lc-rs verifies with: odd, at least 3, at most 33 bits.
fn usable_exponent(e: &[u8]) -> bool {
    let bits = bit_len(e);
    let odd = e.last().is_some_and(|b| b & 1 == 1);
    odd && (2..=33).contains(&bits)
}

/// Number of significant bits in a big-endian unsigned integer.
pub(crate) fn bit_len(bytes: &[u8]) -> usize {
    let trimmed = strip_leading_zeros(bytes);
    match trimmed.first() {
        Some(first) => trimmed.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

pub(crate) fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

impl fmt::Debug for Jwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwk")
            .field("key", &self.describe())
            .field("private", &self.is_private())
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Serialize for Jwk {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_raw().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Jwk {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawJwk::deserialize(d)?;
        Jwk::try_from(raw).map_err(serde::de::Error::custom)
    }
}

/// The wire form: every member optional, checked in `TryFrom`.
#[derive(Default, Serialize, Deserialize)]
pub(crate) struct RawJwk {
    kty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(rename = "use", skip_serializing_if = "Option::is_none")]
    key_use: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_ops: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    y: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    d: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dp: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dq: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    qi: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oth: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    k: Option<String>,
    /// AKP (RFC 9964): the public key.
    #[serde(rename = "pub", skip_serializing_if = "Option::is_none")]
    public: Option<String>,
    /// AKP (RFC 9964): the private key's seed.
    #[serde(rename = "priv", skip_serializing_if = "Option::is_none")]
    private: Option<String>,
}

impl Drop for RawJwk {
    /// The wire form of a private key holds its secrets as text: wiped when dropped, as
    /// the decoded keys are.
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for secret in [
            &mut self.d,
            &mut self.p,
            &mut self.q,
            &mut self.dp,
            &mut self.dq,
            &mut self.qi,
            &mut self.k,
            &mut self.private,
        ]
        .into_iter()
        .flatten()
        {
            secret.zeroize();
        }
    }
}

fn member(value: &Option<String>, name: &str, kty: &str) -> Result<Vec<u8>, KeyError> {
    let text = value
        .as_deref()
        .ok_or_else(|| KeyError::InvalidJwk(format!("{kty} key is missing `{name}`")))?;
    b64::decode(text).ok_or_else(|| {
        KeyError::InvalidJwk(format!(
            "member `{name}` is not canonical unpadded base64url"
        ))
    })
}

fn secret(value: &Option<String>, name: &str, kty: &str) -> Result<Secret, KeyError> {
    member(value, name, kty).map(Zeroizing::new)
}

fn fixed(bytes: Vec<u8>, len: usize, name: &str, what: &str) -> Result<Vec<u8>, KeyError> {
    if bytes.len() != len {
        return Err(KeyError::InvalidJwk(format!(
            "member `{name}` is {} bytes, {what} needs {len}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

/// [`fixed`] for a private scalar: wrapped before its length is checked, so a wrong
/// one is wiped too.
fn fixed_secret(bytes: Secret, len: usize, what: &str) -> Result<Secret, KeyError> {
    if bytes.len() != len {
        return Err(KeyError::InvalidJwk(format!(
            "member `d` is {} bytes, {what} needs {len}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

impl TryFrom<RawJwk> for Jwk {
    type Error = KeyError;

    fn try_from(mut raw: RawJwk) -> Result<Jwk, KeyError> {
        let kty = raw.kty.as_str();
        let params = match kty {
            "RSA" => {
                if raw.oth.is_some() {
                    return Err(KeyError::Unsupported("multi-prime RSA (`oth`)".into()));
                }
                let n = strip_leading_zeros(&member(&raw.n, "n", kty)?).to_vec();
                let e = strip_leading_zeros(&member(&raw.e, "e", kty)?).to_vec();
                if n.is_empty() || e.is_empty() {
                    return Err(KeyError::InvalidJwk("RSA `n` or `e` is zero".into()));
                }
                let private = if raw.d.is_some() {
                    let missing: Vec<&str> = [
                        ("p", &raw.p),
                        ("q", &raw.q),
                        ("dp", &raw.dp),
                        ("dq", &raw.dq),
                        ("qi", &raw.qi),
                    ]
                    .iter()
                    .filter(|(_, v)| v.is_none())
                    .map(|(name, _)| *name)
                    .collect();
                    if !missing.is_empty() {
                        return Err(KeyError::Unsupported(format!(
                            "RSA private key without CRT members {missing:?}"
                        )));
                    }
                    Some(Box::new(RsaPrivate {
                        d: secret(&raw.d, "d", kty)?,
                        p: secret(&raw.p, "p", kty)?,
                        q: secret(&raw.q, "q", kty)?,
                        dp: secret(&raw.dp, "dp", kty)?,
                        dq: secret(&raw.dq, "dq", kty)?,
                        qi: secret(&raw.qi, "qi", kty)?,
                    }))
                } else {
                    None
                };
                KeyParams::Rsa { n, e, private }
            }
            "EC" => {
                let name = raw.crv.as_deref().unwrap_or("(absent)");
                let crv = Curve::from_name(name)
                    .ok_or_else(|| KeyError::Unsupported(format!("EC curve `{}`", shown(name))))?;
                let len = crv.coordinate_len();
                let what = crv.as_str();
                KeyParams::Ec {
                    crv,
                    x: fixed(member(&raw.x, "x", kty)?, len, "x", what)?,
                    y: fixed(member(&raw.y, "y", kty)?, len, "y", what)?,
                    d: match raw.d {
                        Some(_) => Some(fixed_secret(secret(&raw.d, "d", kty)?, len, what)?),
                        None => None,
                    },
                }
            }
            "OKP" if raw.crv.as_deref() == Some("X25519") => KeyParams::X25519 {
                x: fixed(member(&raw.x, "x", kty)?, 32, "x", "X25519")?,
                d: match raw.d {
                    Some(_) => Some(fixed_secret(secret(&raw.d, "d", kty)?, 32, "X25519")?),
                    None => None,
                },
            },
            "OKP" => {
                let name = raw.crv.as_deref().unwrap_or("(absent)");
                if name != "Ed25519" {
                    return Err(KeyError::Unsupported(format!(
                        "OKP curve `{}` (Ed25519 signs, X25519 agrees keys)",
                        shown(name)
                    )));
                }
                KeyParams::Okp {
                    x: fixed(member(&raw.x, "x", kty)?, 32, "x", "Ed25519")?,
                    d: match raw.d {
                        Some(_) => Some(fixed_secret(secret(&raw.d, "d", kty)?, 32, "Ed25519")?),
                        None => None,
                    },
                }
            }
            "AKP" => {
                let name = raw.alg.as_deref().ok_or_else(|| {
                    KeyError::InvalidJwk("AKP key is missing `alg` (RFC 9964 requires it)".into())
                })?;
                let alg = name
                    .parse::<Algorithm>()
                    .ok()
                    .filter(|a| a.family() == Family::Akp)
                    .ok_or_else(|| {
                        KeyError::Unsupported(format!("AKP algorithm `{}`", shown(name)))
                    })?;
                let signing = alg.ml_dsa_signing().ok_or_else(|| {
                    KeyError::Unsupported(format!("AKP algorithm `{}`", shown(name)))
                })?;
                KeyParams::Akp {
                    alg,
                    public: fixed(
                        member(&raw.public, "pub", kty)?,
                        signing.public_key_len(),
                        "pub",
                        alg.as_str(),
                    )?,
                    seed: match raw.private {
                        Some(_) => {
                            let seed = secret(&raw.private, "priv", kty)?;
                            if seed.len() != ML_DSA_SEED_LEN {
                                return Err(KeyError::InvalidJwk(format!(
                                    "member `priv` is {} bytes, an ML-DSA seed is {ML_DSA_SEED_LEN}",
                                    seed.len()
                                )));
                            }
                            Some(seed)
                        }
                        None => None,
                    },
                }
            }
            "oct" => {
                let k = secret(&raw.k, "k", kty)?;
                if k.is_empty() {
                    return Err(KeyError::InvalidJwk("`k` is empty".into()));
                }
                KeyParams::Oct { k }
            }
            other => {
                return Err(KeyError::Unsupported(format!(
                    "key type `{}`",
                    shown(other)
                )))
            }
        };
        // `alg` names a signing algorithm or a JWE key-management one.
        let (alg, key_alg) = match raw.alg.as_deref() {
            None => (None, None),
            Some(name) => match name.parse::<Algorithm>() {
                Ok(alg) => (Some(alg), None),
                Err(signing) => match name.parse::<KeyAlgorithm>() {
                    Ok(key_alg) => (None, Some(key_alg)),
                    Err(e @ (crate::jwe::JweError::Rsa15 | crate::jwe::JweError::Pbes2)) => {
                        return Err(KeyError::Unsupported(format!("`alg`: {e}")))
                    }
                    // A content encryption as a key's `alg` (RFC 7520 section 5.6 does it):
                    // a direct key for that algorithm.
                    Err(_) if name.parse::<crate::jwe::ContentEncryption>().is_ok() => {
                        (None, Some(KeyAlgorithm::Dir))
                    }
                    Err(_) => return Err(KeyError::Unsupported(format!("`alg`: {signing}"))),
                },
            },
        };
        let key_use = raw.key_use.take().map(|u| match u.as_str() {
            "sig" => KeyUse::Signature,
            "enc" => KeyUse::Encryption,
            _ => KeyUse::Other(u),
        });
        let jwk = Jwk {
            params,
            kid: raw.kid.take(),
            alg: None,
            key_alg: None,
            key_use,
            key_ops: raw.key_ops.take(),
        };
        let mut jwk = jwk;
        if let Some(alg) = alg {
            jwk.check_kty_only(alg)?;
            jwk.alg = Some(alg);
        }
        if let Some(key_alg) = key_alg {
            match crate::jwe::check_fits(&jwk, key_alg) {
                Ok(()) => {}
                Err(crate::jwe::JweError::Key(reason)) if reason.contains("cannot be used") => {
                    return Err(KeyError::InvalidJwk(reason))
                }
                // Sizes are checked on use, as for signing keys.
                Err(_) => {}
            }
            jwk.key_alg = Some(key_alg);
        }
        Ok(jwk)
    }
}

impl Jwk {
    /// Checks `alg` against the key type and curve only (sizes are checked on use, so that
    /// a set can still report a small key by its kid).
    fn check_kty_only(&self, alg: Algorithm) -> Result<(), KeyError> {
        match self.check_alg(alg) {
            Err(e @ KeyError::KtyMismatch { .. }) => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_keys_aws_lc_cannot_use_are_refused_up_front() {
        let good = Jwk::generate(Algorithm::RS256, None).unwrap().to_public();
        let mut doc: serde_json::Value = serde_json::from_str(&good.to_json()).unwrap();
        for (e, why) in [("AQ", "exponent"), ("Ag", "exponent"), ("AQAB", "")] {
            doc["e"] = serde_json::Value::String(e.into());
            let jwk = Jwk::from_json(&doc.to_string()).unwrap();
            let result = crate::VerifyingKey::from_jwk(&jwk);
            if why.is_empty() {
                assert!(result.is_ok(), "e={e}");
            } else {
                let err = result.err().unwrap().to_string();
                assert!(err.contains(why), "e={e}: {err}");
            }
        }
    }

    #[test]
    fn generated_keys_round_trip_through_json() {
        for alg in [
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::ES512,
            Algorithm::EdDSA,
            Algorithm::HS256,
        ] {
            let jwk = Jwk::generate(alg, None).unwrap();
            let back = Jwk::from_json(&jwk.to_json()).unwrap();
            assert_eq!(back.to_json(), jwk.to_json(), "{alg}");
            assert_eq!(back.alg(), Some(alg));
        }
    }

    #[test]
    fn public_form_has_no_private_members() {
        let jwk = Jwk::generate(Algorithm::RS256, None).unwrap();
        let public = jwk.to_public().to_json();
        for member in ["\"d\"", "\"p\"", "\"q\"", "\"dp\"", "\"dq\"", "\"qi\""] {
            assert!(!public.contains(member), "{member} leaked into {public}");
        }
    }

    #[test]
    fn debug_never_prints_private_material() {
        let jwk = Jwk::generate(Algorithm::HS256, None).unwrap();
        let shown = format!("{jwk:?}");
        let k = match &jwk.params {
            KeyParams::Oct { k } => b64::encode(k),
            _ => unreachable!(),
        };
        assert!(!shown.contains(&k));
    }

    #[test]
    fn wrong_coordinate_length_is_refused() {
        let err = Jwk::from_json(r#"{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("member `x` is 1 bytes, P-256 needs 32"),
            "{err}"
        );
    }

    #[test]
    fn alg_for_another_key_type_is_refused() {
        let jwk = Jwk::generate(Algorithm::ES256, None).unwrap();
        let text = jwk.to_json().replace("\"ES256\"", "\"RS256\"");
        let err = Jwk::from_json(&text).unwrap_err();
        assert!(
            matches!(err, Error::Key(KeyError::KtyMismatch { .. })),
            "{err}"
        );
    }
}
