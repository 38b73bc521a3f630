//! DPoP proofs (RFC 9449): the one place where the auth server and every resource-server
//! form check that a request was made by the holder of a key.
//!
//! A client sends, with each request, a `DPoP` header holding a short JWS (a *proof*) signed
//! by its private key, with the public key in the proof's header. The proof names the
//! request (`htm`, `htu`), is fresh (`iat`, `jti`), and, at a resource server, names the
//! access token (`ath`). A token bound to the key carries the key's RFC 7638 thumbprint as
//! `cnf.jkt`, so a stolen token is useless without the key.
//!
//! [`ProofChecker`] holds the policy (algorithms, the `iat` window) and the bounded replay
//! cache; [`Expected`] says what this request's proof must name; [`ProofChecker::check`]
//! returns the key's thumbprint or a [`ProofError`] naming the rule that failed.
//!
//! ```
//! use tessera_contract::dpop::{normalize_htu, Expected, ProofChecker};
//! # use tessera_jose::{Algorithm, Jwk, SigningKey};
//! # let jwk = Jwk::generate(Algorithm::ES256, None)?;
//! # let key = SigningKey::from_jwk(&jwk, None)?;
//! # let now = tessera_jose::unix_now();
//! # let proof = tessera_contract::dpop::sign_proof(&key, &jwk, "POST",
//! #     "https://auth.example.com/oauth/token", now, None, None)?;
//! let checker = ProofChecker::new();
//! let htu = normalize_htu("https://auth.example.com/oauth/token").unwrap();
//! let proof = checker.check(&proof, &Expected::new("POST", &htu), now)?;
//! println!("bound to {}", proof.jkt);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::{constant_time, digest, hmac, rand};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use http::header::HeaderMap;
use serde_json::Value;
use tessera_jose::{
    shown, thumbprint, Algorithm, Jwk, Limits, SigningKey, UnverifiedJwt, Validation, VerifyingKey,
};

/// The request header that carries a proof.
pub const HEADER: &str = "dpop";
/// The response header that carries a server nonce.
pub const NONCE_HEADER: &str = "dpop-nonce";
/// The proof's media type (its header's `typ`).
pub const TYP: &str = "dpop+jwt";

/// How far ahead of the checker's clock a proof's `iat` may be, in seconds: clock skew, not
/// a second window. A proof's replay-cache entry lives until `iat` + window, so allowing
/// proofs from far in the future would let a flood of them outlive, and evict, honest ones.
pub const MAX_IAT_AHEAD: u64 = 5;

/// The longest `iat` window a checker accepts, in seconds (an hour).
pub const MAX_WINDOW: u64 = 3600;

/// Algorithms a proof may use by default: every asymmetric one Tessera verifies.
pub const DEFAULT_ALGORITHMS: &[Algorithm] = &[
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::ES512,
    Algorithm::EdDSA,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
];

/// A proof is a few hundred bytes (an RSA key makes it about a kilobyte); anything much
/// longer is refused before it is decoded.
const MAX_PROOF_LEN: usize = 8 * 1024;
/// `jti` values longer than this are refused (RFC 9449 suggests 96 bits of randomness).
const MAX_JTI_LEN: usize = 256;
/// JWK members that only a private or symmetric key has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"];

/// Why a proof was refused. Every variant names the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The request has no `DPoP` header.
    #[error("DPoP proof missing: the request has no DPoP header")]
    Missing,
    /// More than one `DPoP` header (RFC 9449 section 4.3: exactly one).
    #[error("DPoP proof refused: more than one DPoP header")]
    Repeated,
    /// The proof is not a well-formed compact JWS, or is too long.
    #[error("DPoP proof malformed: {0}")]
    Malformed(String),
    /// The header's `typ` is not `dpop+jwt`.
    #[error("DPoP proof refused: header `typ` is {0}, expected `dpop+jwt`")]
    Typ(String),
    /// The algorithm is not on the allow-list (or is symmetric).
    #[error("DPoP proof refused: algorithm {0} is not allowed")]
    Algorithm(String),
    /// The header has no `jwk`, or it is not an object.
    #[error("DPoP proof refused: header `jwk` {0}")]
    NoKey(&'static str),
    /// The `jwk` holds private or symmetric material.
    #[error("DPoP proof refused: header `jwk` holds private member `{0}`")]
    PrivateKey(&'static str),
    /// The `jwk` is not a usable public key for the proof's algorithm.
    #[error("DPoP proof refused: header `jwk` is not a usable public key: {0}")]
    BadKey(String),
    /// The signature does not verify with the `jwk`.
    #[error("DPoP proof refused: the signature does not verify with the header's `jwk`")]
    Signature,
    /// A claim is missing or of the wrong type.
    #[error("DPoP proof refused: claim `{name}` {reason}")]
    Claim {
        /// The claim.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// `htm` is not the request's method.
    #[error("DPoP proof refused: `htm` is {got}, the request's method is {expected}")]
    Htm {
        /// The proof's `htm`, escaped.
        got: String,
        /// The request's method.
        expected: String,
    },
    /// `htu` is not the request's URI.
    #[error("DPoP proof refused: `htu` is {got}, the request's URI is {expected}")]
    Htu {
        /// The proof's `htu`, escaped.
        got: String,
        /// The request's URI (normalised, without query and fragment).
        expected: String,
    },
    /// `iat` is outside the accepted window: older than the window, or further ahead than
    /// [`MAX_IAT_AHEAD`] (clock skew).
    #[error("DPoP proof refused: `iat` is {offset} s from now, outside the window ({window} s back, {ahead} s ahead)")]
    Iat {
        /// `iat` minus now, in seconds.
        offset: i64,
        /// How far back `iat` may be, in seconds.
        window: u64,
        /// How far ahead `iat` may be, in seconds.
        ahead: u64,
    },
    /// `ath` is not the hash of the access token sent with it.
    #[error("DPoP proof refused: `ath` is not the SHA-256 of the access token")]
    Ath,
    /// The server requires a nonce and the proof has none, or a stale or unknown one.
    #[error("DPoP proof refused: {0}")]
    UseNonce(&'static str),
    /// The proof's key is not the key the token (or refresh token, or code) is bound to.
    #[error("DPoP proof refused: the proof's key thumbprint does not match `cnf.jkt`")]
    Jkt,
    /// The `jti` was seen before within the window.
    #[error("DPoP proof refused: `jti` was used before (replay)")]
    Replay,
    /// The replay cache is full of fresher proofs and can no longer vouch for one this old.
    #[error("DPoP proof refused: too old for the replay cache under the current load; send a fresh proof")]
    Stale,
}

impl ProofError {
    /// The RFC 9449 error code: `use_dpop_nonce` when a (new) nonce is needed,
    /// `invalid_dpop_proof` otherwise.
    pub fn error_code(&self) -> &'static str {
        match self {
            ProofError::UseNonce(_) => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        }
    }
}

/// The single `DPoP` header of a request: `Ok(None)` when there is none, an error when
/// there are several or the value is not visible ASCII.
pub fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, ProofError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ProofError::Repeated);
    }
    let text = value
        .to_str()
        .map_err(|_| ProofError::Malformed("the DPoP header is not visible ASCII".into()))?
        .trim();
    Ok(Some(text))
}

