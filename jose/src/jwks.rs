//! JWK Sets (RFC 7517 section 5): parsing that skips (and reports) keys it cannot use
//! instead of failing the whole set, and a [`KeySet`] of ready verifiers.

use serde::Serialize;
use serde_json::Value;

use crate::error::{AlgorithmError, Error, KeyError};
use crate::jwk::{Jwk, RawJwk};
use crate::jws::Header;
use crate::jwt::{Candidates, KeyResolver};
use crate::key::VerifyingKey;
use crate::shown::{escaped_message, shown};

/// Maximum nesting depth accepted in a JWKS document (a bound on parsing work).
const MAX_SET_DEPTH: usize = 32;
/// Maximum nesting depth of one key (`oth` in a multi-prime RSA key is the deepest
/// member a JWK defines); deeper keys are skipped, not fatal for the set.
const MAX_KEY_DEPTH: usize = 4;

/// The document: only `keys` is read (serde refuses a duplicated `keys`).
#[derive(serde::Deserialize)]
struct RawSet {
    keys: Vec<Entry>,
}

/// One member of `keys`: its members, or why it is not a usable object. Unlike
/// `serde_json::Value`, which keeps the last of duplicated members, a duplicate makes the
/// entry unusable, as it does for a single JWK; either way the rest of the set stands.
struct Entry(Result<serde_json::Map<String, Value>, String>);

impl<'de> serde::Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Entry, D::Error> {
        d.deserialize_any(EntryVisitor)
    }
}

struct EntryVisitor;

impl<'de> serde::de::Visitor<'de> for EntryVisitor {
    type Value = Entry;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JWK object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Entry, A::Error> {
        let mut members = serde_json::Map::new();
        let mut duplicate = None;
        while let Some(name) = access.next_key::<String>()? {
            let value: Value = access.next_value()?;
            if members.contains_key(&name) {
                duplicate.get_or_insert(name);
            } else {
                members.insert(name, value);
            }
        }
        Ok(Entry(match duplicate {
            Some(name) => Err(format!("duplicate member `{}`", shown(&name))),
            None => Ok(members),
        }))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut access: A) -> Result<Entry, A::Error> {
        while access.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(not_an_object())
    }

    fn visit_str<E>(self, _: &str) -> Result<Entry, E> {
        Ok(not_an_object())
    }

    fn visit_bool<E>(self, _: bool) -> Result<Entry, E> {
        Ok(not_an_object())
    }

    fn visit_i64<E>(self, _: i64) -> Result<Entry, E> {
        Ok(not_an_object())
    }

    fn visit_u64<E>(self, _: u64) -> Result<Entry, E> {
        Ok(not_an_object())
    }

    fn visit_f64<E>(self, _: f64) -> Result<Entry, E> {
        Ok(not_an_object())
    }

    fn visit_unit<E>(self) -> Result<Entry, E> {
        Ok(not_an_object())
    }
}

fn not_an_object() -> Entry {
    Entry(Err("not a JSON object".into()))
}

/// Nesting depth of an object's members (the object itself is level 1).
fn value_depth(members: &serde_json::Map<String, Value>) -> usize {
    fn depth(v: &Value) -> usize {
        match v {
            Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
            _ => 0,
        }
    }
    1 + members.values().map(depth).max().unwrap_or(0)
}

/// A key that was left out of a set, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in the `keys` array.
    pub index: usize,
    /// The key's `kid`, if it had a readable one.
    pub kid: Option<String>,
    /// Why it was skipped.
    pub reason: String,
}

/// A parsed JWK Set.
#[derive(Debug, Clone, Default)]
pub struct JwkSet {
    /// The keys that parsed.
    pub keys: Vec<Jwk>,
    /// The keys that did not, with the reason.
    pub skipped: Vec<SkippedKey>,
    /// Position of each of `keys` in the document's `keys` array, for reporting.
    positions: Vec<usize>,
}

