//! The verifier: one or more issuers, each with its own key set and policy, chosen by the
//! token's `iss`; optional revocation checks.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, Weak};

use tessera_jose::jwe::{DecryptionKey, JweLimits};
use tessera_jose::{dangerous, Algorithm, Jwt, KeySet, Limits, UnverifiedJwt, Validation};

use crate::error::Error;
use crate::jwks::{JwksOptions, RemoteJwks};
use crate::revocation::{Revocations, Subscription};
use tessera_contract::dpop::{self, Expected, ProofChecker};
use tessera_contract::{Clock, Scheme, SystemClock};
use tessera_jose::{shown, Shown};

/// Where an issuer's keys come from.
#[derive(Debug, Clone)]
enum Source {
    Jwks(String),
    Discover(String),
}

/// The configuration of one trusted issuer: where its keys are and what its tokens must
/// satisfy.
///
/// ```
/// use tessera_jose::Algorithm;
/// use tessera_verifier::Issuer;
///
/// let issuer = Issuer::discover("https://auth.example.com")
///     .audience("orders-api")
///     .algorithms([Algorithm::ES256, Algorithm::EdDSA]);
/// # let _ = issuer;
/// ```
#[derive(Debug, Clone)]
pub struct Issuer {
    source: Source,
    issuer: Option<String>,
    validation: Validation,
    options: JwksOptions,
}

impl Issuer {
    /// An issuer found by OpenID discovery: its key set is read from the `jwks_uri` of
    /// `{issuer}/.well-known/openid-configuration`, and its tokens must carry exactly this
    /// `iss`.
    pub fn discover(issuer: impl Into<String>) -> Issuer {
        let issuer = issuer.into();
        Issuer {
            source: Source::Discover(issuer.clone()),
            issuer: Some(issuer),
            validation: Validation::new(),
            options: JwksOptions::default(),
        }
    }

    /// An issuer known by its JWKS URL. Without [`Issuer::issuer`] it accepts tokens with
    /// any `iss` (or none): it is then the fallback for tokens no other issuer claims.
    pub fn jwks(jwks_url: impl Into<String>) -> Issuer {
        Issuer {
            source: Source::Jwks(jwks_url.into()),
            issuer: None,
            validation: Validation::new(),
            options: JwksOptions::default(),
        }
    }

    /// Requires tokens to carry exactly this `iss`.
    pub fn issuer(mut self, iss: impl Into<String>) -> Issuer {
        self.issuer = Some(iss.into());
        self
    }

    /// Adds an accepted audience (a token's `aud` must contain one of them).
    pub fn audience(mut self, aud: impl Into<String>) -> Issuer {
        self.validation = self.validation.audience(aud);
        self
    }

    /// Accepts tokens whatever their `aud`: only for services with no audience of their own.
    pub fn insecure_any_audience(mut self) -> Issuer {
        self.validation = self.validation.insecure_any_audience();
        self
    }

    /// Accepts only these algorithms (each key's own binding still applies).
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Issuer {
        self.validation = self.validation.algorithms(algs);
        self
    }

    /// Replaces the claims policy (audiences, algorithms, `typ`, leeway, required claims...).
    /// The issuer check is added to it.
    pub fn validation(mut self, validation: Validation) -> Issuer {
        self.validation = validation;
        self
    }

    /// Changes how the key set is fetched and cached.
    pub fn jwks_options(mut self, options: JwksOptions) -> Issuer {
        self.options = options;
        self
    }
}

#[derive(Debug)]
struct Entry {
    iss: Option<String>,
    jwks: RemoteJwks,
    validation: Validation,
}

/// Builds a [`Verifier`].
#[derive(Debug, Default)]
pub struct VerifierBuilder {
    issuers: Vec<Issuer>,
    clock: Option<Arc<dyn Clock>>,
    revocations: Option<Revocations>,
    revocation_feed: Option<String>,
    limits: Option<Limits>,
    token_cache: usize,
    dpop: Option<ProofChecker>,
    public_url: Option<String>,
    decryption: Option<Decryption>,
}

/// Nested tokens: the key that decrypts them, and whether plain JWS tokens are refused.
#[derive(Debug)]
struct Decryption {
    key: DecryptionKey,
    required: bool,
    limits: JweLimits,
}

