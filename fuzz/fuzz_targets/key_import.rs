//! PEM, DER and OpenSSH key import must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_jose::pem;

fuzz_target!(|data: &[u8]| {
    if let Ok(jwk) = pem::parse_key(data) {
        let _ = jwk.to_json();
    }
});
