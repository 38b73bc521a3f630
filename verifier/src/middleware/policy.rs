//! [`AuthPolicy`]: what a verified token must also satisfy, and [`Guard`], the usual
//! one: roles, scopes and the fingerprint cookie.

use aws_lc_rs::{constant_time, digest};
use http::header::{HeaderMap, COOKIE};
use serde_json::Value;
use tessera_jose::Jwt;

use super::rejection::Rejection;

/// The cookie carrying the token fingerprint (`__Host-` so that only a secure, host-only,
/// path `/` cookie can set it).
pub const FINGERPRINT_COOKIE: &str = "__Host-Fgp";

/// Decides whether a request whose token verified may proceed.
pub trait AuthPolicy: Clone + Send + Sync + 'static {
    /// `Ok` to let the request through; the refusal otherwise. The reason should be logged
    /// here, the client sees only the [`Rejection`].
    fn authorize(&self, jwt: &Jwt, headers: &HeaderMap) -> Result<(), Rejection>;
}

/// Role and scope guards and the optional fingerprint-cookie check.
///
/// - roles: the token's `role` claim (a string) must be one of those listed;
/// - scopes: the token's `scope` claim (space-separated) must contain every one listed;
/// - fingerprint: the request must carry cookie `__Host-Fgp=<value>` and the token's `fgp`
///   claim must be the lowercase hex SHA-256 of `<value>`.
///
/// ```
/// use tessera_verifier::Guard;
///
/// let guard = Guard::new().role("admin").role("write").scope("orders:read").fingerprint_cookie();
/// # let _ = guard;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Guard {
    roles: Vec<String>,
    scopes: Vec<String>,
    fingerprint: bool,
}

impl Guard {
    /// A guard that lets every verified token through.
    pub fn new() -> Guard {
        Guard::default()
    }

    /// Accepts this role (any listed role is enough).
    pub fn role(mut self, role: impl Into<String>) -> Guard {
        self.roles.push(role.into());
        self
    }

    /// Requires this scope (every listed scope is needed).
    pub fn scope(mut self, scope: impl Into<String>) -> Guard {
        self.scopes.push(scope.into());
        self
    }

    /// Requires the fingerprint cookie to match the token's `fgp` claim.
    pub fn fingerprint_cookie(mut self) -> Guard {
        self.fingerprint = true;
        self
    }

    fn check_fingerprint(&self, jwt: &Jwt, headers: &HeaderMap) -> Result<(), &'static str> {
        let claim = match jwt.claims().get("fgp") {
            Some(Value::String(s)) => s,
            Some(_) => return Err("claim `fgp` is not a string"),
            None => return Err("token has no `fgp` claim"),
        };
        let cookie = cookie(headers, FINGERPRINT_COOKIE).ok_or("no fingerprint cookie")?;
        let hash = digest::digest(&digest::SHA256, cookie.as_bytes());
        let expected = hex(hash.as_ref());
        constant_time::verify_slices_are_equal(expected.as_bytes(), claim.as_bytes())
            .map_err(|_| "fingerprint cookie does not match the token")
    }
}

impl AuthPolicy for Guard {
    fn authorize(&self, jwt: &Jwt, headers: &HeaderMap) -> Result<(), Rejection> {
        let sub = jwt.claims().sub().unwrap_or("-").escape_debug().to_string();
        if self.fingerprint {
            if let Err(reason) = self.check_fingerprint(jwt, headers) {
                tracing::info!(reason, %sub, "token rejected");
                return Err(Rejection::InvalidToken {
                    description: "the access token is invalid",
                });
            }
        }
        if !self.roles.is_empty() {
            let role = match jwt.claims().get("role") {
                Some(Value::String(r)) => Some(r.as_str()),
                _ => None,
            };
            if !role.is_some_and(|r| self.roles.iter().any(|want| want == r)) {
                tracing::info!(reason = "role not allowed", role = ?role, required = ?self.roles, %sub, "request forbidden");
                return Err(Rejection::InsufficientScope {
                    scope: Some(self.roles.join(" ")),
                });
            }
        }
        if !self.scopes.is_empty() {
            let granted: Vec<&str> = match jwt.claims().get("scope") {
                Some(Value::String(s)) => s.split(' ').filter(|s| !s.is_empty()).collect(),
                _ => Vec::new(),
            };
            if let Some(missing) = self
                .scopes
                .iter()
                .find(|want| !granted.contains(&want.as_str()))
            {
                tracing::info!(reason = "scope missing", missing = %missing, %sub, "request forbidden");
                return Err(Rejection::InsufficientScope {
                    scope: Some(self.scopes.join(" ")),
                });
            }
        }
        Ok(())
    }
}

/// The value of the first cookie with this name in the `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"'))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn cookie_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; __Host-Fgp=abc ; b=2"),
        );
        assert_eq!(cookie(&h, FINGERPRINT_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, "c"), None);
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("x=1"));
        h.append(COOKIE, HeaderValue::from_static("__Host-Fgp=\"q\""));
        assert_eq!(cookie(&h, FINGERPRINT_COOKIE), Some("q"));
    }

    #[test]
    fn hex_of_sha256() {
        let d = digest::digest(&digest::SHA256, b"abc");
        assert_eq!(
            hex(d.as_ref()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
