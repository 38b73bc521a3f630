//! JSON Web Tokens (RFC 7519) in compact JWS form: a token parsed but not verified
//! ([`UnverifiedJwt`]), its verification with keys found by a [`KeyResolver`], and the
//! verified token ([`Jwt`]). Claims can only be read from a verified token.

use serde::de::DeserializeOwned;

use crate::claims::Claims;
use crate::error::{Error, MalformedError, Part};
use crate::fast;
use crate::jws::{self, Compact, Header, Limits};
use crate::key::VerifyingKey;
use crate::shown::{escaped_message, shown};
use crate::validation::Validation;

/// A compact JWS that has been parsed and checked for structure and limits, but whose
/// signature has not been verified. Its claims cannot be read: turn it into a
/// [`Jwt`] with [`UnverifiedJwt::verify`], or use
/// [`dangerous::insecure_claims`](crate::dangerous::insecure_claims) to inspect it.
#[derive(Debug)]
pub struct UnverifiedJwt<'a> {
    pub(crate) header: Header,
    pub(crate) signing_input: &'a str,
    pub(crate) claims: Claims,
    pub(crate) signature: Vec<u8>,
}

impl<'a> UnverifiedJwt<'a> {
    /// Parses with the default [`Limits`].
    pub fn parse(token: &'a str) -> Result<UnverifiedJwt<'a>, Error> {
        UnverifiedJwt::parse_with_limits(token, &Limits::default())
    }

    /// Parses a compact token: size limit first, then three canonical base64url parts, then
    /// JSON depth, then the header and the claims (types checked, duplicate members refused).
    pub fn parse_with_limits(token: &'a str, limits: &Limits) -> Result<UnverifiedJwt<'a>, Error> {
        jws::check_size(token, limits)?;
        // The shortcut gives the general path's answer or declines (see `fast`): most
        // tokens have the header this thread saw last. Every malformed token declines and
        // gets its precise error from the general path.
        let compact = match fast::decode_compact(token, limits) {
            Some(compact) => compact,
            None => Compact::decode(token, limits)?,
        };
        let claims = Claims::from_payload(compact.payload, limits.max_depth)?;
        Ok(UnverifiedJwt {
            header: compact.header,
            signing_input: compact.signing_input,
            claims,
            signature: compact.signature,
        })
    }

    /// The header. It is not authenticated yet; use it only to choose a key.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Verifies the signature with a key from `keys` and validates the claims.
    ///
    /// The header's `alg` must be allowed by `validation` and be one the key is bound to; the
    /// key comes only from `keys`, never from the token.
    pub fn verify(self, keys: &impl KeyResolver, validation: &Validation) -> Result<Jwt, Error> {
        let alg = self.header.alg();
        validation.check_algorithm(alg)?;
        let candidates = keys.keys_for(&self.header)?;
        let mut failure: Option<Error> = None;
        let mut kid = None;
        for key in candidates.iter() {
            match key.verify(alg, self.signing_input.as_bytes(), &self.signature) {
                Ok(()) => {
                    kid = Some(key.shared_kid());
                    break;
                }
                // A signature failure is the more telling error; keep it over a mismatch.
                Err(e @ Error::InvalidSignature) => failure = Some(e),
                Err(e) if !matches!(failure, Some(Error::InvalidSignature)) => failure = Some(e),
                Err(_) => {}
            }
        }
        let Some(kid) = kid else {
            return Err(failure.unwrap_or_else(|| {
                Error::UnknownKid(
                    self.header
                        .kid()
                        .map(|s| shown(s).to_string())
                        .unwrap_or_default(),
                )
            }));
        };
        validation.check_claims(&self.header, &self.claims)?;
        Ok(Jwt {
            header: self.header,
            shared: std::sync::Arc::new(Shared {
                claims: self.claims,
                derived: std::sync::OnceLock::new(),
            }),
            kid,
        })
    }
}

/// Where a verifier finds the keys for a token: a single key, a key set, or a cache.
pub trait KeyResolver {
    /// The keys that may have signed a token with this header, or why there are none.
    fn keys_for(&self, header: &Header) -> Result<Candidates<'_>, Error>;
}

/// The keys a [`KeyResolver`] offers for one token, tried in order. Nearly always one,
/// which is held without allocating.
#[derive(Debug, Default, Clone)]
pub struct Candidates<'a> {
    first: Option<&'a VerifyingKey>,
    more: Vec<&'a VerifyingKey>,
}

impl<'a> Candidates<'a> {
    /// No key yet.
    pub fn new() -> Self {
        Candidates::default()
    }

    /// Adds a key after those already offered.
    pub fn push(&mut self, key: &'a VerifyingKey) {
        if self.first.is_none() {
            self.first = Some(key);
        } else {
            self.more.push(key);
        }
    }

