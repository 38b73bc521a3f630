//! The fast path of token parsing, gathered in one place.
//!
//! **Contract.** For any input, each entry point here either returns exactly what the
//! general path would return for that input, or declines (`None`) and the caller hands the
//! same input to the general path. The general path is the `serde_json`-based code in
//! [`jws`](crate::jws) and [`claims`](crate::claims), which also finds every precise error.
//! So nothing here reports an error, accepts what the general path refuses, or answers
//! differently from it; it only saves work on the common case: a token whose header this
//! thread has just seen, and a plain payload.
//!
//! The entry points, and the differential tests that hold them to the contract:
//!
//! - [`cached_header`] and [`remember_header`]: the per-thread header cache. The header
//!   parsed last on this thread is kept with its base64url text and the depth limit it was
//!   checked under; the general path's answer depends on nothing else, so the same text
//!   under the same limit gets the same [`Header`] without decoding or parsing again. Only
//!   headers that parsed are kept. (`cached_header_shortcut_agrees_with_a_fresh_parse` in
//!   `tests/it/props.rs`; `duplicate_members_are_named_on_every_parse_path` in
//!   `tests/it/attacks.rs`.)
//! - [`decode_compact`]: splitting and decoding a token whose header text is the cached
//!   one, with the payload decoded in the same pass that finds its closing `.`. It declines
//!   on anything else: an uncached header, a missing or extra `.`, non-canonical base64url.
//!   (The same tests, and the tests at the bottom of this file.)
//! - [`scan_claims`]: a small JSON reader for the common, unremarkable payload (no escapes,
//!   integer dates, registered claims of the right types, shallow nesting) that builds no
//!   value but the registered claims. It declines on anything unusual: an escape, a date
//!   that is not a plain integer, a number with an exponent, a wrong type, bad syntax, too
//!   much depth, a duplicate member, more members than it tracks. (The property tests at the bottom of this file against
//!   serde_json, and the `claims` fuzz target.)
//!   It also notes where each other top-level member's name and value are ([`Others`]),
//!   so that `Claims::get_str` and `Claims::contains` read one claim (a role, `cnf`)
//!   without building the claims map; the same property tests check every member read
//!   that way against the map.

use std::cell::RefCell;
use std::ops::Range;

use crate::b64;
use crate::jws::{Compact, Header, Limits};

thread_local! {
    /// The last header parsed on this thread: its base64url text, the depth limit it was
    /// checked under, and the result. Tokens from one issuer share a handful of headers,
    /// so most tokens find theirs here.
    static LAST_HEADER: RefCell<Option<(Box<str>, usize, Header)>> = const { RefCell::new(None) };
}

/// The header the general path would parse from `h64` under `limits`, if it is the one
/// parsed last on this thread; `None` declines.
pub(crate) fn cached_header(h64: &str, limits: &Limits) -> Option<Header> {
    // `try_with`: during thread teardown there is no cache, only the general path.
    LAST_HEADER
        .try_with(|last| match &*last.borrow() {
            // The depth limit is part of the key: a header accepted under a looser limit
            // must be checked again under a stricter one.
            Some((text, depth, header)) if *depth == limits.max_depth && **text == *h64 => {
                Some(header.clone())
            }
            _ => None,
        })
        .ok()
        .flatten()
}

/// Records `header` as what the general path parsed from `h64` under `limits`. Only a
/// header that parsed is ever recorded, so an error is never replayed.
pub(crate) fn remember_header(h64: &str, limits: &Limits, header: &Header) {
    let _ = LAST_HEADER.try_with(|last| {
        *last.borrow_mut() = Some((h64.into(), limits.max_depth, header.clone()));
    });
}

/// The header of `token` if its text is the one parsed last on this thread, with the
/// length of that text (the token's first `.` follows it).
fn cached_prefix(token: &str, limits: &Limits) -> Option<(Header, usize)> {
    LAST_HEADER
        .try_with(|last| match &*last.borrow() {
            Some((text, depth, header))
                if *depth == limits.max_depth
                    && token.as_bytes().get(..text.len()) == Some(text.as_bytes())
                    && token.as_bytes().get(text.len()) == Some(&b'.') =>
            {
                Some((header.clone(), text.len()))
            }
            _ => None,
        })
        .ok()
        .flatten()
}

