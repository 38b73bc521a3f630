//! Revoked tokens and sessions, kept up to date from the auth server's revocation feed:
//! `GET /revocations?since=CURSOR` for the backlog and `GET /revocations/stream`
//! (Server-Sent Events, resumed with `Last-Event-ID`) for pushes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use http::header::{HeaderMap, HeaderValue, ACCEPT, CACHE_CONTROL};
use tessera_contract::revocation::{self as wire, Revocation, RevocationKind, RevocationPage};
use tessera_contract::Clock;
use tessera_jose::{Claims, Shown};
use tokio::task::JoinHandle;
use url::Url;

use crate::error::{Error, FetchError};
use crate::fetch;

/// Longest SSE line accepted; a longer one ends the connection.
const MAX_LINE: usize = 64 * 1024;
/// Most backlog pages read per (re)connection.
const MAX_BACKLOG_PAGES: usize = 100;
/// With no byte (not even a comment) for this long, the stream is reconnected.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<(RevocationKind, String), i64>,
    purge_at_len: usize,
}

/// The set of revoked `jti`s and sessions, each until its expiry. Cloning shares the set.
#[derive(Debug, Clone)]
pub struct Revocations {
    entries: Arc<RwLock<Entries>>,
    cursor: Arc<Mutex<Option<String>>>,
    clock: Arc<dyn Clock>,
}

impl Revocations {
    /// An empty set on this clock.
    pub fn new(clock: Arc<dyn Clock>) -> Revocations {
        Revocations {
            entries: Arc::new(RwLock::new(Entries::default())),
            cursor: Arc::new(Mutex::new(None)),
            clock,
        }
    }

    /// Records a revocation, effective until `expires_at` (seconds since the epoch).
    pub fn revoke(&self, kind: RevocationKind, value: impl Into<String>, expires_at: i64) {
        let now = self.clock.unix_secs();
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let slot = entries
            .map
            .entry((kind, value.into()))
            .or_insert(expires_at);
        *slot = (*slot).max(expires_at);
        // Expired entries are dropped whenever the map has doubled since the last sweep.
        if entries.map.len() > entries.purge_at_len {
            entries.map.retain(|_, exp| *exp > now);
            entries.purge_at_len = (entries.map.len() * 2).max(1024);
        }
    }

    /// True if this `jti` or session is revoked now.
    pub fn is_revoked(&self, kind: RevocationKind, value: &str) -> bool {
        let now = self.clock.unix_secs();
        let entries = self
            .entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // The tuple key needs an owned String; revocation sets are small and this is cheap.
        entries
            .map
            .get(&(kind, value.to_owned()))
            .is_some_and(|exp| *exp > now)
    }

