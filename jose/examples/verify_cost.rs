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
//!
//! With `--time` as a second argument it measures wall-clock time instead, interleaved so
//! that both sides see the same machine: 41 alternating batches of `ROUNDS` (default 1,000)
//! of each, printing the median time per verification of each side and their ratio.

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
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => {
            use aws_lc_rs::signature as s;
            let verification = match alg {
                Algorithm::RS256 => &s::RSA_PKCS1_2048_8192_SHA256,
                Algorithm::RS384 => &s::RSA_PKCS1_2048_8192_SHA384,
                Algorithm::RS512 => &s::RSA_PKCS1_2048_8192_SHA512,
                Algorithm::PS256 => &s::RSA_PSS_2048_8192_SHA256,
                Algorithm::PS384 => &s::RSA_PSS_2048_8192_SHA384,
                _ => &s::RSA_PSS_2048_8192_SHA512,
            };
            Raw::Parsed(
                s::RsaPublicKeyComponents {
                    n: field("n"),
                    e: field("e"),
                }
                .to_parsed_public_key(verification)
                .unwrap(),
            )
        }
        Algorithm::ES256 | Algorithm::ES384 | Algorithm::ES512 => {
            let mut point = vec![4u8];
            point.extend(field("x"));
            point.extend(field("y"));
            let verification = match alg {
                Algorithm::ES256 => &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                Algorithm::ES384 => &aws_lc_rs::signature::ECDSA_P384_SHA384_FIXED,
                _ => &aws_lc_rs::signature::ECDSA_P521_SHA512_FIXED,
            };
            Raw::Parsed(ParsedPublicKey::new(verification, point).unwrap())
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
    let tessera = |n| {
        if alg == Algorithm::HS256 {
            tessera_loop(n, &token, &single, &validation)
        } else {
            tessera_loop(n, &token, &set, &validation)
        }
    };
    if args.next().as_deref() == Some("--time") {
        let time = |f: &dyn Fn() -> usize| {
            let start = std::time::Instant::now();
            assert_eq!(f(), rounds);
            start.elapsed().as_nanos() as f64 / rounds as f64
        };
        // Warm up, then alternate so that both sides share the machine's mood.
        time(&|| raw_loop(rounds, &raw, input.as_bytes(), &sig));
        time(&|| tessera(rounds));
        let (mut raw_ns, mut tessera_ns, mut parse_ns) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..41 {
            raw_ns.push(time(&|| raw_loop(rounds, &raw, input.as_bytes(), &sig)));
            tessera_ns.push(time(&|| tessera(rounds)));
            parse_ns.push(time(&|| parse_loop(rounds, &token)));
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (r, t) = (median(&mut raw_ns), median(&mut tessera_ns));
        let p = median(&mut parse_ns);
        println!(
            "{alg}: raw {r:.0} ns, tessera {t:.0} ns (of which parse {p:.0} ns), \
             overhead {:.0} ns, tessera/raw speed {:.3}x",
            t - r,
            r / t
        );
        return;
    }
    let a = raw_loop(rounds, &raw, input.as_bytes(), &sig);
    let b = tessera(rounds);
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

#[inline(never)]
fn parse_loop(rounds: usize, token: &str) -> usize {
    (0..rounds)
        .filter(|_| UnverifiedJwt::parse(std::hint::black_box(token)).is_ok())
        .count()
}
