//! The browser's cookie and the CSRF tokens bound to it.
//!
//! One cookie, `__Host-tessera` over https (`tessera` on a plain-http development issuer),
//! HttpOnly, SameSite=Lax, Path=/. Its value is a random secret: before a sign-in it only
//! anchors CSRF tokens; a sign-in replaces it with a new secret whose SHA-256 names the
//! browser session (so a value fixed before the sign-in is worth nothing after it, and the
//! session id, which travels in tokens, never lets anyone act as the browser).
//!
//! A CSRF token is the cookie's value sealed with AES-256-GCM under the master key: only
//! this server can make one, every replica can check one, and a token is good only with the
//! cookie it was made for.

use aws_lc_rs::constant_time;
use axum::http::{header, HeaderMap, HeaderValue};

use crate::accounts::random_token;
use crate::config::Config;
use crate::error::Result;
use crate::seal::MasterKey;

/// Associated data of sealed CSRF tokens.
const CSRF_PURPOSE: &str = "tessera csrf v1";

/// The cookie's name for this issuer.
pub(crate) fn cookie_name(config: &Config) -> &'static str {
    if secure(config) {
        "__Host-tessera"
    } else {
        "tessera"
    }
}

/// Whether the issuer is served over https (then the cookie is `Secure` and `__Host-`).
fn secure(config: &Config) -> bool {
    config.issuer.starts_with("https://")
}

/// The cookie's value in the request, if it has one that could be ours.
pub(crate) fn cookie(config: &Config, headers: &HeaderMap) -> Option<String> {
    let name = cookie_name(config);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| {
            (20..=100).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A new cookie secret.
pub(crate) fn new_secret() -> Result<String> {
    random_token(32)
}

/// The `Set-Cookie` value for `secret`; `max_age` in seconds, or a browser-session cookie.
pub(crate) fn set_cookie(config: &Config, secret: &str, max_age: Option<u64>) -> HeaderValue {
    let mut text = format!(
        "{}={secret}; Path=/; HttpOnly; SameSite=Lax",
        cookie_name(config)
    );
    if secure(config) {
        text.push_str("; Secure");
    }
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("tessera=; Max-Age=0"))
}

/// The `Set-Cookie` value that removes the cookie.
pub(crate) fn clear_cookie(config: &Config) -> HeaderValue {
    let mut text = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
        cookie_name(config)
    );
    if secure(config) {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("tessera=; Max-Age=0"))
}

/// A CSRF token for forms shown to the browser holding `secret`.
pub(crate) fn csrf_token(master: &MasterKey, secret: &str) -> Result<String> {
    master.seal(CSRF_PURPOSE, secret.as_bytes())
}

/// True if `token` was made for the browser holding `secret`.
pub(crate) fn csrf_ok(master: &MasterKey, secret: Option<&str>, token: Option<&str>) -> bool {
    let (Some(secret), Some(token)) = (secret, token) else {
        return false;
    };
    if token.len() > 512 {
        return false;
    }
    match master.open(CSRF_PURPOSE, token) {
        Ok(plain) => constant_time::verify_slices_are_equal(&plain, secret.as_bytes()).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(issuer: &str) -> Config {
        let mut c = Config::with_defaults("127.0.0.1:3001".parse().unwrap());
        c.issuer = issuer.into();
        c
    }

    #[test]
    fn cookie_attributes_follow_the_scheme() {
        let https = set_cookie(&config("https://auth.example"), "abc", None);
        let https = https.to_str().unwrap();
        assert!(
            https.starts_with("__Host-tessera=abc; Path=/; HttpOnly; SameSite=Lax; Secure"),
            "{https}"
        );
        let http = set_cookie(&config("http://127.0.0.1:3001"), "abc", Some(60));
        let http = http.to_str().unwrap();
        assert!(http.starts_with("tessera=abc;"), "{http}");
        assert!(!http.contains("Secure"));
        assert!(http.ends_with("Max-Age=60"));
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_cookie() {
        let master = MasterKey::from_bytes(&[3u8; 32]).unwrap();
        let token = csrf_token(&master, "browser-a-secret-value").unwrap();
        assert!(csrf_ok(
            &master,
            Some("browser-a-secret-value"),
            Some(&token)
        ));
        assert!(
            !csrf_ok(&master, Some("browser-b-secret-value"), Some(&token)),
            "foreign"
        );
        assert!(
            !csrf_ok(&master, Some("browser-a-secret-value"), None),
            "missing"
        );
        assert!(!csrf_ok(&master, None, Some(&token)), "no cookie");
        assert!(
            !csrf_ok(&master, Some("browser-a-secret-value"), Some("v1:AAAA")),
            "forged"
        );
        let other = MasterKey::from_bytes(&[4u8; 32]).unwrap();
        assert!(
            !csrf_ok(&other, Some("browser-a-secret-value"), Some(&token)),
            "another server"
        );
    }

    #[test]
    fn only_a_well_formed_cookie_is_read() {
        let c = config("https://auth.example");
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-tessera=abcdefghijklmnopqrstuvwxyz012345"),
        );
        assert_eq!(
            cookie(&c, &h).as_deref(),
            Some("abcdefghijklmnopqrstuvwxyz012345")
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("__Host-tessera=short"),
        );
        assert_eq!(cookie(&c, &h), None);
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("tessera=abcdefghijklmnopqrstuvwxyz012345"),
        );
        assert_eq!(
            cookie(&c, &h),
            None,
            "the plain name is not read over https"
        );
    }
}
