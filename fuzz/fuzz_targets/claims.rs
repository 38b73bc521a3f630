//! Differential: any payload, signed with a test key, either verifies with exactly the
//! registered claims serde_json reads from it, or is refused; never a panic. This drives the
//! fast-path claims reader and the general path with the same bytes.
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tessera_jose::{Jwk, SigningKey, UnverifiedJwt, Validation, VerifyingKey};

fn keys() -> &'static (SigningKey, VerifyingKey) {
    static KEYS: OnceLock<(SigningKey, VerifyingKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let k = URL_SAFE_NO_PAD.encode([7u8; 32]);
        let jwk = Jwk::from_json(&format!(r#"{{"kty":"oct","k":"{k}","alg":"HS256"}}"#))
            .expect("test key");
        (
            SigningKey::from_jwk(&jwk, None).expect("signer"),
            VerifyingKey::from_jwk(&jwk).expect("verifier"),
        )
    })
}

fuzz_target!(|payload: &[u8]| {
    let (signer, verifier) = keys();
    let Ok(token) = signer.sign_compact(br#"{"alg":"HS256"}"#, payload) else {
        return;
    };
    let validation = Validation::new()
        .insecure_disable_time_checks()
        .insecure_any_audience()
        .exp_optional();
    let Ok(parsed) = UnverifiedJwt::parse(&token) else {
        return;
    };
    let Ok(jwt) = parsed.verify(verifier, &validation) else {
        return;
    };
    // Accepted: serde_json must read the same registered claims from the same bytes.
    let doc: Value = serde_json::from_slice(payload).expect("accepted payloads are JSON");
    let claims = jwt.claims();
    assert_eq!(claims.iss(), doc.get("iss").and_then(Value::as_str));
    assert_eq!(claims.sub(), doc.get("sub").and_then(Value::as_str));
    assert_eq!(claims.jti(), doc.get("jti").and_then(Value::as_str));
    if let Some(exp) = doc.get("exp").and_then(Value::as_i64) {
        assert_eq!(claims.exp(), Some(exp));
    }
    match doc.get("aud") {
        Some(Value::String(a)) => assert_eq!(claims.aud(), [a.clone()]),
        Some(Value::Array(items)) => assert_eq!(claims.aud().len(), items.len()),
        _ => assert!(claims.aud().is_empty()),
    }
    // The lazily parsed member map agrees too.
    assert_eq!(claims.members().len(), doc.as_object().map_or(0, |o| o.len()));
});
