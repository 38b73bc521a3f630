//! [`AuthPolicy`]: what a verified token must also satisfy, and [`Guard`], the usual
//! one: roles, scopes and the fingerprint cookie.

use http::header::HeaderMap;
use tessera_contract::{claims, fingerprint};
use tessera_jose::{Jwt, Shown};

use super::rejection::Rejection;

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
        let claim = match jwt.claims().get_str(claims::FINGERPRINT) {
            Some(s) => s,
            None if jwt.claims().contains(claims::FINGERPRINT) => {
                return Err("claim `fgp` is not a string")
            }
            None => return Err("token has no `fgp` claim"),
        };
        let cookie = fingerprint::cookie_value(headers).ok_or("no fingerprint cookie")?;
        if fingerprint::matches(cookie, claim) {
            Ok(())
        } else {
            Err("fingerprint cookie does not match the token")
        }
    }
}

impl AuthPolicy for Guard {
    fn authorize(&self, jwt: &Jwt, headers: &HeaderMap) -> Result<(), Rejection> {
        let sub = Shown::full(jwt.claims().sub().unwrap_or("-"));
        if self.fingerprint {
            if let Err(reason) = self.check_fingerprint(jwt, headers) {
                tracing::info!(reason, %sub, "token rejected");
                return Err(Rejection::InvalidToken {
                    description: "the access token is invalid",
                });
            }
        }
        if !self.roles.is_empty() {
            let role = jwt.claims().get_str(claims::ROLE);
            if !role.is_some_and(|r| self.roles.iter().any(|want| want == r)) {
                tracing::info!(reason = "role not allowed", role = ?role, required = ?self.roles, %sub, "request forbidden");
                return Err(Rejection::MissingRole);
            }
        }
        if !self.scopes.is_empty() {
            let granted: Vec<&str> = match jwt.claims().get_str(claims::SCOPE) {
                Some(s) => s.split(' ').filter(|s| !s.is_empty()).collect(),
                None => Vec::new(),
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
