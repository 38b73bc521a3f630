//! Prometheus counters, rendered as text by hand (a handful of series needs no library).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::keys::Published;

/// Counters since start.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Access tokens issued by password login.
    pub tokens_password: AtomicU64,
    /// Access tokens issued by client credentials.
    pub tokens_client_credentials: AtomicU64,
    /// Access tokens issued by refresh.
    pub tokens_refresh: AtomicU64,
    /// Access tokens issued for authorization codes.
    pub tokens_authorization_code: AtomicU64,
    /// Failed logins (wrong credentials).
    pub logins_failed: AtomicU64,
    /// Logins refused by the rate limiter.
    pub logins_limited: AtomicU64,
    /// JWKS responses with a body.
    pub jwks_served: AtomicU64,
    /// JWKS answered 304.
    pub jwks_not_modified: AtomicU64,
    /// Refresh-token reuse detections.
    pub refresh_reuse: AtomicU64,
}

/// Adds one.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self, published: &Published, now: i64) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::with_capacity(2048);
        let _ = writeln!(
            out,
            "# HELP tessera_tokens_issued_total Access tokens issued, by grant."
        );
        let _ = writeln!(out, "# TYPE tessera_tokens_issued_total counter");
        for (grant, c) in [
            ("password", &self.tokens_password),
            ("client_credentials", &self.tokens_client_credentials),
            ("refresh_token", &self.tokens_refresh),
            ("authorization_code", &self.tokens_authorization_code),
        ] {
            let _ = writeln!(
                out,
                "tessera_tokens_issued_total{{grant=\"{grant}\"}} {}",
                get(c)
            );
        }
        for (name, help, c) in [
            (
                "tessera_logins_failed_total",
                "Logins refused for wrong credentials.",
                &self.logins_failed,
            ),
            (
                "tessera_logins_rate_limited_total",
                "Logins refused by the failure limiter.",
                &self.logins_limited,
            ),
            (
                "tessera_jwks_served_total",
                "JWKS responses with a body.",
                &self.jwks_served,
            ),
            (
                "tessera_jwks_not_modified_total",
                "JWKS requests answered 304.",
                &self.jwks_not_modified,
            ),
            (
                "tessera_refresh_token_reuse_total",
                "Spent refresh tokens presented again.",
                &self.refresh_reuse,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", get(c));
        }
        let _ = writeln!(
            out,
            "# HELP tessera_key_age_seconds Age of each published signing key."
        );
        let _ = writeln!(out, "# TYPE tessera_key_age_seconds gauge");
        for key in &published.keys {
            let _ = writeln!(
                out,
                "tessera_key_age_seconds{{kid=\"{}\",alg=\"{}\",state=\"{}\"}} {}",
                key.kid,
                key.alg,
                key.state.as_str(),
                now - key.created_at
            );
        }
        let _ = writeln!(
            out,
            "# HELP tessera_signing_key_present Whether a key can sign now."
        );
        let _ = writeln!(out, "# TYPE tessera_signing_key_present gauge");
        let _ = writeln!(
            out,
            "tessera_signing_key_present {}",
            u8::from(published.signer.is_some())
        );
        out
    }
}
