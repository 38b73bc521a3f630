//! `tessera jwk ...`: generate keys, convert between PEM and JWK, compute thumbprints.

use clap::{Subcommand, ValueEnum};
use tessera_jose::pem::{self, KeyFormat};
use tessera_jose::{thumbprint, Algorithm, Jwk, JwkSet};

use crate::{input, Failure, Outcome};

#[derive(Subcommand)]
pub enum JwkCommand {
    /// Generate a private JWK (or a JWKS holding it with --set).
    Generate {
        /// Algorithm the key is for: a signing one (RS256, PS256, ES256, EdDSA, HS256,
        /// ML-DSA-65, ...) or a JWE key-management one (RSA-OAEP-256, ECDH-ES,
        /// ECDH-ES+A256KW, A256KW, dir, ...; the key gets `use: "enc"`).
        #[arg(long, value_parser = key_purpose)]
        alg: KeyPurpose,
        /// Key size in bits (RSA: 2048, 3072, 4096, 8192; HMAC: a multiple of 8 from the
        /// hash size to 8192; dir: 128, 256 or 512; EC, EdDSA, ML-DSA and AES key wrap:
        /// fixed by the algorithm).
        #[arg(long)]
        size: Option<usize>,
        /// Curve for ECDH-ES keys: P-256 (default), P-384, P-521 or X25519.
        #[arg(long)]
        crv: Option<String>,
        /// Key id (default: the RFC 7638 thumbprint).
        #[arg(long, allow_hyphen_values = true)]
        kid: Option<String>,
        /// Print a JWK Set holding the key instead of the bare key.
        #[arg(long)]
        set: bool,
    },
    /// Print the public form of a JWK or JWKS.
    Public {
        /// JWK or JWKS file, or - for stdin.
        file: Option<String>,
    },
    /// Convert a PEM, DER or OpenSSH key to a JWK.
    FromPem {
        /// Key file: PEM (PKCS#1, PKCS#8, SPKI, SEC1), DER, or an OpenSSH key (public, or
        /// an unencrypted Ed25519/ECDSA private key as ssh-keygen writes by default).
        file: String,
        /// Bind the key to this algorithm (sets `alg`).
        #[arg(long)]
        alg: Option<Algorithm>,
    },
    /// Convert a JWK to PEM (PKCS#8 for private keys, SPKI for public ones by default).
    ToPem {
        /// JWK file, or - for stdin.
        file: Option<String>,
        /// Export only the public key.
        #[arg(long)]
        public: bool,
        /// Container format.
        #[arg(long, value_enum)]
        format: Option<PemFormat>,
    },
    /// Print the RFC 7638 SHA-256 thumbprint of a JWK (one line per key for a JWKS).
    Thumbprint {
        /// JWK or JWKS file, or - for stdin.
        file: Option<String>,
    },
}

/// What a generated key is for.
#[derive(Clone, Copy)]
pub enum KeyPurpose {
    /// A JWS algorithm.
    Sign(Algorithm),
    /// A JWE key-management algorithm.
    Encrypt(tessera_jose::jwe::KeyAlgorithm),
}

fn key_purpose(text: &str) -> Result<KeyPurpose, String> {
    match text.parse::<Algorithm>() {
        Ok(alg) => Ok(KeyPurpose::Sign(alg)),
        Err(signing) => match text.parse::<tessera_jose::jwe::KeyAlgorithm>() {
            Ok(alg) => Ok(KeyPurpose::Encrypt(alg)),
            Err(e @ (tessera_jose::jwe::JweError::Rsa15 | tessera_jose::jwe::JweError::Pbes2)) => {
                Err(e.to_string())
            }
            Err(_) => Err(signing.to_string()),
        },
    }
}

/// PEM container formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum PemFormat {
    /// PKCS#8 `PRIVATE KEY`.
    Pkcs8,
    /// PKCS#1 `RSA PRIVATE KEY` / `RSA PUBLIC KEY`.
    Pkcs1,
    /// SEC1 `EC PRIVATE KEY`.
    Sec1,
    /// SubjectPublicKeyInfo `PUBLIC KEY`.
    Spki,
}