/// What a request's proof must name.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    method: &'a str,
    htu: &'a str,
    access_token: Option<&'a str>,
    jkt: Option<&'a str>,
    nonce: Option<&'a Nonces>,
}

impl<'a> Expected<'a> {
    /// A proof for this method and URI. `htu` must already be normalised
    /// ([`normalize_htu`]), from configuration and the request's path, never from client
    /// headers such as `Host` or `X-Forwarded-*`.
    pub fn new(method: &'a str, htu: &'a str) -> Expected<'a> {
        Expected {
            method,
            htu,
            access_token: None,
            jkt: None,
            nonce: None,
        }
    }

    /// The proof accompanies this access token: `ath` must be its hash.
    pub fn access_token(mut self, token: &'a str) -> Self {
        self.access_token = Some(token);
        self
    }

    /// The proof's key must have this RFC 7638 thumbprint (the token's `cnf.jkt`, or the key
    /// a refresh token or code is bound to).
    pub fn jkt(mut self, jkt: &'a str) -> Self {
        self.jkt = Some(jkt);
        self
    }

    /// The proof must carry a current nonce from this source.
    pub fn nonce(mut self, nonces: &'a Nonces) -> Self {
        self.nonce = Some(nonces);
        self
    }
}

/// A proof that passed every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// The RFC 7638 thumbprint of the proof's key: what a token is bound to (`cnf.jkt`).
    pub jkt: String,
    /// The algorithm the proof was signed with.
    pub alg: Algorithm,
}

/// Checks proofs: the algorithm allow-list, the `iat` window and a bounded replay cache.
///
/// Cloning shares the replay cache, so every worker of a process sees every `jti`.
#[derive(Debug, Clone)]
pub struct ProofChecker {
    algorithms: Arc<[Algorithm]>,
    algs_text: Arc<str>,
    window: u64,
    replay: Arc<ReplayCache>,
}

impl Default for ProofChecker {
    fn default() -> Self {
        ProofChecker::new()
    }
}

impl ProofChecker {
    /// The defaults: [`DEFAULT_ALGORITHMS`], a window of 60 s back (and [`MAX_IAT_AHEAD`]
    /// ahead), and a replay
    /// cache of 100 000 entries (a few MiB).
    pub fn new() -> ProofChecker {
        ProofChecker::with(DEFAULT_ALGORITHMS.to_vec(), 60, 100_000)
    }

    fn with(algorithms: Vec<Algorithm>, window: u64, capacity: usize) -> ProofChecker {
        let algs_text = algorithms
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        ProofChecker {
            algorithms: algorithms.into(),
            algs_text: algs_text.into(),
            window,
            replay: Arc::new(ReplayCache::new(capacity)),
        }
    }

    /// Accepts only these algorithms. Symmetric ones are dropped (a proof's key is public);
    /// an empty list falls back to the defaults.
    pub fn algorithms(self, algs: impl IntoIterator<Item = Algorithm>) -> ProofChecker {
        let mut list: Vec<Algorithm> = algs.into_iter().filter(|a| !a.is_symmetric()).collect();
        list.dedup();
        if list.is_empty() {
            list = DEFAULT_ALGORITHMS.to_vec();
        }
        ProofChecker::with(list, self.window, self.replay.capacity)
    }

