//! Differential: the crate's strict base64url decoders against the `base64` crate's
//! `URL_SAFE_NO_PAD` engine, whose settings are the canonical form the crate implements (no
//! padding, the URL-safe alphabet only, non-zero trailing bits refused). On every input:
//! the same accept/refuse decision and the same bytes, through each decoding entry point.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use tessera_jose::__fuzz;

fn in_alphabet(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fuzz_target!(|data: &[u8]| {
    // The decoders take text; bytes that are not UTF-8 become U+FFFD, outside the alphabet.
    let text = String::from_utf8_lossy(data);
    let reference = URL_SAFE_NO_PAD.decode(text.as_bytes()).ok();
    assert_eq!(__fuzz::b64_decode(&text), reference, "{text:?}");

    // Into a buffer holding old bytes: none of them may survive a success.
    let mut out = data.to_vec();
    let decoded = __fuzz::b64_decode_into(&text, &mut out);
    assert_eq!(decoded.is_some(), reference.is_some(), "{text:?}");
    if let Some(reference) = &reference {
        assert_eq!(&out, reference, "{text:?}");
    }

    // Up to the first byte outside the alphabet: that prefix's decoding, and its length.
    let stop = text
        .bytes()
        .position(|b| !in_alphabet(b))
        .unwrap_or(text.len());
    let expected = URL_SAFE_NO_PAD
        .decode(&text.as_bytes()[..stop])
        .ok()
        .map(|bytes| (bytes, stop));
    let mut out = vec![0xA5; data.len() % 7];
    let found = __fuzz::b64_decode_until_stop(&text, &mut out).map(|len| (out, len));
    assert_eq!(found, expected, "{text:?}");
});