impl VerifierBuilder {
    /// Trusts this issuer.
    pub fn issuer(mut self, issuer: Issuer) -> VerifierBuilder {
        self.issuers.push(issuer);
        self
    }

    /// Uses this clock for caches and token times (tests use a
    /// [`ManualClock`](crate::ManualClock)).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> VerifierBuilder {
        self.clock = Some(clock);
        self
    }

    /// Checks tokens against this revocation set (filled by you, or by a feed).
    pub fn revocations(mut self, revocations: Revocations) -> VerifierBuilder {
        self.revocations = Some(revocations);
        self
    }

    /// Follows the revocation feed of the auth server at this base URL (needs a Tokio
    /// runtime when [`VerifierBuilder::build`] runs).
    pub fn revocation_feed(mut self, server_url: impl Into<String>) -> VerifierBuilder {
        self.revocation_feed = Some(server_url.into());
        self
    }

    /// Token size and nesting limits (default [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> VerifierBuilder {
        self.limits = Some(limits);
        self
    }

    /// Remembers up to `capacity` verified tokens by their exact text (0, the default,
    /// turns this off). A token presented again skips parsing and the signature, and only
    /// while the issuer's key set is still the one it was verified with; its time claims
    /// (`exp`, `nbf`, `iat`, max age) are checked again at every use, and so is the
    /// revocation list. An entry holds the token and its parsed claims (a few KiB for a
    /// usual access token, up to about 13 KiB for an ML-DSA-87 one); tokens over 8 KiB are
    /// not cached. When the cache is full, expired entries go first, then an eighth of the
    /// others.
    pub fn token_cache(mut self, capacity: usize) -> VerifierBuilder {
        self.token_cache = capacity;
        self
    }

    /// The DPoP proof policy (algorithms, `iat` window, replay cache size); the default is
    /// [`ProofChecker::new`]. DPoP-bound tokens are checked only when a
    /// [`public_url`](VerifierBuilder::public_url) is set too.
    pub fn dpop(mut self, checker: ProofChecker) -> VerifierBuilder {
        self.dpop = Some(checker);
        self
    }

    /// The URL clients use to reach this service (scheme, host, port and any path prefix,
    /// e.g. `https://api.example.com`): the `htu` of a DPoP proof must be it followed by the
    /// request's path. It comes from configuration because a service behind a proxy sees
    /// another scheme, host and port than its clients, and client headers (`Host`,
    /// `X-Forwarded-*`) could name anything. Without it, DPoP-bound tokens are refused.
    pub fn public_url(mut self, url: impl Into<String>) -> VerifierBuilder {
        self.public_url = Some(url.into());
        self
    }

    /// Accepts encrypted access tokens (nested JWTs: a JWE with `cty` `JWT` holding the
    /// signed token, RFC 7519 section 5.2) decrypted with this key; the inner token then
    /// passes every check a plain one does. With `required`, plain (unencrypted) tokens are
    /// refused ([`Error::EncryptionRequired`]). Without this, an encrypted token is refused
    /// as malformed.
    pub fn decryption_key(mut self, key: DecryptionKey, required: bool) -> VerifierBuilder {
        self.decryption = Some(Decryption {
            key,
            required,
            limits: JweLimits::default(),
        });
        self
    }

    /// Checks the configuration and builds the verifier. Nothing is fetched yet: key sets
    /// (and discovery documents) are fetched on first use.
    pub fn build(self) -> Result<Verifier, Error> {
        if self.issuers.is_empty() {
            return Err(Error::Config("no issuer configured".into()));
        }
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let public_url = match self.public_url {
            Some(url) => {
                let normal = dpop::normalize_htu(&url)
                    .map_err(|e| Error::Config(format!("public URL: {e}")))?;
                Some(normal.trim_end_matches('/').to_owned())
            }
            None => None,
        };
        let mut entries = Vec::with_capacity(self.issuers.len());
        let mut by_iss = HashMap::new();
        let mut fallback = None;
        for (n, issuer) in self.issuers.into_iter().enumerate() {
            let jwks = match &issuer.source {
                Source::Jwks(url) => RemoteJwks::with_clock(url, issuer.options, clock.clone())?,
                Source::Discover(iss) => RemoteJwks::discover(iss, issuer.options, clock.clone())?,
            };
            let validation = match &issuer.issuer {
                Some(iss) => {
                    if by_iss.insert(iss.clone(), n).is_some() {
                        return Err(Error::Config(format!("issuer {iss} is configured twice")));
                    }
                    issuer.validation.issuer(iss.clone())
                }
                None => {
                    if fallback.replace(n).is_some() {
                        return Err(Error::Config(
                            "only one issuer may be configured without an `iss`".into(),
                        ));
                    }
                    issuer.validation
                }
            };
            entries.push(Entry {
                iss: issuer.issuer,
                jwks,
                validation,
            });
        }
        let mut revocations = self.revocations;
        let subscription = match self.revocation_feed {
            Some(url) => {
                let list = revocations.get_or_insert_with(|| Revocations::new(clock.clone()));
                Some(list.subscribe(&url)?)
            }
            None => None,
        };
        Ok(Verifier {
            entries,
            by_iss,
            fallback,
            revocations,
            _subscription: subscription,
            clock,
            limits: self.limits.unwrap_or_default(),
            cache: (self.token_cache > 0).then(|| TokenCache::new(self.token_cache)),
            dpop: self.dpop.unwrap_or_default(),
            public_url,
            decryption: self.decryption,
        })
    }
}

