//! JWK and JWKS parsing, and building verifiers from whatever parsed, must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_jose::{Jwk, JwkSet, KeySet};

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = JwkSet::from_slice(data) {
        let _ = set.to_public().to_json();
        let _ = KeySet::from_jwks(&set);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(jwk) = Jwk::from_json(text) {
            let _ = jwk.to_public().to_json();
            let _ = tessera_jose::thumbprint(&jwk);
        }
    }
});
