//! Strict base64url (RFC 4648 section 5, unpadded as RFC 7515 section 2 requires): one
//! canonical encoding per byte string, decoded with lookup tables.
//!
//! The `b64` fuzz target compares these decoders with the `base64` crate's through the
//! hidden [`__fuzz`](crate::__fuzz) module.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Encodes without padding (RFC 7515 section 2).
pub(crate) fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes canonical unpadded base64url only: no padding, no whitespace, no `+`/`/`, and
/// no non-zero trailing bits (so every byte string has exactly one accepted encoding).
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    decode_into(text, &mut out)?;
    Some(out)
}

/// Decodes into a caller-owned buffer, reusing its allocation. On failure the buffer's
/// contents are unspecified.
pub(crate) fn decode_into(text: &str, out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    decode_append(text.as_bytes(), out)
}

/// Decodes the base64url text that runs up to the first byte outside the alphabet (in a
/// compact token, the `.` that ends a part), into `out`. Returns that text's length; the
/// caller checks what stops it. One pass: no separate search for the `.`.
pub(crate) fn decode_until_stop(text: &str, out: &mut Vec<u8>) -> Option<usize> {
    let text = text.as_bytes();
    let t0 = &TABLES[0];
    out.clear();
    let (blocks, _) = text.as_chunks::<8>();
    out.resize(blocks.len() * 6, 0);
    let mut done = 0;
    for (block, dst) in blocks.iter().zip(out.as_chunks_mut::<6>().0) {
        let [c0, c1, c2, c3, c4, c5, c6, c7] = *block;
        let (a, b) = (group([c0, c1, c2, c3]), group([c4, c5, c6, c7]));
        if (a | b) & INVALID != 0 {
            break;
        }
        let bytes = ((u64::from(a) << 24) | u64::from(b)).to_be_bytes();
        dst.copy_from_slice(&bytes[2..]);
        done += 1;
    }
    out.truncate(done * 6);
    // Whole blocks are whole groups, so the rest decodes on as if in one piece.
    let rest = text.get(done * 8..)?;
    let len = rest
        .iter()
        .position(|&c| t0[usize::from(c)] & INVALID != 0)
        .unwrap_or(rest.len());
    decode_append(rest.get(..len)?, out)?;
    Some(done * 8 + len)
}

/// Decodes `text` onto the end of `out`.
fn decode_append(text: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let tail_len = text.len() % 4;
    if tail_len == 1 {
        return None;
    }
    let start = out.len();
    out.resize(start + text.len() / 4 * 3 + tail_len.saturating_sub(1), 0);
    (decode_blocks(text, out.get_mut(start..)?) & INVALID == 0).then_some(())
}

/// Marks a byte outside the base64url alphabet in the decoding tables. Valid entries use
/// only the low 24 bits, so the OR of any entries has this bit set exactly when one of
/// them was invalid.
const INVALID: u32 = 1 << 31;

/// `TABLES[k][b]`: the 6-bit value of byte `b` placed as the `k`-th character of a 24-bit
/// group, or [`INVALID`]. Four characters decode with four lookups and three ORs.
static TABLES: [[u32; 256]; 4] = decoding_tables();

const fn decoding_tables() -> [[u32; 256]; 4] {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut tables = [[INVALID; 256]; 4];
    let mut i = 0;
    while i < 64 {
        let b = alphabet[i] as usize;
        let v = i as u32;
        tables[0][b] = v << 18;
        tables[1][b] = v << 12;
        tables[2][b] = v << 6;
        tables[3][b] = v;
        i += 1;
    }
    tables
}

/// Four characters as one 24-bit group, [`INVALID`] set if any is outside the alphabet.
#[inline]
fn group([c0, c1, c2, c3]: [u8; 4]) -> u32 {
    let [t0, t1, t2, t3] = &TABLES;
    t0[usize::from(c0)] | t1[usize::from(c1)] | t2[usize::from(c2)] | t3[usize::from(c3)]
}

