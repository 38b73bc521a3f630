//! `tessera jwe ...`: encrypt a payload to a recipient's key, and decrypt.

use clap::Subcommand;
use tessera_jose::jwe::{ContentEncryption, DecryptionKey, EncryptionKey, KeyAlgorithm};
use tessera_jose::{pem, Jwk};

use crate::{input, Failure, Outcome};

#[derive(Subcommand)]
pub enum JweCommand {
    /// Encrypt a payload into a compact JWE.
    Encrypt {
        /// The recipient's key: a public JWK or PEM (RSA, EC, X25519 JWK), or a shared
        /// `oct` JWK for A128KW/A256KW/dir.
        #[arg(long)]
        key: String,
        /// Key management: RSA-OAEP-256, RSA-OAEP, ECDH-ES, ECDH-ES+A128KW,
        /// ECDH-ES+A256KW, A128KW, A256KW, dir (default: the key's `alg`, else RSA-OAEP-256
        /// for RSA and ECDH-ES for EC/X25519 keys).
        #[arg(long)]
        alg: Option<KeyAlgorithm>,
        /// Content encryption: A256GCM, A128GCM, A256CBC-HS512, A128CBC-HS256.
        #[arg(long, default_value = "A256GCM")]
        enc: ContentEncryption,
        /// Header `cty` (content type of the payload).
        #[arg(long)]
        cty: Option<String>,
        /// Compress the payload with DEFLATE first (`zip: "DEF"`). The ciphertext's length
        /// then depends on the content: do not mix attacker-chosen data with secrets.
        #[arg(long)]
        zip: bool,
        /// The payload, or - to read it from stdin.
        payload: String,
    },
    /// Decrypt a compact JWE and print its plaintext. The plaintext is authenticated only
    /// as coming from someone who could encrypt to the key: nothing here checks a signature.
    Decrypt {
        /// The private key (JWK or PEM), or the shared `oct` JWK.
        #[arg(long)]
        key: String,
        /// Expected key management (default: the key's `alg`, else its type's usual one).
        #[arg(long)]
        alg: Option<KeyAlgorithm>,
        /// Accept PBES2 (password) tokens with a `p2c` of at most N iterations (refused
        /// without this).
        #[arg(long, value_name = "N")]
        pbes2_max_iterations: Option<u32>,
        /// Accept compressed (`zip`) tokens inflating to at most BYTES (refused without it).
        #[arg(long, value_name = "BYTES")]
        max_inflated: Option<usize>,
        /// The token, or - to read it from stdin.
        token: String,
    },
}

pub fn run(cmd: JweCommand) -> Outcome {
    match cmd {
        JweCommand::Encrypt {
            key,
            alg,
            enc,
            cty,
            zip,
            payload,
        } => {
            if key == "-" && payload == "-" {
                return Err(Failure(
                    "--key - and the payload - both read stdin; give one of them as a file".into(),
                ));
            }
            let encrypter = encryption_key(&key, alg)?;
            let payload = if payload == "-" {
                input::read(None)?
            } else {
                payload.into_bytes()
            };
            if zip {
                Ok(encrypter.encrypt_deflated(&payload, enc, cty.as_deref())?)
            } else {
                Ok(encrypter.encrypt(&payload, enc, cty.as_deref())?)
            }
        }
        JweCommand::Decrypt {
            key,
            alg,
            pbes2_max_iterations,
            max_inflated,
            token,
        } => {
            if key == "-" && token == "-" {
                return Err(Failure(
                    "the key and the token both read stdin; give one of them as a file".into(),
                ));
            }
            let decrypter = decryption_key(&key, alg)?;
            let token = input::token(&token)?;
            let limits = tessera_jose::jwe::JweLimits {
                pbes2_max_iterations,
                max_inflated_len: max_inflated,
                ..Default::default()
            };
            let out = decrypter
                .decrypt_with(&token, &limits)
                .map_err(|e| Failure(format!("cannot decrypt: {e}")))?;
            String::from_utf8(out.plaintext().to_vec()).map_err(|_| {
                Failure(format!(
                    "the plaintext ({} bytes) is not UTF-8 text",
                    out.plaintext().len()
                ))
            })
        }
    }
}

fn one_key(path: &str) -> Result<Jwk, Failure> {
    let bytes = input::read(Some(path))?;
    let is_set = serde_json::from_slice::<serde_json::Value>(&bytes)
        .map(|doc| doc.get("keys").is_some())
        .unwrap_or(false);
    if is_set {
        return Err(Failure(format!("{path} is a key set; give one key")));
    }
    pem::parse_key(&bytes).map_err(|e| Failure(format!("{path}: {e}")))
}

/// The recipient's encryption key from a file.
pub fn encryption_key(path: &str, alg: Option<KeyAlgorithm>) -> Result<EncryptionKey, Failure> {
    let jwk = one_key(path)?;
    EncryptionKey::from_jwk(&jwk, alg).map_err(|e| Failure(format!("{path}: {e}")))
}

/// A decryption key from a file.
pub fn decryption_key(path: &str, alg: Option<KeyAlgorithm>) -> Result<DecryptionKey, Failure> {
    let jwk = one_key(path)?;
    DecryptionKey::from_jwk(&jwk, alg).map_err(|e| Failure(format!("{path}: {e}")))
}
