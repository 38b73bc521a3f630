//! Where keys, discovery documents and revocation feeds may come from.

use std::net::IpAddr;

use url::Url;

/// Why a URL may not be fetched from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchUrlError {
    /// Plain `http` to a host that is not loopback.
    #[error("{0}: plain http is allowed for loopback hosts only, use https")]
    PlainHttp(String),
    /// Neither `https` nor `http`.
    #[error("{url}: unsupported scheme `{scheme}`")]
    Scheme {
        /// The URL.
        url: String,
        /// Its scheme.
        scheme: String,
    },
}

/// Refuses URLs that keys must not come from: anything but `https`, except plain `http` to
/// a loopback host (`127.0.0.0/8`, `::1`, `localhost`), for development and tests. A token
/// never chooses this URL: it comes from configuration.
///
/// ```
/// use tessera_contract::check_fetch_url;
/// let ok = url::Url::parse("http://127.0.0.1:3001/.well-known/jwks.json").unwrap();
/// assert!(check_fetch_url(&ok).is_ok());
/// let bad = url::Url::parse("http://auth.example.com/.well-known/jwks.json").unwrap();
/// assert!(check_fetch_url(&bad).is_err());
/// ```
pub fn check_fetch_url(url: &Url) -> Result<(), FetchUrlError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(FetchUrlError::PlainHttp(url.to_string())),
        other => Err(FetchUrlError::Scheme {
            url: url.to_string(),
            scheme: other.to_owned(),
        }),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), FetchUrlError> {
        check_fetch_url(&Url::parse(text).unwrap())
    }

    #[test]
    fn plain_http_only_for_loopback() {
        for ok in [
            "https://auth.example/jwks",
            "http://127.0.0.1:1/x",
            "http://127.8.9.10/x",
            "http://[::1]/x",
            "http://localhost/x",
            "http://LOCALHOST/x",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://auth.example/jwks",
            "http://10.0.0.1/x",
            "http://localhost.evil.example/x",
            "http://[::2]/x",
        ] {
            assert!(
                matches!(check(bad), Err(FetchUrlError::PlainHttp(_))),
                "{bad}"
            );
        }
        for bad in ["file:///etc/passwd", "ftp://127.0.0.1/x"] {
            assert!(
                matches!(check(bad), Err(FetchUrlError::Scheme { .. })),
                "{bad}"
            );
        }
    }
}
