//! Encryption and decryption keys, and key management (RFC 7518 section 4): RSA-OAEP, AES
//! key wrap, direct keys, and ECDH-ES with the Concat KDF, all through aws-lc-rs.

use std::fmt;

use aws_lc_rs::agreement::{self, ParsedPublicKey, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::kdf::{get_sskdf_digest_algorithm, sskdf_digest, SskdfDigestAlgorithmId};
use aws_lc_rs::key_wrap::{AesKek, KeyWrap, AES_128, AES_256};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::rsa::{
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey,
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

use super::alg::{ContentEncryption, KeyAlgorithm, KeyFamily};
use super::content;
use super::{decode, split, Decrypted, JweError, JweHeader, JweLimits, NestedJwt};
use crate::b64;
use crate::error::Error;
use crate::jwk::{bit_len, Curve, Jwk, KeyParams, KeyUse, Secret};
use crate::jws::Limits;
use crate::pem::{to_der, KeyFormat};

/// A curve for ECDH-ES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EcdhCurve {
    Nist(Curve),
    X25519,
}

impl EcdhCurve {
    fn agreement(self) -> &'static agreement::Algorithm {
        match self {
            EcdhCurve::Nist(Curve::P256) => &agreement::ECDH_P256,
            EcdhCurve::Nist(Curve::P384) => &agreement::ECDH_P384,
            EcdhCurve::Nist(Curve::P521) => &agreement::ECDH_P521,
            EcdhCurve::X25519 => &agreement::X25519,
        }
    }

    fn name(self) -> &'static str {
        match self {
            EcdhCurve::Nist(c) => c.as_str(),
            EcdhCurve::X25519 => "X25519",
        }
    }

    /// The curve and public-key bytes aws-lc-rs takes (an uncompressed point, or the
    /// X25519 u-coordinate) of a public JWK, if it is an ECDH key.
    fn of(jwk: &Jwk) -> Option<(EcdhCurve, Vec<u8>)> {
        match &jwk.params {
            KeyParams::Ec { crv, x, y, .. } => {
                let mut point = Vec::with_capacity(1 + x.len() + y.len());
                point.push(4);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                Some((EcdhCurve::Nist(*crv), point))
            }
            KeyParams::X25519 { x, .. } => Some((EcdhCurve::X25519, x.clone())),
            _ => None,
        }
    }

    /// The `epk` header member for a public key of this curve.
    fn epk(self, public: &[u8]) -> Value {
        match self {
            EcdhCurve::Nist(crv) => {
                let len = crv.coordinate_len();
                json!({
                    "kty": "EC",
                    "crv": crv.as_str(),
                    "x": b64::encode(&public[1..=len]),
                    "y": b64::encode(&public[1 + len..]),
                })
            }
            EcdhCurve::X25519 => json!({"kty": "OKP", "crv": "X25519", "x": b64::encode(public)}),
        }
    }
}

/// The key-management algorithm a JWK is used with: the one asked for, else the key's
/// own, else its type's usual one. Signing keys are refused.
fn resolve(jwk: &Jwk, wanted: Option<KeyAlgorithm>, op: &str) -> Result<KeyAlgorithm, JweError> {
    if let Some(sig) = jwk.alg() {
        return Err(JweError::Key(format!(
            "a signing key (alg {sig}) cannot {op}: give a key made for encryption"
        )));
    }
    if let Some(KeyUse::Signature) = jwk.key_use() {
        return Err(JweError::Key(format!(
            "a key with `use` \"sig\" cannot {op}"
        )));
    }
    let alg = match (wanted, jwk.key_algorithm()) {
        (Some(w), Some(bound)) if w != bound => {
            return Err(JweError::AlgMismatch {
                header: w,
                key: bound,
            })
        }
        (Some(w), _) => w,
        (None, Some(bound)) => bound,
        (None, None) => match &jwk.params {
            KeyParams::Rsa { .. } => KeyAlgorithm::RsaOaep256,
            KeyParams::Ec { .. } | KeyParams::X25519 { .. } => KeyAlgorithm::EcdhEs,
            KeyParams::Oct { k } if k.len() == 16 => KeyAlgorithm::A128Kw,
            KeyParams::Oct { k } if k.len() == 32 => KeyAlgorithm::A256Kw,
            _ => {
                return Err(JweError::Key(format!(
                    "a {} key has no default key-management algorithm: name one",
                    jwk.describe()
                )))
            }
        },
    };
    check_fits(jwk, alg)?;
    Ok(alg)
}

