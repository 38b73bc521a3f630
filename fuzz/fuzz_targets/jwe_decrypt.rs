//! JWE decryption of arbitrary text with every kind of key (AES key wrap, dir, ECDH-ES on
//! P-256 and X25519, RSA-OAEP-256), with PBES2 and zip enabled and bounded, and nested-JWT
//! parsing of whatever decrypts: never a panic, never an unbounded allocation. The keys are
//! fixed (fuzz/keys/jwe_*.jwk, test keys only) so that a seed corpus made with them
//! (`tessera jwe encrypt --key fuzz/keys/jwe_kw.jwk ...`) reaches the content decryption.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tessera_jose::jwe::{DecryptionKey, JweLimits};
use tessera_jose::Jwk;

const KEYS: [&str; 5] = [
    include_str!("../keys/jwe_kw.jwk"),
    include_str!("../keys/jwe_dir.jwk"),
    include_str!("../keys/jwe_ec.jwk"),
    include_str!("../keys/jwe_x.jwk"),
    include_str!("../keys/jwe_rsa.jwk"),
];

fn keys() -> &'static [DecryptionKey] {
    static KEYS_PARSED: OnceLock<Vec<DecryptionKey>> = OnceLock::new();
    KEYS_PARSED.get_or_init(|| {
        KEYS.iter()
            .map(|text| DecryptionKey::from_jwk(&Jwk::from_json(text).unwrap(), None).unwrap())
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let limits = JweLimits {
        pbes2_max_iterations: Some(2000),
        max_inflated_len: Some(64 * 1024),
        ..JweLimits::default()
    };
    for key in keys() {
        if let Ok(out) = key.decrypt_with(token, &limits) {
            assert!(out.plaintext().len() <= 64 * 1024 || out.header().members().get("zip").is_none());
        }
        if let Ok(nested) = key.decrypt_nested_with(token, &limits) {
            let _ = nested.unverified();
        }
    }
});