/// [`Compact::decode`]'s answer for a token whose header is the cached one, when that
/// answer is a success; `None` declines (every malformed token declines, and the general
/// path finds the precise error).
#[inline]
pub(crate) fn decode_compact<'a>(token: &'a str, limits: &Limits) -> Option<Compact<'a>> {
    let (header, h_len) = cached_prefix(token, limits)?;
    // The payload runs to the next `.`, the signature from there to the end (and must
    // decode, so it holds no further `.`).
    let rest = token.get(h_len + 1..)?;
    let mut payload = Vec::with_capacity(rest.len() * 3 / 4);
    let p_len = b64::decode_until_stop(rest, &mut payload)?;
    let input_len = h_len + 1 + p_len;
    if token.as_bytes().get(input_len) != Some(&b'.') {
        return None;
    }
    let signature = b64::decode(token.get(input_len + 1..)?)?;
    Some(Compact {
        header,
        signing_input: token.get(..input_len)?,
        payload,
        signature,
    })
}

/// The registered claims found by the fast path.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct FastClaims {
    /// Byte ranges of the payload (plain strings need no copy).
    pub(crate) iss: Option<Range<usize>>,
    pub(crate) sub: Option<Range<usize>>,
    pub(crate) aud: Option<Spans>,
    pub(crate) exp: Option<i64>,
    pub(crate) nbf: Option<i64>,
    pub(crate) iat: Option<i64>,
    pub(crate) jti: Option<Range<usize>>,
    /// Every other top-level member, where it is.
    pub(crate) others: Others,
}

/// The unregistered top-level members of a document the fast path accepted: the byte
/// ranges of each name and value, in document order, so that one claim can be read
/// without building the claims map (no name has an escape, and none is repeated).
#[derive(Default, Clone, PartialEq, Eq)]
pub(crate) struct Others {
    len: usize,
    /// (name start, name end, value start, value end); names without their quotes.
    spans: [(u32, u32, u32, u32); MAX_MEMBERS],
}

impl std::fmt::Debug for Others {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The members there are, not the unused slots.
        f.debug_list()
            .entries(self.spans.get(..self.len).unwrap_or_default())
            .finish()
    }
}

impl Others {
    /// The member `name` of `text` (the document these ranges were taken from).
    pub(crate) fn find(&self, text: &str, name: &str) -> Member {
        let bytes = text.as_bytes();
        for &(ns, ne, vs, ve) in self.spans.get(..self.len).unwrap_or_default() {
            let (ns, ne, vs, ve) = (ns as usize, ne as usize, vs as usize, ve as usize);
            if bytes.get(ns..ne) == Some(name.as_bytes()) {
                // Strings here have no escapes (the fast path declines on them), so the
                // bytes between the quotes are the value.
                return match bytes.get(vs) {
                    Some(b'"') => Member::Str(vs + 1..ve - 1),
                    _ => Member::Other,
                };
            }
        }
        Member::Absent
    }
}

/// A member of a claims document, as the fast path found it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Member {
    /// No member has the name.
    Absent,
    /// A string (without escapes) at this byte range of the document, quotes excluded.
    Str(Range<usize>),
    /// A member of another type.
    Other,
}

/// `aud` as found: one string (the usual case, no allocation) or an array of them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Spans {
    One(Range<usize>),
    List(Vec<Range<usize>>),
}

/// Most unregistered top-level members the fast path tracks for duplicates; more defer to
/// the general path.
const MAX_MEMBERS: usize = 16;