/// Checks a key's type and size suit a key-management algorithm.
pub(crate) fn check_fits(jwk: &Jwk, alg: KeyAlgorithm) -> Result<(), JweError> {
    let fits = match (&jwk.params, alg.family()) {
        (KeyParams::Rsa { n, .. }, KeyFamily::Rsa) => {
            if bit_len(n) < 2048 {
                return Err(JweError::Key(format!(
                    "RSA key is {} bits; at least 2048 bits are required",
                    bit_len(n)
                )));
            }
            true
        }
        (KeyParams::Ec { .. } | KeyParams::X25519 { .. }, KeyFamily::Ecdh) => true,
        (KeyParams::Oct { k }, KeyFamily::Password) => !k.is_empty(),
        (KeyParams::Oct { k }, KeyFamily::Oct) => match alg.wrap_key_len() {
            Some(len) if k.len() != len => {
                return Err(JweError::Key(format!(
                    "{alg} needs a {len}-byte key, this one is {} bytes",
                    k.len()
                )))
            }
            Some(_) => true,
            // `dir`: the length is checked against `enc` on use.
            None => true,
        },
        _ => false,
    };
    if fits {
        Ok(())
    } else {
        Err(JweError::Key(format!(
            "a {} key cannot be used with {alg}",
            jwk.describe()
        )))
    }
}

/// A key that encrypts to a recipient: the recipient's public key (RSA, EC, X25519), or
/// a shared symmetric key. It cannot decrypt or sign.
pub struct EncryptionKey {
    alg: KeyAlgorithm,
    kid: Option<String>,
    target: Target,
    rng: SystemRandom,
}

