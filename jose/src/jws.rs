//! JWS compact serialisation (RFC 7515): the limits applied before any cryptography, the
//! protected header, splitting and decoding a compact token into its parts, and signing.
//! Turning the parts into a token is [`UnverifiedJwt`](crate::UnverifiedJwt)'s job.

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::b64;
use crate::error::{Error, MalformedError, Part};
use crate::fast;
use crate::json::{self, object_without_duplicates, scan_object};
use crate::key::SigningKey;
use crate::shown::shown;

/// Limits applied to a token before any cryptography runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum length of the compact token in bytes (default 16 KiB).
    pub max_token_len: usize,
    /// Maximum JSON nesting depth of the header and of the claims (default 16).
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_token_len: 16 * 1024,
            max_depth: 16,
        }
    }
}

/// A JWS protected header, checked: `alg` is a supported algorithm (never `none`), the
/// registered members have the right types, and `crit` is empty. `jwk`, `jku`, `x5u`, `x5c`
/// are kept only for display and never used to find a key.
///
/// Cloning is cheap: the parsed header is shared.
#[derive(Debug, Clone)]
pub struct Header(Arc<HeaderData>);

#[derive(Debug)]
struct HeaderData {
    alg: Algorithm,
    kid: Option<String>,
    typ: Option<String>,
    cty: Option<String>,
    raw: Vec<u8>,
    members: OnceLock<Map<String, Value>>,
}

const HEADER_MEMBERS: &[&str] = &["alg", "kid", "typ", "cty", "crit"];

impl Header {
    /// The signing algorithm the token claims. It selects among the algorithms a key allows,
    /// never more.
    pub fn alg(&self) -> Algorithm {
        self.0.alg
    }

    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.0.kid.as_deref()
    }

    /// The media type of the token (`JWT`, `at+jwt`, ...).
    pub fn typ(&self) -> Option<&str> {
        self.0.typ.as_deref()
    }

    /// The content type of the payload.
    pub fn cty(&self) -> Option<&str> {
        self.0.cty.as_deref()
    }

    /// Every member as sent, for display.
    pub fn members(&self) -> &Map<String, Value> {
        self.0
            .members
            .get_or_init(|| object_without_duplicates(&self.0.raw).unwrap_or_default())
    }

    /// Parses the base64url header of a compact token. The header last parsed on this
    /// thread is reused when the text and the depth limit are the same (see [`fast`]).
    fn from_b64(h64: &str, limits: &Limits) -> Result<Header, Error> {
        if let Some(header) = fast::cached_header(h64, limits) {
            return Ok(header);
        }
        let bytes = b64::decode(h64).ok_or(MalformedError::Base64(Part::Header))?;
        check_depth(&bytes, Part::Header, limits)?;
        let header = Header::from_bytes(bytes)?;
        fast::remember_header(h64, limits, &header);
        Ok(header)
    }

    fn from_bytes(raw: Vec<u8>) -> Result<Header, Error> {
        if std::str::from_utf8(&raw).is_err() {
            return Err(MalformedError::Json {
                part: Part::Header,
                reason: "not UTF-8".into(),
            }
            .into());
        }
        // Member names are only needed to check `crit`, which valid tokens do not carry.
        let need_names = raw.windows(6).any(|w| w == b"\"crit\"");
        let scanned =
            scan_object(&raw, HEADER_MEMBERS, need_names).map_err(|e| e.in_part(Part::Header))?;
        let alg = match scanned.get(0) {
            Some(Value::String(name)) => name.parse::<Algorithm>()?,
            Some(other) => return Err(header_type("alg", other)),
            None => {
                return Err(MalformedError::Header {
                    name: "alg",
                    reason: "is missing".into(),
                }
                .into())
            }
        };
        let kid = optional_string(scanned.get(1), "kid")?;
        let typ = optional_string(scanned.get(2), "typ")?;
        let cty = optional_string(scanned.get(3), "cty")?;
        if let Some(crit) = scanned.get(4) {
            check_crit(crit, &scanned.names)?;
        }
        // Built now (a header is parsed once per text and thread) so that a header whose
        // members serde_json cannot turn into values is refused, not shown as empty.
        let members = object_without_duplicates(&raw).map_err(|e| e.in_part(Part::Header))?;
        Ok(Header(Arc::new(HeaderData {
            alg,
            kid,
            typ,
            cty,
            raw,
            members: OnceLock::from(members),
        })))
    }
}

fn optional_string(value: Option<&Value>, name: &'static str) -> Result<Option<String>, Error> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(header_type(name, other)),
    }
}

fn header_type(name: &'static str, value: &Value) -> Error {
    MalformedError::Header {
        name,
        reason: format!("is {}, expected a string", json::type_name(value)),
    }
    .into()
}

