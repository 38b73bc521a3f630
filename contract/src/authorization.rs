//! Reading the access token from a request's `Authorization` header: one parser for the
//! server's own endpoints and every resource-server form.

use http::header::{HeaderMap, HeaderValue, AUTHORIZATION};

/// Why no token could be read from `Authorization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizationError {
    /// The request has no `Authorization` header.
    #[error("no bearer token in the request")]
    Missing,
    /// More than one `Authorization` header: which one counts would be a guess.
    #[error("unreadable Authorization header: sent more than once")]
    Repeated,
    /// The header holds bytes other than visible ASCII.
    #[error("unreadable Authorization header: not visible ASCII")]
    NotAscii,
    /// Another scheme than `Bearer` (or `DPoP` where that is accepted), e.g. `Basic`.
    #[error("unreadable Authorization header: not a Bearer or DPoP credential")]
    OtherScheme,
    /// `Bearer` with nothing after it.
    #[error("unreadable Authorization header: empty bearer token")]
    Empty,
}

/// The scheme an access token was presented with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer <token>` (or the seed's bare `Authorization: <token>`).
    Bearer,
    /// `Authorization: DPoP <token>` (RFC 9449 section 7.1): the request carries a proof.
    DPoP,
}

/// The token and its scheme: `Bearer`, `DPoP` (both in any letter case) or the seed's bare
/// form (read as `Bearer`). Exactly one `Authorization` header is accepted.
///
/// ```
/// use http::{header::AUTHORIZATION, HeaderMap, HeaderValue};
/// use tessera_contract::{access_token, Scheme};
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("DPoP a.b.c"));
/// assert_eq!(access_token(&headers), Ok((Scheme::DPoP, "a.b.c")));
/// ```
pub fn access_token(headers: &HeaderMap) -> Result<(Scheme, &str), AuthorizationError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthorizationError::Missing)?;
    if values.next().is_some() {
        return Err(AuthorizationError::Repeated);
    }
    access_token_of(value)
}

/// [`access_token`] for one header value already taken out of its map.
pub fn access_token_of(value: &HeaderValue) -> Result<(Scheme, &str), AuthorizationError> {
    let text = visible_text(value)?.trim();
    if let Some((scheme, rest)) = text.split_once(' ') {
        if scheme.eq_ignore_ascii_case("dpop") {
            let token = rest.trim();
            if token.is_empty() {
                return Err(AuthorizationError::Empty);
            }
            return Ok((Scheme::DPoP, token));
        }
    } else if text.eq_ignore_ascii_case("dpop") {
        return Err(AuthorizationError::Empty);
    }
    bearer_token_in(text).map(|t| (Scheme::Bearer, t))
}

/// The token of `Authorization: Bearer <token>` (scheme in any letter case), or of the
/// seed's bare `Authorization: <token>`. Exactly one `Authorization` header is accepted.
///
/// ```
/// use http::{header::AUTHORIZATION, HeaderMap, HeaderValue};
/// let mut headers = HeaderMap::new();
/// headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer a.b.c"));
/// assert_eq!(tessera_contract::bearer_token(&headers), Ok("a.b.c"));
/// ```
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthorizationError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next().ok_or(AuthorizationError::Missing)?;
    if values.next().is_some() {
        return Err(AuthorizationError::Repeated);
    }
    bearer_token_of(value)
}

/// The token of one `Authorization` value, read as [`bearer_token`] reads it (for a caller
/// that has taken the header out of its map; the single-header rule is the caller's).
pub fn bearer_token_of(value: &HeaderValue) -> Result<&str, AuthorizationError> {
    bearer_token_in(visible_text(value)?.trim())
}

/// The value as text if it is visible ASCII, spaces and tabs only (what
/// `HeaderValue::to_str` accepts, byte by byte). A `HeaderValue` cannot hold any other
/// control character, so ASCII is the same test, and the standard library runs it many
/// bytes at a time: a token is hundreds of bytes, read on every request.
fn visible_text(value: &HeaderValue) -> Result<&str, AuthorizationError> {
    match std::str::from_utf8(value.as_bytes()) {
        Ok(text) if text.is_ascii() => Ok(text),
        _ => Err(AuthorizationError::NotAscii),
    }
}

/// [`bearer_token_of`] on the value's text, trimmed.
fn bearer_token_in(text: &str) -> Result<&str, AuthorizationError> {
    let token = match text.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return Err(AuthorizationError::OtherScheme),
        None if text.eq_ignore_ascii_case("bearer") => "",
        None => text,
    };
    if token.is_empty() {
        return Err(AuthorizationError::Empty);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn bearer_and_bare_tokens() {
        assert_eq!(bearer_token(&with(&["Bearer a.b.c"])), Ok("a.b.c"));
        assert_eq!(bearer_token(&with(&["bearer   a.b.c "])), Ok("a.b.c"));
        assert_eq!(bearer_token(&with(&["a.b.c"])), Ok("a.b.c"));
        assert_eq!(bearer_token(&with(&[])), Err(AuthorizationError::Missing));
        assert_eq!(
            bearer_token(&with(&["Basic dXNlcjpwdw=="])),
            Err(AuthorizationError::OtherScheme)
        );
        assert_eq!(
            bearer_token(&with(&["Bearer"])),
            Err(AuthorizationError::Empty)
        );
        assert_eq!(
            bearer_token(&with(&["Bearer "])),
            Err(AuthorizationError::Empty)
        );
        // Two headers: refused, not "the first one".
        assert_eq!(
            bearer_token(&with(&["a.b.c", "d.e.f"])),
            Err(AuthorizationError::Repeated)
        );
        assert_eq!(
            access_token(&with(&["dpop  a.b.c"])),
            Ok((Scheme::DPoP, "a.b.c"))
        );
        assert_eq!(
            access_token(&with(&["Bearer a.b.c"])),
            Ok((Scheme::Bearer, "a.b.c"))
        );
        assert_eq!(
            access_token(&with(&["a.b.c"])),
            Ok((Scheme::Bearer, "a.b.c"))
        );
        assert_eq!(
            access_token(&with(&["DPoP"])),
            Err(AuthorizationError::Empty)
        );
        // The bearer-only reader does not take a DPoP credential for a bearer one.
        assert_eq!(
            bearer_token(&with(&["DPoP a.b.c"])),
            Err(AuthorizationError::OtherScheme)
        );
        let mut h = HeaderMap::new();
        h.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        );
        assert_eq!(bearer_token(&h), Err(AuthorizationError::NotAscii));
    }

    #[test]
    fn text_is_accepted_exactly_as_to_str_accepts_it() {
        // Every byte a header value may hold, alone and among visible ones.
        for b in 0u8..=255 {
            for bytes in [vec![b], vec![b'a', b, b'.', b'c']] {
                let Ok(value) = HeaderValue::from_bytes(&bytes) else {
                    continue;
                };
                assert_eq!(
                    visible_text(&value).ok(),
                    value.to_str().ok(),
                    "byte {b:#04x}"
                );
            }
        }
        let obs_text = HeaderValue::from_bytes(b"DPoP a.\x80.c").unwrap();
        assert_eq!(
            access_token_of(&obs_text),
            Err(AuthorizationError::NotAscii)
        );
    }
}