pub fn run(cmd: JwkCommand) -> Outcome {
    match cmd {
        JwkCommand::Generate {
            alg,
            size,
            crv,
            kid,
            set,
        } => {
            let mut jwk = match alg {
                KeyPurpose::Sign(alg) => {
                    if crv.is_some() {
                        return Err(Failure(format!(
                            "--crv is for ECDH-ES keys; {alg} fixes its curve"
                        )));
                    }
                    Jwk::generate(alg, size)?
                }
                KeyPurpose::Encrypt(alg) => Jwk::generate_encryption(alg, size, crv.as_deref())?,
            };
            if let Some(kid) = kid {
                if kid.is_empty() {
                    return Err(Failure("--kid must not be empty".into()));
                }
                jwk.set_kid(kid);
            }
            crate::restrict_stdout()?;
            Ok(if set {
                JwkSet::new(vec![jwk]).to_json_pretty()
            } else {
                jwk.to_json_pretty()
            })
        }
        JwkCommand::Public { file } => match read_jwk_or_set(file.as_deref())? {
            KeyOrSet::Key(jwk) => {
                if jwk.is_symmetric() {
                    return Err(Failure(
                        "an `oct` key is a shared secret and has no public form".into(),
                    ));
                }
                Ok(jwk.to_public().to_json_pretty())
            }
            KeyOrSet::Set(set) => Ok(set.to_public().to_json_pretty()),
        },
        JwkCommand::FromPem { file, alg } => {
            let mut jwk = pem::parse_key(&input::read(Some(&file))?)?;
            // A converted key must be usable: no 1024-bit RSA or off-curve point.
            jwk.check_public_material()
                .map_err(|e| Failure(format!("{file}: {e}")))?;
            if let Some(alg) = alg {
                jwk.set_alg(alg)?;
            }
            jwk.set_use_signature();
            jwk.set_kid(thumbprint(&jwk));
            if jwk.is_private() {
                crate::restrict_stdout()?;
            }
            Ok(jwk.to_json_pretty())
        }
        JwkCommand::ToPem {
            file,
            public,
            format,
        } => {
            let jwk = match read_jwk_or_set(file.as_deref())? {
                KeyOrSet::Key(jwk) => jwk,
                KeyOrSet::Set(_) => {
                    return Err(Failure(
                        "to-pem converts one key; extract it from the set first".into(),
                    ))
                }
            };
            let jwk = if public { jwk.to_public() } else { jwk };
            let format = match format {
                Some(PemFormat::Pkcs8) => KeyFormat::Pkcs8,
                Some(PemFormat::Pkcs1) => KeyFormat::Pkcs1,
                Some(PemFormat::Sec1) => KeyFormat::Sec1,
                Some(PemFormat::Spki) => KeyFormat::Spki,
                None if jwk.is_private() => KeyFormat::Pkcs8,
                None => KeyFormat::Spki,
            };
            if jwk.is_symmetric() {
                return Err(Failure(
                    "an `oct` key is a shared secret: it has no PEM form (and no public half)"
                        .into(),
                ));
            }
            if public && matches!(format, KeyFormat::Pkcs8 | KeyFormat::Sec1) {
                return Err(Failure("--public needs --format spki or pkcs1".into()));
            }
            let pem = pem::to_pem(&jwk, format)?;
            if jwk.is_private() {
                crate::restrict_stdout()?;
            }
            Ok(pem)
        }
        JwkCommand::Thumbprint { file } => match read_jwk_or_set(file.as_deref())? {
            KeyOrSet::Key(jwk) => Ok(thumbprint(&jwk)),
            KeyOrSet::Set(set) if set.keys.is_empty() => {
                Err(Failure("the key set holds no usable key".into()))
            }
            KeyOrSet::Set(set) => Ok(set
                .keys
                .iter()
                .map(thumbprint)
                .collect::<Vec<_>>()
                .join("\n")),
        },
    }
}

pub enum KeyOrSet {
    Key(Jwk),
    Set(JwkSet),
}

/// Reads a JWK or a JWKS, telling them apart by a top-level `keys` member.
pub fn read_jwk_or_set(file: Option<&str>) -> Result<KeyOrSet, Failure> {
    let text = input::read_text(file)?;
    let name = file.unwrap_or("stdin");
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Failure(format!("{name} is not JSON (expected a JWK or JWKS): {e}")))?;
    if doc.get("keys").is_some() {
        let mut set = JwkSet::from_slice(text.as_bytes())?;
        for skipped in &set.skipped {
            eprintln!(
                "tessera: warning: skipped key #{} ({}): {}",
                skipped.index,
                skipped.kid.as_deref().unwrap_or("no kid"),
                skipped.reason
            );
        }
        // Keys whose material aws-lc-rs refuses (a point off its curve, a short modulus)
        // are skipped like any other unusable member of a set.
        let mut index = 0;
        set.keys.retain(|jwk| {
            index += 1;
            match jwk.check_public_material() {
                Ok(()) => true,
                Err(e) => {
                    eprintln!(
                        "tessera: warning: skipped key {} ({}): {e}",
                        jwk.kid().unwrap_or("no kid"),
                        index - 1
                    );
                    false
                }
            }
        });
        Ok(KeyOrSet::Set(set))
    } else {
        let jwk = Jwk::from_json(&text)?;
        jwk.check_public_material()
            .map_err(|e| Failure(format!("{name}: {e}")))?;
        Ok(KeyOrSet::Key(jwk))
    }
}
