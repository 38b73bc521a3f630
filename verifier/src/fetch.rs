//! The HTTP client behind every fetch: `https` only (plain `http` for loopback hosts), no
//! redirect to another host, a timeout, and a body size limit.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use url::Url;

use crate::error::FetchError;

/// Largest key set, discovery document or revocation list accepted (1 MiB).
pub const MAX_BODY: usize = 1024 * 1024;

/// Refuses URLs a key set must not come from ([`tessera_contract::check_fetch_url`]).
pub(crate) fn check_url(url: &Url) -> Result<(), FetchError> {
    tessera_contract::check_fetch_url(url).map_err(|e| FetchError::Url(e.to_string()))
}

/// Parses and checks a URL given in configuration.
pub(crate) fn parse_url(text: &str) -> Result<Url, FetchError> {
    let url = Url::parse(text).map_err(|e| FetchError::Url(format!("{text}: {e}")))?;
    check_url(&url)?;
    Ok(url)
}

/// Fetches one document (a key set, for `tessera jwt verify --jwks URL`) under the rules of
/// every fetch: `https` except on loopback, no redirect to another host, a 5 s timeout, at
/// most [`MAX_BODY`] bytes, and a success status.
pub async fn fetch_document(url: &str) -> Result<Vec<u8>, FetchError> {
    let url = parse_url(url)?;
    let client = client(Some(Duration::from_secs(5)))?;
    let response = get(&client, &url, HeaderMap::new(), MAX_BODY).await?;
    if !response.status.is_success() {
        return Err(FetchError::Status {
            url: url.to_string(),
            status: response.status.as_u16(),
        });
    }
    Ok(response.body)
}

/// A response whose body has been read within the size limit.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Builds the shared client. `timeout` bounds a whole request (`None` for streams, which
/// use a connect timeout and their own idle timeout instead).
pub(crate) fn client(timeout: Option<Duration>) -> Result<reqwest::Client, FetchError> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        // Same host and port: on loopback, another port is another service.
        let origin = attempt
            .previous()
            .first()
            .map(|u| (u.host_str(), u.port_or_known_default()));
        let next = attempt.url();
        let same_host = origin.is_some_and(|(host, port)| {
            host.is_some() && next.host_str() == host && next.port_or_known_default() == port
        });
        if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else if !same_host {
            attempt.error("redirect to another host refused")
        } else if check_url(attempt.url()).is_err() {
            attempt.error("redirect to plain http refused")
        } else {
            attempt.follow()
        }
    });
    let mut builder = reqwest::Client::builder()
        .redirect(policy)
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("tessera-verifier/", env!("CARGO_PKG_VERSION")));
    if let Some(t) = timeout {
        builder = builder.timeout(t);
    }
    builder.build().map_err(|e| FetchError::Request {
        url: String::new(),
        reason: format!("cannot build the HTTP client: {e}"),
    })
}

/// GETs `url` and reads the body, refusing more than `limit` bytes.
pub(crate) async fn get(
    client: &reqwest::Client,
    url: &Url,
    headers: HeaderMap,
    limit: usize,
) -> Result<Fetched, FetchError> {
    check_url(url)?;
    let request_failed = |e: reqwest::Error| FetchError::Request {
        url: url.to_string(),
        reason: describe(&e),
    };
    let mut response = client
        .get(url.clone())
        .headers(headers)
        .send()
        .await
        .map_err(request_failed)?;
    let too_large = || FetchError::TooLarge {
        url: url.to_string(),
        limit,
    };
    if response
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(too_large());
    }
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(request_failed)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        status,
        headers,
        body,
    })
}

/// One line for a reqwest error: its top-level message hides the cause (`error sending
/// request`), so the chain of causes is included; a timeout says so.
pub fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        e.to_string()
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_urls_follow_the_contract() {
        assert!(parse_url("http://127.0.0.1:1/x").is_ok());
        assert!(matches!(
            parse_url("http://auth.example/jwks"),
            Err(FetchError::Url(_))
        ));
        assert!(matches!(parse_url("not a url"), Err(FetchError::Url(_))));
    }
}
