//! Server configuration: defaults, a TOML file, and the merge that the CLI does with env
//! and flags (flags > env > file > defaults).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tessera_jose::Algorithm;

use crate::error::{Error, Result};

/// The running configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Database URL: `sqlite://FILE` or `postgres://...`.
    pub database_url: String,
    /// The `iss` of every token, and the base of the discovery document.
    pub issuer: String,
    /// The `aud` of user tokens.
    pub audience: String,
    /// The signing algorithm.
    pub alg: Algorithm,
    /// Access-token lifetime in seconds (default 20 minutes, as the seed).
    pub token_ttl: u64,
    /// Refresh-token lifetime in seconds (each refresh issues a new one).
    pub refresh_ttl: u64,
    /// Absolute lifetime of a login session in seconds: refreshing never extends it.
    pub session_lifetime: u64,
    /// Live sessions per user at most; a new login ends the oldest beyond it.
    pub max_sessions_per_user: usize,
    /// How long a browser stays signed in after it signed in on the login page, in seconds
    /// (absolute). Tokens issued in its session live as long as any session's.
    pub browser_session_lifetime: u64,
    /// Scheduled rotation interval in seconds (default 30 days).
    pub rotation_interval: u64,
    /// How long a new key is published before it signs, in seconds (must exceed the JWKS
    /// max-age, so every cache has seen it before a token needs it).
    pub prepublish: u64,
    /// `Cache-Control: max-age` of the JWKS, in seconds.
    pub jwks_max_age: u64,
    /// Clock-skew allowance added to every "still valid" computation, in seconds.
    pub leeway: u64,
    /// Create the demo users on start.
    pub demo: bool,
    /// Where the master key lives when `TESSERA_MASTER_KEY` is not set.
    pub master_key_file: PathBuf,
    /// Bind tokens to a `__Host-Fgp` cookie (the seed's sidejacking defence).
    pub fingerprint_cookie: bool,
    /// Demand a server nonce in every DPoP proof at the token and login endpoints
    /// (RFC 9449 section 8): a proof can then not be made ahead of time.
    pub dpop_nonce: bool,
    /// How old a DPoP proof's `iat` may be, in seconds (it may be 5 s ahead at most).
    pub dpop_window: u64,
    /// The resource servers' encryption key (a JWK or PEM file): when set, access tokens
    /// are nested JWTs, signed then encrypted to it. A private key (or a shared `oct` one)
    /// also lets the server read them back at its own endpoints (UserInfo, logout,
    /// introspection); with only the public key, those refuse encrypted tokens.
    pub encrypt_access_tokens: Option<PathBuf>,
    /// How often the server rereads keys from the database, in milliseconds.
    pub reload_interval_ms: u64,
    /// How often the revocation feed polls the database, in milliseconds.
    pub revocation_poll_ms: u64,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Failed logins allowed per user name within the window.
    pub max_failures_per_user: u32,
    /// Failed logins allowed per client address within the window.
    pub max_failures_per_address: u32,
    /// The failed-login window in seconds.
    pub failure_window: u64,
    /// PEM certificate chain for serving HTTPS directly.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for serving HTTPS directly.
    pub tls_key: Option<PathBuf>,
    /// Open client connections at most (`None`: below the process's descriptor limit,
    /// raised to its hard limit at start).
    pub max_connections: Option<usize>,
    /// Revocation event streams open at once at most (each holds a connection for as long
    /// as its resource server runs).
    pub max_event_streams: usize,
    /// Serve `/metrics` on this address only, instead of on the main listener.
    pub metrics_listen: Option<SocketAddr>,
    /// Require `Authorization: Bearer <token>` for `/metrics`.
    pub metrics_token: Option<Secret>,
}

/// A secret setting: compared in constant time, never shown by `Debug`.
#[derive(Clone)]
pub struct Secret(zeroize::Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(zeroize::Zeroizing::new(value.into()))
    }

    /// True if `presented` is this secret (constant time).
    pub fn matches(&self, presented: &str) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(self.0.as_bytes(), presented.as_bytes())
            .is_ok()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3001";
/// Default database.
pub const DEFAULT_DATABASE: &str = "sqlite://tessera.db";

