//! Property tests: sign -> verify and JWK -> PEM -> JWK round trips, and parsers that never
//! panic on arbitrary input.

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use tessera_jose::pem::{self, KeyFormat};
use tessera_jose::{
    thumbprint, Algorithm, Error, Family, Jwk, JwkSet, SigningKey, UnverifiedJwt, Validation,
    VerifyingKey,
};

/// Every asymmetric algorithm with a PEM form: the first ten of `Algorithm::ALL` (ML-DSA
/// and the HMAC ones come after them).
const ASYMMETRIC: &[Algorithm] = Algorithm::ALL.as_slice().split_at(10).0;
/// One key per algorithm, generated once (RSA generation is slow).
fn keys() -> &'static Vec<(Algorithm, Jwk)> {
    static KEYS: OnceLock<Vec<(Algorithm, Jwk)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        Algorithm::ALL
            .iter()
            .map(|&alg| (alg, Jwk::generate(alg, None).unwrap()))
            .collect()
    })
}

fn claim_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        prop::collection::vec(".{0,8}", 0..4).prop_map(|v| json!(v)),
    ]
}

fn extra_claims() -> impl Strategy<Value = Map<String, Value>> {
    // Names that do not collide with the registered claims checked by type.
    prop::collection::btree_map("x_[a-z]{1,8}", claim_value(), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sign_then_verify_round_trips(
        index in 0..Algorithm::ALL.len(),
        sub in ".{0,64}",
        extra in extra_claims(),
    ) {
        let (alg, jwk) = &keys()[index];
        let mut claims = extra.clone();
        claims.insert("sub".into(), sub.clone().into());
        claims.insert("exp".into(), (tessera_jose::unix_now() + 300).into());
        let token = SigningKey::from_jwk(jwk, None).unwrap().sign_jwt(&claims).unwrap();
        let verifier = if alg.is_symmetric() {
            VerifyingKey::from_jwk(jwk).unwrap()
        } else {
            VerifyingKey::from_jwk(&jwk.to_public()).unwrap()
        };
        let jwt = UnverifiedJwt::parse(&token).unwrap().verify(&verifier, &Validation::new()).unwrap();
        prop_assert_eq!(jwt.header().alg(), *alg);
        prop_assert_eq!(jwt.claims().sub(), Some(sub.as_str()));
        for (name, value) in &extra {
            prop_assert_eq!(jwt.claims().get(name), Some(value));
        }
        // Any single-character change to the signature breaks it.
        let mut bytes = token.clone().into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        let result = UnverifiedJwt::parse(&tampered).and_then(|t| t.verify(&verifier, &Validation::new()));
        prop_assert!(matches!(result, Err(Error::InvalidSignature)));
    }

    #[test]
    fn jwk_pem_jwk_round_trips(index in 0..ASYMMETRIC.len(), public in any::<bool>(), pick in 0usize..3) {
        let alg = ASYMMETRIC[index];
        let jwk = &keys().iter().find(|(a, _)| *a == alg).unwrap().1;
        let source = if public { jwk.to_public() } else { jwk.clone() };
        let formats: Vec<KeyFormat> = match (alg.family(), public) {
            (Family::Rsa, false) => vec![KeyFormat::Pkcs8, KeyFormat::Pkcs1, KeyFormat::Spki],
            (Family::Rsa, true) => vec![KeyFormat::Spki, KeyFormat::Pkcs1],
            (Family::Ec, false) => vec![KeyFormat::Pkcs8, KeyFormat::Sec1, KeyFormat::Spki],
            (_, false) => vec![KeyFormat::Pkcs8, KeyFormat::Spki],
            (_, true) => vec![KeyFormat::Spki],
        };
        let format = formats[pick % formats.len()];
        let text = pem::to_pem(&source, format).unwrap();
        let back = pem::parse_key(text.as_bytes()).unwrap();
        prop_assert_eq!(thumbprint(&back), thumbprint(jwk));
        let expect_private = !public && format != KeyFormat::Spki;
        prop_assert_eq!(back.is_private(), expect_private);
        // JSON round trip of the recovered key is exact.
        prop_assert_eq!(Jwk::from_json(&back.to_json()).unwrap().to_json(), back.to_json());
        // DER round trip gives the same bytes.
        let der = pem::to_der(&source, format).unwrap();
        prop_assert_eq!(pem::to_der(&pem::from_der(&der).unwrap(), format).unwrap(), der);
    }

    #[test]
    fn token_parser_never_panics(input in ".{0,600}") {
        let _ = UnverifiedJwt::parse(&input);
    }

    #[test]
    fn token_parser_never_panics_on_near_tokens(
        header in prop::collection::vec(any::<u8>(), 0..80),
        payload in prop::collection::vec(any::<u8>(), 0..200),
        sig in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let token = format!("{}.{}.{}", e.encode(header), e.encode(payload), e.encode(sig));
        let parsed = UnverifiedJwt::parse(&token);
        if let Ok(parsed) = parsed {
            // Random bytes never verify.
            let key = VerifyingKey::from_jwk(&keys()[0].1.to_public()).unwrap();
            prop_assert!(parsed.verify(&key, &Validation::new()).is_err());
        }
    }

    #[test]
    fn jwks_parser_never_panics(input in ".{0,400}") {
        let _ = JwkSet::from_slice(input.as_bytes());
        let _ = Jwk::from_json(&input);
        let _ = pem::parse_key(input.as_bytes());
    }

    #[test]
    fn hmac_keys_of_any_adequate_length_round_trip(secret in prop::collection::vec(any::<u8>(), 32..100)) {
        use base64::Engine;
        let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&secret);
        let jwk = Jwk::from_json(&format!(r#"{{"kty":"oct","k":"{k}"}}"#)).unwrap();
        let signer = SigningKey::from_jwk(&jwk, None).unwrap();
        let token = signer.sign_jwt(&json!({"exp": tessera_jose::unix_now() + 60})).unwrap();
        let key = VerifyingKey::from_jwk(&jwk).unwrap();
        prop_assert!(UnverifiedJwt::parse(&token).unwrap().verify(&key, &Validation::new()).is_ok());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Parsing takes a shortcut when a token's header text is the one last parsed on the
    /// thread. Near-valid tokens must get the same answer from the shortcut as from a
    /// thread that has never seen the header.
    #[test]
    fn cached_header_shortcut_agrees_with_a_fresh_parse(
        claims in extra_claims(),
        edits in prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                // Most edits land on or next to a `.`, where the structure is decided.
                prop::option::weighted(0.8, (any::<bool>(), -1isize..=1)),
                prop::sample::select(b"Aa0-_.=+ /\xc3".to_vec()),
                0u8..3,
            ),
            1..3,
        ),
    ) {
        let (_, jwk) = &keys()[10];
        let token = SigningKey::from_jwk(jwk, None).unwrap().sign_jwt(&claims).unwrap();
        let mut bytes = token.clone().into_bytes();
        for (at, near_dot, byte, how) in edits {
            let dots: Vec<usize> =
                bytes.iter().enumerate().filter(|(_, &b)| b == b'.').map(|(i, _)| i).collect();
            let i = match (near_dot, dots.first(), dots.last()) {
                (Some((first, offset)), Some(&a), Some(&b)) => {
                    (if first { a } else { b }).saturating_add_signed(offset)
                }
                _ => at.index(bytes.len() + 1),
            };
            match how {
                0 if i < bytes.len() => bytes[i] = byte,
                1 if i < bytes.len() => { bytes.remove(i); }
                _ => bytes.insert(i.min(bytes.len()), byte),
            }
        }
        let Ok(mutated) = String::from_utf8(bytes) else { return Ok(()) };
        let show = |r: Result<UnverifiedJwt<'_>, Error>| match r {
            Ok(t) => format!("ok {t:?}"),
            Err(e) => format!("error {e}"),
        };
        // Warm this thread's cache with the original header, then parse the mutated token.
        UnverifiedJwt::parse(&token).unwrap();
        let here = show(UnverifiedJwt::parse(&mutated));
        let fresh = std::thread::scope(|s| {
            s.spawn(|| show(UnverifiedJwt::parse(&mutated))).join().unwrap()
        });
        prop_assert_eq!(here, fresh, "token {}", mutated);
    }
}
