//! Compact-token parsing and verification must never panic, whatever the bytes.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_jose::{dangerous, Algorithm, Jwk, JwkSet, KeySet, UnverifiedJwt, Validation};

fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| {
        let keys = [Algorithm::ES256, Algorithm::EdDSA]
            .into_iter()
            .filter_map(|alg| Jwk::generate(alg, None).ok())
            .map(|k| k.to_public())
            .collect();
        KeySet::from_jwks(&JwkSet::new(keys))
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = dangerous::decode_parts(text);
        if let Ok(token) = UnverifiedJwt::parse(text) {
            let _ = token.header().alg();
            assert!(token.verify(keys(), &Validation::new()).is_err());
        }
    }
});
