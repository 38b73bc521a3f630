//! JWT claims (RFC 7519) and their validation, and the verified token type.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::error::{AlgorithmError, ClaimError, Error, MalformedError, Part};
use crate::fastjson::Spans;
use crate::json::{object_without_duplicates, scan_object};
use crate::jws::{Header, UnverifiedJwt};
use crate::key::VerifyingKey;
use crate::shown::{escaped_message, shown};

/// The claims of a token, with the registered ones type-checked: a registered claim of the
/// wrong JSON type is an error at parse time, never read as absent.
#[derive(Debug, Clone)]
pub struct Claims {
    iss: Option<Text>,
    sub: Option<Text>,
    aud: Audience,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
    jti: Option<Text>,
    /// The payload, checked to be UTF-8 once, so spans of it are `str` without a new check.
    raw: String,
    members: OnceLock<Map<String, Value>>,
}

const REGISTERED: &[&str] = &["iss", "sub", "aud", "exp", "nbf", "iat", "jti"];

/// `aud`: absent, one string, or an array of strings (possibly empty).
#[derive(Debug, Clone)]
enum Audience {
    Absent,
    One(Text),
    List(Vec<Text>),
}

/// A registered string claim: a plain range of the payload, or an owned string when the
/// payload needed unescaping.
#[derive(Debug, Clone)]
enum Text {
    Span(std::ops::Range<usize>),
    Owned(String),
}

impl Text {
    fn get<'a>(&'a self, raw: &'a str) -> Option<&'a str> {
        match self {
            Text::Span(range) => raw.get(range.clone()),
            Text::Owned(s) => Some(s),
        }
    }
}

impl Claims {
    /// Parses a payload within the depth limit: the fast path for plain payloads, else the
    /// general one (which also produces the precise error).
    pub(crate) fn from_payload(raw: Vec<u8>, max_depth: usize) -> Result<Claims, Error> {
        // JSON text is UTF-8 (RFC 8259 section 8.1); serde_json only checks the strings it
        // builds, not the ones it skips, so check the whole payload here, once.
        let raw = String::from_utf8(raw).map_err(|_| MalformedError::Json {
            part: Part::Payload,
            reason: "not UTF-8".into(),
        })?;
        if let Some(fast) = crate::fastjson::scan_claims(&raw, max_depth) {
            return Ok(Claims {
                iss: fast.iss.map(Text::Span),
                sub: fast.sub.map(Text::Span),
                aud: match fast.aud {
                    None => Audience::Absent,
                    Some(Spans::One(r)) => Audience::One(Text::Span(r)),
                    Some(Spans::List(rs)) => {
                        Audience::List(rs.into_iter().map(Text::Span).collect())
                    }
                },
                exp: fast.exp,
                nbf: fast.nbf,
                iat: fast.iat,
                jti: fast.jti.map(Text::Span),
                raw,
                members: OnceLock::new(),
            });
        }
        if crate::json::deeper_than(raw.as_bytes(), max_depth) {
            return Err(MalformedError::TooDeep {
                part: Part::Payload,
                limit: max_depth,
            }
            .into());
        }
        Claims::from_text(raw)
    }

    /// Parses a payload: the registered claims are read and type-checked; the others are
    /// only syntax-checked here and parsed on first use of [`Claims::get`].
    pub(crate) fn from_text(raw: String) -> Result<Claims, Error> {
        let mut scanned = scan_object::<ClaimValue>(raw.as_bytes(), REGISTERED, false)
            .map_err(|e| e.in_part(Part::Payload))?;
        let aud = match scanned.take(2) {
            None => Audience::Absent,
            Some(ClaimValue::Str(s)) => Audience::One(Text::Owned(s)),
            Some(ClaimValue::StrList(items)) => {
                Audience::List(items.into_iter().map(Text::Owned).collect())
            }
            Some(other) => {
                return Err(wrong_type("aud", "a string or an array of strings", &other))
            }
        };
        let claims = Claims {
            iss: string_claim(scanned.take(0), "iss")?.map(Text::Owned),
            sub: string_claim(scanned.take(1), "sub")?.map(Text::Owned),
            aud,
            exp: date_claim(scanned.get(3), "exp")?,
            nbf: date_claim(scanned.get(4), "nbf")?,
            iat: date_claim(scanned.get(5), "iat")?,
            jti: string_claim(scanned.take(6), "jti")?.map(Text::Owned),
            raw,
            members: OnceLock::new(),
        };
        // Everything this path accepts must also build the claims map that `members` and
        // `get` serve: serde_json's skipping accepts some documents it cannot turn into
        // values (a number out of f64 range, a lone surrogate escape). Build it now and
        // refuse the token if that fails, rather than serve an empty map later.
        let members = object_without_duplicates(claims.raw.as_bytes())
            .map_err(|e| e.in_part(Part::Payload))?;
        let _ = claims.members.set(members);
        Ok(claims)
    }

