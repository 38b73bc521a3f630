//! JSON helpers for the JOSE objects: depth checks made before parsing, and object
//! readers that refuse duplicate members (which serde_json would silently resolve to the
//! last one) and build values only for the members a caller asks for.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::Deserializer;
use serde_json::{Map, Value};

use crate::error::{Error, MalformedError, Part};
use crate::shown::shown;

/// The maximum nesting depth of a JSON document, found without parsing it, so that
/// hostile documents are refused before anything expensive runs.
pub(crate) fn depth(bytes: &[u8]) -> usize {
    depth_over(bytes, usize::MAX)
}

/// True if the document nests deeper than `limit`. Fast path: the depth can never exceed
/// the number of opening brackets, which a branch-free count finds quickly.
pub(crate) fn deeper_than(bytes: &[u8], limit: usize) -> bool {
    let openings = bytes
        .iter()
        .map(|&b| usize::from(b == b'{' || b == b'['))
        .sum::<usize>();
    openings > limit && depth_over(bytes, limit) > limit
}

fn depth_over(bytes: &[u8], stop_above: usize) -> usize {
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
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why [`object_without_duplicates`] or [`scan_object`] failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ObjectError {
    /// A top-level member name appears twice: the name, as sent (not yet made safe to show).
    Duplicate(String),
    /// Any other problem: what serde_json said.
    Json(String),
}

impl ObjectError {
    /// The error for this failure in one part of a compact token.
    pub(crate) fn in_part(self, part: Part) -> Error {
        match self {
            ObjectError::Duplicate(name) => MalformedError::DuplicateMember {
                part,
                name: shown(&name).to_string(),
            },
            ObjectError::Json(reason) => MalformedError::Json { part, reason },
        }
        .into()
    }
}

/// Parses a JSON object, refusing duplicate members at the top level (serde_json would
/// silently keep the last one, which lets two parsers disagree about a token).
pub(crate) fn object_without_duplicates(bytes: &[u8]) -> Result<Map<String, Value>, ObjectError> {
    let duplicate = DuplicateSlot::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let map = de
        .deserialize_map(StrictObject {
            duplicate: &duplicate,
        })
        .map_err(|e| duplicate.classify(e))?;
    de.end().map_err(|e| ObjectError::Json(e.to_string()))?;
    Ok(map)
}

/// Where a visitor leaves the name of a duplicated member, for the caller that owns it.
///
/// A visitor can only stop serde_json with an error, and serde's errors carry nothing but
/// text; reading the name back out of that text would break silently the day serde_json
/// words or decorates its messages differently. (Returning `Ok` early is no way out either:
/// serde_json then finds the rest of the object unread and reports that instead.) So the
/// visitor records the name here and stops with an error whose text nobody reads; the
/// caller checks the slot before treating the error as serde_json's own.
#[derive(Default)]
struct DuplicateSlot(Cell<Option<String>>);

impl DuplicateSlot {
    /// Records `name` and returns the error that stops the reader.
    fn refuse<E: de::Error>(&self, name: &str) -> E {
        self.0.set(Some(name.to_owned()));
        E::custom("duplicate member")
    }

    /// The reader's error, as a duplicate if a visitor recorded one, else as serde_json's.
    fn classify(&self, e: serde_json::Error) -> ObjectError {
        match self.0.take() {
            Some(name) => ObjectError::Duplicate(name),
            None => ObjectError::Json(e.to_string()),
        }
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
    let duplicate = DuplicateSlot::default();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let scanner = Scanner {
        wanted,
        keep_names,
        duplicate: &duplicate,
        kind: std::marker::PhantomData,
    };
    let scanned = de
        .deserialize_map(scanner)
        .map_err(|e| duplicate.classify(e))?;
    de.end().map_err(|e| ObjectError::Json(e.to_string()))?;
    Ok(scanned)
}

struct Scanner<'s, V> {
    wanted: &'static [&'static str],
    keep_names: bool,
    duplicate: &'s DuplicateSlot,
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

impl<'de, V: serde::de::DeserializeOwned> Visitor<'de> for Scanner<'_, V> {
    type Value = Scanned<V>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut kept = Vec::with_capacity(self.wanted.len());
        let mut seen: Seen<std::borrow::Cow<'de, str>> = Seen::default();
        while let Some(Name(key)) = access.next_key::<Name<'de>>()? {
            if seen.contains(&key) {
                return Err(self.duplicate.refuse(&key));
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

struct StrictObject<'s> {
    duplicate: &'s DuplicateSlot,
}

impl<'de> Visitor<'de> for StrictObject<'_> {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(self.duplicate.refuse(&key));
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
    fn depth_ignores_brackets_in_strings() {
        assert_eq!(depth(br#"{"a":"[[[{{{\"]]]"}"#), 1);
        assert_eq!(depth(br#"{"a":[[{"b":1}]]}"#), 4);
    }

    #[test]
    fn duplicate_members_are_refused() {
        match object_without_duplicates(br#"{"a":1,"a":2}"#) {
            Err(ObjectError::Duplicate(name)) => assert_eq!(name, "a"),
            _ => unreachable!("duplicate member was accepted"),
        }
        assert!(object_without_duplicates(br#"{"a":1,"b":{"a":1}}"#).is_ok());
    }

    fn scan(bytes: &[u8]) -> Result<Scanned, ObjectError> {
        scan_object(bytes, &["a", "b"], true)
    }

    /// The name comes from the visitor, not from serde_json's message: names that look like
    /// the decoration serde_json adds to a message, or that needed unescaping, come out whole.
    #[test]
    fn the_duplicate_name_is_carried_out_whole() {
        for (doc, name) in [
            (&br#"{"a":1,"a":2}"#[..], "a"),
            (br#"{"z":1,"b":[],"z":{}}"#, "z"),
            (
                br#"{"x at line 1 column 9":1,"x at line 1 column 9":2}"#,
                "x at line 1 column 9",
            ),
            (
                br#"{"duplicate member y":1,"duplicate member y":2}"#,
                "duplicate member y",
            ),
            (br#"{"ab":1,"a\u0062":2}"#, "ab"),
            (b"{\"l\\n\":1,\"l\\n\":2}", "l\n"),
            (br#"{"":1,"":2}"#, ""),
        ] {
            let shown = String::from_utf8_lossy(doc);
            assert_eq!(
                object_without_duplicates(doc).map(|_| ()),
                Err(ObjectError::Duplicate(name.into())),
                "{shown}"
            );
            assert_eq!(
                scan(doc).map(|_| ()),
                Err(ObjectError::Duplicate(name.into())),
                "{shown}"
            );
        }
    }

    /// Only a duplicate is reported as one: syntax errors are serde_json's, and a repeated
    /// name in a nested object is not a top-level duplicate.
    #[test]
    fn other_errors_are_not_taken_for_duplicates() {
        for doc in [
            &br#"{"a":1,"b""#[..],
            br#"{"a":1,"b":}"#,
            br#"{"a":1} {"a":1}"#,
            br#"["a","a"]"#,
        ] {
            let shown = String::from_utf8_lossy(doc);
            assert!(
                matches!(object_without_duplicates(doc), Err(ObjectError::Json(_))),
                "{shown}"
            );
            assert!(matches!(scan(doc), Err(ObjectError::Json(_))), "{shown}");
        }
        assert!(object_without_duplicates(br#"{"a":{"b":1,"b":2}}"#).is_ok());
        assert!(scan(br#"{"c":{"b":1,"b":2}}"#).is_ok());
    }

    /// Past 16 members the seen names move to a hash set; a duplicate is still named.
    #[test]
    fn duplicates_among_many_members_are_named() {
        let mut doc = (0..40)
            .map(|n| format!(r#""m{n}":{n}"#))
            .collect::<Vec<_>>();
        doc.push(r#""m33":0"#.into());
        let doc = format!("{{{}}}", doc.join(","));
        assert_eq!(
            scan(doc.as_bytes()).map(|_| ()),
            Err(ObjectError::Duplicate("m33".into()))
        );
        assert_eq!(
            object_without_duplicates(doc.as_bytes()).map(|_| ()),
            Err(ObjectError::Duplicate("m33".into()))
        );
    }
}