enum Target {
    Rsa(Box<OaepPublicEncryptingKey>),
    Wrap(Secret),
    Password(Secret),
    Dir(Secret),
    Ecdh { curve: EcdhCurve, public: Vec<u8> },
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptionKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl EncryptionKey {
    /// Builds an encryption key from a JWK (public or private; only the public part, or
    /// the shared key, is used). The algorithm is `alg`, else the key's own, else RSA-OAEP-256
    /// for RSA, ECDH-ES for EC and X25519, A128KW/A256KW for 16/32-byte `oct` keys.
    pub fn from_jwk(jwk: &Jwk, alg: Option<KeyAlgorithm>) -> Result<EncryptionKey, Error> {
        let alg = resolve(jwk, alg, "encrypt")?;
        let target = match (alg.family(), &jwk.params) {
            (KeyFamily::Rsa, _) => {
                let spki = to_der(&jwk.to_public(), KeyFormat::Spki)?;
                let public = PublicEncryptingKey::from_der(&spki)
                    .map_err(|e| JweError::Key(format!("RSA key rejected: {e}")))?;
                Target::Rsa(Box::new(
                    OaepPublicEncryptingKey::new(public)
                        .map_err(|_| JweError::Key("RSA key rejected".into()))?,
                ))
            }
            (KeyFamily::Ecdh, _) => {
                let (curve, public) =
                    EcdhCurve::of(jwk).ok_or_else(|| JweError::Key("not an ECDH key".into()))?;
                // Checked now (on the curve, not the identity) rather than on every token.
                ParsedPublicKey::try_from(&UnparsedPublicKey::new(curve.agreement(), &public))
                    .map_err(|_| {
                        JweError::Key(format!("not a valid {} public key", curve.name()))
                    })?;
                Target::Ecdh { curve, public }
            }
            (KeyFamily::Oct, KeyParams::Oct { k }) if alg == KeyAlgorithm::Dir => {
                Target::Dir(k.clone())
            }
            (KeyFamily::Oct, KeyParams::Oct { k }) => Target::Wrap(k.clone()),
            (KeyFamily::Password, KeyParams::Oct { k }) => Target::Password(k.clone()),
            _ => {
                return Err(JweError::Key(format!(
                    "a {} key cannot be used with {alg}",
                    jwk.describe()
                ))
                .into())
            }
        };
        Ok(EncryptionKey {
            alg,
            kid: jwk.kid().map(str::to_owned),
            target,
            rng: SystemRandom::new(),
        })
    }

    /// The key-management algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The key id put in the header, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Encrypts `plaintext` as a compact JWE, with `cty` in the header if given.
    pub fn encrypt(
        &self,
        plaintext: &[u8],
        enc: ContentEncryption,
        cty: Option<&str>,
    ) -> Result<String, Error> {
        self.encrypt_inner(plaintext, enc, cty, false)
    }

    fn encrypt_inner(
        &self,
        plaintext: &[u8],
        enc: ContentEncryption,
        cty: Option<&str>,
        deflated: bool,
    ) -> Result<String, Error> {
        let mut header = Map::new();
        if deflated {
            header.insert("zip".into(), "DEF".into());
        }
        header.insert("alg".into(), self.alg.as_str().into());
        header.insert("enc".into(), enc.as_str().into());
        if let Some(kid) = &self.kid {
            header.insert("kid".into(), kid.as_str().into());
        }
        if let Some(cty) = cty {
            header.insert("cty".into(), cty.into());
        }
        let (cek, encrypted_key) = self.content_key(enc, &mut header)?;
        let header_b64 = b64::encode(
            &serde_json::to_vec(&Value::Object(header))
                .map_err(|_| Error::Crypto("header serialisation"))?,
        );
        let mut iv = vec![0u8; enc.iv_len()];
        self.rng
            .fill(&mut iv)
            .map_err(|_| Error::Crypto("random"))?;
        let sealed = content::seal(enc, &cek, &iv, header_b64.as_bytes(), plaintext)?;
        Ok([
            header_b64,
            b64::encode(&encrypted_key),
            b64::encode(&iv),
            b64::encode(&sealed.ciphertext),
            b64::encode(&sealed.tag),
        ]
        .join("."))
    }

    /// Encrypts `plaintext` compressed with DEFLATE (`zip: "DEF"`), for large payloads.
    /// Compressing before encrypting tells an observer something about the plaintext from
    /// the ciphertext's length: do not compress attacker-influenced data beside secrets.
    pub fn encrypt_deflated(
        &self,
        plaintext: &[u8],
        enc: ContentEncryption,
        cty: Option<&str>,
    ) -> Result<String, Error> {
        let deflated = miniz_oxide::deflate::compress_to_vec(plaintext, 6);
        self.encrypt_inner(&deflated, enc, cty, true)
    }

    /// Encrypts a compact JWS as a nested JWT (`cty` `JWT`, RFC 7519 section 5.2).
    pub fn encrypt_jws(&self, jws: &str, enc: ContentEncryption) -> Result<String, Error> {
        if jws.split('.').count() != 3 {
            return Err(JweError::Key("only a compact JWS can be nested".into()).into());
        }
        self.encrypt(jws.as_bytes(), enc, Some("JWT"))
    }

    /// The content-encryption key and the encrypted key, adding `epk` for ECDH-ES.
    fn content_key(
        &self,
        enc: ContentEncryption,
        header: &mut Map<String, Value>,
    ) -> Result<(Secret, Vec<u8>), Error> {
        let random_cek = || -> Result<Secret, Error> {
            let mut cek = Zeroizing::new(vec![0u8; enc.key_len()]);
            self.rng
                .fill(&mut cek)
                .map_err(|_| Error::Crypto("random"))?;
            Ok(cek)
        };
        match &self.target {
            Target::Dir(k) => {
                if k.len() != enc.key_len() {
                    return Err(JweError::CekLength {
                        enc,
                        expected: enc.key_len(),
                        found: k.len(),
                    }
                    .into());
                }
                Ok((k.clone(), Vec::new()))
            }
            Target::Wrap(kek) => {
                let cek = random_cek()?;
                Ok((cek.clone(), wrap(kek, &cek)?))
            }
            Target::Password(password) => {
                let mut salt = [0u8; 16];
                self.rng
                    .fill(&mut salt)
                    .map_err(|_| Error::Crypto("random"))?;
                let iterations = pbes2_default_iterations(self.alg);
                header.insert("p2s".into(), b64::encode(&salt).into());
                header.insert("p2c".into(), iterations.into());
                let kek = pbes2_key(self.alg, password, &salt, iterations)?;
                let cek = random_cek()?;
                Ok((cek.clone(), wrap(&kek, &cek)?))
            }
            Target::Rsa(key) => {
                let cek = random_cek()?;
                let oaep = oaep(self.alg);
                let mut out = vec![0u8; key.ciphertext_size()];
                let len = key
                    .encrypt(oaep, &cek, &mut out, None)
                    .map_err(|_| Error::Crypto("RSA-OAEP"))?
                    .len();
                out.truncate(len);
                Ok((cek, out))
            }
            Target::Ecdh { curve, public } => {
                let ephemeral =
                    agreement::EphemeralPrivateKey::generate(curve.agreement(), &self.rng)
                        .map_err(|_| Error::Crypto("ECDH key generation"))?;
                let epk = ephemeral
                    .compute_public_key()
                    .map_err(|_| Error::Crypto("ECDH public key"))?;
                header.insert("epk".into(), curve.epk(epk.as_ref()));
                let (algorithm_id, len) = kdf_params(self.alg, enc);
                let derived = agreement::agree_ephemeral(
                    ephemeral,
                    UnparsedPublicKey::new(curve.agreement(), public.as_slice()),
                    Error::Crypto("ECDH"),
                    |z| concat_kdf(z, algorithm_id, &[], &[], len),
                )?;
                if self.alg == KeyAlgorithm::EcdhEs {
                    Ok((derived, Vec::new()))
                } else {
                    let cek = random_cek()?;
                    Ok((cek.clone(), wrap(&derived, &cek)?))
                }
            }
        }
    }
}

/// A key that decrypts what was encrypted to it: a private RSA, EC or X25519 key, or a
/// shared symmetric key. It cannot sign, and it decrypts only with its own algorithm.
pub struct DecryptionKey {
    alg: KeyAlgorithm,
    kid: Option<String>,
    holder: Holder,
    rng: SystemRandom,
}

enum Holder {
    Rsa(Box<OaepPrivateDecryptingKey>),
    Wrap(Secret),
    Password(Secret),
    Dir(Secret),
    Ecdh {
        curve: EcdhCurve,
        private: PrivateKey,
    },
}

impl fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptionKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DecryptionKey {
    /// Builds a decryption key from a private JWK. The algorithm is resolved as for
    /// [`EncryptionKey::from_jwk`]; a token whose `alg` differs is refused.
    pub fn from_jwk(jwk: &Jwk, alg: Option<KeyAlgorithm>) -> Result<DecryptionKey, Error> {
        let alg = resolve(jwk, alg, "decrypt")?;
        if !jwk.is_private() {
            return Err(crate::KeyError::NotPrivate.into());
        }
        let holder = match (alg.family(), &jwk.params) {
            (KeyFamily::Rsa, _) => {
                let pkcs8 = Zeroizing::new(to_der(jwk, KeyFormat::Pkcs8)?);
                let private = PrivateDecryptingKey::from_pkcs8(&pkcs8)
                    .map_err(|e| JweError::Key(format!("RSA key rejected: {e}")))?;
                Holder::Rsa(Box::new(
                    OaepPrivateDecryptingKey::new(private)
                        .map_err(|_| JweError::Key("RSA key rejected".into()))?,
                ))
            }
            (
                KeyFamily::Ecdh,
                KeyParams::Ec {
                    crv, d: Some(d), ..
                },
            ) => {
                let curve = EcdhCurve::Nist(*crv);
                let private = PrivateKey::from_private_key(curve.agreement(), d)
                    .map_err(|e| JweError::Key(format!("EC key rejected: {e}")))?;
                check_pair(&private, jwk)?;
                Holder::Ecdh { curve, private }
            }
            (KeyFamily::Ecdh, KeyParams::X25519 { d: Some(d), .. }) => {
                let private = PrivateKey::from_private_key(&agreement::X25519, d)
                    .map_err(|e| JweError::Key(format!("X25519 key rejected: {e}")))?;
                check_pair(&private, jwk)?;
                Holder::Ecdh {
                    curve: EcdhCurve::X25519,
                    private,
                }
            }
            (KeyFamily::Oct, KeyParams::Oct { k }) if alg == KeyAlgorithm::Dir => {
                Holder::Dir(k.clone())
            }
            (KeyFamily::Oct, KeyParams::Oct { k }) => Holder::Wrap(k.clone()),
            (KeyFamily::Password, KeyParams::Oct { k }) => Holder::Password(k.clone()),
            _ => {
                return Err(JweError::Key(format!(
                    "a {} key cannot be used with {alg}",
                    jwk.describe()
                ))
                .into())
            }
        };
        Ok(DecryptionKey {
            alg,
            kid: jwk.kid().map(str::to_owned),
            holder,
            rng: SystemRandom::new(),
        })
    }