    /// `iss`.
    pub fn iss(&self) -> Option<&str> {
        self.iss.as_ref().and_then(|t| t.get(&self.raw))
    }
    /// `sub`.
    pub fn sub(&self) -> Option<&str> {
        self.sub.as_ref().and_then(|t| t.get(&self.raw))
    }
    /// `aud`, as a list (a single string becomes one element).
    pub fn aud(&self) -> Vec<&str> {
        self.audiences().collect()
    }
    /// True if the token has an `aud` claim (even an empty array).
    pub fn has_aud(&self) -> bool {
        !matches!(self.aud, Audience::Absent)
    }
    fn audiences(&self) -> impl Iterator<Item = &str> {
        let (one, list) = match &self.aud {
            Audience::Absent => (None, &[][..]),
            Audience::One(text) => (Some(text), &[][..]),
            Audience::List(texts) => (None, texts.as_slice()),
        };
        one.into_iter().chain(list).filter_map(|t| t.get(&self.raw))
    }
    /// `exp`, seconds since the epoch.
    pub fn exp(&self) -> Option<i64> {
        self.exp
    }
    /// `nbf`, seconds since the epoch.
    pub fn nbf(&self) -> Option<i64> {
        self.nbf
    }
    /// `iat`, seconds since the epoch.
    pub fn iat(&self) -> Option<i64> {
        self.iat
    }
    /// `jti`.
    pub fn jti(&self) -> Option<&str> {
        self.jti.as_ref().and_then(|t| t.get(&self.raw))
    }
    /// Any claim, registered or not.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.members().get(name)
    }
    /// Every claim (parsed on first use; a token whose claims cannot be parsed into this
    /// map is refused at parse time, so it is never empty by mistake).
    pub fn members(&self) -> &Map<String, Value> {
        self.members
            .get_or_init(|| object_without_duplicates(self.raw.as_bytes()).unwrap_or_default())
    }
    /// The payload bytes as signed.
    pub fn raw(&self) -> &[u8] {
        self.raw.as_bytes()
    }
}

/// A registered claim as read from the payload, without building a `serde_json::Value`.
enum ClaimValue {
    Str(String),
    Int(i64),
    Float(f64),
    StrList(Vec<String>),
    /// Any other JSON value, by type name.
    Other(&'static str),
}

impl ClaimValue {
    fn type_name(&self) -> &'static str {
        match self {
            ClaimValue::Str(_) => "a string",
            ClaimValue::Int(_) | ClaimValue::Float(_) => "a number",
            ClaimValue::StrList(_) => "an array",
            ClaimValue::Other(name) => name,
        }
    }
}