/// A compact JWE has five parts (a JWS three).
fn is_jwe(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 4
}

/// Verifies access tokens from one or more issuers.
///
/// The token's `iss` is read before verification only to choose the issuer's
/// configuration; the signature is then checked with that issuer's keys and the claims
/// with a policy requiring exactly that `iss`.
///
/// ```no_run
/// # async fn run(token: &str) -> Result<(), tessera_verifier::Error> {
/// use tessera_verifier::{Issuer, Verifier};
///
/// let verifier = Verifier::builder()
///     .issuer(Issuer::discover("https://auth.example.com").audience("orders-api"))
///     .issuer(Issuer::jwks("https://partner.example/jwks.json")
///         .issuer("https://partner.example")
///         .audience("orders-api"))
///     .build()?;
/// let jwt = verifier.verify(token).await?;
/// println!("hello {:?}", jwt.claims().sub());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Verifier {
    entries: Vec<Entry>,
    by_iss: HashMap<String, usize>,
    fallback: Option<usize>,
    revocations: Option<Revocations>,
    _subscription: Option<Subscription>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    cache: Option<TokenCache>,
    dpop: ProofChecker,
    public_url: Option<String>,
    decryption: Option<Decryption>,
}

impl Verifier {
    /// Starts a configuration.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// Verifies a bearer token: issuer chosen by `iss`, key by `kid` (refetching the set
    /// once for an unknown `kid`), signature, claims, then revocation. A token bound to a
    /// key (`cnf`) is refused: it is only good with a proof ([`Verifier::verify_request`]).
    /// Every refusal is logged with its reason.
    pub async fn verify(&self, token: &str) -> Result<Jwt, Error> {
        let mut kid = None;
        let outcome = self.verify_inner(token, &mut kid).await.and_then(|jwt| {
            // Presence only: the claims map is not built for it.
            if jwt.claims().contains("cnf") {
                Err(Error::BoundTokenAsBearer)
            } else {
                Ok(jwt)
            }
        });
        self.log_refusal(&outcome, kid.as_deref());
        outcome
    }

