//! A remote JSON Web Key Set, fetched and cached: `Cache-Control: max-age` honoured within
//! bounds, conditional requests with `ETag`, refresh ahead of expiry in the background, one
//! single-flight refetch per cooldown for unknown `kid`s, and the last good set kept
//! through an outage (stale-if-error, bounded).
//!
//! Every decision reads the injected [`Clock`], so the whole life cycle can be tested in
//! simulated time.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use http::header::{HeaderMap, HeaderValue, AGE, CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use http::StatusCode;
use serde::Deserialize;
use tessera_jose::KeySet;
use url::Url;

use crate::error::{Error, FetchError};
use crate::fetch;
use tessera_contract::{Clock, SystemClock};

/// How a [`RemoteJwks`] fetches and caches. The defaults follow the specification.
#[derive(Debug, Clone)]
pub struct JwksOptions {
    /// Timeout of one fetch, connection included (default 5 s).
    pub fetch_timeout: Duration,
    /// Lifetime of a set served without `Cache-Control: max-age` (default 10 min).
    pub default_max_age: Duration,
    /// Shortest lifetime honoured, whatever the server says (default 30 s).
    pub min_max_age: Duration,
    /// Longest lifetime honoured, whatever the server says (default 24 h).
    pub max_max_age: Duration,
    /// Minimum time between two refetches caused by unknown `kid`s (default 30 s).
    pub unknown_kid_cooldown: Duration,
    /// How long after its expiry the last good set is still used while fetches fail
    /// (default 24 h).
    pub stale_if_error: Duration,
    /// Minimum time between a failed fetch and the next attempt (default 10 s; at most
    /// 1 s while no set has ever been fetched).
    pub error_retry: Duration,
    /// Largest accepted response body (default 1 MiB).
    pub max_body: usize,
}

impl Default for JwksOptions {
    fn default() -> Self {
        JwksOptions {
            fetch_timeout: Duration::from_secs(5),
            default_max_age: Duration::from_secs(600),
            min_max_age: Duration::from_secs(30),
            max_max_age: Duration::from_secs(86_400),
            unknown_kid_cooldown: Duration::from_secs(30),
            stale_if_error: Duration::from_secs(86_400),
            error_retry: Duration::from_secs(10),
            max_body: fetch::MAX_BODY,
        }
    }
}

/// Where the key set lives.
#[derive(Debug)]
enum Location {
    /// A JWKS URL given directly.
    Jwks(Url),
    /// An issuer whose `/.well-known/openid-configuration` names the JWKS URL.
    Discovery { issuer: String, document: Url },
}

/// A set as fetched, with its cache timings.
#[derive(Debug)]
struct Cached {
    keys: Arc<KeySet>,
    expires_at: SystemTime,
    refresh_at: SystemTime,
    etag: Option<HeaderValue>,
    /// The lifetime the last response gave, kept for a 304 that does not restate it.
    ttl: Duration,
}

type Inflight = Shared<BoxFuture<'static, Result<(), FetchError>>>;

#[derive(Default)]
struct Control {
    inflight: Option<Inflight>,
    jwks_url: Option<Url>,
    retry_after: Option<SystemTime>,
    last_error: Option<FetchError>,
    last_kid_refetch: Option<SystemTime>,
}

struct Inner {
    location: Location,
    options: JwksOptions,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    current: ArcSwapOption<Cached>,
    control: Mutex<Control>,
    fetches: AtomicU64,
}

/// A cached remote key set. Cloning is cheap and shares the cache.
///
/// ```no_run
/// # async fn run() -> Result<(), tessera_verifier::Error> {
/// use tessera_verifier::{JwksOptions, RemoteJwks};
///
/// let jwks = RemoteJwks::new("https://auth.example.com/.well-known/jwks.json", JwksOptions::default())?;
/// let keys = jwks.key_set().await?;
/// println!("{} usable keys", keys.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct RemoteJwks {
    inner: Arc<Inner>,
}

