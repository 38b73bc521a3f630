//! Reading the CLI's inputs: files, stdin, JWKS URLs and durations, each with a clear error.

use std::io::Read;
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

/// Parses `90`, `90s`, `20m`, `1h`, `7d` into a duration (a clap value parser: a bad
/// value is a usage error).
pub fn duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("invalid duration `{text}`: use a number of seconds or a number with s, m, h or d")
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

/// Fetches a JWKS under the verifier's rules: https unless the host is loopback, no
/// redirect to another host, a 5 s timeout and a 1 MiB body limit.
pub fn fetch(url: &str) -> Result<Vec<u8>, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure(format!("cannot start the HTTP client: {e}")))?;
    runtime
        .block_on(tessera_verifier::fetch_document(url))
        .map_err(|e| Failure(format!("cannot fetch the key set: {e}")))
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
}
