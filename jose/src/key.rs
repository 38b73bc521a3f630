//! Keys parsed once into ready-to-use aws-lc-rs objects: [`SigningKey`] and
//! [`VerifyingKey`]. Verifying a token never re-parses a key.

use std::fmt;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPairComponents, PublicKeyComponents};
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, PqdsaKeyPair, RsaKeyPair,
};

use crate::alg::Algorithm;
use crate::error::{AlgorithmError, Error, KeyError};
use crate::jwk::{Jwk, KeyParams};

/// A private key ready to sign with one algorithm.
///
/// ```
/// use tessera_jose::{Algorithm, Jwk, SigningKey, Validation, VerifyingKey, UnverifiedJwt};
///
/// let jwk = Jwk::generate(Algorithm::EdDSA, None)?;
/// let signer = SigningKey::from_jwk(&jwk, None)?;
/// let token = signer.sign_jwt(&serde_json::json!({"sub": "jane", "exp": 4102444800u64}))?;
///
/// let verifier = VerifyingKey::from_jwk(&jwk.to_public())?;
/// let jwt = UnverifiedJwt::parse(&token)?.verify(&verifier, &Validation::new())?;
/// assert_eq!(jwt.claims().sub(), Some("jane"));
/// # Ok::<(), tessera_jose::Error>(())
/// ```
pub struct SigningKey {
    alg: Algorithm,
    kid: Option<String>,
    inner: Signer,
    rng: SystemRandom,
}

enum Signer {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    MlDsa(Box<PqdsaKeyPair>),
    Hmac(Box<hmac::Key>),
}

impl SigningKey {
    /// Builds a signer from a private JWK. The algorithm is `alg` if given, else the key's
    /// `alg`, else its family's usual one; a conflict between the two is an error.
    pub fn from_jwk(jwk: &Jwk, alg: Option<Algorithm>) -> Result<SigningKey, Error> {
        let alg = match (alg, jwk.alg()) {
            (Some(wanted), Some(bound)) if wanted != bound => {
                return Err(AlgorithmError::Mismatch {
                    header: wanted,
                    key: bound.to_string(),
                }
                .into())
            }
            (Some(wanted), _) => wanted,
            (None, _) => jwk.default_algorithm(),
        };
        jwk.check_use("sign")?;
        jwk.check_alg(alg)?;
        let inner = match &jwk.params {
            // `check_alg` refuses every signing algorithm for X25519.
            KeyParams::X25519 { .. } => return Err(Error::Crypto("X25519 cannot sign")),
            KeyParams::Rsa { n, e, private } => {
                let p = private.as_ref().ok_or(KeyError::NotPrivate)?;
                let components = KeyPairComponents {
                    public_key: PublicKeyComponents {
                        n: n.as_slice(),
                        e: e.as_slice(),
                    },
                    d: p.d.as_slice(),
                    p: p.p.as_slice(),
                    q: p.q.as_slice(),
                    dP: p.dp.as_slice(),
                    dQ: p.dq.as_slice(),
                    qInv: p.qi.as_slice(),
                };
                Signer::Rsa(RsaKeyPair::from_components(&components).map_err(rejected)?)
            }
            KeyParams::Ec { x, y, d, .. } => {
                let d = d.as_ref().ok_or(KeyError::NotPrivate)?;
                let signing = alg
                    .ecdsa_signing()
                    .ok_or(Error::Crypto("ECDSA algorithm"))?;
                let point = uncompressed_point(x, y);
                Signer::Ecdsa(
                    EcdsaKeyPair::from_private_key_and_public_key(signing, d, &point)
                        .map_err(rejected)?,
                )
            }
            KeyParams::Okp { x, d } => {
                let d = d.as_ref().ok_or(KeyError::NotPrivate)?;
                Signer::Ed25519(Ed25519KeyPair::from_seed_and_public_key(d, x).map_err(rejected)?)
            }
            KeyParams::Oct { k } => {
                let h = alg.hmac().ok_or(Error::Crypto("HMAC algorithm"))?;
                Signer::Hmac(Box::new(hmac::Key::new(h, k)))
            }
            KeyParams::Akp { public, seed, .. } => {
                let seed = seed.as_ref().ok_or(KeyError::NotPrivate)?;
                let signing = alg
                    .ml_dsa_signing()
                    .ok_or(Error::Crypto("ML-DSA algorithm"))?;
                let pair = PqdsaKeyPair::from_seed(signing, seed).map_err(rejected)?;
                // The seed determines the public key: a `pub` that is not its own would sign
                // tokens that the published key cannot verify.
                if pair.public_key().as_ref() != public.as_slice() {
                    return Err(KeyError::Rejected(
                        "ML-DSA `pub` is not the public key of `priv`".into(),
                    )
                    .into());
                }
                Signer::MlDsa(Box::new(pair))
            }
        };
        Ok(SigningKey {
            alg,
            kid: jwk.kid().map(str::to_owned),
            inner,
            rng: SystemRandom::new(),
        })
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The `kid` put in the headers of tokens this key signs.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Replaces the `kid`.
    pub fn set_kid(&mut self, kid: Option<String>) {
        self.kid = kid;
    }

    /// Signs `message`, returning the JWS signature bytes (fixed-size `r || s` for ECDSA).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.inner {
            Signer::Rsa(pair) => {
                let encoding = self
                    .alg
                    .rsa_encoding()
                    .ok_or(Error::Crypto("RSA algorithm"))?;
                let mut sig = vec![0u8; pair.public_modulus_len()];
                pair.sign(encoding, &self.rng, message, &mut sig)
                    .map_err(|_| Error::Crypto("RSA signing"))?;
                Ok(sig)
            }
            Signer::Ecdsa(pair) => pair
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| Error::Crypto("ECDSA signing")),
            Signer::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            Signer::MlDsa(pair) => {
                let mut sig = vec![0u8; pair.algorithm().signature_len()];
                let len = pair
                    .sign(message, &mut sig)
                    .map_err(|_| Error::Crypto("ML-DSA signing"))?;
                sig.truncate(len);
                Ok(sig)
            }
            Signer::Hmac(key) => Ok(hmac::sign(key, message).as_ref().to_vec()),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A public key (or HMAC secret) ready to verify signatures, bound to the algorithms its JWK
/// allows. Built once; verification never re-parses it.
pub struct VerifyingKey {
    /// Shared with every [`Jwt`](crate::Jwt) this key verifies, without a copy.
    kid: Option<std::sync::Arc<str>>,
    /// One entry per algorithm the key accepts (several only for an RSA or `oct` key without
    /// `alg`), each parsed for that algorithm.
    verifiers: Vec<(Algorithm, Verifier)>,
}

enum Verifier {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

impl VerifyingKey {
    /// Builds a verifier from a JWK (public or private; only the public half is kept, except
    /// for `oct` keys). Refuses keys marked for encryption, RSA keys under 2048 bits and HMAC
    /// keys shorter than their hash.
    pub fn from_jwk(jwk: &Jwk) -> Result<VerifyingKey, Error> {
        jwk.check_use("verify")?;
        let algs = jwk.algorithms();
        if algs.is_empty() {
            if let KeyParams::Oct { k } = &jwk.params {
                return Err(KeyError::HmacTooShort {
                    alg: Algorithm::HS256,
                    min: Algorithm::HS256.hmac_min_key_len(),
                    len: k.len(),
                }
                .into());
            }
        }
        let mut verifiers = Vec::with_capacity(algs.len());
        for alg in algs {
            jwk.check_alg(alg)?;
            let verifier = match &jwk.params {
                KeyParams::X25519 { .. } => return Err(Error::Crypto("X25519 cannot verify")),
                KeyParams::Rsa { n, e, .. } => {
                    let params = alg.rsa_parameters().ok_or(Error::Crypto("RSA algorithm"))?;
                    let components = PublicKeyComponents {
                        n: n.as_slice(),
                        e: e.as_slice(),
                    };
                    Verifier::Public(components.to_parsed_public_key(params).map_err(rejected)?)
                }
                KeyParams::Ec { x, y, .. } => {
                    let v = alg.verification().ok_or(Error::Crypto("ECDSA algorithm"))?;
                    Verifier::Public(
                        ParsedPublicKey::new(v, uncompressed_point(x, y)).map_err(rejected)?,
                    )
                }
                KeyParams::Okp { x, .. } => {
                    let v = alg.verification().ok_or(Error::Crypto("EdDSA algorithm"))?;
                    Verifier::Public(ParsedPublicKey::new(v, x).map_err(rejected)?)
                }
                KeyParams::Akp { public, .. } => {
                    let v = alg
                        .verification()
                        .ok_or(Error::Crypto("ML-DSA algorithm"))?;
                    Verifier::Public(ParsedPublicKey::new(v, public).map_err(rejected)?)
                }
                KeyParams::Oct { k } => {
                    let h = alg.hmac().ok_or(Error::Crypto("HMAC algorithm"))?;
                    Verifier::Hmac(Box::new(hmac::Key::new(h, k)))
                }
            };
            verifiers.push((alg, verifier));
        }
        Ok(VerifyingKey {
            kid: jwk.kid().map(std::sync::Arc::from),
            verifiers,
        })
    }