impl RemoteJwks {
    /// A key set at this URL (`https`, or `http` to a loopback host), on the system clock.
    pub fn new(jwks_url: &str, options: JwksOptions) -> Result<RemoteJwks, Error> {
        RemoteJwks::with_clock(jwks_url, options, Arc::new(SystemClock))
    }

    /// A key set at this URL, on the given clock.
    pub fn with_clock(
        jwks_url: &str,
        options: JwksOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<RemoteJwks, Error> {
        let url = fetch::parse_url(jwks_url).map_err(|e| Error::Config(e.to_string()))?;
        RemoteJwks::build(Location::Jwks(url), options, clock)
    }

    /// The key set of an OpenID issuer, found through
    /// `{issuer}/.well-known/openid-configuration` on first use. The document's `issuer`
    /// must equal `issuer` exactly.
    pub fn discover(
        issuer: &str,
        options: JwksOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<RemoteJwks, Error> {
        let base = fetch::parse_url(issuer).map_err(|e| Error::Config(e.to_string()))?;
        let path = format!(
            "{}/.well-known/openid-configuration",
            base.path().trim_end_matches('/')
        );
        let mut document = base;
        document.set_path(&path);
        document.set_query(None);
        document.set_fragment(None);
        RemoteJwks::build(
            Location::Discovery {
                issuer: issuer.to_owned(),
                document,
            },
            options,
            clock,
        )
    }

    fn build(
        location: Location,
        options: JwksOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<RemoteJwks, Error> {
        let client =
            fetch::client(Some(options.fetch_timeout)).map_err(|e| Error::Config(e.to_string()))?;
        Ok(RemoteJwks {
            inner: Arc::new(Inner {
                location,
                options,
                client,
                clock,
                current: ArcSwapOption::empty(),
                control: Mutex::new(Control::default()),
                fetches: AtomicU64::new(0),
            }),
        })
    }

    /// What this source is, for logs: the JWKS URL or the issuer.
    pub fn describe(&self) -> String {
        match &self.inner.location {
            Location::Jwks(url) => url.to_string(),
            Location::Discovery { issuer, .. } => issuer.clone(),
        }
    }

    /// How many fetches of the key set (not counting discovery) have started.
    pub fn fetch_count(&self) -> u64 {
        self.inner.fetches.load(Ordering::SeqCst)
    }

    /// The current key set: the cached one while it is fresh (starting a background refresh
    /// once three quarters of its lifetime have passed), a fetched one when it has expired
    /// (the caller waits for that fetch, at most one timeout), or the expired one while
    /// fetches fail, for up to [`JwksOptions::stale_if_error`] (then without waiting: the
    /// retries, at most one per [`JwksOptions::error_retry`], run in the background).
    pub async fn key_set(&self) -> Result<Arc<KeySet>, Error> {
        let now = self.inner.clock.now();
        let cached = self.inner.current.load_full();
        if let Some(c) = &cached {
            if now < c.expires_at {
                if now >= c.refresh_at {
                    self.refresh_in_background(now);
                }
                return Ok(c.keys.clone());
            }
            // Already in an outage (the last fetch failed): keep serving the stale set at
            // once and retry behind the callers, so an issuer that hangs delays nobody.
            let stale_usable = now < c.expires_at + self.inner.options.stale_if_error;
            if stale_usable && self.control().last_error.is_some() {
                self.refresh_in_background(now);
                return Ok(c.keys.clone());
            }
        }
        let (outcome, attempted) = match self.join_or_start(now, None) {
            Some((fetch, _)) => (fetch.await, true),
            None => match self.inner.current.load_full() {
                // A fetch landed between reading the cache and taking the lock.
                Some(c) if now < c.expires_at => return Ok(c.keys.clone()),
                _ => (Err(self.last_error()), false),
            },
        };
        match (outcome, cached) {
            (Ok(()), _) => self.loaded(),
            (Err(e), Some(c)) if now < c.expires_at + self.inner.options.stale_if_error => {
                // Logged once per attempt, not once per request served from the stale set.
                if attempted {
                    tracing::warn!(
                        jwks = %self.describe(), error = %e,
                        "key set fetch failed; using the last good set (stale-if-error)"
                    );
                }
                Ok(c.keys.clone())
            }
            (Err(e), _) => Err(Error::KeysUnavailable {
                issuer: self.describe(),
                cause: e,
            }),
        }
    }

    /// The key set to verify a token naming `kid`. When the cached set lacks that `kid`, one
    /// refetch is made (shared by every caller, at most one per
    /// [`JwksOptions::unknown_kid_cooldown`]); the set returned may still lack it.
    pub async fn key_set_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, Error> {
        let set = self.key_set().await?;
        let Some(kid) = kid else { return Ok(set) };
        if set.contains_kid(kid) {
            return Ok(set);
        }
        let now = self.inner.clock.now();
        let started = std::time::Instant::now();
        let Some((fetch, joined)) = self.join_or_start(now, Some(kid)) else {
            // In the cooldown, or a refetch that completed since `set` was read already
            // brought the kid: the current set is the answer either way.
            return Ok(self
                .inner
                .current
                .load_full()
                .map_or(set, |c| c.keys.clone()));
        };
        if let Err(e) = fetch.await {
            tracing::warn!(jwks = %self.describe(), error = %e, "refetch for an unknown kid failed");
        }
        if joined {
            // The fetch joined was already under way (a background refresh, say) and may
            // have started before the key was published: if it did not bring the kid, one
            // refetch of our own, under the same cooldown.
            let brought = self
                .inner
                .current
                .load()
                .as_ref()
                .is_some_and(|c| c.keys.contains_kid(kid));
            if !brought {
                if let Some((fetch, _)) = self.join_or_start(self.inner.clock.now(), Some(kid)) {
                    // Callers wait at most one fetch timeout in all: the rest of it here.
                    // The fetch runs in its own task and lands for later callers anyway.
                    let budget = self
                        .inner
                        .options
                        .fetch_timeout
                        .saturating_sub(started.elapsed());
                    let outcome = if tokio::runtime::Handle::try_current().is_ok() {
                        tokio::time::timeout(budget, fetch).await.ok()
                    } else {
                        Some(fetch.await)
                    };
                    if let Some(Err(e)) = outcome {
                        tracing::warn!(jwks = %self.describe(), error = %e, "refetch for an unknown kid failed");
                    }
                }
            }
        }
        let latest = self
            .inner
            .current
            .load_full()
            .map_or(set, |c| c.keys.clone());
        if latest.contains_kid(kid) {
            // A real new key (a rotation, possibly `rotate --now`): the refetch was useful, so
            // it does not hold back the next one. Only refetches that find nothing, as a
            // flood of made-up kids does, start the cooldown.
            self.control().last_kid_refetch = None;
        }
        Ok(latest)
    }

    /// Fetches now (or joins a fetch in progress), ignoring cache lifetimes and backoff.
    pub async fn refresh(&self) -> Result<(), FetchError> {
        let fetch = {
            let mut control = self.control();
            match &control.inflight {
                Some(f) => f.clone(),
                None => self.start(&mut control),
            }
        };
        fetch.await
    }

    fn loaded(&self) -> Result<Arc<KeySet>, Error> {
        self.inner
            .current
            .load_full()
            .map(|c| c.keys.clone())
            .ok_or_else(|| Error::KeysUnavailable {
                issuer: self.describe(),
                cause: FetchError::NotFetched,
            })
    }

    fn last_error(&self) -> FetchError {
        self.control()
            .last_error
            .clone()
            .unwrap_or(FetchError::NotFetched)
    }

    fn control(&self) -> MutexGuard<'_, Control> {
        // A poisoned lock only means a panic elsewhere mid-update; the state stays usable.
        self.inner
            .control
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn refresh_in_background(&self, now: SystemTime) {
        // The fetch runs in its own task, so dropping the handle does not cancel it. Without
        // a runtime nothing would drive it: the set is then refreshed when it expires.
        if tokio::runtime::Handle::try_current().is_ok() {
            drop(self.join_or_start(now, None));
        }
    }

    /// The fetch to wait for: the one in flight (`true`: joined), else a new one unless a
    /// set that needs no refresh landed since the caller looked, a recent failure (or, for
    /// an unknown kid, a recent kid refetch) says to wait.
    fn join_or_start(
        &self,
        now: SystemTime,
        unknown_kid: Option<&str>,
    ) -> Option<(Inflight, bool)> {
        let mut control = self.control();
        if let Some(f) = &control.inflight {
            return Some((f.clone(), true));
        }
        // The caller saw an expired or ageing set, but a fetch may have landed since it
        // looked (the fetch stores its set before it stops being in flight): a set that
        // needs no refresh yet needs no second fetch either.
        let landed = || {
            self.inner
                .current
                .load()
                .as_ref()
                .is_some_and(|c| now < c.refresh_at)
        };
        if unknown_kid.is_none() && landed() {
            return None;
        }
        if control.retry_after.is_some_and(|t| now < t) {
            return None;
        }
        if let Some(kid) = unknown_kid {
            // A fetch that finished after the caller read the set may already have brought
            // the kid (a fetch stores its set before it stops being in flight): then
            // there is nothing to fetch, and the caller reads the current set.
            let known = self
                .inner
                .current
                .load()
                .as_ref()
                .is_some_and(|c| c.keys.contains_kid(kid));
            if known {
                return None;
            }
            let cooldown = self.inner.options.unknown_kid_cooldown;
            if control.last_kid_refetch.is_some_and(|t| now < t + cooldown) {
                return None;
            }
            control.last_kid_refetch = Some(now);
        }
        Some((self.start(&mut control), false))
    }

    fn start(&self, control: &mut Control) -> Inflight {
        let inner = self.inner.clone();
        let job = async move {
            let outcome = inner.fetch().await;
            let now = inner.clock.now();
            let mut control = inner
                .control
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            control.inflight = None;
            match &outcome {
                Ok(()) => {
                    control.retry_after = None;
                    control.last_error = None;
                }
                Err(e) => {
                    // With nothing cached every request fails until a fetch succeeds, so
                    // retry sooner (an issuer started after its resource servers).
                    let wait = if inner.current.load().is_some() {
                        inner.options.error_retry
                    } else {
                        inner.options.error_retry.min(Duration::from_secs(1))
                    };
                    control.retry_after = Some(now + wait);
                    control.last_error = Some(e.clone());
                }
            }
            outcome
        };
        // In its own task the fetch finishes even if every caller gives up waiting; outside
        // a Tokio runtime it runs in whichever caller polls it.
        let fetch = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let task = runtime.spawn(job);
                let inner = self.inner.clone();
                async move {
                    task.await.unwrap_or_else(|e| {
                        // The task did not get to clear its own state (it panicked): do it
                        // here, or every later caller would join this dead fetch forever.
                        let error = FetchError::Request {
                            url: String::new(),
                            reason: format!("fetch task ended abnormally: {e}"),
                        };
                        let mut control = inner
                            .control
                            .lock()
                            .unwrap_or_else(|poisoned| poisoned.into_inner());
                        control.inflight = None;
                        control.retry_after = Some(inner.clock.now() + inner.options.error_retry);
                        control.last_error = Some(error.clone());
                        Err(error)
                    })
                }
                .boxed()
            }
            Err(_) => job.boxed(),
        }
        .shared();
        control.inflight = Some(fetch.clone());
        fetch
    }
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("location", &self.location)
            .field("options", &self.options)
            .field("fetches", &self.fetches)
            .finish_non_exhaustive()
    }
}