    /// The key-management algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Decrypts a compact JWE with the default [`JweLimits`].
    pub fn decrypt(&self, token: &str) -> Result<Decrypted, Error> {
        self.decrypt_with(token, &JweLimits::default())
    }

    /// Decrypts a nested JWT: a JWE whose `cty` is `JWT`, holding a compact JWS. The JWS is
    /// returned unverified; its claims are reached only by verifying it.
    pub fn decrypt_nested(&self, token: &str) -> Result<NestedJwt, Error> {
        self.decrypt_nested_with(token, &JweLimits::default())
    }

    /// [`DecryptionKey::decrypt_nested`] with limits.
    pub fn decrypt_nested_with(&self, token: &str, limits: &JweLimits) -> Result<NestedJwt, Error> {
        let decrypted = self.decrypt_with(token, limits)?;
        match decrypted.header.cty() {
            Some(cty) if cty.eq_ignore_ascii_case("JWT") => {}
            Some(other) => {
                return Err(JweError::NotNested(format!("`{}`", crate::shown(other))).into())
            }
            None => return Err(JweError::NotNested("absent".into()).into()),
        }
        let jws = std::str::from_utf8(&decrypted.plaintext)
            .map_err(|_| JweError::NotNested("set, but the plaintext is not text".into()))?
            .to_owned();
        Ok(NestedJwt {
            header: decrypted.header,
            jws,
            limits: Limits {
                max_token_len: limits.max_token_len,
                max_depth: limits.max_depth,
            },
        })
    }