    /// How old a proof's `iat` may be, in seconds, clamped to 1..=[`MAX_WINDOW`]. It may be
    /// ahead of now by at most [`MAX_IAT_AHEAD`] (or the window, if smaller).
    pub fn window(self, seconds: u64) -> ProofChecker {
        ProofChecker::with(
            self.algorithms.to_vec(),
            seconds.clamp(1, MAX_WINDOW),
            self.replay.capacity,
        )
    }

    /// How far ahead of now a proof's `iat` may be, in seconds.
    fn ahead(&self) -> u64 {
        MAX_IAT_AHEAD.min(self.window)
    }

    /// How many `jti` values the replay cache holds (at least 16). When it is full, the
    /// entry closest to leaving the window goes, and proofs as old as it are refused from
    /// then on ([`ProofError::Stale`]): memory stays bounded and no replay gets through.
    pub fn replay_capacity(self, entries: usize) -> ProofChecker {
        ProofChecker::with(self.algorithms.to_vec(), self.window, entries.max(16))
    }

    /// The accepted algorithms, space-separated: the `algs` of a `DPoP` challenge and of
    /// `dpop_signing_alg_values_supported`.
    pub fn algs(&self) -> &str {
        &self.algs_text
    }

    /// The accepted algorithms.
    pub fn algorithm_list(&self) -> &[Algorithm] {
        &self.algorithms
    }

    /// Checks a proof against the request at `now` (seconds since the epoch). The `jti` is
    /// recorded only when every other rule has passed.
    pub fn check(
        &self,
        proof: &str,
        expected: &Expected<'_>,
        now: i64,
    ) -> Result<Proof, ProofError> {
        let limits = Limits {
            max_token_len: MAX_PROOF_LEN,
            ..Limits::default()
        };
        let unverified = UnverifiedJwt::parse_with_limits(proof, &limits)
            .map_err(|e| ProofError::Malformed(e.to_string()))?;
        let header = unverified.header().clone();
        match header.typ() {
            Some(t) if t.eq_ignore_ascii_case(TYP) => {}
            Some(t) => return Err(ProofError::Typ(format!("`{}`", shown(t)))),
            None => return Err(ProofError::Typ("missing".into())),
        }
        let alg = header.alg();
        if !self.algorithms.contains(&alg) {
            return Err(ProofError::Algorithm(alg.as_str().to_owned()));
        }
        let jwk = proof_key(header.members().get("jwk"))?;
        let key = VerifyingKey::from_jwk(&jwk).map_err(|e| ProofError::BadKey(e.to_string()))?;
        if !key.supports(alg) {
            return Err(ProofError::BadKey(format!(
                "a {} key cannot verify {}",
                jwk.kty(),
                alg.as_str()
            )));
        }
        // The key comes from the proof itself: that is the point of a proof of possession.
        // It is trusted only to check this signature, and the result is its thumbprint.
        let validation = Validation::new()
            .algorithms([alg])
            .exp_optional()
            .insecure_any_audience()
            .insecure_disable_time_checks();
        let jwt = unverified
            .verify(&KeyOnly(&key), &validation)
            .map_err(|e| match e {
                tessera_jose::Error::InvalidSignature => ProofError::Signature,
                other => ProofError::Malformed(other.to_string()),
            })?;
        let claims = jwt.claims();

        let jti = string_claim(claims, "jti")?;
        if jti.is_empty() || jti.len() > MAX_JTI_LEN {
            return Err(ProofError::Claim {
                name: "jti",
                reason: "must be 1 to 256 characters",
            });
        }
        let htm = string_claim(claims, "htm")?;
        if htm != expected.method {
            return Err(ProofError::Htm {
                got: format!("`{}`", shown(htm)),
                expected: expected.method.to_owned(),
            });
        }
        let htu = string_claim(claims, "htu")?;
        if normalize_htu(htu).as_deref() != Ok(expected.htu) {
            return Err(ProofError::Htu {
                got: format!("`{}`", shown(htu)),
                expected: expected.htu.to_owned(),
            });
        }
        let iat = match claims.get("iat") {
            Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Some(_) => {
                return Err(ProofError::Claim {
                    name: "iat",
                    reason: "is not a number",
                })
            }
            None => None,
        }
        .ok_or(ProofError::Claim {
            name: "iat",
            reason: "is missing",
        })?;
        let offset = iat.saturating_sub(now);
        // Both bounds are at most an hour, so the casts are exact.
        if offset < -(self.window as i64) || offset > self.ahead() as i64 {
            return Err(ProofError::Iat {
                offset,
                window: self.window,
                ahead: self.ahead(),
            });
        }
        match (expected.access_token, claims.get("ath")) {
            (Some(token), Some(Value::String(ath))) => {
                let want = URL_SAFE_NO_PAD
                    .encode(digest::digest(&digest::SHA256, token.as_bytes()).as_ref());
                if constant_time::verify_slices_are_equal(want.as_bytes(), ath.as_bytes()).is_err()
                {
                    return Err(ProofError::Ath);
                }
            }
            (Some(_), Some(_)) => {
                return Err(ProofError::Claim {
                    name: "ath",
                    reason: "is not a string",
                })
            }
            (Some(_), None) => {
                return Err(ProofError::Claim {
                    name: "ath",
                    reason: "is missing (a proof sent with an access token must hash it)",
                })
            }
            (None, _) => {}
        }
        if let Some(nonces) = expected.nonce {
            match claims.get("nonce") {
                None => return Err(ProofError::UseNonce("a server nonce is required")),
                Some(Value::String(nonce)) if nonces.is_current(nonce, now) => {}
                Some(Value::String(_)) => {
                    return Err(ProofError::UseNonce("the nonce is stale or unknown"))
                }
                Some(_) => {
                    return Err(ProofError::Claim {
                        name: "nonce",
                        reason: "is not a string",
                    })
                }
            }
        }
        let jkt = thumbprint(&jwk);
        if let Some(want) = expected.jkt {
            if constant_time::verify_slices_are_equal(want.as_bytes(), jkt.as_bytes()).is_err() {
                return Err(ProofError::Jkt);
            }
        }
        // Kept until the proof leaves the window: `iat` + window.
        self.replay
            .insert(jti, iat.saturating_add(self.window as i64), now)?;
        Ok(Proof { jkt, alg })
    }
}