impl JwkSet {
    /// Parses `{"keys": [...]}`. Only a document that is not such an object fails; a key
    /// that cannot be parsed (a duplicate member, nesting deeper than a key needs, unknown
    /// parameters) is reported in [`JwkSet::skipped`].
    pub fn from_slice(bytes: &[u8]) -> Result<JwkSet, Error> {
        if crate::json::depth(bytes) > MAX_SET_DEPTH {
            return Err(KeyError::InvalidJwk(format!(
                "JWKS is nested deeper than {MAX_SET_DEPTH} levels"
            ))
            .into());
        }
        let doc: RawSet = serde_json::from_slice(bytes).map_err(|e| {
            KeyError::InvalidJwk(if e.is_data() {
                format!(
                    "JWKS is not a `{{\"keys\": [...]}}` object: {}",
                    escaped_message(e)
                )
            } else {
                format!("JWKS is not JSON: {}", escaped_message(e))
            })
        })?;
        let mut set = JwkSet::default();
        for (index, Entry(entry)) in doc.keys.into_iter().enumerate() {
            let kid = entry
                .as_ref()
                .ok()
                .and_then(|m| m.get("kid"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let parsed = entry
                .and_then(|members| {
                    if value_depth(&members) > MAX_KEY_DEPTH {
                        return Err(format!("nested deeper than {MAX_KEY_DEPTH} levels"));
                    }
                    Ok(members)
                })
                .map_err(|reason| Error::from(KeyError::InvalidJwk(reason)))
                .and_then(|members| {
                    serde_json::from_value::<RawJwk>(Value::Object(members))
                        .map_err(|e| KeyError::InvalidJwk(escaped_message(e)).into())
                })
                .and_then(|raw| Ok(Jwk::try_from(raw)?));
            match parsed {
                Ok(jwk) => {
                    set.keys.push(jwk);
                    set.positions.push(index);
                }
                Err(e) => set.skipped.push(SkippedKey {
                    index,
                    kid,
                    reason: e.to_string(),
                }),
            }
        }
        Ok(set)
    }

    /// A set holding these keys.
    pub fn new(keys: Vec<Jwk>) -> JwkSet {
        JwkSet {
            keys,
            skipped: Vec::new(),
            positions: Vec::new(),
        }
    }

    /// The public set: private members removed and symmetric keys left out.
    pub fn to_public(&self) -> JwkSet {
        JwkSet::new(
            self.keys
                .iter()
                .filter(|k| !k.is_symmetric())
                .map(Jwk::to_public)
                .collect(),
        )
    }

    /// Serialises as `{"keys":[...]}`, private members included if the keys hold them.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Serialises as indented JSON.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The first key with this `kid`.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid() == Some(kid))
    }
}

impl Serialize for JwkSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Out<'a> {
            keys: &'a [Jwk],
        }
        Out { keys: &self.keys }.serialize(s)
    }
}

/// Verifiers built from a published key set: symmetric keys and keys that cannot verify
/// (encryption keys, small RSA keys, ...) are left out and reported.
///
/// ```
/// use tessera_jose::{Algorithm, Jwk, JwkSet, KeySet, SigningKey, UnverifiedJwt, Validation};
///
/// let jwk = Jwk::generate(Algorithm::ES256, None)?;
/// let token = SigningKey::from_jwk(&jwk, None)?
///     .sign_jwt(&serde_json::json!({"sub": "svc", "exp": 4102444800u64}))?;
/// let jwks = JwkSet::new(vec![jwk]).to_public().to_json();
///
/// let keys = KeySet::from_slice(jwks.as_bytes())?;
/// let jwt = UnverifiedJwt::parse(&token)?.verify(&keys, &Validation::new())?;
/// assert_eq!(jwt.claims().sub(), Some("svc"));
/// # Ok::<(), tessera_jose::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<VerifyingKey>,
    skipped: Vec<SkippedKey>,
}

impl KeySet {
    /// Parses a JWKS document and builds its verifiers.
    pub fn from_slice(bytes: &[u8]) -> Result<KeySet, Error> {
        Ok(KeySet::from_jwks(&JwkSet::from_slice(bytes)?))
    }