impl Config {
    /// The defaults for a listen address.
    pub fn with_defaults(listen: SocketAddr) -> Config {
        Config {
            listen,
            database_url: DEFAULT_DATABASE.into(),
            issuer: format!("http://{listen}"),
            audience: "tessera".into(),
            alg: Algorithm::RS256,
            token_ttl: 20 * 60,
            refresh_ttl: 14 * 86_400,
            session_lifetime: 30 * 86_400,
            max_sessions_per_user: 20,
            browser_session_lifetime: 8 * 3600,
            rotation_interval: 30 * 86_400,
            prepublish: 3600,
            jwks_max_age: 300,
            leeway: 60,
            demo: false,
            master_key_file: PathBuf::from("tessera-master.key"),
            fingerprint_cookie: false,
            dpop_nonce: false,
            dpop_window: 60,
            encrypt_access_tokens: None,
            reload_interval_ms: 2000,
            revocation_poll_ms: 250,
            trust_forwarded_for: false,
            max_failures_per_user: 5,
            max_failures_per_address: 20,
            failure_window: 300,
            tls_cert: None,
            tls_key: None,
            max_connections: None,
            max_event_streams: 256,
            metrics_listen: None,
            metrics_token: None,
        }
    }

    /// The database URL with any password replaced, for logs and messages.
    pub fn redacted_database_url(&self) -> String {
        crate::db::redact(&self.database_url)
    }

    /// Checks the values make sense together.
    pub fn validate(&self) -> Result<()> {
        if self.alg.is_symmetric() {
            return Err(Error::Config(format!(
                "{} is symmetric; the server signs with asymmetric keys only",
                self.alg
            )));
        }
        if self.token_ttl == 0 || self.token_ttl > 86_400 {
            return Err(Error::Config(
                "token_ttl must be between 1 s and 1 day".into(),
            ));
        }
        // Upper bounds keep every time computation far from overflow and catch unit
        // mistakes (milliseconds given as seconds).
        for (name, value, min, max) in [
            ("refresh_ttl", self.refresh_ttl, 1, 366 * 86_400),
            ("session_lifetime", self.session_lifetime, 60, 366 * 86_400),
            (
                "browser_session_lifetime",
                self.browser_session_lifetime,
                60,
                366 * 86_400,
            ),
            ("leeway", self.leeway, 0, 3600),
            ("jwks_max_age", self.jwks_max_age, 0, 7 * 86_400),
            ("prepublish", self.prepublish, 1, 60 * 86_400),
            (
                "rotation_interval",
                self.rotation_interval,
                1,
                10 * 366 * 86_400,
            ),
            ("failure_window", self.failure_window, 1, 86_400),
            ("dpop_window", self.dpop_window, 1, 3600),
        ] {
            if value < min || value > max {
                return Err(Error::Config(format!(
                    "{name} must be between {min} and {max} seconds (it is {value})"
                )));
            }
        }
        if self.max_failures_per_user == 0 || self.max_failures_per_address == 0 {
            return Err(Error::Config(
                "max_failures_per_user and max_failures_per_address must be at least 1".into(),
            ));
        }
        if self.prepublish <= self.jwks_max_age {
            return Err(Error::Config(format!(
                "prepublish ({} s) must be longer than jwks_max_age ({} s), or caches may not \
                 know a new key when it starts signing",
                self.prepublish, self.jwks_max_age
            )));
        }
        if self.rotation_interval <= self.prepublish {
            return Err(Error::Config(
                "rotation_interval must be longer than prepublish".into(),
            ));
        }
        if self.max_sessions_per_user == 0 || self.max_sessions_per_user > 10_000 {
            return Err(Error::Config(
                "max_sessions_per_user must be between 1 and 10000".into(),
            ));
        }
        if self.max_connections == Some(0) || self.max_event_streams == 0 {
            return Err(Error::Config(
                "max_connections and max_event_streams must be at least 1".into(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(Error::Config("tls_cert and tls_key go together".into()));
        }
        Ok(())
    }
}

/// The TOML file: every key optional, unknown keys refused (a typo must not silently fall
/// back to a default).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// See [`Config::listen`].
    pub listen: Option<SocketAddr>,
    /// See [`Config::database_url`].
    pub db: Option<String>,
    /// See [`Config::issuer`].
    pub issuer: Option<String>,
    /// See [`Config::audience`].
    pub audience: Option<String>,
    /// See [`Config::alg`].
    pub alg: Option<String>,
    /// See [`Config::token_ttl`].
    pub token_ttl: Option<u64>,
    /// See [`Config::refresh_ttl`].
    pub refresh_ttl: Option<u64>,
    /// See [`Config::session_lifetime`].
    pub session_lifetime: Option<u64>,
    /// See [`Config::max_sessions_per_user`].
    pub max_sessions_per_user: Option<usize>,
    /// See [`Config::browser_session_lifetime`].
    pub browser_session_lifetime: Option<u64>,
    /// See [`Config::rotation_interval`].
    pub rotation_interval: Option<u64>,
    /// See [`Config::prepublish`].
    pub prepublish: Option<u64>,
    /// See [`Config::jwks_max_age`].
    pub jwks_max_age: Option<u64>,
    /// See [`Config::leeway`].
    pub leeway: Option<u64>,
    /// See [`Config::demo`].
    pub demo: Option<bool>,
    /// See [`Config::master_key_file`].
    pub master_key_file: Option<PathBuf>,
    /// See [`Config::fingerprint_cookie`].
    pub fingerprint_cookie: Option<bool>,
    /// See [`Config::trust_forwarded_for`].
    pub trust_forwarded_for: Option<bool>,
    /// See [`Config::dpop_nonce`].
    pub dpop_nonce: Option<bool>,
    /// See [`Config::dpop_window`].
    pub dpop_window: Option<u64>,
    /// See [`Config::encrypt_access_tokens`].
    pub encrypt_access_tokens: Option<PathBuf>,
    /// See [`Config::max_failures_per_user`].
    pub max_failures_per_user: Option<u32>,
    /// See [`Config::max_failures_per_address`].
    pub max_failures_per_address: Option<u32>,
    /// See [`Config::failure_window`].
    pub failure_window: Option<u64>,
    /// See [`Config::tls_cert`].
    pub tls_cert: Option<PathBuf>,
    /// See [`Config::tls_key`].
    pub tls_key: Option<PathBuf>,
    /// See [`Config::max_connections`].
    pub max_connections: Option<usize>,
    /// See [`Config::max_event_streams`].
    pub max_event_streams: Option<usize>,
    /// See [`Config::metrics_listen`].
    pub metrics_listen: Option<SocketAddr>,
    /// See [`Config::metrics_token`] (prefer the environment, `TESSERA_METRICS_TOKEN`).
    pub metrics_token: Option<Secret>,
}

impl FileConfig {
    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text)
            .map_err(|e| Error::Config(format!("{}: {}", path.display(), e.message())))
    }