    /// Decrypts a compact JWE: the size limit, the five parts, the header (`alg` must be
    /// this key's, `enc` one of `limits.encs`, no `zip`, no `crit`), the IV and tag
    /// lengths, all before any cryptography; then the key, then the content.
    pub fn decrypt_with(&self, token: &str, limits: &JweLimits) -> Result<Decrypted, Error> {
        let [h64, ek64, iv64, ct64, tag64] = split(token, limits)?;
        let header = JweHeader::parse(&decode(h64, "header")?, limits)?;
        if header.alg != self.alg {
            return Err(JweError::AlgMismatch {
                header: header.alg,
                key: self.alg,
            }
            .into());
        }
        let enc = header.enc;
        if !limits.encs.contains(&enc) {
            return Err(JweError::EncNotAllowed(enc).into());
        }
        let encrypted_key = decode(ek64, "encrypted key")?;
        let iv = decode(iv64, "IV")?;
        let ciphertext = decode(ct64, "ciphertext")?;
        let tag = decode(tag64, "tag")?;
        if iv.len() != enc.iv_len() {
            return Err(JweError::IvLength {
                enc,
                expected: enc.iv_len(),
                found: iv.len(),
            }
            .into());
        }
        if tag.len() != enc.tag_len() {
            return Err(JweError::TagLength {
                enc,
                expected: enc.tag_len(),
                found: tag.len(),
            }
            .into());
        }
        let cek = self.content_key(&header, enc, &encrypted_key)?;
        let mut plaintext = content::open(enc, &cek, &iv, h64.as_bytes(), &ciphertext, &tag)?;
        if header.members.contains_key("zip") {
            // The header parser let `zip` through only with a limit set.
            let limit = limits.max_inflated_len.ok_or(JweError::Zip)?;
            let inflated = miniz_oxide::inflate::decompress_to_vec_with_limit(&plaintext, limit)
                .map_err(|e| {
                    JweError::Inflate(match e.status {
                        miniz_oxide::inflate::TINFLStatus::HasMoreOutput => {
                            format!("it inflates past the limit of {limit} bytes")
                        }
                        _ => "not valid DEFLATE data".into(),
                    })
                })?;
            plaintext = Zeroizing::new(inflated);
        }
        Ok(Decrypted { header, plaintext })
    }

