//! Strict base64url and JSON helpers shared by the JWK and JWS code.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::de::{self, MapAccess, Visitor};
use serde::Deserializer;
use serde_json::{Map, Value};

/// Encodes without padding (RFC 7515 section 2).
pub(crate) fn b64_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes canonical unpadded base64url only: no padding, no whitespace, no `+`/`/`, and
/// no non-zero trailing bits (so every byte string has exactly one accepted encoding).
pub(crate) fn b64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    b64_decode_into(text, &mut out)?;
    Some(out)
}

/// Decodes into a caller-owned buffer, reusing its allocation. On failure the buffer's
/// contents are unspecified.
pub(crate) fn b64_decode_into(text: &str, out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    decode_append(text.as_bytes(), out)
}

/// Decodes the base64url text that runs up to the first byte outside the alphabet (in a
/// compact token, the `.` that ends a part), into `out`. Returns that text's length; the
/// caller checks what stops it. One pass: no separate search for the `.`.
pub(crate) fn b64_decode_until_stop(text: &str, out: &mut Vec<u8>) -> Option<usize> {
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

/// The maximum nesting depth of a JSON document, found without parsing it, so that
/// hostile documents are refused before anything expensive runs.
pub(crate) fn json_depth(bytes: &[u8]) -> usize {
    json_depth_over(bytes, usize::MAX)
}

/// True if the document nests deeper than `limit`. Fast path: the depth can never exceed
/// the number of opening brackets, which a branch-free count finds quickly.
pub(crate) fn json_deeper_than(bytes: &[u8], limit: usize) -> bool {
    let openings = bytes
        .iter()
        .map(|&b| usize::from(b == b'{' || b == b'['))
        .sum::<usize>();
    openings > limit && json_depth_over(bytes, limit) > limit
}

fn json_depth_over(bytes: &[u8], stop_above: usize) -> usize {
    let mut depth = 0usize;
    let mut max = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                max = max.max(depth);
                if max > stop_above {
                    return max;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The JSON type name of a value, for error messages.
pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why [`object_without_duplicates`] failed.
pub(crate) enum ObjectError {
    Duplicate(String),
    Json(String),
}

/// Parses a JSON object, refusing duplicate members at the top level (serde_json would
/// silently keep the last one, which lets two parsers disagree about a token).
pub(crate) fn object_without_duplicates(bytes: &[u8]) -> Result<Map<String, Value>, ObjectError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let map = de.deserialize_map(StrictObject).map_err(object_error)?;
    de.end().map_err(|e| ObjectError::Json(e.to_string()))?;
    Ok(map)
}

const DUPLICATE_PREFIX: &str = "duplicate member ";

/// Tells a duplicate member (reported by our visitors through serde's custom error) from
/// any other JSON error.
fn object_error(e: serde_json::Error) -> ObjectError {
    let msg = e.to_string();
    match msg.strip_prefix(DUPLICATE_PREFIX) {
        // serde_json appends the position; the name is what precedes it.
        Some(rest) => ObjectError::Duplicate(
            rest.rfind(" at line ")
                .map_or(rest, |at| &rest[..at])
                .to_owned(),
        ),
        None => ObjectError::Json(msg),
    }
}

/// The members of a JSON object that a caller asked to keep, and the names of all members.
pub(crate) struct Scanned<V = Value> {
    /// `(index into the wanted names, value)` for each wanted member present.
    pub(crate) kept: Vec<(usize, V)>,
    /// Every member name, in order (only when asked for).
    pub(crate) names: Vec<String>,
}

impl<V> Scanned<V> {
    /// Takes the value of the wanted member at `index` out, if present.
    pub(crate) fn take(&mut self, index: usize) -> Option<V> {
        let at = self.kept.iter().position(|(i, _)| *i == index)?;
        Some(self.kept.swap_remove(at).1)
    }

    /// The value of the wanted member at `index`, if present.
    pub(crate) fn get(&self, index: usize) -> Option<&V> {
        self.kept.iter().find(|(i, _)| *i == index).map(|(_, v)| v)
    }
}

/// Reads a JSON object in one pass, building values only for the `wanted` members and
/// skipping the others (still checking their syntax); duplicate members are refused. This
/// is the hot path of verification, where building every claim would dominate.
pub(crate) fn scan_object<V: serde::de::DeserializeOwned>(
    bytes: &[u8],
    wanted: &'static [&'static str],
    keep_names: bool,
) -> Result<Scanned<V>, ObjectError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let scanner = Scanner {
        wanted,
        keep_names,
        kind: std::marker::PhantomData,
    };
    let scanned = de.deserialize_map(scanner).map_err(object_error)?;
    de.end().map_err(|e| ObjectError::Json(e.to_string()))?;
    Ok(scanned)
}

struct Scanner<V> {
    wanted: &'static [&'static str],
    keep_names: bool,
    kind: std::marker::PhantomData<V>,
}