/// Decodes `text` into `out` (sized exactly by the caller) and returns the OR of every
/// table entry used plus a canonicality flag: [`INVALID`] is set if any character is
/// outside the alphabet or the final character carries non-zero unused bits.
fn decode_blocks(text: &[u8], out: &mut [u8]) -> u32 {
    let [t0, t1, t2, _] = &TABLES;
    let mut seen = 0u32;
    // Eight characters to six bytes per step; the flag is checked once, at the end, so the
    // loop has no data-dependent branch.
    let (blocks, rest) = text.as_chunks::<8>();
    let (out_blocks, out_rest) = out.split_at_mut(blocks.len() * 6);
    for (block, dst) in blocks.iter().zip(out_blocks.as_chunks_mut::<6>().0) {
        let [c0, c1, c2, c3, c4, c5, c6, c7] = *block;
        let (a, b) = (group([c0, c1, c2, c3]), group([c4, c5, c6, c7]));
        seen |= a | b;
        let bytes = ((u64::from(a) << 24) | u64::from(b)).to_be_bytes();
        dst.copy_from_slice(&bytes[2..]);
    }
    // At most one more full group, then 0, 2 or 3 characters.
    let (quads, tail) = rest.as_chunks::<4>();
    let (out_quads, out_tail) = out_rest.split_at_mut(quads.len() * 3);
    for (quad, dst) in quads.iter().zip(out_quads.as_chunks_mut::<3>().0) {
        let v = group(*quad);
        seen |= v;
        dst.copy_from_slice(&v.to_be_bytes()[1..]);
    }
    let v = match *tail {
        [] => 0,
        [a, b] => t0[usize::from(a)] | t1[usize::from(b)],
        [a, b, c] => t0[usize::from(a)] | t1[usize::from(b)] | t2[usize::from(c)],
        _ => INVALID,
    };
    seen |= v;
    let bytes = v.to_be_bytes();
    let used = out_tail.len();
    if let (Some(dst), Some(src)) = (out_tail.get_mut(..), bytes.get(1..1 + used)) {
        dst.copy_from_slice(src);
    }
    // Canonical form: the bits of the partial group that no output byte holds are zero.
    let unused = match used {
        1 => v & 0xFFFF,
        2 => v & 0xFF,
        _ => 0,
    };
    if unused != 0 {
        seen |= INVALID;
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_canonical_base64url_is_refused() {
        assert_eq!(decode("AQ").as_deref(), Some(&[1u8][..]));
        // Padding, trailing non-zero bits, standard alphabet and whitespace are all refused.
        assert!(decode("AQ==").is_none());
        assert!(decode("AR").is_none());
        assert!(decode("+/8").is_none());
        assert!(decode("A Q").is_none());
    }

    /// The reference: the `base64` crate with the same strict settings.
    fn reference(text: &str) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()
    }

    #[test]
    fn decoder_agrees_with_the_reference_at_every_length_and_position() {
        // Every length around the 8- and 4-character steps, each with every alphabet
        // character and a few outsiders at every position.
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for len in 0..26 {
            let base: String = alphabet.chars().cycle().skip(len * 7).take(len).collect();
            assert_eq!(decode(&base), reference(&base), "{base:?}");
            for at in 0..len {
                for c in alphabet
                    .chars()
                    .chain(['=', '+', '/', '.', ' ', '\0', '\u{e9}'])
                {
                    let mut text: Vec<char> = base.chars().collect();
                    text[at] = c;
                    let text: String = text.into_iter().collect();
                    assert_eq!(decode(&text), reference(&text), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn every_byte_string_round_trips() {
        for len in 0..40usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            assert_eq!(decode(&encode(&bytes)), Some(bytes));
        }
    }

    /// `decode_until_stop` on `text`: the reference decoding of the text before the first
    /// byte outside the alphabet, and that text's length.
    fn reference_until_stop(text: &str) -> Option<(Vec<u8>, usize)> {
        let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        let len = text.find(|c: char| !alphabet(c)).unwrap_or(text.len());
        Some((reference(&text[..len])?, len))
    }

    fn until_stop(text: &str) -> Option<(Vec<u8>, usize)> {
        let mut out = vec![9; 3];
        let len = decode_until_stop(text, &mut out)?;
        Some((out, len))
    }

    #[test]
    fn decoding_until_a_stop_agrees_with_the_reference_at_every_position() {
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for len in 0..30 {
            let base: String = alphabet.chars().cycle().skip(len * 5).take(len).collect();
            assert_eq!(until_stop(&base), reference_until_stop(&base), "{base:?}");
            for at in 0..len {
                for stop in ['.', '=', '+', ' ', '\u{e9}'] {
                    let mut text: Vec<char> = base.chars().collect();
                    text[at] = stop;
                    let text: String = text.into_iter().collect();
                    assert_eq!(until_stop(&text), reference_until_stop(&text), "{text:?}");
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_until_a_stop_agrees_with_the_reference(
            text in "[A-Za-z0-9_-]{0,40}(\\.[A-Za-z0-9_.=-]{0,40})?",
        ) {
            proptest::prop_assert_eq!(until_stop(&text), reference_until_stop(&text));
        }

        #[test]
        fn decoder_agrees_with_the_reference(
            text in "[A-Za-z0-9_=+/. -]{0,80}",
        ) {
            proptest::prop_assert_eq!(decode(&text), reference(&text));
        }

        #[test]
        fn decoder_inverts_the_encoder(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            proptest::prop_assert_eq!(decode(&encode(&bytes)), Some(bytes));
        }

        #[test]
        fn buffer_reuse_does_not_leak_old_bytes(
            first in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
            second in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
        ) {
            let mut out = Vec::new();
            proptest::prop_assert!(decode_into(&encode(&first), &mut out).is_some());
            proptest::prop_assert!(decode_into(&encode(&second), &mut out).is_some());
            proptest::prop_assert_eq!(out, second);
        }
    }
}
