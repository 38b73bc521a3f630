//! `tessera jwt ...`: sign, verify and decode compact tokens.

use clap::{ArgGroup, Subcommand};
use serde_json::{Map, Value};
use tessera_jose::{
    dangerous, pem, thumbprint, unix_now, Algorithm, ClaimError, Error, KeySet, SigningKey,
    UnverifiedJwt, Validation, VerifyingKey,
};

use crate::{input, Failure, Outcome};

#[derive(Subcommand)]
pub enum JwtCommand {
    /// Sign claims into a compact JWS (adds `iat`, and `exp` unless the claims have one).
    Sign {
        /// Private key: JWK, a JWK Set (its one private key, or the one --kid names), or
        /// PEM/DER (PKCS#1, PKCS#8, SEC1, OpenSSH).
        #[arg(long)]
        key: String,
        /// Algorithm (default: the key's `alg`, else RS256 / the curve's / EdDSA / HS256).
        #[arg(long)]
        alg: Option<Algorithm>,
        /// Key id for the header (default: the JWK's kid, else the RFC 7638 thumbprint).
        #[arg(long, allow_hyphen_values = true)]
        kid: Option<String>,
        /// Lifetime: seconds, or a number with s, m, h or d.
        #[arg(long, default_value = "20m", value_parser = input::duration)]
        exp: std::time::Duration,
        /// Claims as a JSON object, or @FILE to read them from a file (@- for stdin).
        #[arg(long)]
        claims: String,
        /// Encrypt the signed token to this recipient key (public JWK or PEM): a nested
        /// JWT (JWE with `cty` `JWT`).
        #[arg(long, value_name = "FILE")]
        encrypt_to: Option<String>,
        /// Key management for --encrypt-to (default: the key's `alg`, else RSA-OAEP-256 /
        /// ECDH-ES).
        #[arg(long, requires = "encrypt_to")]
        key_alg: Option<tessera_jose::jwe::KeyAlgorithm>,
        /// Content encryption for --encrypt-to.
        #[arg(long, default_value = "A256GCM", requires = "encrypt_to")]
        enc: tessera_jose::jwe::ContentEncryption,
    },
    /// Verify a token: exit 0 and print the claims, or exit 1 with the reason.
    #[command(group(ArgGroup::new("source").required(true).args(["jwks", "key"])))]
    Verify {
        /// JWK Set file or URL (https, or http on loopback).
        #[arg(long)]
        jwks: Option<String>,
        /// Key file: JWK, PEM, DER or OpenSSH public key.
        #[arg(long)]
        key: Option<String>,
        /// Required issuer.
        #[arg(long, allow_hyphen_values = true)]
        iss: Option<String>,
        /// Required audience.
        #[arg(long, allow_hyphen_values = true)]
        aud: Option<String>,
        /// Accept only this algorithm.
        #[arg(long)]
        alg: Option<Algorithm>,
        /// Accept a token without `exp` (such a token never expires: only for tokens from
        /// tools that omit it). An `exp` that is present is still checked.
        #[arg(long)]
        allow_missing_exp: bool,
        /// Decrypt a nested JWT (a JWE holding the JWS) with this private key first; the
        /// token must then be encrypted.
        #[arg(long, value_name = "FILE")]
        decrypt_key: Option<String>,
        /// The token, or - to read it from stdin.
        token: String,
    },
    /// Make DPoP proofs (RFC 9449) for requests, one per line: what a DPoP client sends in
    /// the `DPoP` header (e.g. for curl). Each has a fresh `jti`, so each is good once.
    DpopProof {
        /// The client's private key (asymmetric): JWK or PEM/DER/OpenSSH. Its public half
        /// goes into the proof; tokens get bound to its thumbprint.
        #[arg(long)]
        key: String,
        /// The request's method.
        #[arg(long, default_value = "GET")]
        method: String,
        /// The request's URL (query and fragment are ignored by verifiers).
        #[arg(long)]
        url: String,
        /// The access token the proof goes with (sets `ath`; needed at resource servers).
        #[arg(long)]
        token: Option<String>,
        /// A server nonce (from a `DPoP-Nonce` header).
        #[arg(long)]
        nonce: Option<String>,
        /// How many proofs to print (for load tests).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
        count: u32,
    },
    /// Show a token's header and claims WITHOUT verifying anything.
    Decode {
        /// The token, or - to read it from stdin.
        token: String,
    },
}