    /// Verifies the access token of a request, in either form: `Authorization: Bearer`
    /// (as [`Verifier::verify`]), or `Authorization: DPoP` with a `DPoP` proof (RFC 9449),
    /// which must be signed by the key the token's `cnf.jkt` names, for this `method` and
    /// `path` under the [public URL](VerifierBuilder::public_url), fresh, never seen
    /// before, and hash the token (`ath`).
    pub async fn verify_request(
        &self,
        method: &str,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<Jwt, Error> {
        let (scheme, token) = tessera_contract::access_token(headers).map_err(|e| {
            tracing::info!(reason = %e, "request without a usable token");
            Error::Authorization(e)
        })?;
        if scheme == Scheme::Bearer {
            return self.verify(token).await;
        }
        let mut kid = None;
        let outcome = match self.verify_inner(token, &mut kid).await {
            Ok(jwt) => self.check_proof(jwt, token, method, path, headers),
            Err(e) => Err(e),
        };
        self.log_refusal(&outcome, kid.as_deref());
        outcome
    }

    fn check_proof(
        &self,
        jwt: Jwt,
        token: &str,
        method: &str,
        path: &str,
        headers: &http::HeaderMap,
    ) -> Result<Jwt, Error> {
        let jkt = match jwt.claims().get("cnf") {
            Some(serde_json::Value::Object(cnf)) => match cnf.get("jkt") {
                Some(serde_json::Value::String(jkt)) => jkt.as_str(),
                _ => return Err(Error::NotBound),
            },
            _ => return Err(Error::NotBound),
        };
        let proof = dpop::proof_header(headers)
            .map_err(Error::Dpop)?
            .ok_or(Error::Dpop(dpop::ProofError::Missing))?;
        let Some(base) = &self.public_url else {
            return Err(Error::Config(
                "a DPoP-bound token arrived but no public URL is configured to check its proof against".into(),
            ));
        };
        let htu = dpop::request_htu(base, path).map_err(|_| {
            Error::Dpop(dpop::ProofError::Malformed("unusable request path".into()))
        })?;
        let expected = Expected::new(method, &htu).access_token(token).jkt(jkt);
        self.dpop
            .check(proof, &expected, self.clock.unix_secs())
            .map_err(Error::Dpop)?;
        Ok(jwt)
    }

    /// The DPoP proof policy (its `algs` go into `WWW-Authenticate: DPoP` challenges).
    pub fn dpop(&self) -> &ProofChecker {
        &self.dpop
    }

    fn log_refusal(&self, outcome: &Result<Jwt, Error>, kid: Option<&str>) {
        if let Err(e) = &outcome {
            // Reasons can quote the token (its kid, iss, aud): escaped so that a crafted
            // token cannot forge log lines.
            let reason = e.to_string();
            let reason = Shown::full(&reason);
            let kid = shown(kid.unwrap_or("-"));
            if e.is_token_error() {
                tracing::info!(%reason, %kid, "token rejected");
            } else {
                tracing::warn!(%reason, %kid, "token could not be verified");
            }
        }
    }

    async fn verify_inner(&self, token: &str, kid: &mut Option<String>) -> Result<Jwt, Error> {
        if let Some(jwt) = self.verify_cached(token, kid).await? {
            return Ok(jwt);
        }
        // A nested token is decrypted first; its inner JWS is then what is verified (and the
        // outer token is what the cache and DPoP's `ath` know).
        let nested = match &self.decryption {
            Some(decryption) if is_jwe(token) => {
                let limits = JweLimits {
                    max_token_len: decryption
                        .limits
                        .max_token_len
                        .max(self.limits.max_token_len),
                    max_depth: self.limits.max_depth,
                    ..decryption.limits.clone()
                };
                Some(decryption.key.decrypt_nested_with(token, &limits)?)
            }
            Some(decryption) if decryption.required => return Err(Error::EncryptionRequired),
            _ => None,
        };
        let jws = nested.as_ref().map_or(token, |n| n.inner());
        let unverified = UnverifiedJwt::parse_with_limits(jws, &self.limits)?;
        *kid = unverified.header().kid().map(str::to_owned);
        // Unverified: used only to pick the configuration, whose policy then requires it.
        let iss = dangerous::insecure_claims(&unverified).iss();
        let index = self.entry_index(iss)?;
        let entry = self.entry(index)?;
        // A refused algorithm must not cost a key fetch.
        entry
            .validation
            .check_algorithm(unverified.header().alg())?;
        let keys = entry.jwks.key_set_for(unverified.header().kid()).await?;
        let jwt = unverified.verify(&*keys, &self.validation_now(entry))?;
        if let Some(revocations) = &self.revocations {
            revocations.check(jwt.claims())?;
        }
        if let Some(cache) = &self.cache {
            cache.insert(token, index, &keys, &jwt, self.clock.unix_secs());
        }
        Ok(jwt)
    }

    /// A token verified before: `Some` if it still passes, `None` if it must be verified
    /// in full (not cached, or the issuer's key set has changed since).
    async fn verify_cached(
        &self,
        token: &str,
        kid: &mut Option<String>,
    ) -> Result<Option<Jwt>, Error> {
        let Some(hit) = self.cache.as_ref().and_then(|c| c.get(token)) else {
            return Ok(None);
        };
        let outcome = self.recheck(&hit).await;
        if outcome.is_err() {
            // For the refusal's log line only: a hit that passes costs no copy of it.
            *kid = hit.jwt.header().kid().map(str::to_owned);
        }
        outcome
    }

    /// What changes for a cached token: its key set, the time and the revocation list.
    async fn recheck(&self, hit: &Verified) -> Result<Option<Jwt>, Error> {
        let entry = self.entry(hit.entry)?;
        let keys = entry.jwks.key_set().await?;
        // The key that verified the token must still be published: the same set, by
        // identity (the weak reference keeps its address from being reused).
        if hit.keys.as_ptr() != Arc::as_ptr(&keys) {
            return Ok(None);
        }
        // Same bytes, same policy: the signature, algorithm and every static claim check
        // stand; time moves on, and so does the revocation list.
        self.validation_now(entry)
            .check_claims(hit.jwt.header(), hit.jwt.claims())?;
        if let Some(revocations) = &self.revocations {
            revocations.check(hit.jwt.claims())?;
        }
        Ok(Some(hit.jwt.clone()))
    }

    fn validation_now<'e>(&self, entry: &'e Entry) -> std::borrow::Cow<'e, Validation> {
        if self.clock.is_system() {
            std::borrow::Cow::Borrowed(&entry.validation)
        } else {
            std::borrow::Cow::Owned(entry.validation.clone().at_time(self.clock.unix_secs()))
        }
    }

    fn entry_for(&self, iss: Option<&str>) -> Result<&Entry, Error> {
        self.entry(self.entry_index(iss)?)
    }

    fn entry_index(&self, iss: Option<&str>) -> Result<usize, Error> {
        iss.and_then(|i| self.by_iss.get(i).copied())
            .or(self.fallback)
            .ok_or_else(|| {
                Error::UnknownIssuer(
                    iss.map_or_else(|| "(none)".to_owned(), |i| format!("\"{}\"", shown(i))),
                )
            })
    }

    fn entry(&self, index: usize) -> Result<&Entry, Error> {
        self.entries
            .get(index)
            .ok_or_else(|| Error::Config("issuer index out of range".into()))
    }

    /// Fetches every issuer's key set now (discovery included), so that the first requests
    /// do not wait for it. Failures are returned (and retried on use), not fatal.
    pub async fn prefetch(&self) -> Result<(), Error> {
        let mut outcome = Ok(());
        for entry in &self.entries {
            if let Err(e) = entry.jwks.key_set().await {
                tracing::warn!(jwks = %entry.jwks.describe(), error = %e, "key set not available yet");
                outcome = Err(e);
            }
        }
        outcome
    }

    /// The key set of the issuer that would handle a token with this `iss`.
    pub fn jwks_for(&self, iss: Option<&str>) -> Option<&RemoteJwks> {
        self.entry_for(iss).ok().map(|e| &e.jwks)
    }

    /// The configured issuers (`None` for the one accepting any `iss`).
    pub fn issuers(&self) -> impl Iterator<Item = Option<&str>> {
        self.entries.iter().map(|e| e.iss.as_deref())
    }

    /// The revocation set checked, if any.
    pub fn revocations(&self) -> Option<&Revocations> {
        self.revocations.as_ref()
    }
}