    /// Builds verifiers for every usable key of a set.
    pub fn from_jwks(set: &JwkSet) -> KeySet {
        let mut out = KeySet {
            keys: Vec::with_capacity(set.keys.len()),
            skipped: set.skipped.clone(),
        };
        for (n, jwk) in set.keys.iter().enumerate() {
            // The document position when known (keys may have been added by hand).
            let index = if set.positions.len() == set.keys.len() {
                set.positions[n]
            } else {
                n
            };
            let built = if jwk.is_symmetric() {
                Err(AlgorithmError::SymmetricFromSet.into())
            } else {
                VerifyingKey::from_jwk(jwk)
            };
            match built {
                Ok(key) => out.keys.push(key),
                Err(e) => out.skipped.push(SkippedKey {
                    index,
                    kid: jwk.kid().map(str::to_owned),
                    reason: e.to_string(),
                }),
            }
        }
        out
    }

    /// The usable keys.
    pub fn keys(&self) -> &[VerifyingKey] {
        &self.keys
    }

    /// The keys left out, with the reason.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }

    /// True if some key has this `kid`.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid() == Some(kid))
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True if no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl KeyResolver for KeySet {
    /// With a `kid`: every key with that id (duplicates are tried in turn). Without one: the
    /// single key that supports the token's algorithm, if there is exactly one.
    fn keys_for(&self, header: &Header) -> Result<Candidates<'_>, Error> {
        match header.kid() {
            Some(kid) => {
                let found: Candidates<'_> =
                    self.keys.iter().filter(|k| k.kid() == Some(kid)).collect();
                if found.is_empty() {
                    Err(Error::UnknownKid(shown(kid).to_string()))
                } else {
                    Ok(found)
                }
            }
            None => {
                let found: Candidates<'_> = self
                    .keys
                    .iter()
                    .filter(|k| k.supports(header.alg()))
                    .collect();
                if found.len() == 1 {
                    Ok(found)
                } else {
                    Err(Error::AmbiguousKey(found.len()))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alg::Algorithm;

    #[test]
    fn skipped_keys_are_reported_at_their_document_position() {
        let good = Jwk::generate(Algorithm::ES256, None).unwrap().to_public();
        let enc = good.to_json().replace(r#""use":"sig""#, r#""use":"enc""#);
        let doc = format!(
            r#"{{"keys":[{{"kty":"nope","kid":"a"}},{enc},{}]}}"#,
            good.to_json()
        );
        let keys = KeySet::from_slice(doc.as_bytes()).unwrap();
        assert_eq!(keys.len(), 1);
        let positions: Vec<usize> = keys.skipped().iter().map(|s| s.index).collect();
        assert_eq!(positions, vec![0, 1]);
    }

    #[test]
    fn one_odd_key_is_skipped_never_fatal_for_the_set() {
        let good = Jwk::generate(Algorithm::ES256, None).unwrap().to_public();
        let text = good.to_json();
        // A duplicated member (the last would win in a plain JSON value), deep nesting in
        // an extension member, and an entry that is not an object.
        let duplicate = text.replacen('{', r#"{"kid":"first","#, 1).replacen(
            r#""kid":""#,
            r#""kid":"second","kid":""#,
            1,
        );
        let deep = text.replacen('{', r#"{"ext":[[[[[[[1]]]]]]],"#, 1);
        let doc = format!(r#"{{"keys":[{duplicate},{deep},"x",{text}]}}"#);
        let set = JwkSet::from_slice(doc.as_bytes()).unwrap();
        assert_eq!(set.keys.len(), 1);
        let reasons: Vec<&str> = set.skipped.iter().map(|s| s.reason.as_str()).collect();
        assert!(reasons[0].contains("duplicate member `kid`"), "{reasons:?}");
        assert!(reasons[1].contains("nested deeper"), "{reasons:?}");
        assert!(reasons[2].contains("not a JSON object"), "{reasons:?}");
        // A duplicated `keys` makes the document itself ambiguous: refused.
        let twice = format!(r#"{{"keys":[],"keys":[{text}]}}"#);
        assert!(JwkSet::from_slice(twice.as_bytes()).is_err());
    }

    #[test]
    fn the_public_form_of_a_symmetric_key_holds_no_secret() {
        let hmac = Jwk::generate(Algorithm::HS256, None).unwrap();
        let secret = serde_json::from_str::<Value>(&hmac.to_json()).unwrap()["k"]
            .as_str()
            .unwrap()
            .to_owned();
        let public = hmac.to_public().to_json();
        assert!(!public.contains(&secret), "{public}");
        assert!(crate::VerifyingKey::from_jwk(&hmac.to_public()).is_err());
    }
}
