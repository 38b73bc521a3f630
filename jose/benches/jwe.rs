//! Nested JWTs (sign, then encrypt) side by side in one run, per key-management algorithm:
//! the cost a resource server adds by accepting encrypted access tokens (decrypt, then
//! verify the inner ES256 token) against verifying the plain token, and what an issuer adds
//! by encrypting. Run with `cargo bench -p tessera-jose --bench jwe`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use std::hint::black_box;
use std::time::Duration;
use tessera_jose::jwe::{ContentEncryption, DecryptionKey, EncryptionKey, KeyAlgorithm};
use tessera_jose::{Algorithm, Jwk, SigningKey, UnverifiedJwt, Validation, VerifyingKey};

fn bench(c: &mut Criterion) {
    let sig = Jwk::generate(Algorithm::ES256, None).unwrap();
    let signer = SigningKey::from_jwk(&sig, None).unwrap();
    let verifier = VerifyingKey::from_jwk(&sig.to_public()).unwrap();
    let validation = Validation::new()
        .issuer("https://auth.example.com")
        .audience("orders-api");
    let jws = signer
        .sign_jwt(&json!({
            "iss": "https://auth.example.com", "sub": "user-1234", "aud": "orders-api",
            "exp": 4_102_444_800u64, "iat": 1_700_000_000u64, "role": "write",
            "jti": "5f0c2d8e-5b8f-4d65-9a53-6a2c1e9f1b7a"
        }))
        .unwrap();
    {
        let mut group = c.benchmark_group("nested/plain ES256 (baseline)");
        group.bench_function("verify", |b| {
            b.iter(|| {
                UnverifiedJwt::parse(black_box(&jws))
                    .unwrap()
                    .verify(&verifier, &validation)
                    .unwrap()
            })
        });
        group.finish();
    }
    for (alg, crv) in [
        (KeyAlgorithm::EcdhEs, Some("X25519")),
        (KeyAlgorithm::EcdhEs, Some("P-256")),
        (KeyAlgorithm::EcdhEsA256Kw, Some("P-256")),
        (KeyAlgorithm::RsaOaep256, None),
        (KeyAlgorithm::A256Kw, None),
        (KeyAlgorithm::Dir, None),
    ] {
        let key = Jwk::generate_encryption(alg, None, crv).unwrap();
        let public = if key.is_symmetric() {
            key.clone()
        } else {
            key.to_public()
        };
        let encrypter = EncryptionKey::from_jwk(&public, None).unwrap();
        let decrypter = DecryptionKey::from_jwk(&key, None).unwrap();
        let enc = ContentEncryption::A256Gcm;
        let token = encrypter.encrypt_jws(&jws, enc).unwrap();
        let name = format!(
            "nested/{alg}{} {enc}",
            crv.map(|c| format!(" {c}")).unwrap_or_default()
        );
        let mut group = c.benchmark_group(&name);
        group.bench_function("decrypt+verify", |b| {
            b.iter(|| {
                decrypter
                    .decrypt_nested(black_box(&token))
                    .unwrap()
                    .verify(&verifier, &validation)
                    .unwrap()
            })
        });
        group.bench_function("encrypt", |b| {
            b.iter(|| encrypter.encrypt_jws(black_box(&jws), enc).unwrap())
        });
        group.finish();
        println!("{name}: token {} bytes (plain {})", token.len(), jws.len());
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
