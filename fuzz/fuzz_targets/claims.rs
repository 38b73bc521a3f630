//! Differential: any payload, signed with a test key, either verifies with exactly the
//! registered claims serde_json reads from it (`iss`, `sub`, `jti`, the dates `exp`, `nbf`
//! and `iat`, and every string of `aud`), or is refused; never a panic. This drives the
//! fast-path claims reader and the general path with the same bytes (the header is always
//! the same, so after the first input every token also takes the cached-header shortcut),
//! and every member read on its own (`get_str`, `contains`) is the one serde_json reads.
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
    // NumericDates: serde_json's integer, or its float rounded down (RFC 7519 allows
    // fractions; the crate truncates them towards the past).
    let date = |name: &str| {
        doc.get(name).map(|v| {
            v.as_i64()
                .or_else(|| v.as_f64().map(|f| f.floor() as i64))
                .expect("accepted dates are numbers")
        })
    };
    assert_eq!(claims.exp(), date("exp"));
    assert_eq!(claims.nbf(), date("nbf"));
    assert_eq!(claims.iat(), date("iat"));
    // `aud`: the same strings in the same order, and present exactly when serde_json sees it.
    let aud: Vec<&str> = match doc.get("aud") {
        None => Vec::new(),
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().expect("accepted audiences are strings"))
            .collect(),
        Some(other) => panic!("accepted `aud` of the wrong type: {other}"),
    };
    assert_eq!(claims.aud(), aud);
    assert_eq!(claims.has_aud(), doc.get("aud").is_some());
    // One claim read without the map (`get_str`, `contains`) is serde_json's member, for
    // every member and for names that are absent.
    let names = doc.as_object().into_iter().flat_map(|o| o.keys().map(String::as_str));
    for name in names.chain(["cnf", "role", "scope", "nbf", ""]) {
        assert_eq!(claims.get_str(name), doc.get(name).and_then(Value::as_str), "{name}");
        assert_eq!(claims.contains(name), doc.get(name).is_some(), "{name}");
    }
    // The lazily parsed member map agrees too.
    assert_eq!(
        claims.members().len(),
        doc.as_object().map_or(0, |o| o.len())
    );
});
