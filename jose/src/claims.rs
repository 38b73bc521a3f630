//! The claims of a token (RFC 7519 section 4), read from its payload: the registered
//! claims type-checked at parse time, the others kept for reading on demand.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::error::{ClaimError, Error, MalformedError, Part};
use crate::fast::{self, FastClaims, Spans};
use crate::json::{self, object_without_duplicates, scan_object};

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
    /// Whether the payload took the fast path (see [`fast::scan_claims`]): then a single
    /// claim can be read without building the claims map ([`Claims::get_str`]), from
    /// where the registered claims and `others` say it is.
    plain: bool,
    others: fast::Others,
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
    /// general path (which also finds the precise error).
    pub(crate) fn from_payload(raw: Vec<u8>, max_depth: usize) -> Result<Claims, Error> {
        // JSON text is UTF-8 (RFC 8259 section 8.1); serde_json only checks the strings it
        // builds, not the ones it skips, so check the whole payload here, once.
        let raw = String::from_utf8(raw).map_err(|_| MalformedError::Json {
            part: Part::Payload,
            reason: "not UTF-8".into(),
        })?;
        // The shortcut gives the general path's answer or declines (see `fast`).
        if let Some(fast) = fast::scan_claims(&raw, max_depth) {
            return Ok(Claims::from_fast(fast, raw));
        }
        if json::deeper_than(raw.as_bytes(), max_depth) {
            return Err(MalformedError::TooDeep {
                part: Part::Payload,
                limit: max_depth,
            }
            .into());
        }
        Claims::from_text(raw)
    }

    /// The claims [`fast::scan_claims`] found in `raw`.
    fn from_fast(fast: FastClaims, raw: String) -> Claims {
        Claims {
            iss: fast.iss.map(Text::Span),
            sub: fast.sub.map(Text::Span),
            aud: match fast.aud {
                None => Audience::Absent,
                Some(Spans::One(r)) => Audience::One(Text::Span(r)),
                Some(Spans::List(rs)) => Audience::List(rs.into_iter().map(Text::Span).collect()),
            },
            exp: fast.exp,
            nbf: fast.nbf,
            iat: fast.iat,
            jti: fast.jti.map(Text::Span),
            raw,
            plain: true,
            others: fast.others,
            members: OnceLock::new(),
        }
    }

    /// The general path: the registered claims are read and type-checked; the others are
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
            plain: false,
            others: fast::Others::default(),
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
    /// `aud`, without collecting.
    #[inline]
    pub(crate) fn audiences(&self) -> impl Iterator<Item = &str> {
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
    /// A claim that is a JSON string (`None` if absent or of another type), as
    /// `get(name)` would give it, but without parsing every claim into the map when the
    /// payload is plain (the common case): the parse noted where each member is. For
    /// reading a few claims per token (a role, a session id) on a hot path.
    ///
    /// ```
    /// # use tessera_jose::{Algorithm, Jwk, SigningKey, UnverifiedJwt, Validation, VerifyingKey};
    /// # let jwk = Jwk::generate(Algorithm::ES256, None)?;
    /// # let token = SigningKey::from_jwk(&jwk, None)?
    /// #     .sign_jwt(&serde_json::json!({"sub": "u1", "role": "admin", "n": 1, "exp": 4102444800u64}))?;
    /// # let key = VerifyingKey::from_jwk(&jwk.to_public())?;
    /// let jwt = UnverifiedJwt::parse(&token)?.verify(&key, &Validation::new())?;
    /// assert_eq!(jwt.claims().get_str("role"), Some("admin"));
    /// assert_eq!(jwt.claims().get_str("n"), None); // a number, not a string
    /// assert!(jwt.claims().contains("n"));
    /// assert!(!jwt.claims().contains("cnf"));
    /// # Ok::<(), tessera_jose::Error>(())
    /// ```
    pub fn get_str(&self, name: &str) -> Option<&str> {
        match self.find(name) {
            Some(fast::Member::Str(range)) => self.raw.get(range),
            Some(fast::Member::Absent | fast::Member::Other) => None,
            None => self.members().get(name).and_then(Value::as_str),
        }
    }
    /// Whether the token has the claim `name` (of any type), read as [`Claims::get_str`]
    /// reads it.
    pub fn contains(&self, name: &str) -> bool {
        match self.find(name) {
            Some(fast::Member::Absent) => false,
            Some(fast::Member::Str(_) | fast::Member::Other) => true,
            None => self.members().contains_key(name),
        }
    }
    /// The member `name` of a plain payload, from where the parse found it; `None` when
    /// the payload is not plain (the claims map answers then).
    fn find(&self, name: &str) -> Option<fast::Member> {
        use fast::Member;
        if !self.plain {
            return None;
        }
        let text = |t: &Option<Text>| match t {
            None => Some(Member::Absent),
            Some(Text::Span(range)) => Some(Member::Str(range.clone())),
            Some(Text::Owned(_)) => None,
        };
        let number = |n: Option<i64>| Some(n.map_or(Member::Absent, |_| Member::Other));
        match name {
            "iss" => text(&self.iss),
            "sub" => text(&self.sub),
            "jti" => text(&self.jti),
            "aud" => match &self.aud {
                Audience::Absent => Some(Member::Absent),
                Audience::One(Text::Span(range)) => Some(Member::Str(range.clone())),
                Audience::One(Text::Owned(_)) => None,
                Audience::List(_) => Some(Member::Other),
            },
            "exp" => number(self.exp),
            "nbf" => number(self.nbf),
            "iat" => number(self.iat),
            _ => Some(self.others.find(&self.raw, name)),
        }
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
    /// The payload as text (it was checked to be UTF-8 when parsed).
    pub(crate) fn text(&self) -> &str {
        &self.raw
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
