//! JWK and JWKS parsing, and building verifiers and signers from whatever parsed (ML-DSA
//! `AKP` keys included: a seed and a `pub` that may not belong together), must never panic.
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
            let _ = tessera_jose::VerifyingKey::from_jwk(&jwk);
            if jwk.is_private() && !jwk.is_symmetric() {
                let _ = tessera_jose::SigningKey::from_jwk(&jwk, None);
            }
            // JWE keys (X25519, key-management `alg`s) through both typed constructors.
            let _ = tessera_jose::jwe::EncryptionKey::from_jwk(&jwk, None);
            let _ = tessera_jose::jwe::DecryptionKey::from_jwk(&jwk, None);
        }
    }
});