pub fn run(cmd: JwtCommand) -> Outcome {
    match cmd {
        JwtCommand::Sign {
            key,
            alg,
            kid,
            exp,
            claims,
            encrypt_to,
            key_alg,
            enc,
        } => {
            let token = sign(&key, alg, kid, exp, &claims)?;
            match encrypt_to {
                None => Ok(token),
                Some(path) => {
                    Ok(crate::jwe_cmd::encryption_key(&path, key_alg)?.encrypt_jws(&token, enc)?)
                }
            }
        }
        JwtCommand::Verify {
            jwks,
            key,
            iss,
            aud,
            alg,
            allow_missing_exp,
            decrypt_key,
            token,
        } => {
            let mut validation = Validation::new();
            if let Some(iss) = iss {
                validation = validation.issuer(iss);
            }
            if let Some(aud) = aud {
                validation = validation.audience(aud);
            }
            if let Some(alg) = alg {
                validation = validation.algorithms([alg]);
            }
            if allow_missing_exp {
                validation = validation.exp_optional();
            }
            verify(jwks, key, decrypt_key.as_deref(), &validation, &token)
        }
        JwtCommand::Decode { token } => decode(&token),
        JwtCommand::DpopProof {
            key,
            method,
            url,
            token,
            nonce,
            count,
        } => dpop_proof(
            &key,
            &method,
            &url,
            token.as_deref(),
            nonce.as_deref(),
            count,
        ),
    }
}

fn dpop_proof(
    key: &str,
    method: &str,
    url: &str,
    token: Option<&str>,
    nonce: Option<&str>,
    count: u32,
) -> Outcome {
    use std::io::Write;
    let jwk = pem::parse_key(&input::read(Some(key))?)?;
    if !jwk.is_private() || jwk.is_symmetric() {
        return Err(Failure(format!(
            "{key} is not an asymmetric private key; a DPoP proof is signed by one"
        )));
    }
    tessera_contract::dpop::normalize_htu(url).map_err(|e| Failure(format!("--url: {e}")))?;
    let signer = SigningKey::from_jwk(&jwk, None)?;
    let now = unix_now();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for n in 1..=count {
        let proof =
            tessera_contract::dpop::sign_proof(&signer, &jwk, method, url, now, token, nonce)?;
        if n == count {
            // The last one is printed by the caller, with the usual newline handling.
            out.flush()
                .map_err(|e| Failure(format!("cannot write the output: {e}")))?;
            return Ok(proof);
        }
        writeln!(out, "{proof}").map_err(|e| Failure(format!("cannot write the output: {e}")))?;
    }
    Ok(String::new())
}

fn sign(
    key: &str,
    alg: Option<Algorithm>,
    kid: Option<String>,
    lifetime: std::time::Duration,
    claims: &str,
) -> Outcome {
    if key == "-" && claims == "@-" {
        return Err(Failure(
            "--key - and --claims @- both read stdin; give one of them as a file".into(),
        ));
    }
    let text = match claims.strip_prefix('@') {
        Some(path) => input::read_text(Some(path))?,
        None => claims.to_owned(),
    };
    let mut claims: Map<String, Value> = match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => map,
        Ok(_) => return Err(Failure("--claims must be a JSON object".into())),
        Err(e) => return Err(Failure(format!("--claims is not valid JSON: {e}"))),
    };
    let bytes = input::read(Some(key))?;
    let jwk = if is_jwk_set(&bytes) {
        signing_key_of_set(&bytes, kid.as_deref())?
    } else {
        pem::parse_key(&bytes)?
    };
    if !jwk.is_private() {
        return Err(Failure(format!(
            "{key} is a public key; signing needs the private key"
        )));
    }
    let now = unix_now();
    claims.entry("iat").or_insert_with(|| now.into());
    let lifetime = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    claims
        .entry("exp")
        .or_insert_with(|| now.saturating_add(lifetime).into());
    let mut signer = SigningKey::from_jwk(&jwk, alg)?;
    signer.set_kid(Some(
        kid.or_else(|| jwk.kid().map(str::to_owned))
            .unwrap_or_else(|| thumbprint(&jwk)),
    ));
    let token = signer.sign_jwt(&claims)?;
    // Never hand out a token that verifiers (this one included) would refuse as malformed:
    // `"exp": "soon"`, claims past the size limit, nesting too deep.
    UnverifiedJwt::parse(&token)
        .map_err(|e| Failure(format!("refusing to sign: the token would be invalid: {e}")))?;
    Ok(token)
}