/// Tokens verified before, by their exact text ([`VerifierBuilder::token_cache`]).
struct TokenCache {
    capacity: usize,
    /// Shared entries, so that a hit copies its token out of the lock, not under it.
    entries: RwLock<HashMap<Box<str>, Arc<Verified>, TailHash>>,
}

/// Hashes a token by its length and last [`TailHash::BYTES`] bytes (its signature's end),
/// with a random key as `HashMap`'s default does: a lookup then hashes 64 bytes, not the
/// whole token (about 700 for RS256). Equality still compares whole tokens, so two tokens
/// sharing a tail only share a bucket; signatures differ between tokens, and the key keeps
/// anyone from aiming at a bucket.
#[derive(Default)]
struct TailHash(std::collections::hash_map::RandomState);

impl TailHash {
    const BYTES: usize = 64;
}

impl std::hash::BuildHasher for TailHash {
    type Hasher = TailHasher;

    fn build_hasher(&self) -> TailHasher {
        TailHasher(self.0.build_hasher())
    }
}

struct TailHasher(std::collections::hash_map::DefaultHasher);

impl std::hash::Hasher for TailHasher {
    fn finish(&self) -> u64 {
        self.0.finish()
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.write_usize(bytes.len());
        self.0
            .write(&bytes[bytes.len().saturating_sub(TailHash::BYTES)..]);
    }
}