/// Resolves every token to the one key (whatever its `kid` says).
struct KeyOnly<'a>(&'a VerifyingKey);

impl tessera_jose::KeyResolver for KeyOnly<'_> {
    fn keys_for(
        &self,
        _header: &tessera_jose::Header,
    ) -> Result<tessera_jose::Candidates<'_>, tessera_jose::Error> {
        Ok(tessera_jose::Candidates::from(self.0))
    }
}

fn proof_key(value: Option<&Value>) -> Result<Jwk, ProofError> {
    let object = match value {
        Some(Value::Object(object)) => object,
        Some(_) => return Err(ProofError::NoKey("is not a JSON object")),
        None => return Err(ProofError::NoKey("is missing")),
    };
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| object.contains_key(**m)) {
        return Err(ProofError::PrivateKey(member));
    }
    let jwk = Jwk::from_json(&Value::Object(object.clone()).to_string())
        .map_err(|e| ProofError::BadKey(e.to_string()))?;
    if jwk.is_private() {
        return Err(ProofError::PrivateKey("d"));
    }
    Ok(jwk)
}

fn string_claim<'c>(
    claims: &'c tessera_jose::Claims,
    name: &'static str,
) -> Result<&'c str, ProofError> {
    match claims.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ProofError::Claim {
            name,
            reason: "is not a string",
        }),
        None => Err(ProofError::Claim {
            name,
            reason: "is missing",
        }),
    }
}

/// Why a URL cannot be an `htu`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an http(s) URL: {0}")]
pub struct HtuError(String);

/// An `htu` in the form proofs are compared in: RFC 3986 syntax- and scheme-based
/// normalisation (scheme and host in lowercase, the default port dropped, dot segments
/// removed, an empty path as `/`, percent-encodings in uppercase and unreserved characters
/// decoded), without query and fragment. Only `http` and `https` without user info.
///
/// ```
/// use tessera_contract::dpop::normalize_htu;
/// assert_eq!(
///     normalize_htu("HTTPS://API.Example.com:443/a/./b/%7euser?x=1#f").unwrap(),
///     "https://api.example.com/a/b/~user"
/// );
/// ```
pub fn normalize_htu(text: &str) -> Result<String, HtuError> {
    let bad = || HtuError(shown(text).to_string());
    let mut url = url::Url::parse(text).map_err(|_| bad())?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
        || url.host().is_none()
    {
        return Err(bad());
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = normalize_percent(url.path());
    url.set_path(&path);
    Ok(url.into())
}

/// The `htu` a request to `path` must name, for a service whose external URL is `base`
/// (its scheme, host, port and any path prefix, from configuration).
pub fn request_htu(base: &str, path: &str) -> Result<String, HtuError> {
    let base = base.trim_end_matches('/');
    let path = if path.starts_with('/') { path } else { "/" };
    normalize_htu(&format!("{base}{path}"))
}

/// Uppercases the hex of every percent-encoding and decodes those of unreserved characters.
fn normalize_percent(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let (h, l) = (bytes[i + 1], bytes[i + 2]);
            if let (Some(h), Some(l)) = ((h as char).to_digit(16), (l as char).to_digit(16)) {
                let byte = (h * 16 + l) as u8;
                if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                    out.push(byte as char);
                } else {
                    out.push('%');
                    out.push_str(&format!("{byte:02X}"));
                }
                i += 3;
                continue;
            }
        }
        out.push(bytes[i] as char);
        i += 1;
    }
    out
}

/// The replay cache: `jti` hashes with the time their proof leaves the window.
#[derive(Debug)]
struct ReplayCache {
    capacity: usize,
    state: Mutex<ReplayState>,
}

#[derive(Debug, Default)]
struct ReplayState {
    seen: HashSet<[u8; 16]>,
    by_expiry: BinaryHeap<Reverse<(i64, [u8; 16])>>,
    /// Proofs leaving the window at or before this instant are refused: entries that old
    /// were evicted to keep the cache bounded.
    floor: i64,
}

impl ReplayCache {
    fn new(capacity: usize) -> ReplayCache {
        ReplayCache {
            capacity,
            state: Mutex::new(ReplayState {
                floor: i64::MIN,
                ..ReplayState::default()
            }),
        }
    }

