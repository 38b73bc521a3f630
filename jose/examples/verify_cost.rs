//! Verification cost in instructions, for `valgrind --tool=callgrind`, which counts
//! instructions exactly whatever else the machine is doing (unlike timings on a shared VM).
//!
//! ```sh
//! cargo build --profile bench -p tessera-jose --example verify_cost
//! valgrind --tool=callgrind --callgrind-out-file=cg.out target/release/examples/verify_cost RS256
//! callgrind_annotate --inclusive=yes cg.out | grep -E 'raw_loop|tessera_loop'
//! ```
//!
//! In one process, on the same key and token: `raw_loop` runs the bare aws-lc-rs
//! verification 1,000 times on the encoded signing input; `tessera_loop` runs the full
//! `UnverifiedJwt::parse` + `verify` (claims validation included) 1,000 times. The ratio of
//! their inclusive instruction counts is the speed ratio. `ROUNDS=n` in the environment
//! runs n of each instead, for a sampling profiler such as `perf record`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use aws_lc_rs::signature::ParsedPublicKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tessera_jose::{
    Algorithm, Jwk, JwkSet, KeyResolver, KeySet, SigningKey, UnverifiedJwt, Validation,
    VerifyingKey,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let alg: Algorithm = args.next().expect("ALG").parse().expect("an algorithm");
    let jwk = Jwk::generate(alg, None).unwrap();
    let claims = serde_json::json!({
        "iss": "https://auth.example.com", "sub": "user-1234", "aud": "orders-api",
        "exp": 4_102_444_800u64, "iat": 1_700_000_000u64, "nbf": 1_700_000_000u64,
        "jti": "5f0c2d8e-5b8f-4d65-9a53-6a2c1e9f1b7a", "role": "write",
        "sessionId": "0b7e5c1a-7b7f-44c3-8f0e-1f5b2b3c4d5e"
    });
    let token = SigningKey::from_jwk(&jwk, None)
        .unwrap()
        .sign_jwt_with_typ(Some("at+jwt"), &claims)
        .unwrap();
    let public: serde_json::Value = serde_json::from_str(&jwk.to_public().to_json()).unwrap();
    let rounds: usize = std::env::var("ROUNDS").map_or(1000, |n| n.parse().unwrap());
    let field = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(public[name].as_str().unwrap())
            .unwrap()
    };
    let (input, sig) = token.rsplit_once('.').unwrap();
    let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    let raw = match alg {
        Algorithm::RS256 => Raw::Parsed(
            aws_lc_rs::signature::RsaPublicKeyComponents {
                n: field("n"),
                e: field("e"),
            }
            .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
            .unwrap(),
        ),
        Algorithm::ES256 => {
            let mut point = vec![4u8];
            point.extend(field("x"));
            point.extend(field("y"));
            Raw::Parsed(
                ParsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED, point)
                    .unwrap(),
            )
        }
        Algorithm::EdDSA => {
            Raw::Parsed(ParsedPublicKey::new(&aws_lc_rs::signature::ED25519, field("x")).unwrap())
        }
        Algorithm::HS256 => Raw::Hmac(Box::new(aws_lc_rs::hmac::Key::new(
            aws_lc_rs::hmac::HMAC_SHA256,
            &URL_SAFE_NO_PAD
                .decode(
                    serde_json::from_str::<serde_json::Value>(&jwk.to_json()).unwrap()["k"]
                        .as_str()
                        .unwrap(),
                )
                .unwrap(),
        ))),
        other => panic!("{other} is not measured here"),
    };
    // Symmetric keys never come from a key set; HMAC uses the single key.
    let set = KeySet::from_jwks(&JwkSet::new(vec![jwk.to_public()]));
    let single = VerifyingKey::from_jwk(&jwk).unwrap();
    let validation = Validation::new()
        .issuer("https://auth.example.com")
        .audience("orders-api")
        .algorithms([alg])
        .typ("at+jwt");
    let a = raw_loop(rounds, &raw, input.as_bytes(), &sig);
    let b = if alg == Algorithm::HS256 {
        tessera_loop(rounds, &token, &single, &validation)
    } else {
        tessera_loop(rounds, &token, &set, &validation)
    };
    assert_eq!((a, b), (rounds, rounds));
}

enum Raw {
    Parsed(ParsedPublicKey),
    Hmac(Box<aws_lc_rs::hmac::Key>),
}

#[inline(never)]
fn raw_loop(rounds: usize, key: &Raw, input: &[u8], sig: &[u8]) -> usize {
    (0..rounds)
        .filter(|_| match key {
            Raw::Parsed(key) => key.verify_sig(std::hint::black_box(input), sig).is_ok(),
            Raw::Hmac(key) => {
                aws_lc_rs::hmac::verify(key, std::hint::black_box(input), sig).is_ok()
            }
        })
        .count()
}

#[inline(never)]
fn tessera_loop(
    rounds: usize,
    token: &str,
    keys: &impl KeyResolver,
    validation: &Validation,
) -> usize {
    (0..rounds)
        .filter(|_| {
            let parsed = UnverifiedJwt::parse(std::hint::black_box(token)).unwrap();
            parsed.verify(keys, validation).is_ok()
        })
        .count()
}