/// Reads a claims object, or `None` to defer to the general path. The caller has checked
/// that the document is UTF-8 (it is a `str`), so every string below is too.
#[inline]
pub(crate) fn scan_claims(text: &str, max_depth: usize) -> Option<FastClaims> {
    // Depth limits outside 2..=127 take the general path: below 2 even an `aud` array is
    // too deep (and this reader does not count the levels of `aud`), and serde_json, which
    // builds the claims map, stops at 128 levels whatever the limit says.
    if !(2..=127).contains(&max_depth) {
        return None;
    }
    let bytes = text.as_bytes();
    let mut r = Reader { bytes, pos: 0 };
    let mut claims = FastClaims::default();
    // A summary of each unregistered name (its position is in `claims.others`): small, so
    // cheap to set up.
    let mut seen = [0u64; MAX_MEMBERS];
    r.ws();
    r.expect(b'{')?;
    r.ws();
    if r.peek()? == b'}' {
        r.pos += 1;
    } else {
        loop {
            r.ws();
            let span = r.string_span()?;
            let name = bytes.get(span.clone())?;
            r.ws();
            r.expect(b':')?;
            r.ws();
            // A registered claim seen twice is caught by its slot being filled already;
            // other names are compared against the names seen before (names are raw bytes
            // without escapes here, so equal names are equal bytes).
            match name {
                b"iss" if claims.iss.is_none() => claims.iss = Some(r.string_span()?),
                b"sub" if claims.sub.is_none() => claims.sub = Some(r.string_span()?),
                b"jti" if claims.jti.is_none() => claims.jti = Some(r.string_span()?),
                b"exp" if claims.exp.is_none() => claims.exp = Some(r.integer()?),
                b"nbf" if claims.nbf.is_none() => claims.nbf = Some(r.integer()?),
                b"iat" if claims.iat.is_none() => claims.iat = Some(r.integer()?),
                b"aud" if claims.aud.is_none() => claims.aud = Some(r.audience()?),
                b"iss" | b"sub" | b"jti" | b"exp" | b"nbf" | b"iat" | b"aud" => return None,
                _ => {
                    let key = name_key(name);
                    let others = &mut claims.others;
                    let count = others.len;
                    let same = |(&k, &(s, e, _, _)): (&u64, &(u32, u32, u32, u32))| {
                        k == key && bytes.get(s as usize..e as usize) == Some(name)
                    };
                    if count == MAX_MEMBERS || seen.iter().zip(&others.spans).take(count).any(same)
                    {
                        return None;
                    }
                    seen[count] = key;
                    let name_start = u32::try_from(span.start).ok()?;
                    let name_end = u32::try_from(span.end).ok()?;
                    let value_start = u32::try_from(r.pos).ok()?;
                    r.skip_value(max_depth.checked_sub(1)?)?;
                    let value_end = u32::try_from(r.pos).ok()?;
                    others.spans[count] = (name_start, name_end, value_start, value_end);
                    others.len = count + 1;
                }
            }
            r.ws();
            match r.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    r.ws();
    (r.pos == bytes.len()).then_some(claims)
}

/// A cheap summary of a member name (its length and first bytes) so that looking for a
/// duplicate compares integers and only compares bytes when the summaries are equal.
fn name_key(name: &[u8]) -> u64 {
    let mut head = [0u8; 8];
    let n = name.len().min(7);
    head[..n].copy_from_slice(&name[..n]);
    head[7] = name.len() as u8;
    u64::from_le_bytes(head)
}

/// The first `"`, `\` or control character, eight bytes at a time with the classic word
/// tricks ("has a zero byte", "has a byte less than"). Their lowest flagged byte is always a
/// true match (a false flag can only sit above a true one, where a borrow ran on), so the
/// lowest set bit gives the exact position.
fn find_special(s: &[u8]) -> Option<usize> {
    let (chunks, rest) = s.as_chunks::<8>();
    for (i, chunk) in chunks.iter().enumerate() {
        let m = special_bytes(u64::from_le_bytes(*chunk));
        if m != 0 {
            return Some(i * 8 + first_flagged(m));
        }
    }
    find_special_in_tail(rest).map(|p| chunks.len() * 8 + p)
}

/// The last few bytes of the document, padded with a byte that is not special. Kept out
/// of line: it runs once per document, and inlined it would weigh on every string.
#[inline(never)]
fn find_special_in_tail(rest: &[u8]) -> Option<usize> {
    let mut last = [b'a'; 8];
    last.get_mut(..rest.len())?.copy_from_slice(rest);
    let m = special_bytes(u64::from_le_bytes(last));
    (m != 0).then(|| first_flagged(m))
}

/// The high bit of each byte of `w` that is `"`, `\` or a control character, and possibly
/// of bytes above the first such one (see [`find_special`]).
#[inline]
fn special_bytes(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    has_zero(w ^ (ONES * u64::from(b'"')))
        | has_zero(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
}

/// The index of the lowest flagged byte.
#[inline]
fn first_flagged(m: u64) -> usize {
    (m.trailing_zeros() / 8) as usize
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn expect(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// A string without escapes or control characters; its raw bytes.
    #[inline]
    fn string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.pos;
        let rest = self.bytes.get(start..)?;
        // Most strings (every member name, most values) end within eight bytes: one word
        // test decides them before any loop is set up.
        let len = match rest.first_chunk::<8>() {
            Some(head) => match special_bytes(u64::from_le_bytes(*head)) {
                0 => 8 + find_special(rest.get(8..)?)?,
                m => first_flagged(m),
            },
            None => find_special_in_tail(rest)?,
        };
        if *rest.get(len)? != b'"' {
            return None;
        }
        self.pos = start + len + 1;
        Some(&rest[..len])
    }

    /// A plain string's position in the document (without the quotes).
    fn string_span(&mut self) -> Option<Range<usize>> {
        let raw = self.string()?;
        let end = self.pos - 1;
        Some(end - raw.len()..end)
    }

    /// A JSON integer that fits an i64 (no fraction, no exponent).
    fn integer(&mut self) -> Option<i64> {
        let bytes = self.bytes;
        let negative = bytes.get(self.pos) == Some(&b'-');
        let start = self.pos + usize::from(negative);
        let mut end = start;
        let mut value = 0i64;
        while let Some(&b) = bytes.get(end) {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                break;
            }
            // Wrapping only matters past 18 digits, which are refused below.
            value = value.wrapping_mul(10).wrapping_add(i64::from(digit));
            end += 1;
        }
        let len = end - start;
        if len == 0 || len > 18 || (len > 1 && bytes.get(start) == Some(&b'0')) {
            return None;
        }
        if matches!(bytes.get(end), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.pos = end;
        Some(if negative { -value } else { value })
    }

    /// `aud`: a string, or an array of strings.
    fn audience(&mut self) -> Option<Spans> {
        if self.peek()? == b'"' {
            return Some(Spans::One(self.string_span()?));
        }
        self.expect(b'[')?;
        let mut out = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(Spans::List(out));
        }
        loop {
            self.ws();
            out.push(self.string_span()?);
            self.ws();
            match self.next()? {
                b',' => continue,
                b']' => return Some(Spans::List(out)),
                _ => return None,
            }
        }
    }

    /// Skips any value, validating it, with at most `depth` further levels of nesting.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => {
                let depth = depth.checked_sub(1)?;
                self.pos += 1;
                self.ws();
                if self.peek()? == b'}' {
                    self.pos += 1;
                    return Some(());
                }
                let mut seen: crate::json::Seen<&[u8]> = crate::json::Seen::default();
                loop {
                    self.ws();
                    let name = self.string()?;
                    // serde_json's own reader accepts nested duplicates; the general path
                    // would too, so this is only about staying simple: defer on them.
                    if seen.contains(&name) {
                        return None;
                    }
                    seen.insert(name);
                    self.ws();
                    self.expect(b':')?;
                    self.ws();
                    self.skip_value(depth)?;
                    self.ws();
                    match self.next()? {
                        b',' => continue,
                        b'}' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b'[' => {
                let depth = depth.checked_sub(1)?;
                self.pos += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    self.skip_value(depth)?;
                    self.ws();
                    match self.next()? {
                        b',' => continue,
                        b']' => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.pos.checked_add(word.len())?;
        (self.bytes.get(self.pos..end)? == word).then(|| self.pos = end)
    }

    /// RFC 8259 number grammar, without the exponent part.
    ///
    /// Only numbers that are surely within an f64's range are taken: serde_json refuses
    /// larger ones ("number out of range") when it builds the claims map, so a token holding
    /// one must take the general path, which refuses it. With no exponent and at most 308
    /// integer digits, a number is below 1e308 < f64::MAX; anything with an exponent defers.
    fn number(&mut self) -> Option<()> {
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let start = self.pos;
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.pos - start > 308 {
            return None;
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            self.one_or_more_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            return None;
        }
        Some(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    fn one_or_more_digits(&mut self) -> Option<()> {
        let start = self.pos;
        self.digits();
        (self.pos > start).then_some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path on bytes: only UTF-8 documents reach it (the caller checks).
    fn scan(bytes: &[u8], max_depth: usize) -> Option<FastClaims> {
        scan_claims(std::str::from_utf8(bytes).ok()?, max_depth)
    }

    #[test]
    fn find_special_matches_a_byte_scan() {
        let plain = |s: &[u8]| s.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
        let mut cases: Vec<Vec<u8>> = vec![b"abcdefghijklmnopq\"".to_vec(), b"\\".to_vec(), vec![]];
        for special in [b'"', b'\\', 0x00, 0x1f, 0x0a] {
            for at in 0..20 {
                let mut v: Vec<u8> = (0..24u8).map(|i| b'a' + i % 26).collect();
                v[at] = special;
                cases.push(v);
            }
        }
        // Bytes just around the thresholds, and UTF-8 continuation bytes, are not special.
        cases.push(vec![
            0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xc3, 0xa9, 0xff, 0x20, 0x21, b'x',
        ]);
        for case in cases {
            assert_eq!(find_special(&case), plain(&case), "{case:?}");
        }
    }

    #[test]
    fn reads_the_plain_case() {
        let claims = scan(
            br#" {"iss":"https://a","sub":"u","aud":["x","y"],"exp":1900000000,"nbf":-5,"iat":0,"jti":"j","role":"w","n":[1,2.5,-0.001,{"a":null}],"b":true} "#,
            16,
        )
        .unwrap();
        assert_eq!(claims.iss, Some(9..18)); // the bytes of `https://a`
        assert_eq!(claims.aud, Some(Spans::List(vec![38..39, 42..43])));
        assert_eq!(
            (claims.exp, claims.nbf, claims.iat),
            (Some(1900000000), Some(-5), Some(0))
        );
    }

    #[test]
    fn defers_on_anything_unusual() {
        for input in [
            &br#"{"iss":"a\/b"}"#[..],
            br#"{"exp":1.5}"#,
            br#"{"exp":"1"}"#,
            br#"{"exp":01}"#,
            br#"{"a":1,"a":2}"#,
            br#"{"a":1,}"#,
            br#"{"a":[1,]}"#,
            br#"{"a":tru}"#,
            br#"{"a":1} x"#,
            br#"[1]"#,
            br#"{"aud":["a",1]}"#,
            b"{\"a\":\"\x01\"}",
            b"{\"a\":\"\xff\"}",
            br#"{"a":[[[[1]]]]}"#,
            br#"{"a":1e400}"#,
            br#"{"a":2.5E3}"#,
        ] {
            assert_eq!(scan(input, 4), None, "{}", String::from_utf8_lossy(input));
        }
        assert!(scan(br#"{"a":[[[1]]]}"#, 4).is_some());
        // Limits the reader does not handle itself go to the general path.
        for depth in [0, 1, 128, 500] {
            assert_eq!(scan(br#"{"aud":["a"]}"#, depth), None, "{depth}");
        }
    }

    use proptest::prelude::*;
    use serde_json::{Map, Value};

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            "[a-z/:.]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,4}", inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn claims_object() -> impl Strategy<Value = String> {
        let names = prop::sample::select(vec![
            "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "role", "x", "scope",
        ]);
        (
            prop::collection::vec((names, json_value()), 0..10),
            any::<bool>(),
        )
            .prop_map(|(members, spaced)| {
                let map: Map<String, Value> = members
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect();
                if spaced {
                    serde_json::to_string_pretty(&Value::Object(map)).unwrap()
                } else {
                    serde_json::to_string(&Value::Object(map)).unwrap()
                }
            })
    }

    /// Documents shaped like real tokens: registered claims of the right types, plain extras.
    fn plain_claims() -> impl Strategy<Value = String> {
        let text = "[a-zA-Z0-9:/._-]{0,16}";
        let plain = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            text.prop_map(Value::from),
        ]
        .prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        (
            prop::option::of(text),
            prop::option::of(text),
            prop::option::of(prop_oneof![
                text.prop_map(Value::from),
                prop::collection::vec(text, 0..3).prop_map(|v| serde_json::json!(v)),
            ]),
            prop::option::of(any::<i32>()),
            prop::option::of(0i64..5_000_000_000),
            prop::collection::btree_map("[a-z]{1,6}", plain, 0..5),
        )
            .prop_map(|(iss, sub, aud, exp, iat, extra)| {
                let mut map: Map<String, Value> = extra.into_iter().collect();
                for (name, value) in [
                    ("iss", iss.map(Value::from)),
                    ("sub", sub.map(Value::from)),
                    ("aud", aud),
                    ("exp", exp.map(Value::from)),
                    ("iat", iat.map(Value::from)),
                ] {
                    if let Some(v) = value {
                        map.insert(name.to_owned(), v);
                    }
                }
                serde_json::to_string(&Value::Object(map)).unwrap()
            })
    }

    /// Whatever the fast path accepts, the general path accepts with the same claims.
    fn agrees(bytes: &[u8]) -> Result<(), TestCaseError> {
        if let Some(fast) = scan(bytes, 16) {
            let others = fast.others.clone();
            prop_assert!(!crate::json::deeper_than(bytes, 16));
            let general =
                crate::claims::Claims::from_text(String::from_utf8(bytes.to_vec()).unwrap());
            prop_assert!(
                general.is_ok(),
                "general path refused {:?}",
                String::from_utf8_lossy(bytes)
            );
            let general = general.unwrap();
            let text = |r: Option<std::ops::Range<usize>>| {
                r.map(|r| String::from_utf8(bytes[r].to_vec()).unwrap())
            };
            let (iss, sub, jti) = (text(fast.iss), text(fast.sub), text(fast.jti));
            prop_assert_eq!(iss.as_deref(), general.iss());
            prop_assert_eq!(sub.as_deref(), general.sub());
            prop_assert_eq!(jti.as_deref(), general.jti());
            prop_assert_eq!(fast.exp, general.exp());
            prop_assert_eq!(fast.nbf, general.nbf());
            prop_assert_eq!(fast.iat, general.iat());
            prop_assert_eq!(fast.aud.is_some(), general.has_aud());
            let aud: Vec<String> = match fast.aud {
                None => Vec::new(),
                Some(Spans::One(r)) => vec![text(Some(r)).unwrap()],
                Some(Spans::List(rs)) => rs.into_iter().map(|r| text(Some(r)).unwrap()).collect(),
            };
            prop_assert_eq!(aud, general.aud());
            // One member looked up on the accepted document is the claims map's member.
            let text = std::str::from_utf8(bytes).unwrap();
            let map = general.members();
            let absent = [
                "cnf", "role", "zz", "", "iss", "sub", "aud", "exp", "nbf", "iat", "jti",
            ]
            .map(str::to_owned);
            let claims = crate::claims::Claims::from_payload(bytes.to_vec(), 16).unwrap();
            for name in map.keys().chain(&absent) {
                // (The registered claims have fields of their own, checked above.)
                let registered = ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];
                if !registered.contains(&name.as_str()) {
                    match (others.find(text, name), map.get(name)) {
                        (Member::Absent, None) => {}
                        (Member::Str(r), Some(Value::String(s))) => {
                            prop_assert_eq!(&text[r], s.as_str());
                        }
                        (Member::Other, Some(v)) => prop_assert!(!v.is_string()),
                        (found, want) => {
                            prop_assert!(false, "{name:?}: {found:?} for {want:?} in {text}");
                        }
                    }
                }
                // And the public readers, on the fast path's claims, agree with the map.
                prop_assert_eq!(claims.get_str(name), map.get(name).and_then(Value::as_str));
                prop_assert_eq!(claims.contains(name), map.contains_key(name));
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn fast_path_agrees_with_serde_json(doc in claims_object()) {
            agrees(doc.as_bytes())?;
        }

        #[test]
        fn find_special_agrees_with_a_byte_scan(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let plain = bytes.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
            prop_assert_eq!(find_special(&bytes), plain);
        }

        #[test]
        fn fast_path_agrees_on_plain_documents(doc in plain_claims()) {
            agrees(doc.as_bytes())?;
        }

        #[test]
        fn fast_path_agrees_on_mutated_documents(
            doc in prop_oneof![claims_object(), plain_claims()],
            at in any::<prop::sample::Index>(),
            byte in prop::sample::select(b"{}[]\",:0123456789-+.eEtrufalsn \\\x01\xff".to_vec()),
            how in 0u8..3,
        ) {
            let mut bytes = doc.into_bytes();
            let i = at.index(bytes.len() + 1);
            match how {
                0 if i < bytes.len() => bytes[i] = byte,
                1 if i < bytes.len() => { bytes.remove(i); }
                _ => bytes.insert(i.min(bytes.len()), byte),
            }
            agrees(&bytes)?;
        }
    }

    #[test]
    fn one_member_is_found_without_the_map() {
        let doc =
            r#"{"sub":"u1","nested":{"role":"inner"},"list":["role"],"role":"admin","n":1.5}"#;
        let others = scan(doc.as_bytes(), 16).unwrap().others;
        // The top-level member, not a nested one of the same name nor a string value.
        assert_eq!(others.find(doc, "role"), Member::Str(62..67));
        assert_eq!(&doc[62..67], "admin");
        assert_eq!(others.find(doc, "n"), Member::Other);
        assert_eq!(others.find(doc, "nested"), Member::Other);
        assert_eq!(others.find(doc, "list"), Member::Other);
        assert_eq!(others.find(doc, "inner"), Member::Absent);
        assert_eq!(others.find(doc, "cnf"), Member::Absent);
        // Registered claims are not among the others.
        assert_eq!(others.find(doc, "sub"), Member::Absent);
        let empty = scan(b"{}", 16).unwrap().others;
        assert_eq!(empty.find("{}", "cnf"), Member::Absent);
    }

    /// The agreement tests above mean something only if the fast path often says yes.
    #[test]
    fn generated_documents_often_take_the_fast_path() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = plain_claims();
        let mut fast = 0;
        for _ in 0..500 {
            let doc = strategy.new_tree(&mut runner).unwrap().current();
            if scan(doc.as_bytes(), 16).is_some() {
                fast += 1;
            }
        }
        assert!(fast >= 400, "only {fast} of 500 took the fast path");
    }

    #[test]
    fn plain_tokens_take_the_fast_path() {
        let doc = serde_json::json!({
            "iss": "https://auth.example.com", "sub": "user-1234", "aud": "orders-api",
            "exp": 4_102_444_800u64, "iat": 1_700_000_000u64, "nbf": 1_700_000_000u64,
            "jti": "5f0c2d8e", "role": "write", "scope": "a b", "n": [1, {"k": null}]
        });
        assert!(scan(doc.to_string().as_bytes(), 16).is_some());
    }

    fn b64(bytes: &[u8]) -> String {
        crate::b64::encode(bytes)
    }

    /// A token with this header and payload text (the signature does not matter here).
    fn token(header: &str, payload: &str) -> String {
        format!(
            "{}.{}.{}",
            b64(header.as_bytes()),
            b64(payload.as_bytes()),
            b64(&[7; 40])
        )
    }

    /// Parses `warm` on this thread so that its header is the cached one.
    fn warm(warm: &str) {
        let limits = Limits::default();
        if decode_compact(warm, &limits).is_none() {
            let _ = Compact::decode(warm, &limits);
        }
    }

    /// Whatever the shortcut answers for `token`, the general path answers the same.
    fn compact_agrees(token: &str, limits: &Limits) -> Result<bool, TestCaseError> {
        let Some(fast) = decode_compact(token, limits) else {
            return Ok(false);
        };
        let general = Compact::decode(token, limits);
        prop_assert!(general.is_ok(), "general path refused {token}: {general:?}");
        prop_assert_eq!(format!("{fast:?}"), format!("{:?}", general.unwrap()));
        Ok(true)
    }

    const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    #[test]
    fn a_token_with_the_cached_header_takes_the_shortcut() {
        let limits = Limits::default();
        let first = token(HEADER, r#"{"sub":"a"}"#);
        let second = token(HEADER, r#"{"sub":"b","exp":1}"#);
        // A fresh thread has nothing cached: the shortcut declines.
        std::thread::scope(|s| {
            s.spawn(|| assert!(decode_compact(&second, &limits).is_none()));
        });
        warm(&first);
        let fast = decode_compact(&second, &limits).unwrap();
        assert_eq!(fast.payload, br#"{"sub":"b","exp":1}"#);
        assert_eq!(fast.signature, [7; 40]);
        assert_eq!(fast.signing_input, second.rsplit_once('.').unwrap().0);
        // Another depth limit is another key.
        let stricter = Limits {
            max_depth: 3,
            ..limits
        };
        assert!(decode_compact(&second, &stricter).is_none());
    }

    /// The cached-header path carries a payload with a duplicate member to the claims
    /// parser like any other, and the claims parser names the duplicate.
    #[test]
    fn the_shortcut_hands_duplicates_to_the_claims_parser() {
        let limits = Limits::default();
        warm(&token(HEADER, "{}"));
        for (payload, name) in [
            (r#"{"exp":1,"exp":2}"#, "exp"),
            (r#"{"a":1,"a":2}"#, "a"),
            (r#"{"a\u0062":1,"ab":2}"#, "ab"),
        ] {
            let token = token(HEADER, payload);
            let compact = decode_compact(&token, &limits).unwrap();
            let err =
                crate::claims::Claims::from_payload(compact.payload, limits.max_depth).unwrap_err();
            assert!(
                matches!(
                    &err,
                    crate::Error::Malformed(crate::MalformedError::DuplicateMember {
                        part: crate::Part::Payload,
                        name: found,
                    }) if found == name
                ),
                "{payload}: {err}"
            );
        }
    }

    #[test]
    fn the_shortcut_declines_malformed_tokens() {
        let limits = Limits::default();
        let good = token(HEADER, r#"{"sub":"a"}"#);
        warm(&good);
        let (input, sig) = good.rsplit_once('.').unwrap();
        for bad in [
            input.to_string(),
            format!("{input}.{sig}.x"),
            format!("{input}.{sig}="),
            format!("{input}.{sig}AAA"),
            format!("{input}..{sig}"),
            format!("{input}=.{sig}"),
            input.replacen('.', "..", 1) + "." + sig,
        ] {
            assert!(decode_compact(&bad, &limits).is_none(), "{bad}");
            assert!(Compact::decode(&bad, &limits).is_err(), "{bad}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Tokens near a valid one, parsed with its header cached: the shortcut answers as
        /// the general path does, or declines.
        #[test]
        fn the_shortcut_agrees_with_the_general_path(
            payload in plain_claims(),
            edits in prop::collection::vec(
                (any::<prop::sample::Index>(), prop::sample::select(b"Aa0-_.=+ /".to_vec()), 0u8..3),
                0..3,
            ),
        ) {
            let original = token(HEADER, &payload);
            warm(&original);
            let mut bytes = original.clone().into_bytes();
            for (at, byte, how) in &edits {
                let i = at.index(bytes.len() + 1);
                match how {
                    0 if i < bytes.len() => bytes[i] = *byte,
                    1 if i < bytes.len() => { bytes.remove(i); }
                    _ => bytes.insert(i.min(bytes.len()), *byte),
                }
            }
            let mutated = String::from_utf8(bytes).unwrap();
            let taken = compact_agrees(&mutated, &Limits::default())?;
            // Unchanged tokens always take it: the agreement above is not vacuous.
            prop_assert!(taken || (!edits.is_empty() && mutated != original));
        }
    }
}