impl Inner {
    async fn fetch(&self) -> Result<(), FetchError> {
        let url = self.jwks_url().await?;
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let previous = self.current.load_full();
        let mut headers = HeaderMap::new();
        if let Some(etag) = previous.as_ref().and_then(|c| c.etag.clone()) {
            headers.insert(IF_NONE_MATCH, etag);
        }
        let response = fetch::get(&self.client, &url, headers, self.options.max_body)
            .await
            .inspect_err(|e| {
                tracing::warn!(jwks = %url, error = %e, "key set fetch failed");
                self.forget_discovered_url();
            })?;
        let now = self.clock.now();
        let mut ttl = self.lifetime(&response.headers);
        let mut etag = response.headers.get(ETAG).cloned();
        let keys = match (response.status, previous) {
            (StatusCode::NOT_MODIFIED, Some(previous)) => {
                // A 304 updates only what it states (RFC 9111 section 4.3.4): without its
                // own validator or freshness, the stored ones still hold.
                if etag.is_none() {
                    etag.clone_from(&previous.etag);
                }
                if !response.headers.contains_key(CACHE_CONTROL) {
                    ttl = previous.ttl;
                }
                tracing::debug!(jwks = %url, ?ttl, "key set not modified");
                previous.keys.clone()
            }
            (StatusCode::OK, _) => Arc::new(self.parse(&url, &response.body)?),
            (status, _) => {
                // The provider may have moved its keys: discover again next time.
                self.forget_discovered_url();
                let e = FetchError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                };
                tracing::warn!(jwks = %url, error = %e, "key set fetch failed");
                return Err(e);
            }
        };
        self.current.store(Some(Arc::new(Cached {
            keys,
            expires_at: now + ttl,
            // Refresh in the background once three quarters of the lifetime have passed.
            refresh_at: now + ttl.mul_f64(0.75),
            etag,
            ttl,
        })));
        Ok(())
    }

    fn parse(&self, url: &Url, body: &[u8]) -> Result<KeySet, FetchError> {
        let invalid = |reason: String| {
            let e = FetchError::Invalid {
                url: url.to_string(),
                reason,
            };
            tracing::warn!(jwks = %url, error = %e, "key set refused; keeping the previous one");
            e
        };
        let keys = KeySet::from_slice(body).map_err(|e| invalid(e.to_string()))?;
        for skipped in keys.skipped() {
            tracing::warn!(
                jwks = %url, index = skipped.index, kid = ?skipped.kid, reason = %skipped.reason,
                "skipped a key of the set"
            );
        }
        let mut seen = HashSet::new();
        for kid in keys.keys().iter().filter_map(|k| k.kid()) {
            if !seen.insert(kid) {
                tracing::warn!(jwks = %url, kid, "several keys share this kid; each is tried in turn");
            }
        }
        if keys.is_empty() {
            return Err(invalid("no usable key in the set".into()));
        }
        tracing::info!(jwks = %url, keys = keys.len(), skipped = keys.skipped().len(), "key set loaded");
        Ok(keys)
    }

    /// `max-age` (less `Age`), clamped; `no-cache`/`no-store` give the minimum.
    fn lifetime(&self, headers: &HeaderMap) -> Duration {
        let o = &self.options;
        let mut ttl = o.default_max_age;
        for value in headers.get_all(CACHE_CONTROL) {
            let Ok(text) = value.to_str() else { continue };
            for directive in text.split(',').map(str::trim) {
                let lower = directive.to_ascii_lowercase();
                if lower == "no-cache" || lower == "no-store" {
                    ttl = Duration::ZERO;
                } else if let Some(v) = lower.strip_prefix("max-age=") {
                    if let Ok(secs) = v.trim_matches('"').parse::<u64>() {
                        ttl = Duration::from_secs(secs);
                    }
                }
            }
        }
        let age = headers
            .get(AGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(Duration::ZERO, Duration::from_secs);
        ttl.saturating_sub(age)
            .clamp(o.min_max_age, o.max_max_age.max(o.min_max_age))
    }

    /// After a failed fetch from a discovered URL, the next fetch reads the discovery
    /// document again.
    fn forget_discovered_url(&self) {
        if matches!(self.location, Location::Discovery { .. }) {
            self.control
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .jwks_url = None;
        }
    }

    async fn jwks_url(&self) -> Result<Url, FetchError> {
        let (issuer, document) = match &self.location {
            Location::Jwks(url) => return Ok(url.clone()),
            Location::Discovery { issuer, document } => (issuer, document),
        };
        let known = self
            .control
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .jwks_url
            .clone();
        if let Some(url) = known {
            return Ok(url);
        }
        let url = discover(&self.client, issuer, document, self.options.max_body).await?;
        tracing::info!(issuer, jwks = %url, "discovered the key set");
        self.control
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .jwks_url = Some(url.clone());
        Ok(url)
    }
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    jwks_uri: String,
}

