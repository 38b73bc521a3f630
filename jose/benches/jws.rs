//! Sign and verify per algorithm, side by side in one run: Tessera (full token work: JSON,
//! base64url, key lookup, claims validation and the signature), the raw aws-lc-rs primitive
//! on the same key and message (the ceiling), and the `jsonwebtoken` crate on its aws-lc-rs
//! backend; and reading one claim of a fresh token with and without the claims map. Run
//! with `cargo bench -p tessera-jose --bench jws`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::large_enum_variant,
    missing_docs
)]

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, ParsedPublicKey, PqdsaKeyPair, RsaKeyPair,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use std::hint::black_box;
use std::time::Duration;
use tessera_jose::pem::{self, KeyFormat};
use tessera_jose::{
    Algorithm, Family, Jwk, JwkSet, KeySet, SigningKey, UnverifiedJwt, Validation, VerifyingKey,
};

const ISS: &str = "https://auth.example.com";
const AUD: &str = "orders-api";

fn claims() -> Value {
    json!({
        "iss": ISS, "sub": "user-1234", "aud": AUD,
        "exp": 4_102_444_800u64, "iat": 1_700_000_000u64, "nbf": 1_700_000_000u64,
        "jti": "5f0c2d8e-5b8f-4d65-9a53-6a2c1e9f1b7a", "role": "write",
        "sessionId": "0b7e5c1a-7b7f-44c3-8f0e-1f5b2b3c4d5e"
    })
}

fn field(jwk: &Value, name: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap()
}

enum RawSigner {
    Rsa(RsaKeyPair, &'static dyn signature::RsaEncoding),
    Ecdsa(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    MlDsa(PqdsaKeyPair),
    Hmac(hmac::Key),
}

enum RawVerifier {
    Public(ParsedPublicKey),
    Hmac(hmac::Key),
}

fn raw_pair(alg: Algorithm, jwk: &Jwk) -> (RawSigner, RawVerifier) {
    let public: Value = serde_json::from_str(&jwk.to_public().to_json()).unwrap();
    match alg.family() {
        Family::Rsa => {
            let der = pem::to_der(jwk, KeyFormat::Pkcs8).unwrap();
            let encoding: &'static dyn signature::RsaEncoding = match alg {
                Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                _ => &signature::RSA_PSS_SHA512,
            };
            let params: &'static signature::RsaParameters = match alg {
                Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
                Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
                _ => &signature::RSA_PSS_2048_8192_SHA512,
            };
            let components = signature::RsaPublicKeyComponents {
                n: field(&public, "n"),
                e: field(&public, "e"),
            };
            (
                RawSigner::Rsa(RsaKeyPair::from_pkcs8(&der).unwrap(), encoding),
                RawVerifier::Public(components.to_parsed_public_key(params).unwrap()),
            )
        }
        Family::Ec => {
            let der = pem::to_der(jwk, KeyFormat::Pkcs8).unwrap();
            let (signing, verifying): (_, &'static dyn signature::VerificationAlgorithm) = match alg
            {
                Algorithm::ES256 => (
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &signature::ECDSA_P256_SHA256_FIXED,
                ),
                Algorithm::ES384 => (
                    &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
                    &signature::ECDSA_P384_SHA384_FIXED,
                ),
                _ => (
                    &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
                    &signature::ECDSA_P521_SHA512_FIXED,
                ),
            };
            let mut point = vec![4u8];
            point.extend(field(&public, "x"));
            point.extend(field(&public, "y"));
            (
                RawSigner::Ecdsa(EcdsaKeyPair::from_pkcs8(signing, &der).unwrap()),
                RawVerifier::Public(ParsedPublicKey::new(verifying, point).unwrap()),
            )
        }
        Family::Okp => {
            let der = pem::to_der(jwk, KeyFormat::Pkcs8).unwrap();
            (
                RawSigner::Ed(Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).unwrap()),
                RawVerifier::Public(
                    ParsedPublicKey::new(&signature::ED25519, field(&public, "x")).unwrap(),
                ),
            )
        }
        Family::Akp => {
            let private: Value = serde_json::from_str(&jwk.to_json()).unwrap();
            let (signing, verifying) = match alg {
                Algorithm::MlDsa44 => (&signature::ML_DSA_44_SIGNING, &signature::ML_DSA_44),
                Algorithm::MlDsa65 => (&signature::ML_DSA_65_SIGNING, &signature::ML_DSA_65),
                _ => (&signature::ML_DSA_87_SIGNING, &signature::ML_DSA_87),
            };
            (
                RawSigner::MlDsa(
                    PqdsaKeyPair::from_seed(signing, &field(&private, "priv")).unwrap(),
                ),
                RawVerifier::Public(
                    ParsedPublicKey::new(verifying, field(&public, "pub")).unwrap(),
                ),
            )
        }
        Family::Hmac => {
            let private: Value = serde_json::from_str(&jwk.to_json()).unwrap();
            let h = match alg {
                Algorithm::HS256 => hmac::HMAC_SHA256,
                Algorithm::HS384 => hmac::HMAC_SHA384,
                _ => hmac::HMAC_SHA512,
            };
            let k = field(&private, "k");
            (
                RawSigner::Hmac(hmac::Key::new(h, &k)),
                RawVerifier::Hmac(hmac::Key::new(h, &k)),
            )
        }
    }
}

