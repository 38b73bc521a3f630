//! The token fingerprint (OWASP's sidejacking defence, the seed's `fgp`): at login the
//! server sets a random value in a hardened cookie and puts the SHA-256 of that value in the
//! token, so a token stolen without its cookie (from a log, a referrer, local storage) is
//! useless to a resource server that checks the pair.

use aws_lc_rs::{constant_time, digest};
use http::header::{HeaderMap, COOKIE};

/// The cookie's name. The `__Host-` prefix makes browsers insist on `Secure`, `Path=/` and no
/// `Domain`, so a sibling subdomain cannot set or overwrite it.
pub const COOKIE_NAME: &str = "__Host-Fgp";

/// The `Set-Cookie` value that gives the browser its fingerprint.
pub fn set_cookie(value: &str) -> String {
    format!("{COOKIE_NAME}={value}; Path=/; Secure; HttpOnly; SameSite=Strict")
}

/// The `Set-Cookie` value that removes it (at logout).
pub const CLEAR_COOKIE: &str = "__Host-Fgp=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0";

/// What the token carries for a cookie value: lowercase hex of its SHA-256.
pub fn hash(value: &str) -> String {
    hex(digest::digest(&digest::SHA256, value.as_bytes()).as_ref())
}

/// True if `claim` is the fingerprint of `cookie_value` (compared in constant time).
pub fn matches(cookie_value: &str, claim: &str) -> bool {
    let expected = hash(cookie_value);
    constant_time::verify_slices_are_equal(expected.as_bytes(), claim.as_bytes()).is_ok()
}

/// The fingerprint cookie's value among the request's `Cookie` headers, if present.
pub fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == COOKIE_NAME)
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
    fn hash_is_hex_sha256() {
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(matches("abc", &hash("abc")));
        assert!(!matches("abd", &hash("abc")));
        assert!(!matches("abc", &hash("abc").to_uppercase()));
    }

    #[test]
    fn cookie_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; __Host-Fgp=abc ; b=2"),
        );
        assert_eq!(cookie_value(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("x=1"));
        h.append(COOKIE, HeaderValue::from_static("__Host-Fgp=\"q\""));
        assert_eq!(cookie_value(&h), Some("q"));
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("Fgp=1; __host-fgp=2"));
        assert_eq!(cookie_value(&h), None, "the name is case-sensitive");
    }

    #[test]
    fn cookies_are_hardened() {
        let set = set_cookie("v");
        for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
            assert!(set.contains(attribute), "{set}");
            assert!(CLEAR_COOKIE.contains(attribute));
        }
        assert!(set.starts_with("__Host-Fgp=v;"));
    }
}