    fn insert(&self, jti: &str, expires: i64, now: i64) -> Result<(), ProofError> {
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest::digest(&digest::SHA256, jti.as_bytes()).as_ref()[..16]);
        // The state is consistent after any panic of a holder: use it as it is.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(Reverse((at, old))) = state.by_expiry.peek().copied() {
            // A proof is acceptable up to and including `iat + window`: keep its entry
            // until that instant has passed.
            if at >= now {
                break;
            }
            state.by_expiry.pop();
            state.seen.remove(&old);
        }
        if state.seen.contains(&id) {
            return Err(ProofError::Replay);
        }
        if expires <= state.floor {
            return Err(ProofError::Stale);
        }
        while state.seen.len() >= self.capacity {
            let Some(Reverse((at, old))) = state.by_expiry.pop() else {
                break;
            };
            state.seen.remove(&old);
            state.floor = state.floor.max(at);
        }
        if expires <= state.floor {
            return Err(ProofError::Stale);
        }
        state.seen.insert(id);
        state.by_expiry.push(Reverse((expires, id)));
        Ok(())
    }
}

/// Server nonces (RFC 9449 section 8) without server state: a nonce is a time slot and its
/// HMAC, current for two slots. Replicas that share the key accept each other's nonces.
#[derive(Debug)]
pub struct Nonces {
    key: hmac::Key,
    slot: u64,
}

impl Nonces {
    /// Nonces keyed by `secret` (at least 32 bytes, e.g. derived from the master key), each
    /// current for between `lifetime` and twice `lifetime` seconds.
    pub fn new(secret: &[u8], lifetime: u64) -> Nonces {
        Nonces {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            slot: lifetime.max(1),
        }
    }

    /// Nonces under a fresh random key (one process only).
    pub fn random(lifetime: u64) -> Result<Nonces, ProofError> {
        let mut secret = [0u8; 32];
        rand::fill(&mut secret).map_err(|_| ProofError::Malformed("no randomness".into()))?;
        Ok(Nonces::new(&secret, lifetime))
    }

    /// The nonce to hand out now.
    pub fn issue(&self, now: i64) -> String {
        self.for_slot(now.max(0) as u64 / self.slot)
    }