    /// Applies the file's values over `config` (the caller applies env and flags after).
    pub fn apply(&self, config: &mut Config) -> Result<()> {
        macro_rules! set {
            ($($field:ident => $target:ident),* $(,)?) => {
                $(if let Some(v) = &self.$field { config.$target = v.clone(); })*
            };
        }
        set!(
            db => database_url, issuer => issuer, audience => audience, token_ttl => token_ttl,
            refresh_ttl => refresh_ttl, rotation_interval => rotation_interval,
            session_lifetime => session_lifetime, max_sessions_per_user => max_sessions_per_user,
            browser_session_lifetime => browser_session_lifetime,
            prepublish => prepublish, jwks_max_age => jwks_max_age, leeway => leeway,
            demo => demo, master_key_file => master_key_file,
            fingerprint_cookie => fingerprint_cookie, trust_forwarded_for => trust_forwarded_for,
            max_failures_per_user => max_failures_per_user,
            max_failures_per_address => max_failures_per_address,
            failure_window => failure_window,
            dpop_nonce => dpop_nonce, dpop_window => dpop_window,
        );
        if self.max_connections.is_some() {
            config.max_connections = self.max_connections;
        }
        if let Some(n) = self.max_event_streams {
            config.max_event_streams = n;
        }
        if self.metrics_listen.is_some() {
            config.metrics_listen = self.metrics_listen;
        }
        if self.metrics_token.is_some() {
            config.metrics_token.clone_from(&self.metrics_token);
        }
        if let Some(alg) = &self.alg {
            config.alg = alg
                .parse()
                .map_err(|e| Error::Config(format!("alg: {e}")))?;
        }
        if self.tls_cert.is_some() {
            config.tls_cert.clone_from(&self.tls_cert);
        }
        if self.encrypt_access_tokens.is_some() {
            config
                .encrypt_access_tokens
                .clone_from(&self.encrypt_access_tokens);
        }
        if self.tls_key.is_some() {
            config.tls_key.clone_from(&self.tls_key);
        }
        Ok(())
    }
}
