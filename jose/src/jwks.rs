//! JWK Sets (RFC 7517 section 5): parsing that skips (and reports) keys it cannot use
//! instead of failing the whole set, and a [`KeySet`] of ready verifiers.

use serde::Serialize;
use serde_json::Value;

use crate::error::{AlgorithmError, Error, KeyError};
use crate::jwk::{Jwk, RawJwk};
use crate::jws::Header;
use crate::jwt::{Candidates, KeyResolver};
use crate::key::VerifyingKey;

/// Maximum nesting depth accepted in a JWKS document.
const MAX_SET_DEPTH: usize = 8;

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
    /// that cannot be parsed is reported in [`JwkSet::skipped`].
    pub fn from_slice(bytes: &[u8]) -> Result<JwkSet, Error> {
        if crate::encoding::json_depth(bytes) > MAX_SET_DEPTH {
            return Err(KeyError::InvalidJwk(format!(
                "JWKS is nested deeper than {MAX_SET_DEPTH} levels"
            ))
            .into());
        }
        let doc: Value = serde_json::from_slice(bytes)
            .map_err(|e| KeyError::InvalidJwk(format!("JWKS is not JSON: {e}")))?;
        let Some(Value::Array(entries)) = doc.get("keys") else {
            return Err(KeyError::InvalidJwk("JWKS has no `keys` array".into()).into());
        };
        let mut set = JwkSet::default();
        for (index, entry) in entries.iter().enumerate() {
            let kid = entry.get("kid").and_then(Value::as_str).map(str::to_owned);
            let parsed = serde_json::from_value::<RawJwk>(entry.clone())
                .map_err(|e| KeyError::InvalidJwk(e.to_string()))
                .and_then(Jwk::try_from);
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
                    Err(Error::UnknownKid(crate::alg::truncate(kid)))
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
}