    /// The key id, if the JWK had one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub(crate) fn shared_kid(&self) -> Option<std::sync::Arc<str>> {
        self.kid.clone()
    }

    /// The algorithms this key verifies.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.verifiers.iter().map(|(a, _)| *a)
    }

    /// True if this key verifies signatures made with `alg`.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.verifiers.iter().any(|(a, _)| *a == alg)
    }

    /// True for HMAC keys.
    pub fn is_symmetric(&self) -> bool {
        self.verifiers
            .iter()
            .any(|(_, v)| matches!(v, Verifier::Hmac(_)))
    }

    /// Verifies `signature` over `message` for `alg`, which must be one of the key's
    /// algorithms: the algorithm comes from the key, the header only selects among them.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Result<(), Error> {
        let verifier = self
            .verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, v)| v)
            .ok_or_else(|| AlgorithmError::Mismatch {
                header: alg,
                key: self.algorithm_list(),
            })?;
        let ok = match verifier {
            Verifier::Public(key) => key.verify_sig(message, signature).is_ok(),
            // hmac::verify compares in constant time.
            Verifier::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidSignature)
        }
    }

    fn algorithm_list(&self) -> String {
        let names: Vec<&str> = self.verifiers.iter().map(|(a, _)| a.as_str()).collect();
        names.join("/")
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithm_list())
            .finish_non_exhaustive()
    }
}

pub(crate) fn uncompressed_point(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut point = Vec::with_capacity(1 + x.len() + y.len());
    point.push(4);
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    point
}

fn rejected(e: aws_lc_rs::error::KeyRejected) -> Error {
    KeyError::Rejected(e.to_string()).into()
}