/// Longer tokens are neither cached nor looked up (an access token is smaller, an ML-DSA-87
/// one about 6.5 KiB; a longer one would only cost memory and hashing under the lock).
const CACHE_MAX_TOKEN: usize = 8192;

struct Verified {
    /// The issuer configuration that verified it.
    entry: usize,
    /// The key set it was verified with.
    keys: Weak<KeySet>,
    /// `exp`, for eviction (validity is checked again at every use).
    exp: i64,
    jwt: Jwt,
}

impl TokenCache {
    fn new(capacity: usize) -> TokenCache {
        TokenCache {
            capacity,
            entries: RwLock::new(HashMap::default()),
        }
    }

    /// Lookups share the lock; only inserts take it alone. The map stays consistent
    /// whatever a panicking holder was doing, so a poisoned lock is used as it is.
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Box<str>, Arc<Verified>, TailHash>> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<Box<str>, Arc<Verified>, TailHash>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, token: &str) -> Option<Arc<Verified>> {
        if token.len() > CACHE_MAX_TOKEN {
            return None;
        }
        self.read().get(token).cloned()
    }

    fn insert(&self, token: &str, entry: usize, keys: &Arc<KeySet>, jwt: &Jwt, now: i64) {
        if token.len() > CACHE_MAX_TOKEN {
            return;
        }
        let verified = Arc::new(Verified {
            entry,
            keys: Arc::downgrade(keys),
            exp: jwt.claims().exp().unwrap_or(i64::MAX),
            jwt: jwt.clone(),
        });
        let mut map = self.write();
        if map.len() >= self.capacity && !map.contains_key(token) {
            map.retain(|_, v| v.exp > now);
            if map.len() >= self.capacity {
                let drop: Vec<Box<str>> = map
                    .keys()
                    .take((self.capacity / 8).max(1))
                    .cloned()
                    .collect();
                for key in drop {
                    map.remove(&key);
                }
            }
        }
        map.insert(token.into(), verified);
    }
}

impl std::fmt::Debug for TokenCache {
    /// Never the tokens: they are bearer credentials.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.capacity)
            .field("len", &self.read().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn tokens_sharing_a_tail_stay_apart_in_the_cache_map() {
        let tail = "s".repeat(2 * TailHash::BYTES);
        let (a, b, c) = (
            format!("a.{tail}"),
            format!("b.{tail}"),
            format!("c.{tail}"),
        );
        let mut map: HashMap<Box<str>, u8, TailHash> = HashMap::default();
        map.insert(a.as_str().into(), 1);
        map.insert(b.as_str().into(), 2);
        // Same tail and length, so the same hash: told apart by comparing whole tokens.
        let hash = TailHash::default();
        assert_eq!(hash.hash_one(&a), hash.hash_one(&b));
        assert_eq!(map.get(a.as_str()), Some(&1));
        assert_eq!(map.get(b.as_str()), Some(&2));
        assert_eq!(map.get(c.as_str()), None);
        // The length is hashed too, and a short token whole.
        assert_ne!(hash.hash_one(format!("ab.{tail}")), hash.hash_one(&a));
        assert_ne!(hash.hash_one("x.y.z"), hash.hash_one("x.y.w"));
    }
}
