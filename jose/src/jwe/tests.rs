//! The Concat KDF against RFC 7518 appendix C.

use super::keys::concat_kdf;

#[test]
fn rfc7518_appendix_c_concat_kdf() {
    // Z, the shared secret of Alice's ephemeral key and Bob's key, as the RFC gives it.
    let z = [
        158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110,
        163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
    ];
    let derived = concat_kdf(&z, "A128GCM", b"Alice", b"Bob", 16).unwrap();
    assert_eq!(
        &*derived,
        &[86, 170, 141, 234, 248, 35, 109, 32, 92, 34, 40, 205, 113, 167, 16, 26]
    );
    assert_eq!(crate::b64::encode(&derived), "VqqN6vgjbSBcIijNcacQGg");
}