impl<'de> serde::Deserialize<'de> for ClaimValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClaimValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Str(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<ClaimValue, E> {
                Ok(i64::try_from(v).map_or(ClaimValue::Float(v as f64), ClaimValue::Int))
            }
            fn visit_f64<E>(self, v: f64) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Float(v))
            }
            fn visit_bool<E>(self, _: bool) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Other("a boolean"))
            }
            fn visit_unit<E>(self) -> Result<ClaimValue, E> {
                Ok(ClaimValue::Other("null"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ClaimValue, A::Error> {
                let mut items = Vec::new();
                let mut all_strings = true;
                while let Some(item) = seq.next_element::<ClaimValue>()? {
                    match item {
                        ClaimValue::Str(s) if all_strings => items.push(s),
                        _ => all_strings = false,
                    }
                }
                Ok(if all_strings {
                    ClaimValue::StrList(items)
                } else {
                    ClaimValue::Other("an array with a non-string member")
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ClaimValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(ClaimValue::Other("an object"))
            }
        }
        d.deserialize_any(V)
    }
}

fn wrong_type(claim: &str, expected: &'static str, found: &ClaimValue) -> Error {
    ClaimError::WrongType {
        claim: claim.to_owned(),
        expected,
        found: found.type_name(),
    }
    .into()
}

fn string_claim(value: Option<ClaimValue>, name: &str) -> Result<Option<String>, Error> {
    match value {
        None => Ok(None),
        Some(ClaimValue::Str(s)) => Ok(Some(s)),
        Some(other) => Err(wrong_type(name, "a string", &other)),
    }
}

/// RFC 7519 NumericDate: a JSON number of seconds, possibly fractional (truncated here).
fn date_claim(value: Option<&ClaimValue>, name: &str) -> Result<Option<i64>, Error> {
    match value {
        None => Ok(None),
        Some(ClaimValue::Int(i)) => Ok(Some(*i)),
        Some(ClaimValue::Float(f)) if f.is_finite() && f.abs() < 1e15 => Ok(Some(f.floor() as i64)),
        Some(ClaimValue::Float(_)) => Err(ClaimError::WrongType {
            claim: name.to_owned(),
            expected: "a NumericDate in range",
            found: "a number out of range",
        }
        .into()),
        Some(other) => Err(wrong_type(name, "a number (NumericDate)", other)),
    }
}

/// What a verifier accepts. The defaults are the secure ones: `exp` required, `nbf` and
/// `iat` checked with 60 s of leeway, a token with an `aud` refused unless an audience is
/// configured.
///
/// ```
/// use tessera_jose::{Algorithm, Validation};
///
/// let validation = Validation::new()
///     .issuer("https://auth.example.com")
///     .audience("orders-api")
///     .algorithms([Algorithm::RS256])
///     .typ("at+jwt");
/// # let _ = validation;
/// ```
#[derive(Debug, Clone)]
pub struct Validation {
    algorithms: Option<Vec<Algorithm>>,
    issuers: Vec<String>,
    audiences: Vec<String>,
    any_audience: bool,
    subject: Option<String>,
    typ: Option<String>,
    required: Vec<String>,
    leeway: u64,
    require_exp: bool,
    check_time: bool,
    max_age: Option<u64>,
    now: Option<i64>,
}

impl Default for Validation {
    fn default() -> Self {
        Validation::new()
    }
}

impl Validation {
    /// The secure defaults.
    pub fn new() -> Validation {
        Validation {
            algorithms: None,
            issuers: Vec::new(),
            audiences: Vec::new(),
            any_audience: false,
            subject: None,
            typ: None,
            required: Vec::new(),
            leeway: 60,
            require_exp: true,
            check_time: true,
            max_age: None,
            now: None,
        }
    }

    /// Accepts only these algorithms (the key's own binding still applies).
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algs.into_iter().collect());
        self
    }
    /// Adds an accepted issuer; once any is set, `iss` is required and must match one.
    pub fn issuer(mut self, iss: impl Into<String>) -> Self {
        self.issuers.push(iss.into());
        self
    }
    /// Adds an accepted audience; once any is set, `aud` is required and must contain one.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audiences.push(aud.into());
        self
    }
    /// Accepts a token whatever its `aud`. RFC 7519 says a recipient not named in `aud`
    /// must reject the token, so use this only where no audience applies.
    pub fn insecure_any_audience(mut self) -> Self {
        self.any_audience = true;
        self
    }
    /// Requires this `sub`.
    pub fn subject(mut self, sub: impl Into<String>) -> Self {
        self.subject = Some(sub.into());
        self
    }
    /// Requires this header `typ` (compared as RFC 7515 says: case-insensitive, with an
    /// optional `application/` prefix).
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }
    /// Requires a claim to be present.
    pub fn require(mut self, claim: impl Into<String>) -> Self {
        self.required.push(claim.into());
        self
    }
    /// Clock-skew allowance in seconds (default 60).
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }
    /// Accepts tokens with no `exp` (a present `exp` is still checked).
    pub fn exp_optional(mut self) -> Self {
        self.require_exp = false;
        self
    }
    /// Refuses tokens whose `iat` is older than this (and requires `iat`).
    pub fn max_age(mut self, seconds: u64) -> Self {
        self.max_age = Some(seconds);
        self
    }
    /// Evaluates time claims at this instant (seconds since the epoch) instead of now.
    pub fn at_time(mut self, now: i64) -> Self {
        self.now = Some(now);
        self
    }
    /// Skips `exp`, `nbf`, `iat` and max-age checks (their types are still checked).
    /// Only for test vectors and offline inspection of old tokens.
    pub fn insecure_disable_time_checks(mut self) -> Self {
        self.check_time = false;
        self
    }

    /// Checks the algorithm allow-list.
    pub fn check_algorithm(&self, alg: Algorithm) -> Result<(), Error> {
        match &self.algorithms {
            Some(allowed) if !allowed.contains(&alg) => Err(AlgorithmError::NotAllowed(alg).into()),
            _ => Ok(()),
        }
    }

    /// Checks everything but the signature.
    pub fn check_claims(&self, header: &Header, claims: &Claims) -> Result<(), Error> {
        if let Some(expected) = &self.typ {
            let found = header.typ().unwrap_or("");
            if !same_typ(found, expected) {
                return Err(ClaimError::Type {
                    expected: expected.clone(),
                    found: header
                        .typ()
                        .map_or("absent".into(), |t| format!("`{}`", shown(t))),
                }
                .into());
            }
        }
        if self.check_time {
            self.check_time_claims(claims)?;
        }
        if !self.issuers.is_empty() {
            let iss = claims
                .iss()
                .ok_or_else(|| ClaimError::Missing("iss".into()))?;
            if !self.issuers.iter().any(|i| i == iss) {
                return Err(ClaimError::Issuer(shown(iss).to_string()).into());
            }
        }
        if !self.audiences.is_empty() {
            if !claims.has_aud() {
                return Err(ClaimError::Missing("aud".into()).into());
            }
            if !claims
                .audiences()
                .any(|a| self.audiences.iter().any(|want| want == a))
            {
                return Err(ClaimError::Audience(show_aud(claims)).into());
            }
        } else if claims.has_aud() && !self.any_audience {
            return Err(ClaimError::AudienceNotConfigured(show_aud(claims)).into());
        }
        if let Some(sub) = &self.subject {
            match claims.sub() {
                None => return Err(ClaimError::Missing("sub".into()).into()),
                Some(s) if s != sub => return Err(ClaimError::Subject(shown(s).to_string()).into()),
                Some(_) => {}
            }
        }
        for name in &self.required {
            if !claims.members().contains_key(name) {
                return Err(ClaimError::Missing(name.clone()).into());
            }
        }
        Ok(())
    }

    fn check_time_claims(&self, claims: &Claims) -> Result<(), Error> {
        let now = self.now.unwrap_or_else(unix_now);
        let leeway = self.leeway;
        let slack = i64::try_from(leeway).unwrap_or(i64::MAX);
        match claims.exp {
            Some(exp) if now >= exp.saturating_add(slack) => {
                return Err(ClaimError::Expired { exp, now, leeway }.into())
            }
            None if self.require_exp => return Err(ClaimError::Missing("exp".into()).into()),
            _ => {}
        }
        if let Some(nbf) = claims.nbf {
            if now.saturating_add(slack) < nbf {
                return Err(ClaimError::NotYetValid { nbf, now, leeway }.into());
            }
        }
        if let Some(iat) = claims.iat {
            if iat > now.saturating_add(slack) {
                return Err(ClaimError::IssuedInFuture { iat, now, leeway }.into());
            }
        }
        if let Some(max_age) = self.max_age {
            let iat = claims
                .iat
                .ok_or_else(|| ClaimError::Missing("iat".into()))?;
            let limit = i64::try_from(max_age)
                .unwrap_or(i64::MAX)
                .saturating_add(slack);
            if now.saturating_sub(iat) > limit {
                return Err(ClaimError::TooOld { iat, max_age }.into());
            }
        }
        Ok(())
    }
}