    fn content_key(
        &self,
        header: &JweHeader,
        enc: ContentEncryption,
        encrypted_key: &[u8],
    ) -> Result<Secret, Error> {
        let expect_empty = |alg| {
            if encrypted_key.is_empty() {
                Ok(())
            } else {
                Err(JweError::EncryptedKeyNotEmpty(alg))
            }
        };
        let cek = match &self.holder {
            Holder::Dir(k) => {
                expect_empty(self.alg)?;
                k.clone()
            }
            Holder::Wrap(kek) => unwrap(kek, encrypted_key)?,
            Holder::Password(password) => {
                // `p2c` was bounded when the header was parsed.
                let salt = optional_b64(header, "p2s")?;
                if salt.len() < 8 {
                    return Err(JweError::Header("`p2s` must be at least 8 bytes".into()).into());
                }
                let iterations = header
                    .members
                    .get("p2c")
                    .and_then(Value::as_u64)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| JweError::Header("`p2c` is missing".into()))?;
                let kek = pbes2_key(self.alg, password, &salt, iterations)?;
                unwrap(&kek, encrypted_key)?
            }
            Holder::Rsa(key) => {
                // RFC 7516 section 11.5: a failed or wrong-length decryption goes on with a
                // random key, so that the answer (and its timing) is the content's failure,
                // whatever went wrong: no padding or length oracle.
                let mut random = Zeroizing::new(vec![0u8; enc.key_len()]);
                self.rng
                    .fill(&mut random)
                    .map_err(|_| Error::Crypto("random"))?;
                let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
                match key.decrypt(oaep(self.alg), encrypted_key, &mut out, None) {
                    Ok(plain) if plain.len() == enc.key_len() => {
                        let len = plain.len();
                        out.truncate(len);
                        out
                    }
                    _ => random,
                }
            }
            Holder::Ecdh { curve, private } => {
                let epk = ephemeral_key(header, *curve)?;
                let (algorithm_id, len) = kdf_params(self.alg, enc);
                let apu = optional_b64(header, "apu")?;
                let apv = optional_b64(header, "apv")?;
                let derived = agreement::agree(private, epk, Error::Crypto("ECDH"), |z| {
                    concat_kdf(z, algorithm_id, &apu, &apv, len)
                })?;
                if self.alg == KeyAlgorithm::EcdhEs {
                    expect_empty(self.alg)?;
                    derived
                } else {
                    unwrap(&derived, encrypted_key)?
                }
            }
        };
        if cek.len() != enc.key_len() {
            return Err(JweError::CekLength {
                enc,
                expected: enc.key_len(),
                found: cek.len(),
            }
            .into());
        }
        Ok(cek)
    }
}

/// The private key's public half must be the JWK's `x` (and `y`): a key pair that does not
/// match would decrypt nothing addressed to its public key.
fn check_pair(private: &PrivateKey, jwk: &Jwk) -> Result<(), JweError> {
    let public = private
        .compute_public_key()
        .map_err(|_| JweError::Key("private key rejected".into()))?;
    let expected = EcdhCurve::of(jwk).map(|(_, bytes)| bytes);
    if expected.as_deref() != Some(public.as_ref()) {
        return Err(JweError::Key(
            "the private key does not match the public key in the JWK".into(),
        ));
    }
    Ok(())
}

/// The sender's ephemeral public key: a public key on the recipient's curve, and a valid
/// point of it (aws-lc-rs checks the point is on the curve: the invalid-curve attack).
fn ephemeral_key(header: &JweHeader, curve: EcdhCurve) -> Result<ParsedPublicKey, JweError> {
    let value = header
        .members
        .get("epk")
        .ok_or_else(|| JweError::Epk("missing".into()))?;
    if !value.is_object() {
        return Err(JweError::Epk("is not a JSON object".into()));
    }
    let jwk: Jwk = serde_json::from_value(value.clone())
        .map_err(|e| JweError::Epk(crate::shown(&e.to_string()).to_string()))?;
    if jwk.is_private() {
        return Err(JweError::Epk("carries a private key".into()));
    }
    let (found, bytes) =
        EcdhCurve::of(&jwk).ok_or_else(|| JweError::Epk(format!("is a {} key", jwk.describe())))?;
    if found != curve {
        return Err(JweError::Epk(format!(
            "is on {}, the recipient's key is on {}",
            found.name(),
            curve.name()
        )));
    }
    ParsedPublicKey::try_from(&UnparsedPublicKey::new(curve.agreement(), &bytes))
        .map_err(|_| JweError::Epk(format!("is not a valid point on {}", curve.name())))
}

fn optional_b64(header: &JweHeader, name: &'static str) -> Result<Vec<u8>, JweError> {
    match header.members.get(name).and_then(Value::as_str) {
        None => Ok(Vec::new()),
        Some(text) => decode(text, name),
    }
}