/// RFC 7515 section 4.1.11: `crit` must be a non-empty array of distinct names that are
/// present in the header and understood. This implementation understands no extension, so
/// a well-formed `crit` names something unknown and the token is refused.
fn check_crit(crit: &Value, members: &[String]) -> Result<(), Error> {
    let names = match crit {
        Value::Array(names) if !names.is_empty() => names,
        Value::Array(_) => return Err(MalformedError::Crit("is an empty array".into()).into()),
        other => {
            return Err(MalformedError::Crit(format!(
                "is {}, expected an array",
                json::type_name(other)
            ))
            .into())
        }
    };
    // Sets, not scans: a header may list thousands of names, and this runs before any
    // signature is checked.
    let present: std::collections::HashSet<&str> = members.iter().map(String::as_str).collect();
    let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut first = None;
    for name in names {
        let Value::String(name) = name else {
            return Err(MalformedError::Crit("lists a member that is not a string".into()).into());
        };
        if !seen.insert(name.as_str()) {
            return Err(MalformedError::Crit(format!("lists `{}` twice", shown(name))).into());
        }
        first.get_or_insert(name.as_str());
        if !present.contains(name.as_str()) {
            return Err(MalformedError::Crit(format!(
                "lists `{}`, which is not in the header",
                shown(name)
            ))
            .into());
        }
    }
    Err(MalformedError::Crit(format!(
        "extension `{}` is not understood",
        shown(first.unwrap_or_default())
    ))
    .into())
}

/// A compact token split into its three parts and decoded, the header parsed and checked:
/// what either parse path hands to [`UnverifiedJwt`](crate::UnverifiedJwt).
#[derive(Debug)]
pub(crate) struct Compact<'a> {
    pub(crate) header: Header,
    /// The header and payload parts and the `.` between them, as signed.
    pub(crate) signing_input: &'a str,
    /// The decoded payload, not yet checked to be UTF-8 or JSON.
    pub(crate) payload: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

impl<'a> Compact<'a> {
    /// The general path: exactly three `.`-separated parts, each canonical base64url, and a
    /// header within the depth limit that parses and checks. The shortcut that gives the
    /// same answer for most tokens is [`fast::decode_compact`].
    pub(crate) fn decode(token: &'a str, limits: &Limits) -> Result<Compact<'a>, Error> {
        let mut parts = token.splitn(4, '.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(MalformedError::PartCount(token.split('.').count()).into());
        };
        let header = Header::from_b64(h64, limits)?;
        let mut payload = Vec::with_capacity(p64.len() * 3 / 4);
        b64::decode_into(p64, &mut payload).ok_or(MalformedError::Base64(Part::Payload))?;
        let signature = b64::decode(s64).ok_or(MalformedError::Base64(Part::Signature))?;
        Ok(Compact {
            header,
            signing_input: &token[..h64.len() + 1 + p64.len()],
            payload,
            signature,
        })
    }
}

/// The size limit, checked before anything else is looked at.
#[inline]
pub(crate) fn check_size(token: &str, limits: &Limits) -> Result<(), Error> {
    if token.len() > limits.max_token_len {
        return Err(MalformedError::TooLarge {
            size: token.len(),
            limit: limits.max_token_len,
        }
        .into());
    }
    Ok(())
}

fn check_depth(bytes: &[u8], part: Part, limits: &Limits) -> Result<(), Error> {
    if json::deeper_than(bytes, limits.max_depth) {
        return Err(MalformedError::TooDeep {
            part,
            limit: limits.max_depth,
        }
        .into());
    }
    Ok(())
}

#[derive(Serialize)]
struct OutHeader<'a> {
    alg: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    kid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    typ: Option<&'a str>,
}

impl SigningKey {
    /// Signs `claims` as a compact JWS with header `{"alg", "kid", "typ": "JWT"}`.
    pub fn sign_jwt<C: Serialize + ?Sized>(&self, claims: &C) -> Result<String, Error> {
        self.sign_jwt_with_typ(Some("JWT"), claims)
    }

    /// Signs `claims` with the given header `typ` (for example `at+jwt`, RFC 9068).
    pub fn sign_jwt_with_typ<C: Serialize + ?Sized>(
        &self,
        typ: Option<&str>,
        claims: &C,
    ) -> Result<String, Error> {
        let header = serde_json::to_vec(&OutHeader {
            alg: self.algorithm().as_str(),
            kid: self.kid(),
            typ,
        })
        .map_err(|_| Error::Crypto("header serialisation"))?;
        let payload = serde_json::to_vec(claims).map_err(|e| MalformedError::Json {
            part: Part::Payload,
            reason: e.to_string(),
        })?;
        self.sign_compact(&header, &payload)
    }

    /// Signs raw header and payload bytes. The header must carry this key's `alg`; it is
    /// the caller's job to make it JSON.
    pub fn sign_compact(&self, header: &[u8], payload: &[u8]) -> Result<String, Error> {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;

        let mut out = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 400);
        URL_SAFE_NO_PAD.encode_string(header, &mut out);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut out);
        let signature = self.sign(out.as_bytes())?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut out);
        Ok(out)
    }
}