fn raw_sign(signer: &RawSigner, rng: &SystemRandom, msg: &[u8]) -> Vec<u8> {
    match signer {
        RawSigner::Rsa(pair, encoding) => {
            let mut sig = vec![0u8; pair.public_modulus_len()];
            pair.sign(*encoding, rng, msg, &mut sig).unwrap();
            sig
        }
        RawSigner::Ecdsa(pair) => pair.sign(rng, msg).unwrap().as_ref().to_vec(),
        RawSigner::Ed(pair) => pair.sign(msg).as_ref().to_vec(),
        RawSigner::MlDsa(pair) => {
            let mut sig = vec![0u8; pair.algorithm().signature_len()];
            let len = pair.sign(msg, &mut sig).unwrap();
            sig.truncate(len);
            sig
        }
        RawSigner::Hmac(key) => hmac::sign(key, msg).as_ref().to_vec(),
    }
}

fn raw_verify(verifier: &RawVerifier, msg: &[u8], sig: &[u8]) -> bool {
    match verifier {
        RawVerifier::Public(key) => key.verify_sig(msg, sig).is_ok(),
        RawVerifier::Hmac(key) => hmac::verify(key, msg, sig).is_ok(),
    }
}

fn jwt_alg(alg: Algorithm) -> Option<jsonwebtoken::Algorithm> {
    use jsonwebtoken::Algorithm as J;
    Some(match alg {
        Algorithm::RS256 => J::RS256,
        Algorithm::RS384 => J::RS384,
        Algorithm::RS512 => J::RS512,
        Algorithm::PS256 => J::PS256,
        Algorithm::PS384 => J::PS384,
        Algorithm::PS512 => J::PS512,
        Algorithm::ES256 => J::ES256,
        Algorithm::ES384 => J::ES384,
        Algorithm::EdDSA => J::EdDSA,
        Algorithm::HS256 => J::HS256,
        Algorithm::HS384 => J::HS384,
        Algorithm::HS512 => J::HS512,
        // jsonwebtoken has no ES512.
        _ => return None,
    })
}

fn jwt_keys(alg: Algorithm, jwk: &Jwk) -> (jsonwebtoken::EncodingKey, jsonwebtoken::DecodingKey) {
    use jsonwebtoken::{DecodingKey, EncodingKey};
    match alg.family() {
        Family::Hmac => {
            let private: Value = serde_json::from_str(&jwk.to_json()).unwrap();
            let k = field(&private, "k");
            (EncodingKey::from_secret(&k), DecodingKey::from_secret(&k))
        }
        family => {
            let public: jsonwebtoken::jwk::Jwk =
                serde_json::from_str(&jwk.to_public().to_json()).unwrap();
            let decoding = DecodingKey::from_jwk(&public).unwrap();
            let encoding = match family {
                Family::Rsa => {
                    EncodingKey::from_rsa_der(&pem::to_der(jwk, KeyFormat::Pkcs1).unwrap())
                }
                Family::Ec => {
                    EncodingKey::from_ec_der(&pem::to_der(jwk, KeyFormat::Pkcs8).unwrap())
                }
                _ => EncodingKey::from_ed_der(&pem::to_der(jwk, KeyFormat::Pkcs8).unwrap()),
            };
            (encoding, decoding)
        }
    }
}