    fn for_slot(&self, slot: u64) -> String {
        let mut bytes = slot.to_be_bytes().to_vec();
        bytes.extend_from_slice(&hmac::sign(&self.key, &slot.to_be_bytes()).as_ref()[..16]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// True for a nonce of the current or the previous slot.
    pub fn is_current(&self, nonce: &str, now: i64) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        if bytes.len() != 24 {
            return false;
        }
        let mut slot = [0u8; 8];
        slot.copy_from_slice(&bytes[..8]);
        let slot = u64::from_be_bytes(slot);
        let current = now.max(0) as u64 / self.slot;
        if slot != current && slot.checked_add(1) != Some(current) {
            return false;
        }
        let tag = hmac::sign(&self.key, &slot.to_be_bytes());
        constant_time::verify_slices_are_equal(&tag.as_ref()[..16], &bytes[8..]).is_ok()
    }
}

/// Signs a proof: what a DPoP client does, here for tests, the CLI and examples. `jwk` is
/// the private key `key` was made from; only its public form goes into the header.
pub fn sign_proof(
    key: &SigningKey,
    jwk: &Jwk,
    method: &str,
    htu: &str,
    iat: i64,
    access_token: Option<&str>,
    nonce: Option<&str>,
) -> Result<String, tessera_jose::Error> {
    let mut jti = [0u8; 16];
    rand::fill(&mut jti).map_err(|_| tessera_jose::Error::Crypto("no randomness"))?;
    let mut claims = serde_json::json!({
        "jti": URL_SAFE_NO_PAD.encode(jti),
        "htm": method,
        "htu": htu,
        "iat": iat,
    });
    if let Some(token) = access_token {
        claims["ath"] = URL_SAFE_NO_PAD
            .encode(digest::digest(&digest::SHA256, token.as_bytes()).as_ref())
            .into();
    }
    if let Some(nonce) = nonce {
        claims["nonce"] = nonce.into();
    }
    let public: Value = serde_json::from_str(&jwk.to_public().to_json())
        .map_err(|_| tessera_jose::Error::Crypto("JWK serialisation"))?;
    let header = serde_json::json!({"typ": TYP, "alg": key.algorithm().as_str(), "jwk": public});
    key.sign_compact(header.to_string().as_bytes(), claims.to_string().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const HTU: &str = "https://api.example.com/orders";
    const NOW: i64 = 1_800_000_000;

    struct Client {
        jwk: Jwk,
        key: SigningKey,
    }

    impl Client {
        fn new(alg: Algorithm) -> Client {
            let jwk = Jwk::generate(alg, None).unwrap();
            let key = SigningKey::from_jwk(&jwk, None).unwrap();
            Client { jwk, key }
        }

        fn public(&self) -> Value {
            serde_json::from_str(&self.jwk.to_public().to_json()).unwrap()
        }

        /// A proof with this header and these claims, whatever they say.
        fn raw(&self, header: Value, claims: Value) -> String {
            self.key
                .sign_compact(header.to_string().as_bytes(), claims.to_string().as_bytes())
                .unwrap()
        }

        fn header(&self) -> Value {
            json!({"typ": "dpop+jwt", "alg": self.key.algorithm().as_str(), "jwk": self.public()})
        }

        fn claims(&self, jti: &str) -> Value {
            json!({"jti": jti, "htm": "GET", "htu": HTU, "iat": NOW})
        }

        /// A valid proof, then `edit` applied to its header and claims.
        fn proof(&self, edit: impl FnOnce(&mut Value, &mut Value)) -> String {
            let (mut h, mut c) = (self.header(), self.claims(&fresh_jti()));
            edit(&mut h, &mut c);
            self.raw(h, c)
        }
    }

    fn fresh_jti() -> String {
        let mut b = [0u8; 12];
        rand::fill(&mut b).unwrap();
        URL_SAFE_NO_PAD.encode(b)
    }

    fn htu() -> String {
        normalize_htu(HTU).unwrap()
    }

    fn check(checker: &ProofChecker, proof: &str) -> Result<Proof, ProofError> {
        let htu = htu();
        checker.check(proof, &Expected::new("GET", &htu), NOW)
    }

    #[test]
    fn a_valid_proof_names_its_key() {
        for alg in [
            Algorithm::ES256,
            Algorithm::EdDSA,
            Algorithm::PS256,
            Algorithm::ES384,
        ] {
            let client = Client::new(alg);
            let proof = check(&ProofChecker::new(), &client.proof(|_, _| {})).unwrap();
            assert_eq!(proof.jkt, thumbprint(&client.jwk), "{alg:?}");
            assert_eq!(proof.alg, alg);
        }
    }

    type IsExpected = fn(&ProofError) -> bool;

    #[test]
    fn each_rule_broken_alone_is_named() {
        let c = Client::new(Algorithm::ES256);
        let checker = ProofChecker::new();
        let other = Client::new(Algorithm::ES256);
        let cases: Vec<(&str, String, IsExpected)> = vec![
            (
                "typ",
                c.proof(|h, _| h["typ"] = "JWT".into()),
                |e| matches!(e, ProofError::Typ(t) if t.contains("JWT")),
            ),
            (
                "typ missing",
                c.proof(|h, _| {
                    h.as_object_mut().unwrap().remove("typ");
                }),
                |e| matches!(e, ProofError::Typ(t) if t == "missing"),
            ),
            (
                "jwk missing",
                c.proof(|h, _| {
                    h.as_object_mut().unwrap().remove("jwk");
                }),
                |e| *e == ProofError::NoKey("is missing"),
            ),
            (
                "jwk not object",
                c.proof(|h, _| h["jwk"] = "key".into()),
                |e| *e == ProofError::NoKey("is not a JSON object"),
            ),
            (
                "private jwk",
                {
                    let private: Value = serde_json::from_str(&c.jwk.to_json()).unwrap();
                    c.proof(|h, _| h["jwk"] = private)
                },
                |e| *e == ProofError::PrivateKey("d"),
            ),
            (
                "signature by another key",
                c.proof(|h, _| h["jwk"] = other.public()),
                |e| *e == ProofError::Signature,
            ),
            (
                "jti missing",
                c.proof(|_, cl| {
                    cl.as_object_mut().unwrap().remove("jti");
                }),
                |e| matches!(e, ProofError::Claim { name: "jti", .. }),
            ),
            // The JOSE core checks registered claims' types while parsing.
            (
                "jti type",
                c.proof(|_, cl| cl["jti"] = 7.into()),
                |e| matches!(e, ProofError::Malformed(m) if m.contains("claim `jti` is a number")),
            ),
            ("htm", c.proof(|_, cl| cl["htm"] = "POST".into()), |e| {
                matches!(e, ProofError::Htm { .. })
            }),
            ("htm case", c.proof(|_, cl| cl["htm"] = "get".into()), |e| {
                matches!(e, ProofError::Htm { .. })
            }),
            (
                "htu host",
                c.proof(|_, cl| cl["htu"] = "https://evil.example.com/orders".into()),
                |e| matches!(e, ProofError::Htu { .. }),
            ),
            (
                "htu path",
                c.proof(|_, cl| cl["htu"] = "https://api.example.com/orders/1".into()),
                |e| matches!(e, ProofError::Htu { .. }),
            ),
            (
                "htu scheme",
                c.proof(|_, cl| cl["htu"] = "http://api.example.com/orders".into()),
                |e| matches!(e, ProofError::Htu { .. }),
            ),
            (
                "htu missing",
                c.proof(|_, cl| {
                    cl.as_object_mut().unwrap().remove("htu");
                }),
                |e| matches!(e, ProofError::Claim { name: "htu", .. }),
            ),
            (
                "iat old",
                c.proof(|_, cl| cl["iat"] = (NOW - 61).into()),
                |e| {
                    *e == ProofError::Iat {
                        offset: -61,
                        window: 60,
                        ahead: MAX_IAT_AHEAD,
                    }
                },
            ),
            (
                "iat ahead",
                c.proof(|_, cl| cl["iat"] = (NOW + MAX_IAT_AHEAD as i64 + 1).into()),
                |e| {
                    *e == ProofError::Iat {
                        offset: MAX_IAT_AHEAD as i64 + 1,
                        window: 60,
                        ahead: MAX_IAT_AHEAD,
                    }
                },
            ),
            (
                "iat missing",
                c.proof(|_, cl| {
                    cl.as_object_mut().unwrap().remove("iat");
                }),
                |e| {
                    matches!(
                        e,
                        ProofError::Claim {
                            name: "iat",
                            reason: "is missing"
                        }
                    )
                },
            ),
            (
                "iat string",
                c.proof(|_, cl| cl["iat"] = "now".into()),
                |e| {
                    matches!(e, ProofError::Claim { name: "iat", .. })
                        || matches!(e, ProofError::Malformed(m) if m.contains("iat"))
                },
            ),
        ];
        for (name, proof, expected) in cases {
            let err = check(&checker, &proof).unwrap_err();
            assert!(expected(&err), "{name}: {err}");
        }
    }

    #[test]
    fn algorithms_outside_the_list_and_symmetric_ones_are_refused() {
        let c = Client::new(Algorithm::RS256);
        let only_ec = ProofChecker::new().algorithms([Algorithm::ES256, Algorithm::HS256]);
        assert_eq!(only_ec.algs(), "ES256");
        let err = check(&only_ec, &c.proof(|_, _| {})).unwrap_err();
        assert_eq!(err, ProofError::Algorithm("RS256".into()));
        // An HMAC proof: refused by name, before any key is looked at.
        let hs = Client::new(Algorithm::HS256);
        let proof = hs.raw(
            json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": "AAAA"}}),
            hs.claims("h"),
        );
        assert_eq!(
            check(&ProofChecker::new(), &proof).unwrap_err(),
            ProofError::Algorithm("HS256".into())
        );
        // An EC key claiming RS256: the key cannot verify that algorithm.
        let ec = Client::new(Algorithm::ES256);
        let proof = c.raw(
            json!({"typ": "dpop+jwt", "alg": "RS256", "jwk": ec.public()}),
            c.claims("k"),
        );
        assert!(matches!(
            check(&ProofChecker::new(), &proof).unwrap_err(),
            ProofError::BadKey(_)
        ));
    }

    #[test]
    fn ath_binds_the_access_token() {
        let c = Client::new(Algorithm::EdDSA);
        let checker = ProofChecker::new();
        let htu = htu();
        let expect = Expected::new("GET", &htu).access_token("the.access.token");
        let good = sign_proof(
            &c.key,
            &c.jwk,
            "GET",
            HTU,
            NOW,
            Some("the.access.token"),
            None,
        )
        .unwrap();
        checker.check(&good, &expect, NOW).unwrap();
        let other = sign_proof(
            &c.key,
            &c.jwk,
            "GET",
            HTU,
            NOW,
            Some("another.token.x"),
            None,
        )
        .unwrap();
        assert_eq!(
            checker.check(&other, &expect, NOW).unwrap_err(),
            ProofError::Ath
        );
        let none = sign_proof(&c.key, &c.jwk, "GET", HTU, NOW, None, None).unwrap();
        assert!(matches!(
            checker.check(&none, &expect, NOW).unwrap_err(),
            ProofError::Claim { name: "ath", .. }
        ));
    }

    #[test]
    fn jkt_must_be_the_proof_key() {
        let c = Client::new(Algorithm::ES256);
        let other = Client::new(Algorithm::ES256);
        let checker = ProofChecker::new();
        let htu = htu();
        let bound_to_other = thumbprint(&other.jwk);
        let err = checker
            .check(
                &c.proof(|_, _| {}),
                &Expected::new("GET", &htu).jkt(&bound_to_other),
                NOW,
            )
            .unwrap_err();
        assert_eq!(err, ProofError::Jkt);
        let mine = thumbprint(&c.jwk);
        checker
            .check(
                &c.proof(|_, _| {}),
                &Expected::new("GET", &htu).jkt(&mine),
                NOW,
            )
            .unwrap();
    }

    #[test]
    fn a_proof_is_accepted_once() {
        let c = Client::new(Algorithm::ES256);
        let checker = ProofChecker::new();
        let proof = c.proof(|_, _| {});
        check(&checker, &proof).unwrap();
        assert_eq!(check(&checker, &proof).unwrap_err(), ProofError::Replay);
        // A clone shares the cache (the gateway's workers).
        assert_eq!(
            check(&checker.clone(), &proof).unwrap_err(),
            ProofError::Replay
        );
        // Another proof with the same jti from the same client: a replay too.
        let jti = c.claims("same")["jti"].clone();
        let a = c.proof(|_, cl| cl["jti"] = jti.clone());
        let b = c.proof(|_, cl| {
            cl["jti"] = jti.clone();
            cl["iat"] = (NOW - 1).into();
        });
        check(&checker, &a).unwrap();
        assert_eq!(check(&checker, &b).unwrap_err(), ProofError::Replay);
    }

    #[test]
    fn a_full_replay_cache_stays_bounded_and_refuses_what_it_forgot() {
        let c = Client::new(Algorithm::EdDSA);
        let checker = ProofChecker::new().replay_capacity(16);
        let htu = htu();
        let old = c.proof(|_, cl| cl["iat"] = (NOW - 30).into());
        checker
            .check(&old, &Expected::new("GET", &htu), NOW)
            .unwrap();
        for _ in 0..16 {
            checker
                .check(&c.proof(|_, _| {}), &Expected::new("GET", &htu), NOW)
                .unwrap();
        }
        assert!(checker.replay.state.lock().unwrap().seen.len() <= 16);
        // The oldest entry was evicted: its replay is refused as stale, not accepted.
        assert_eq!(
            checker
                .check(&old, &Expected::new("GET", &htu), NOW)
                .unwrap_err(),
            ProofError::Stale
        );
        // An entry is dropped once its proof has left the window; then it is just too old.
        let later = NOW + 200;
        assert!(matches!(
            checker
                .check(&old, &Expected::new("GET", &htu), later)
                .unwrap_err(),
            ProofError::Iat { .. }
        ));
    }

    #[test]
    fn proofs_dated_ahead_cannot_outlive_honest_ones_made_seconds_later() {
        let attacker = Client::new(Algorithm::EdDSA);
        let honest = Client::new(Algorithm::ES256);
        let checker = ProofChecker::new().replay_capacity(16);
        let htu = htu();
        // Ten seconds before the honest request, an attacker fills the cache with proofs
        // dated as far ahead as it may: iat = then + MAX_IAT_AHEAD.
        let then = NOW - 10;
        let ahead = then + MAX_IAT_AHEAD as i64;
        for _ in 0..16 {
            checker
                .check(
                    &attacker.proof(|_, cl| cl["iat"] = ahead.into()),
                    &Expected::new("GET", &htu),
                    then,
                )
                .unwrap();
        }
        // Further ahead is refused outright, so no entry lives longer than that.
        assert!(matches!(
            checker
                .check(
                    &attacker.proof(|_, cl| cl["iat"] = (then + 60).into()),
                    &Expected::new("GET", &htu),
                    then,
                )
                .unwrap_err(),
            ProofError::Iat { offset: 60, .. }
        ));
        // An honest proof made now outlives every attacker entry: one is evicted for it.
        checker
            .check(&honest.proof(|_, _| {}), &Expected::new("GET", &htu), NOW)
            .unwrap();
        assert_eq!(checker.replay.state.lock().unwrap().seen.len(), 16);
    }

    #[test]
    fn the_window_is_clamped() {
        assert_eq!(ProofChecker::new().window(0).window, 1);
        assert_eq!(ProofChecker::new().window(u64::MAX).window, MAX_WINDOW);
        // A window shorter than the skew allowance bounds the future too.
        let checker = ProofChecker::new().window(2);
        let c = Client::new(Algorithm::ES256);
        assert!(matches!(
            check(&checker, &c.proof(|_, cl| cl["iat"] = (NOW + 3).into())).unwrap_err(),
            ProofError::Iat { ahead: 2, .. }
        ));
    }

    #[test]
    fn nonces_when_the_server_demands_them() {
        let c = Client::new(Algorithm::ES256);
        let checker = ProofChecker::new();
        let nonces = Nonces::new(&[7u8; 32], 300);
        let htu = htu();
        let expect = Expected::new("GET", &htu).nonce(&nonces);
        let without = c.proof(|_, _| {});
        let err = checker.check(&without, &expect, NOW).unwrap_err();
        assert_eq!(err.error_code(), "use_dpop_nonce");
        let current = nonces.issue(NOW);
        checker
            .check(
                &c.proof(|_, cl| cl["nonce"] = current.clone().into()),
                &expect,
                NOW,
            )
            .unwrap();
        // Still current one slot later, not two.
        assert!(nonces.is_current(&current, NOW + 300));
        assert!(!nonces.is_current(&current, NOW + 600));
        let stale = nonces.issue(NOW - 600);
        let err = checker
            .check(&c.proof(|_, cl| cl["nonce"] = stale.into()), &expect, NOW)
            .unwrap_err();
        assert_eq!(err, ProofError::UseNonce("the nonce is stale or unknown"));
        // A nonce from another server's key.
        let foreign = Nonces::new(&[8u8; 32], 300).issue(NOW);
        assert!(!nonces.is_current(&foreign, NOW));
    }

    #[test]
    fn proofs_are_limited_in_size_before_decoding() {
        let c = Client::new(Algorithm::ES256);
        let big = c.proof(|_, cl| cl["pad"] = "x".repeat(9000).into());
        assert!(
            matches!(check(&ProofChecker::new(), &big).unwrap_err(), ProofError::Malformed(m) if m.contains("too large") || m.contains("exceeds") || m.contains("bytes"))
        );
    }

    #[test]
    fn htu_normalisation() {
        let n = |s: &str| normalize_htu(s);
        assert_eq!(
            n("https://API.example.COM:443/a?q=1#x").unwrap(),
            "https://api.example.com/a"
        );
        assert_eq!(n("HTTP://h:80").unwrap(), "http://h/");
        assert_eq!(
            n("http://h:8080/a/../b/%7e%2f").unwrap(),
            "http://h:8080/b/~%2F"
        );
        assert_ne!(n("https://h:8443/a").unwrap(), n("https://h/a").unwrap());
        for bad in ["ftp://h/a", "https://user:pw@h/a", "/relative", "not a url"] {
            assert!(n(bad).is_err(), "{bad}");
        }
        assert_eq!(
            request_htu("https://api.example/base/", "/orders").unwrap(),
            "https://api.example/base/orders"
        );
    }

    #[test]
    fn one_dpop_header() {
        let mut h = HeaderMap::new();
        assert_eq!(proof_header(&h), Ok(None));
        h.append(HEADER, http::HeaderValue::from_static("a.b.c"));
        assert_eq!(proof_header(&h), Ok(Some("a.b.c")));
        h.append(HEADER, http::HeaderValue::from_static("d.e.f"));
        assert_eq!(proof_header(&h), Err(ProofError::Repeated));
    }
}
