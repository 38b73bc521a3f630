//! Reading the CLI's inputs: files, stdin, JWKS URLs and durations, each with a clear error.

use std::io::Read;
use std::net::IpAddr;
use std::time::Duration;

use crate::Failure;

/// Largest file or stdin input accepted (keys, key sets, tokens, claims).
const MAX_INPUT: u64 = 1024 * 1024;

/// Reads a file, or stdin for `-` (or when no path is given).
pub fn read(path: Option<&str>) -> Result<Vec<u8>, Failure> {
    let mut buf = Vec::new();
    match path {
        None | Some("-") => {
            std::io::stdin()
                .take(MAX_INPUT + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Failure(format!("cannot read stdin: {e}")))?;
        }
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| Failure(format!("cannot read {path}: {e}")))?;
            file.take(MAX_INPUT + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Failure(format!("cannot read {path}: {e}")))?;
        }
    }
    if buf.len() as u64 > MAX_INPUT {
        return Err(Failure(format!(
            "{} is larger than {} bytes",
            path.unwrap_or("stdin"),
            MAX_INPUT
        )));
    }
    Ok(buf)
}

/// Reads text input (UTF-8).
pub fn read_text(path: Option<&str>) -> Result<String, Failure> {
    String::from_utf8(read(path)?)
        .map_err(|_| Failure(format!("{} is not UTF-8 text", path.unwrap_or("stdin"))))
}

/// A token given as an argument, or read from stdin for `-`.
pub fn token(arg: &str) -> Result<String, Failure> {
    let text = if arg == "-" {
        read_text(None)?
    } else {
        arg.to_owned()
    };
    let token = text.trim();
    if token.is_empty() {
        return Err(Failure("no token given".into()));
    }
    Ok(token.to_owned())
}

/// Parses `90`, `90s`, `20m`, `1h`, `7d` into a duration.
pub fn duration(text: &str) -> Result<Duration, Failure> {
    let bad = || {
        Failure(format!(
            "invalid duration `{text}`: use a number of seconds or a number with s, m, h or d"
        ))
    };
    let (digits, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(scale)
        .filter(|s| *s <= 10 * 365 * 86_400)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

/// Fetches a JWKS over HTTP(S): https unless the host is loopback, no redirect to another
/// host, a 5 s timeout and a 1 MiB body limit.
pub fn fetch(url: &str) -> Result<Vec<u8>, Failure> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| Failure(format!("invalid URL {url}: {e}")))?;
    check_url(&parsed)?;
    let origin_host = parsed.host_str().unwrap_or_default().to_owned();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        let same_host = attempt.url().host_str() == Some(origin_host.as_str());
        if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else if !same_host || check_url(attempt.url()).is_err() {
            attempt.error("redirect to another host or to plain http refused")
        } else {
            attempt.follow()
        }
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(format!("cannot start the HTTP client: {e}")))?;
    runtime.block_on(async move {
        let client = reqwest::Client::builder()
            .redirect(policy)
            .timeout(Duration::from_secs(5))
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure(format!("cannot start the HTTP client: {e}")))?;
        let mut response = client.get(parsed).send().await.map_err(|e| {
            Failure(format!(
                "cannot fetch {url}: {}",
                tessera_verifier::describe_fetch_error(&e)
            ))
        })?;
        if !response.status().is_success() {
            return Err(Failure(format!("{url} answered {}", response.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            Failure(format!(
                "cannot read {url}: {}",
                tessera_verifier::describe_fetch_error(&e)
            ))
        })? {
            if body.len() + chunk.len() > MAX_INPUT as usize {
                return Err(Failure(format!("{url} sent more than {MAX_INPUT} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    })
}

fn check_url(url: &reqwest::Url) -> Result<(), Failure> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(Failure(format!(
            "refusing plain http for {url}: key sets must come over https (http is allowed for loopback only)"
        ))),
        other => Err(Failure(format!("unsupported URL scheme `{other}`"))),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
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

    #[test]
    fn durations() {
        assert_eq!(duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(duration("20m").unwrap(), Duration::from_secs(1200));
        assert_eq!(duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(duration("1y").is_err());
        assert!(duration("m").is_err());
        assert!(duration("99999999999999d").is_err());
    }

    #[test]
    fn plain_http_only_for_loopback() {
        for ok in [
            "https://a.example/jwks",
            "http://127.0.0.1:1/x",
            "http://[::1]/x",
            "http://localhost/x",
        ] {
            assert!(check_url(&reqwest::Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "http://a.example/jwks",
            "http://10.0.0.1/x",
            "file:///etc/passwd",
        ] {
            assert!(
                check_url(&reqwest::Url::parse(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
    }
}