/// RFC 7515 section 4.1.9: media types compare case-insensitively, and `application/` may
/// be left out.
fn same_typ(a: &str, b: &str) -> bool {
    fn bare(t: &str) -> &str {
        match t.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &t[12..],
            _ => t,
        }
    }
    bare(a).eq_ignore_ascii_case(bare(b))
}

/// The token's audiences for a message, as `["a", "b"]`: at most five, each escaped once
/// (a debug format of the escaped text would escape the escapes again).
fn show_aud(claims: &Claims) -> String {
    use std::fmt::Write;
    let mut out = String::from("[");
    for (i, aud) in claims.audiences().take(5).enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        // Writing to a String cannot fail.
        let _ = write!(out, "{sep}\"{}\"", shown(aud));
    }
    out.push(']');
    out
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
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
#[derive(Debug, Clone)]
pub struct Jwt {
    header: Header,
    claims: Claims,
    kid: Option<std::sync::Arc<str>>,
}

impl Jwt {
    /// The (now authenticated) header.
    pub fn header(&self) -> &Header {
        &self.header
    }
    /// The validated claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }
    /// The `kid` of the key that verified the token.
    pub fn verified_by(&self) -> Option<&str> {
        self.kid.as_deref()
    }
    /// Deserialises the claims into your own type.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.claims.raw).map_err(|e| {
            MalformedError::Json {
                part: Part::Payload,
                // The caller's type may quote the claims in its errors (an unknown variant).
                reason: escaped_message(e),
            }
            .into()
        })
    }
}

impl UnverifiedJwt<'_> {
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
            claims: self.claims,
            kid,
        })
    }
}