    /// Refuses a token whose `jti` or `sessionId` claim is revoked.
    pub fn check(&self, claims: &Claims) -> Result<(), Error> {
        if self.is_empty() {
            return Ok(());
        }
        for kind in [RevocationKind::Jti, RevocationKind::Session] {
            if let Some(value) = kind.value_in(claims) {
                if self.is_revoked(kind, value) {
                    return Err(Error::Revoked {
                        kind,
                        value: value.to_owned(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Number of entries held (expired ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .map
            .len()
    }

    /// True if nothing is revoked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cursor of the last feed entry applied.
    pub fn cursor(&self) -> Option<String> {
        self.cursor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set_cursor(&self, cursor: String) {
        *self
            .cursor
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(cursor);
    }

    fn apply(&self, r: Revocation) {
        tracing::info!(kind = r.kind.as_str(), value = %Shown::full(&r.value), expires_at = r.expires_at, "revocation received");
        self.revoke(r.kind, r.value, r.expires_at);
    }

    /// Applies one entry of the feed; an entry this version cannot read (a kind from a
    /// newer server) is skipped, not fatal for the page or the stream.
    fn apply_json(&self, entry: serde_json::Value) {
        match serde_json::from_value::<Revocation>(entry) {
            Ok(r) => self.apply(r),
            Err(e) => tracing::warn!(error = %e, "unreadable revocation entry ignored"),
        }
    }

    /// Follows the feed of the auth server at `server_url` (its base URL: `https`, or `http`
    /// on loopback) in a background task until the returned handle is dropped. The backlog
    /// is read on every (re)connection, then the stream, resumed with `Last-Event-ID`.
    pub fn subscribe(&self, server_url: &str) -> Result<Subscription, Error> {
        let base = fetch::parse_url(server_url).map_err(|e| Error::Config(e.to_string()))?;
        let list = endpoint(&base, wire::LIST_PATH);
        let stream = endpoint(&base, wire::STREAM_PATH);
        let client = fetch::client(None).map_err(|e| Error::Config(e.to_string()))?;
        let backlog_client = fetch::client(Some(Duration::from_secs(5)))
            .map_err(|e| Error::Config(e.to_string()))?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Config("revocation feed needs a Tokio runtime".into()))?;
        let this = self.clone();
        let task = runtime.spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                if let Err(e) = this.catch_up(&backlog_client, &list).await {
                    tracing::warn!(url = %list, error = %e, "revocation backlog fetch failed");
                }
                match this.follow(&client, &stream).await {
                    Ok(()) => {
                        tracing::info!(url = %stream, "revocation stream ended; reconnecting");
                        backoff = Duration::from_millis(200);
                    }
                    Err(e) => {
                        tracing::warn!(url = %stream, error = %e, "revocation stream failed; reconnecting")
                    }
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        Ok(Subscription { task })
    }

    /// Reads the backlog after the current cursor, page by page (bounded), so nothing
    /// revoked while disconnected is missed.
    async fn catch_up(&self, client: &reqwest::Client, list: &Url) -> Result<(), FetchError> {
        for _ in 0..MAX_BACKLOG_PAGES {
            let before = self.cursor();
            let mut url = list.clone();
            url.query_pairs_mut()
                .append_pair("since", before.as_deref().unwrap_or("0"));
            let response = fetch::get(client, &url, HeaderMap::new(), fetch::MAX_BODY).await?;
            if !response.status.is_success() {
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status: response.status.as_u16(),
                });
            }
            let page: RevocationPage =
                serde_json::from_slice(&response.body).map_err(|e| FetchError::Invalid {
                    url: url.to_string(),
                    reason: e.to_string(),
                })?;
            let empty = page.revocations.is_empty();
            for entry in page.revocations {
                self.apply_json(entry);
            }
            let after = page.cursor.to_string();
            let done = empty || before.as_deref() == Some(after.as_str());
            self.set_cursor(after);
            if done {
                break;
            }
        }
        Ok(())
    }

    /// Reads the stream until it ends or fails.
    async fn follow(&self, client: &reqwest::Client, stream: &Url) -> Result<(), FetchError> {
        let failed = |reason: String| FetchError::Request {
            url: stream.to_string(),
            reason,
        };
        let cursor = self.cursor();
        let mut url = stream.clone();
        if cursor.is_none() {
            // The backlog could not be read: ask the stream for all of it, or it would
            // start at the newest revocation and the older ones would never arrive.
            url.query_pairs_mut().append_pair("since", "0");
        }
        let mut request = client
            .get(url)
            .header(ACCEPT, "text/event-stream")
            .header(CACHE_CONTROL, "no-cache");
        if let Some(cursor) = cursor.and_then(|c| HeaderValue::from_str(&c).ok()) {
            request = request.header("last-event-id", cursor);
        }
        let mut response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .map_err(|_| failed("timed out".into()))?
            .map_err(|e| failed(fetch::describe(&e)))?;
        if !response.status().is_success() {
            return Err(FetchError::Status {
                url: stream.to_string(),
                status: response.status().as_u16(),
            });
        }
        let mut parser = SseParser::default();
        loop {
            let chunk = tokio::time::timeout(IDLE_TIMEOUT, response.chunk())
                .await
                .map_err(|_| failed("idle for too long".into()))?
                .map_err(|e| failed(fetch::describe(&e)))?;
            let Some(chunk) = chunk else { return Ok(()) };
            for event in parser.feed(&chunk).map_err(|e| failed(e.into()))? {
                match serde_json::from_str(&event.data) {
                    Ok(entry) => self.apply_json(entry),
                    Err(e) => tracing::warn!(error = %e, "unreadable revocation event ignored"),
                }
                if let Some(id) = event.id {
                    self.set_cursor(id);
                }
            }
        }
    }
}

fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{path}", base.path().trim_end_matches('/'));
    url.set_path(&joined);
    url.set_query(None);
    url.set_fragment(None);
    url
}

/// The background task following a revocation feed; dropping it stops the task.
#[derive(Debug)]
pub struct Subscription {
    task: JoinHandle<()>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One dispatched Server-Sent Event.
#[derive(Debug, PartialEq, Eq)]
struct SseEvent {
    id: Option<String>,
    data: String,
}

/// An incremental parser for the `text/event-stream` format (fields `id` and `data`;
/// `event`, `retry` and comments are ignored).
#[derive(Debug, Default)]
struct SseParser {
    line: Vec<u8>,
    data: Option<String>,
    id: Option<String>,
    after_cr: bool,
}

impl SseParser {
    fn feed(&mut self, bytes: &[u8]) -> Result<Vec<SseEvent>, &'static str> {
        let mut events = Vec::new();
        for &b in bytes {
            // CRLF, CR and LF all end a line.
            if self.after_cr && b == b'\n' {
                self.after_cr = false;
                continue;
            }
            self.after_cr = b == b'\r';
            if b == b'\n' || b == b'\r' {
                let line = std::mem::take(&mut self.line);
                if let Some(e) = self.line_done(&line) {
                    events.push(e);
                }
            } else {
                if self.line.len() >= MAX_LINE {
                    return Err("event stream line too long");
                }
                self.line.push(b);
            }
        }
        Ok(events)
    }

    fn line_done(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            let data = self.data.take()?;
            return Some(SseEvent {
                id: self.id.clone(),
                data,
            });
        }
        let text = String::from_utf8_lossy(line);
        if text.starts_with(':') {
            return None;
        }
        let (field, value) = match text.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (text.as_ref(), ""),
        };
        match field {
            "data" => match &mut self.data {
                // Several data lines make one event, joined with newlines.
                Some(data) => {
                    if data.len() > MAX_LINE {
                        return None;
                    }
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_contract::ManualClock;

    #[test]
    fn sse_events_with_ids_comments_and_line_endings() {
        let mut p = SseParser::default();
        let mut events = p
            .feed(b": keepalive\n\nid: 7\ndata: {\"a\":1}\n\n")
            .unwrap();
        events.extend(p.feed(b"id:8\r\nevent: revocation\r\nda").unwrap());
        events.extend(p.feed(b"ta: x\r\n\r\ndata: y\rdata:z\r\r").unwrap());
        assert_eq!(
            events,
            vec![
                SseEvent {
                    id: Some("7".into()),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    id: Some("8".into()),
                    data: "x".into()
                },
                SseEvent {
                    id: Some("8".into()),
                    data: "y\nz".into()
                },
            ]
        );
        assert!(p.feed(&vec![b'a'; MAX_LINE + 1]).is_err());
    }

    #[test]
    fn revoked_until_expiry() {
        let clock = ManualClock::new();
        let r = Revocations::new(Arc::new(clock.clone()));
        let now = clock.unix_secs();
        r.revoke(RevocationKind::Jti, "t1", now + 60);
        r.revoke(RevocationKind::Session, "s1", now + 600);
        assert!(r.is_revoked(RevocationKind::Jti, "t1"));
        assert!(!r.is_revoked(RevocationKind::Session, "t1"));
        assert!(r.is_revoked(RevocationKind::Session, "s1"));
        clock.advance(Duration::from_secs(61));
        assert!(!r.is_revoked(RevocationKind::Jti, "t1"));
        assert!(r.is_revoked(RevocationKind::Session, "s1"));
    }

    #[test]
    fn endpoints_keep_a_base_path() {
        let base = Url::parse("http://127.0.0.1:1/auth/").unwrap();
        assert_eq!(
            endpoint(&base, "revocations/stream").as_str(),
            "http://127.0.0.1:1/auth/revocations/stream"
        );
    }
}