/// Reads an OpenID Provider configuration and returns its `jwks_uri`, after checking that
/// the document speaks for `issuer`.
async fn discover(
    client: &reqwest::Client,
    issuer: &str,
    document: &Url,
    limit: usize,
) -> Result<Url, FetchError> {
    let response = fetch::get(client, document, HeaderMap::new(), limit).await?;
    if response.status != StatusCode::OK {
        return Err(FetchError::Status {
            url: document.to_string(),
            status: response.status.as_u16(),
        });
    }
    let invalid = |reason: String| FetchError::Invalid {
        url: document.to_string(),
        reason,
    };
    let doc: DiscoveryDocument =
        serde_json::from_slice(&response.body).map_err(|e| invalid(e.to_string()))?;
    if doc.issuer != issuer {
        return Err(invalid(format!(
            "document is for issuer {:?}, expected {issuer:?}",
            doc.issuer
        )));
    }
    let url = Url::parse(&doc.jwks_uri).map_err(|e| invalid(format!("jwks_uri: {e}")))?;
    fetch::check_url(&url)?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner(options: JwksOptions) -> RemoteJwks {
        RemoteJwks::new("http://127.0.0.1:9/jwks.json", options).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn lifetime_honours_max_age_within_bounds() {
        let j = inner(JwksOptions::default());
        let l = |pairs: &[(&str, &str)]| j.inner.lifetime(&headers(pairs)).as_secs();
        assert_eq!(l(&[]), 600);
        assert_eq!(l(&[("cache-control", "public, max-age=120")]), 120);
        assert_eq!(l(&[("cache-control", "Max-Age=\"300\"")]), 300);
        assert_eq!(l(&[("cache-control", "max-age=1")]), 30);
        assert_eq!(l(&[("cache-control", "max-age=99999999")]), 86_400);
        assert_eq!(l(&[("cache-control", "no-store")]), 30);
        assert_eq!(l(&[("cache-control", "max-age=300"), ("age", "100")]), 200);
        assert_eq!(l(&[("cache-control", "max-age=nonsense")]), 600);
    }

    /// Eight requests arrive before the first fetch: one reads the empty cache, is
    /// preempted, and reaches the lock only after that fetch has landed. It must use the
    /// landed set, not fetch a second time (the server here would refuse: port 9).
    #[tokio::test]
    async fn a_set_that_landed_meanwhile_is_used_not_fetched_again() {
        let j = inner(JwksOptions::default());
        let now = SystemTime::now();
        let landed = Arc::new(KeySet::default());
        j.inner.current.store(Some(Arc::new(Cached {
            keys: landed.clone(),
            expires_at: now + Duration::from_secs(600),
            refresh_at: now + Duration::from_secs(450),
            etag: None,
            ttl: Duration::from_secs(600),
        })));
        // What the late caller does after finding the cache empty.
        assert!(j.join_or_start(now, None).is_none());
        assert!(j.control().inflight.is_none());
        let keys = j.key_set().await.unwrap();
        assert!(Arc::ptr_eq(&keys, &landed));
        assert_eq!(j.fetch_count(), 0);
        // Past the refresh point the same call does start a (background) refresh.
        let later = now + Duration::from_secs(451);
        assert!(j
            .join_or_start(later, None)
            .is_some_and(|(_, joined)| !joined));
    }

    #[test]
    fn discovery_url_is_under_the_issuer_path() {
        let j = RemoteJwks::discover(
            "https://auth.example.com/realms/x/",
            JwksOptions::default(),
            Arc::new(SystemClock),
        )
        .unwrap();
        match &j.inner.location {
            Location::Discovery { document, .. } => assert_eq!(
                document.as_str(),
                "https://auth.example.com/realms/x/.well-known/openid-configuration"
            ),
            Location::Jwks(_) => panic!("expected discovery"),
        }
        assert!(RemoteJwks::discover(
            "http://auth.example.com",
            JwksOptions::default(),
            Arc::new(SystemClock)
        )
        .is_err());
    }
}
