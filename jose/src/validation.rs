//! What a verifier accepts of a token beyond its signature (RFC 7519 section 4.1, and the
//! header `typ` of RFC 7515 section 4.1.9), and the checks themselves.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::alg::Algorithm;
use crate::claims::Claims;
use crate::error::{AlgorithmError, ClaimError, Error};
use crate::jws::Header;
use crate::shown::shown;

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
        match claims.exp() {
            Some(exp) if now >= exp.saturating_add(slack) => {
                return Err(ClaimError::Expired { exp, now, leeway }.into())
            }
            None if self.require_exp => return Err(ClaimError::Missing("exp".into()).into()),
            _ => {}
        }
        if let Some(nbf) = claims.nbf() {
            if now.saturating_add(slack) < nbf {
                return Err(ClaimError::NotYetValid { nbf, now, leeway }.into());
            }
        }
        if let Some(iat) = claims.iat() {
            if iat > now.saturating_add(slack) {
                return Err(ClaimError::IssuedInFuture { iat, now, leeway }.into());
            }
        }
        if let Some(max_age) = self.max_age {
            let iat = claims
                .iat()
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

/// Seconds since the Unix epoch, shown as a UTC date and time (`2026-12-04T20:27:17Z`), as
/// errors and listings show times to people.
///
/// ```
/// assert_eq!(tessera_jose::UtcTime(951_782_400).to_string(), "2000-02-29T00:00:00Z");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcTime(pub i64);

impl std::fmt::Display for UtcTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.0;
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        // The civil date of a day count (proleptic Gregorian calendar, 400-year eras).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::UtcTime;

    #[test]
    fn utc_times() {
        assert_eq!(UtcTime(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(UtcTime(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(UtcTime(1_795_363_176).to_string(), "2026-11-22T15:59:36Z");
        assert_eq!(UtcTime(4_102_444_799).to_string(), "2099-12-31T23:59:59Z");
        assert_eq!(UtcTime(-1).to_string(), "1969-12-31T23:59:59Z");
    }
}
