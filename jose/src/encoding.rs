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
    URL_SAFE_NO_PAD.decode(text.as_bytes()).ok()
}

/// Decodes into a caller-owned buffer, reusing its allocation.
pub(crate) fn b64_decode_into(text: &str, out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    URL_SAFE_NO_PAD.decode_vec(text.as_bytes(), out).ok()
}

/// The maximum nesting depth of a JSON document, found without parsing it, so that
/// hostile documents are refused before anything expensive runs.
pub(crate) fn json_depth(bytes: &[u8]) -> usize {
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
    let map = de.deserialize_map(StrictObject).map_err(|e| {
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
    })?;
    de.end().map_err(|e| ObjectError::Json(e.to_string()))?;
    Ok(map)
}

const DUPLICATE_PREFIX: &str = "duplicate member ";

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