/// Reading one claim of a fresh token (what a verifier does per uncached token): through
/// the claims map, which parses every claim into serde_json values, against `get_str`,
/// which reads it from where the parse found it. Parsing alone is the baseline.
fn one_claim(c: &mut Criterion) {
    let jwk = Jwk::generate(Algorithm::HS256, None).unwrap();
    let token = SigningKey::from_jwk(&jwk, None)
        .unwrap()
        .sign_jwt_with_typ(Some("at+jwt"), &claims())
        .unwrap();
    let claims_of = |t: &str| {
        tessera_jose::dangerous::insecure_claims(&UnverifiedJwt::parse(t).unwrap()).clone()
    };
    assert_eq!(claims_of(&token).get_str("role"), Some("write"));
    let mut group = c.benchmark_group("claims/one of a fresh token");
    group.bench_function("parse only", |b| b.iter(|| claims_of(black_box(&token))));
    group.bench_function("parse + get (claims map)", |b| {
        b.iter(|| claims_of(black_box(&token)).get("role").is_some())
    });
    group.bench_function("parse + get_str", |b| {
        b.iter(|| claims_of(black_box(&token)).get_str("role").is_some())
    });
    group.bench_function("parse + contains(cnf)", |b| {
        b.iter(|| claims_of(black_box(&token)).contains("cnf"))
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let claims = claims();
    for alg in Algorithm::ALL {
        let jwk = Jwk::generate(alg, None).unwrap();
        let signer = SigningKey::from_jwk(&jwk, None).unwrap();
        let token = signer.sign_jwt_with_typ(Some("at+jwt"), &claims).unwrap();
        let (signing_input, sig_b64) = token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig_b64).unwrap();
        let (raw_signer, raw_verifier) = raw_pair(alg, &jwk);
        assert!(raw_verify(&raw_verifier, signing_input.as_bytes(), &sig));

        let validation = Validation::new()
            .issuer(ISS)
            .audience(AUD)
            .algorithms([alg])
            .typ("at+jwt");
        let set;
        let single;
        let resolver: &dyn Fn(&str) -> bool = if alg.is_symmetric() {
            single = VerifyingKey::from_jwk(&jwk).unwrap();
            &|t: &str| {
                UnverifiedJwt::parse(t)
                    .unwrap()
                    .verify(&single, &validation)
                    .is_ok()
            }
        } else {
            set = KeySet::from_jwks(&JwkSet::new(vec![jwk.to_public()]));
            &|t: &str| {
                UnverifiedJwt::parse(t)
                    .unwrap()
                    .verify(&set, &validation)
                    .is_ok()
            }
        };
        assert!(resolver(&token));

        let mut group = c.benchmark_group(format!("verify/{alg}"));
        group.bench_function("tessera", |b| {
            b.iter(|| assert!(resolver(black_box(&token))))
        });
        group.bench_function("aws-lc-rs raw", |b| {
            b.iter(|| {
                assert!(raw_verify(
                    &raw_verifier,
                    black_box(signing_input.as_bytes()),
                    black_box(&sig)
                ))
            })
        });
        let jwt = jwt_alg(alg).map(|a| (a, jwt_keys(alg, &jwk)));
        if let Some((a, (_, decoding))) = &jwt {
            let mut v = jsonwebtoken::Validation::new(*a);
            v.set_audience(&[AUD]);
            v.set_issuer(&[ISS]);
            assert!(jsonwebtoken::decode::<Value>(&token, decoding, &v).is_ok());
            group.bench_function("jsonwebtoken", |b| {
                b.iter(|| {
                    assert!(jsonwebtoken::decode::<Value>(black_box(&token), decoding, &v).is_ok())
                })
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("sign/{alg}"));
        group.bench_function("tessera", |b| {
            b.iter(|| {
                signer
                    .sign_jwt_with_typ(Some("at+jwt"), black_box(&claims))
                    .unwrap()
            })
        });
        group.bench_function("aws-lc-rs raw", |b| {
            b.iter(|| raw_sign(&raw_signer, &rng, black_box(signing_input.as_bytes())))
        });
        if let Some((a, (encoding, _))) = &jwt {
            let mut header = jsonwebtoken::Header::new(*a);
            header.typ = Some("at+jwt".into());
            header.kid = jwk.kid().map(str::to_owned);
            group.bench_function("jsonwebtoken", |b| {
                b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), encoding).unwrap())
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = bench, one_claim
}
criterion_main!(benches);