    /// How many keys are offered.
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.more.len()
    }

    /// True if no key is offered.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The keys, in order.
    pub fn iter(&self) -> impl Iterator<Item = &'a VerifyingKey> + '_ {
        self.first.into_iter().chain(self.more.iter().copied())
    }
}

impl<'a> From<&'a VerifyingKey> for Candidates<'a> {
    fn from(key: &'a VerifyingKey) -> Self {
        Candidates {
            first: Some(key),
            more: Vec::new(),
        }
    }
}

impl<'a> FromIterator<&'a VerifyingKey> for Candidates<'a> {
    fn from_iter<I: IntoIterator<Item = &'a VerifyingKey>>(iter: I) -> Self {
        let mut out = Candidates::new();
        for key in iter {
            out.push(key);
        }
        out
    }
}

impl KeyResolver for VerifyingKey {
    /// A single key: a token naming another `kid` is refused.
    fn keys_for(&self, header: &Header) -> Result<Candidates<'_>, Error> {
        match (header.kid(), self.kid()) {
            (Some(token_kid), Some(key_kid)) if token_kid != key_kid => {
                Err(Error::UnknownKid(shown(token_kid).to_string()))
            }
            _ => Ok(Candidates::from(self)),
        }
    }
}

/// A token whose signature verified and whose claims passed validation.
///
/// Cloning is cheap: the header and claims are shared, so a clone kept by a verified-token
/// cache hands out the same claims, their lazily parsed members included.
#[derive(Debug, Clone)]
pub struct Jwt {
    header: Header,
    shared: std::sync::Arc<Shared>,
    kid: Option<std::sync::Arc<str>>,
}

/// What the clones of a [`Jwt`] share.
#[derive(Debug)]
struct Shared {
    claims: Claims,
    /// See [`Jwt::derived`].
    derived: std::sync::OnceLock<std::sync::Arc<dyn std::any::Any + Send + Sync>>,
}

impl Jwt {
    /// The (now authenticated) header.
    pub fn header(&self) -> &Header {
        &self.header
    }
    /// The validated claims.
    pub fn claims(&self) -> &Claims {
        &self.shared.claims
    }

    /// A value derived from this token (headers built from its claims, say): made by
    /// `derive` at the first call, then shared by every clone of this `Jwt`. A verified-token
    /// cache hands out clones, so what one request derived serves the later requests with
    /// the same token.
    ///
    /// One value per token: the first call's type is kept, and a call for another type gets
    /// a new value each time. The value must depend on the token alone (check anything else
    /// it was made from before using it).
    ///
    /// ```
    /// # use tessera_jose::{Algorithm, Jwk, JwkSet, KeySet, SigningKey, UnverifiedJwt, Validation};
    /// # let jwk = Jwk::generate(Algorithm::ES256, None)?;
    /// # let token = SigningKey::from_jwk(&jwk, None)?.sign_jwt(&serde_json::json!({
    /// #     "sub": "ann", "exp": tessera_jose::unix_now() + 600,
    /// # }))?;
    /// # let keys = KeySet::from_slice(JwkSet::new(vec![jwk]).to_public().to_json().as_bytes())?;
    /// # let jwt = UnverifiedJwt::parse(&token)?.verify(&keys, &Validation::new())?;
    /// let shout = jwt.derived(|| jwt.claims().sub().unwrap_or("").to_uppercase());
    /// assert_eq!(*shout, "ANN");
    /// // A clone (a cache hit) finds the same value without calling its closure.
    /// let again = jwt.clone().derived(|| -> String { unreachable!() });
    /// assert!(std::sync::Arc::ptr_eq(&shout, &again));
    /// # Ok::<(), tessera_jose::Error>(())
    /// ```
    pub fn derived<T: std::any::Any + Send + Sync>(
        &self,
        derive: impl FnOnce() -> T,
    ) -> std::sync::Arc<T> {
        if let Some(stored) = self.shared.derived.get() {
            return stored
                .clone()
                .downcast::<T>()
                .unwrap_or_else(|_| std::sync::Arc::new(derive()));
        }
        let made = std::sync::Arc::new(derive());
        // Another thread may have stored one meanwhile: either is a correct value.
        let _ = self.shared.derived.set(made.clone());
        made
    }
    /// The `kid` of the key that verified the token.
    pub fn verified_by(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    /// Deserialises the claims into your own type.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(self.shared.claims.text()).map_err(|e| {
            MalformedError::Json {
                part: Part::Payload,
                // The caller's type may quote the claims in its errors (an unknown variant).
                reason: escaped_message(e),
            }
            .into()
        })
    }
}
