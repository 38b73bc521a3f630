//! What a DPoP proof costs a resource server, beside the access token's own signature:
//! `ProofChecker::check` (parse, the proof's signature by its embedded key, claims, the
//! thumbprint, the replay cache) for ES256 and EdDSA proofs, next to verifying an RS256
//! and an ES256 access token with a known key. `cargo bench -p tessera-contract`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::atomic::{AtomicI64, Ordering};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use tessera_contract::dpop::{normalize_htu, sign_proof, Expected, ProofChecker};
use tessera_jose::{
    thumbprint, Algorithm, Jwk, SigningKey, UnverifiedJwt, Validation, VerifyingKey,
};

const URL: &str = "https://api.example.com/orders";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln";

fn proofs(c: &mut Criterion) {
    let htu = normalize_htu(URL).unwrap();
    let mut group = c.benchmark_group("dpop");
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let jwk = Jwk::generate(alg, None).unwrap();
        let key = SigningKey::from_jwk(&jwk, None).unwrap();
        let jkt = thumbprint(&jwk);
        let checker = ProofChecker::new().replay_capacity(1 << 20);
        // Each proof one second later than the last, and checked at its own time: the
        // replay cache stays within its bound without refusing anything.
        let clock = AtomicI64::new(1_800_000_000);
        let sample = sign_proof(&key, &jwk, "GET", URL, 0, Some(TOKEN), None).unwrap();
        println!("{alg:?} proof: {} bytes", sample.len());
        group.bench_function(format!("check {alg:?} proof"), |b| {
            b.iter_batched(
                || {
                    let now = clock.fetch_add(1, Ordering::Relaxed);
                    let proof = sign_proof(&key, &jwk, "GET", URL, now, Some(TOKEN), None).unwrap();
                    (proof, now)
                },
                |(proof, now)| {
                    let expected = Expected::new("GET", &htu).access_token(TOKEN).jkt(&jkt);
                    checker.check(&proof, &expected, now).unwrap()
                },
                BatchSize::SmallInput,
            )
        });
    }
    for alg in [Algorithm::RS256, Algorithm::ES256] {
        let jwk = Jwk::generate(alg, None).unwrap();
        let signer = SigningKey::from_jwk(&jwk, None).unwrap();
        let verifier = VerifyingKey::from_jwk(&jwk.to_public()).unwrap();
        let token = signer
            .sign_jwt(&serde_json::json!({"sub": "jane", "exp": 4_102_444_800_i64}))
            .unwrap();
        let validation = Validation::new();
        group.bench_function(format!("verify {alg:?} access token"), |b| {
            b.iter(|| {
                UnverifiedJwt::parse(&token)
                    .unwrap()
                    .verify(&verifier, &validation)
                    .unwrap()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, proofs);
criterion_main!(benches);