/// The Concat KDF's AlgorithmID and key length: `enc` and its key length for ECDH-ES,
/// `alg` and the wrapping key's length for ECDH-ES+AxxxKW (RFC 7518 section 4.6.2).
fn kdf_params(alg: KeyAlgorithm, enc: ContentEncryption) -> (&'static str, usize) {
    match alg.wrap_key_len() {
        Some(len) => (alg.as_str(), len),
        None => (enc.as_str(), enc.key_len()),
    }
}

/// The Concat KDF of RFC 7518 section 4.6.2 (NIST SP 800-56A single-step KDF with SHA-256),
/// through aws-lc-rs's `sskdf_digest`.
pub(crate) fn concat_kdf(
    z: &[u8],
    algorithm_id: &str,
    apu: &[u8],
    apv: &[u8],
    len: usize,
) -> Result<Secret, Error> {
    let mut info = Vec::with_capacity(16 + algorithm_id.len() + apu.len() + apv.len());
    for field in [algorithm_id.as_bytes(), apu, apv] {
        let field_len = u32::try_from(field.len()).map_err(|_| Error::Crypto("KDF input"))?;
        info.extend_from_slice(&field_len.to_be_bytes());
        info.extend_from_slice(field);
    }
    let bits = u32::try_from(len * 8).map_err(|_| Error::Crypto("KDF length"))?;
    info.extend_from_slice(&bits.to_be_bytes());
    let digest =
        get_sskdf_digest_algorithm(SskdfDigestAlgorithmId::Sha256).ok_or(Error::Crypto("KDF"))?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    sskdf_digest(digest, z, &info, &mut out).map_err(|_| Error::Crypto("KDF"))?;
    Ok(out)
}

/// PBES2's iteration count when encrypting: OWASP's 2023 figures for PBKDF2.
fn pbes2_default_iterations(alg: KeyAlgorithm) -> u32 {
    if alg == KeyAlgorithm::Pbes2Hs512A256Kw {
        210_000
    } else {
        600_000
    }
}

/// RFC 7518 section 4.8.1.1: PBKDF2 over the password, with the salt input
/// UTF8(alg) || 0x00 || p2s.
fn pbes2_key(
    alg: KeyAlgorithm,
    password: &[u8],
    p2s: &[u8],
    iterations: u32,
) -> Result<Secret, Error> {
    let (prf, len) = if alg == KeyAlgorithm::Pbes2Hs512A256Kw {
        (aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA512, 32)
    } else {
        (aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256, 16)
    };
    let mut salt = Vec::with_capacity(alg.as_str().len() + 1 + p2s.len());
    salt.extend_from_slice(alg.as_str().as_bytes());
    salt.push(0);
    salt.extend_from_slice(p2s);
    let iterations =
        std::num::NonZeroU32::new(iterations).ok_or(Error::Crypto("PBES2 iterations"))?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    aws_lc_rs::pbkdf2::derive(prf, iterations, &salt, password, &mut out);
    Ok(out)
}

fn oaep(alg: KeyAlgorithm) -> &'static aws_lc_rs::rsa::OaepAlgorithm {
    if alg == KeyAlgorithm::RsaOaep {
        &OAEP_SHA1_MGF1SHA1
    } else {
        &OAEP_SHA256_MGF1SHA256
    }
}

fn kek(key: &[u8]) -> Result<AesKek, Error> {
    let cipher = match key.len() {
        16 => &AES_128,
        32 => &AES_256,
        _ => return Err(Error::Crypto("AES key wrap key length")),
    };
    AesKek::new(cipher, key).map_err(|_| Error::Crypto("AES key wrap"))
}

fn wrap(key: &[u8], cek: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = vec![0u8; cek.len() + 8];
    let len = kek(key)?
        .wrap(cek, &mut out)
        .map_err(|_| Error::Crypto("AES key wrap"))?
        .len();
    out.truncate(len);
    Ok(out)
}

/// AES key unwrap; its integrity check failing is a decryption failure.
fn unwrap(key: &[u8], wrapped: &[u8]) -> Result<Secret, Error> {
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return Err(JweError::Decryption.into());
    }
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let len = kek(key)?
        .unwrap(wrapped, &mut out)
        .map_err(|_| JweError::Decryption)?
        .len();
    out.truncate(len);
    Ok(out)
}