/// A member name, borrowed from the input when it has no escapes.
struct Name<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Name<'de>, E> {
                Ok(Name(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name<'de>, E> {
                Ok(Name(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Name<'de>, E> {
                Ok(Name(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de, V: serde::de::DeserializeOwned> Visitor<'de> for Scanner<V> {
    type Value = Scanned<V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut kept = Vec::with_capacity(self.wanted.len());
        let mut seen: Seen<std::borrow::Cow<'de, str>> = Seen::default();
        while let Some(Name(key)) = access.next_key::<Name<'de>>()? {
            if seen.contains(&key) {
                let shown = crate::alg::truncate(&key);
                return Err(de::Error::custom(format_args!("{DUPLICATE_PREFIX}{shown}")));
            }
            match self.wanted.iter().position(|w| *w == key) {
                Some(index) => kept.push((index, access.next_value::<V>()?)),
                None => {
                    access.next_value::<de::IgnoredAny>()?;
                }
            }
            seen.insert(key);
        }
        let names = if self.keep_names {
            seen.into_vec()
                .into_iter()
                .map(std::borrow::Cow::into_owned)
                .collect()
        } else {
            Vec::new()
        };
        Ok(Scanned { kept, names })
    }
}

struct StrictObject;

impl<'de> Visitor<'de> for StrictObject {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                let shown = crate::alg::truncate(&key);
                return Err(de::Error::custom(format_args!("{DUPLICATE_PREFIX}{shown}")));
            }
            let value: Value = access.next_value()?;
            map.insert(key, value);
        }
        Ok(map)
    }
}

/// Member names seen so far in one object: a vector while small (the usual case), a hash
/// set past 16 members, so that a header or payload stuffed with thousands of names costs
/// linear time, not quadratic, before any signature is checked.
#[derive(Debug)]
pub(crate) struct Seen<T> {
    few: Vec<T>,
    many: Option<std::collections::HashSet<T>>,
}

impl<T> Default for Seen<T> {
    fn default() -> Self {
        Seen {
            few: Vec::new(),
            many: None,
        }
    }
}

impl<T: Eq + std::hash::Hash> Seen<T> {
    /// True if `name` was inserted before.
    pub(crate) fn contains(&self, name: &T) -> bool {
        match &self.many {
            Some(set) => set.contains(name),
            None => self.few.contains(name),
        }
    }

    /// Records `name` (the caller has checked it is new).
    pub(crate) fn insert(&mut self, name: T) {
        match &mut self.many {
            Some(set) => {
                set.insert(name);
            }
            None => {
                self.few.push(name);
                if self.few.len() > 16 {
                    self.many = Some(self.few.drain(..).collect());
                }
            }
        }
    }

    /// Every name, in no particular order.
    pub(crate) fn into_vec(self) -> Vec<T> {
        match self.many {
            Some(set) => set.into_iter().collect(),
            None => self.few,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_canonical_base64url_is_refused() {
        assert_eq!(b64_decode("AQ").as_deref(), Some(&[1u8][..]));
        // Padding, trailing non-zero bits, standard alphabet and whitespace are all refused.
        assert!(b64_decode("AQ==").is_none());
        assert!(b64_decode("AR").is_none());
        assert!(b64_decode("+/8").is_none());
        assert!(b64_decode("A Q").is_none());
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
            assert_eq!(b64_decode(&base), reference(&base), "{base:?}");
            for at in 0..len {
                for c in alphabet
                    .chars()
                    .chain(['=', '+', '/', '.', ' ', '\0', '\u{e9}'])
                {
                    let mut text: Vec<char> = base.chars().collect();
                    text[at] = c;
                    let text: String = text.into_iter().collect();
                    assert_eq!(b64_decode(&text), reference(&text), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn every_byte_string_round_trips() {
        for len in 0..40usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
            assert_eq!(b64_decode(&b64_encode(&bytes)), Some(bytes));
        }
    }

    /// `b64_decode_until_stop` on `text`: the reference decoding of the text before the first
    /// byte outside the alphabet, and that text's length.
    fn reference_until_stop(text: &str) -> Option<(Vec<u8>, usize)> {
        let alphabet = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        let len = text.find(|c: char| !alphabet(c)).unwrap_or(text.len());
        Some((reference(&text[..len])?, len))
    }

    fn until_stop(text: &str) -> Option<(Vec<u8>, usize)> {
        let mut out = vec![9; 3];
        let len = b64_decode_until_stop(text, &mut out)?;
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
            proptest::prop_assert_eq!(b64_decode(&text), reference(&text));
        }

        #[test]
        fn decoder_inverts_the_encoder(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            proptest::prop_assert_eq!(b64_decode(&b64_encode(&bytes)), Some(bytes));
        }

        #[test]
        fn buffer_reuse_does_not_leak_old_bytes(
            first in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
            second in proptest::collection::vec(proptest::num::u8::ANY, 0..100),
        ) {
            let mut out = Vec::new();
            proptest::prop_assert!(b64_decode_into(&b64_encode(&first), &mut out).is_some());
            proptest::prop_assert!(b64_decode_into(&b64_encode(&second), &mut out).is_some());
            proptest::prop_assert_eq!(out, second);
        }
    }

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(json_depth(br#"{"a":"[[[{{{\"]]]"}"#), 1);
        assert_eq!(json_depth(br#"{"a":[[{"b":1}]]}"#), 4);
    }

    #[test]
    fn duplicate_members_are_refused() {
        match object_without_duplicates(br#"{"a":1,"a":2}"#) {
            Err(ObjectError::Duplicate(name)) => assert_eq!(name, "a"),
            _ => unreachable!("duplicate member was accepted"),
        }
        assert!(object_without_duplicates(br#"{"a":1,"b":{"a":1}}"#).is_ok());
    }
}