fn verify(
    jwks: Option<String>,
    key: Option<String>,
    decrypt_key: Option<&str>,
    validation: &Validation,
    token: &str,
) -> Outcome {
    if token == "-"
        && (key.as_deref() == Some("-") || jwks.as_deref() == Some("-") || decrypt_key == Some("-"))
    {
        return Err(Failure(
            "the key and the token both read stdin; give one of them as a file".into(),
        ));
    }
    let token = input::token(token)?;
    // A nested JWT: decrypted first; the inner JWS then passes every rule below.
    let nested = match decrypt_key {
        Some(path) => Some(
            crate::jwe_cmd::decryption_key(path, None)?
                .decrypt_nested(&token)
                .map_err(invalid)?,
        ),
        None => None,
    };
    let inner = nested.as_ref().map_or(token.as_str(), |n| n.inner());
    let parsed = UnverifiedJwt::parse(inner).map_err(invalid)?;
    let verified = match (jwks, key) {
        (Some(source), _) => {
            let bytes = if source.starts_with("http://") || source.starts_with("https://") {
                input::fetch(&source)?
            } else {
                input::read(Some(&source))?
            };
            let keys = KeySet::from_slice(&bytes)?;
            for skipped in keys.skipped() {
                eprintln!(
                    "tessera: warning: skipped key #{} ({}): {}",
                    skipped.index,
                    skipped.kid.as_deref().unwrap_or("no kid"),
                    skipped.reason
                );
            }
            parsed.verify(&keys, validation)
        }
        (None, Some(path)) => {
            let bytes = input::read(Some(&path))?;
            if is_jwk_set(&bytes) {
                return Err(Failure("--key takes one key; use --jwks for a set".into()));
            }
            let key = VerifyingKey::from_jwk(&pem::parse_key(&bytes)?)?;
            parsed.verify(&key, validation)
        }
        (None, None) => return Err(Failure("give --jwks or --key".into())),
    };
    let jwt = verified.map_err(invalid)?;
    Ok(serde_json::to_string_pretty(jwt.claims().members())?)
}

/// The private key of a JWK Set to sign with: the one `kid` names, or the set's only one.
fn signing_key_of_set(bytes: &[u8], kid: Option<&str>) -> Result<tessera_jose::Jwk, Failure> {
    let set = tessera_jose::JwkSet::from_slice(bytes)?;
    let private: Vec<&tessera_jose::Jwk> = set
        .keys
        .iter()
        .filter(|k| k.is_private())
        .filter(|k| kid.is_none_or(|want| k.kid() == Some(want)))
        .collect();
    match private.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Failure(match kid {
            Some(kid) => format!("the key set holds no private key with kid {kid}"),
            None => "the key set holds no private key; signing needs one".into(),
        })),
        many => Err(Failure(format!(
            "the key set holds {} private keys; pass --kid to choose one",
            many.len()
        ))),
    }
}

fn is_jwk_set(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(bytes)
        .map(|doc| doc.get("keys").is_some())
        .unwrap_or(false)
}

fn invalid(e: Error) -> Failure {
    let hint = match &e {
        Error::Claim(ClaimError::AudienceNotConfigured(_)) => " (pass --aud)",
        Error::Claim(ClaimError::Missing(claim)) if claim == "exp" => {
            " (--allow-missing-exp accepts tokens without one)"
        }
        Error::Malformed(tessera_jose::MalformedError::PartCount(5)) => {
            " (pass --decrypt-key with the private key it was encrypted to)"
        }
        _ => "",
    };
    Failure(format!("invalid token: {e}{hint}"))
}

fn decode(token: &str) -> Outcome {
    let token = input::token(token)?;
    let (header, claims) = dangerous::decode_parts(&token)?;
    eprintln!(
        "tessera: warning: decoded WITHOUT verifying the signature; do not trust these claims"
    );
    let out = serde_json::json!({
        "verified": false,
        "header": header,
        "claims": claims,
    });
    Ok(serde_json::to_string_pretty(&out)?)
}
