//! ML-DSA in JOSE (RFC 9964): the RFC's examples as vectors, `AKP` keys, and the rules that
//! bind a key to its parameter set.

use serde_json::Value;
use tessera_jose::{
    thumbprint, Algorithm, Error, Jwk, KeyError, SigningKey, UnverifiedJwt, Validation,
    VerifyingKey,
};

fn example(n: u32) -> Value {
    let text = match n {
        44 => include_str!("../data/rfc/ml-dsa/ML_DSA_44.jose.json"),
        65 => include_str!("../data/rfc/ml-dsa/ML_DSA_65.jose.json"),
        _ => include_str!("../data/rfc/ml-dsa/ML_DSA_87.jose.json"),
    };
    serde_json::from_str(text).unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn rfc_9964_examples() {
    for (n, alg) in [
        (44, Algorithm::MlDsa44),
        (65, Algorithm::MlDsa65),
        (87, Algorithm::MlDsa87),
    ] {
        let ex = example(n);
        let jwk = Jwk::from_json(&ex["jwk"].to_string()).unwrap();
        assert!(jwk.is_private(), "{n}");
        assert_eq!(jwk.alg(), Some(alg));
        // The kid of the examples is the RFC 9964 thumbprint (over alg, kty and pub).
        assert_eq!(thumbprint(&jwk), ex["jwk"]["kid"].as_str().unwrap(), "{n}");
        assert_eq!(thumbprint(&jwk.to_public()), thumbprint(&jwk), "{n}");
        // The public key is the one the seed derives (checked when the signer is built).
        let public: Value = serde_json::from_str(&jwk.to_public().to_json()).unwrap();
        let raw_public = hex(ex["raw_public_key"].as_str().unwrap());
        assert_eq!(
            base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                public["pub"].as_str().unwrap()
            )
            .unwrap(),
            raw_public,
            "{n}"
        );
        assert!(public.get("priv").is_none(), "{n}");
        SigningKey::from_jwk(&jwk, None).unwrap();
        // The example signature verifies over the example's signing input, which is the
        // compact JWS's first two parts, and not with a bit changed.
        let jws = ex["jws"].as_str().unwrap();
        let (signing_input, _) = jws.rsplit_once('.').unwrap();
        let to_be_signed = hex(ex["raw_to_be_signed"].as_str().unwrap());
        assert_eq!(signing_input.as_bytes(), to_be_signed.as_slice(), "{n}");
        let signature = hex(ex["raw_signature"].as_str().unwrap());
        let verifier = VerifyingKey::from_jwk(&jwk.to_public()).unwrap();
        verifier.verify(alg, &to_be_signed, &signature).unwrap();
        let mut bad = signature.clone();
        bad[10] ^= 1;
        assert!(matches!(
            verifier.verify(alg, &to_be_signed, &bad),
            Err(Error::InvalidSignature)
        ));
    }
}

#[test]
fn generated_keys_sign_tokens_their_public_form_verifies() {
    for alg in [Algorithm::MlDsa44, Algorithm::MlDsa65, Algorithm::MlDsa87] {
        let jwk = Jwk::generate(alg, None).unwrap();
        let text = jwk.to_json();
        assert!(
            text.contains("\"kty\":\"AKP\"") && text.contains("\"priv\""),
            "{alg}"
        );
        let back = Jwk::from_json(&text).unwrap();
        assert_eq!(back.to_json(), text);
        assert_eq!(jwk.kid(), Some(thumbprint(&jwk).as_str()));
        let public = jwk.to_public();
        assert!(!public.is_private() && !public.to_json().contains("priv"));
        let signer = SigningKey::from_jwk(&jwk, None).unwrap();
        assert_eq!(signer.algorithm(), alg);
        let token = signer
            .sign_jwt(&serde_json::json!({"sub": "pq", "exp": tessera_jose::unix_now() + 60}))
            .unwrap();
        let verifier = VerifyingKey::from_jwk(&public).unwrap();
        let jwt = UnverifiedJwt::parse(&token)
            .unwrap()
            .verify(&verifier, &Validation::new().algorithms([alg]))
            .unwrap();
        assert_eq!(jwt.claims().sub(), Some("pq"));
        // A public key cannot sign.
        assert!(SigningKey::from_jwk(&public, None).is_err());
    }
}

#[test]
fn a_key_is_bound_to_its_parameter_set() {
    let jwk = Jwk::generate(Algorithm::MlDsa65, None).unwrap();
    let signer = SigningKey::from_jwk(&jwk, None).unwrap();
    let token = signer
        .sign_jwt(&serde_json::json!({"exp": tessera_jose::unix_now() + 60}))
        .unwrap();
    let verifier = VerifyingKey::from_jwk(&jwk.to_public()).unwrap();
    // The same token with its header claiming ML-DSA-44, or RS256: refused for the algorithm.
    for claimed in ["ML-DSA-44", "RS256", "EdDSA"] {
        let header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!(r#"{{"alg":"{claimed}","kid":"{}"}}"#, jwk.kid().unwrap()),
        );
        let rest = token.split_once('.').unwrap().1;
        let forged = format!("{header}.{rest}");
        let err = UnverifiedJwt::parse(&forged)
            .unwrap()
            .verify(&verifier, &Validation::new())
            .unwrap_err();
        assert!(matches!(err, Error::Algorithm(_)), "{claimed}: {err}");
    }
    // Signing with another set's algorithm is refused before anything is signed.
    assert!(SigningKey::from_jwk(&jwk, Some(Algorithm::MlDsa87)).is_err());
    assert!(SigningKey::from_jwk(&jwk, Some(Algorithm::EdDSA)).is_err());
    // A size means nothing for ML-DSA.
    assert!(Jwk::generate(Algorithm::MlDsa44, Some(2048)).is_err());
}

#[test]
fn malformed_akp_keys_are_refused_with_the_reason() {
    let good: Value =
        serde_json::from_str(&Jwk::generate(Algorithm::MlDsa44, None).unwrap().to_json()).unwrap();
    let other: Value =
        serde_json::from_str(&Jwk::generate(Algorithm::MlDsa44, None).unwrap().to_json()).unwrap();
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut v = good.clone();
        edit(&mut v);
        Jwk::from_json(&v.to_string())
    };
    let err = with(&|v| {
        v.as_object_mut().unwrap().remove("alg");
    })
    .unwrap_err();
    assert!(err.to_string().contains("missing `alg`"), "{err}");
    let err = with(&|v| v["alg"] = "RS256".into()).unwrap_err();
    assert!(err.to_string().contains("AKP algorithm `RS256`"), "{err}");
    let err = with(&|v| v["alg"] = "ML-DSA-65".into()).unwrap_err();
    assert!(
        err.to_string()
            .contains("member `pub` is 1312 bytes, ML-DSA-65 needs 1952"),
        "{err}"
    );
    let err = with(&|v| v["priv"] = "AAAA".into()).unwrap_err();
    assert!(err.to_string().contains("`priv` is 3 bytes"), "{err}");
    // A seed with another key's `pub`: parsed, but it cannot become a signer.
    let mixed = with(&|v| v["pub"] = other["pub"].clone()).unwrap();
    let err = SigningKey::from_jwk(&mixed, None).unwrap_err();
    assert!(
        matches!(&err, Error::Key(KeyError::Rejected(m)) if m.contains("not the public key of `priv`")),
        "{err}"
    );
}
