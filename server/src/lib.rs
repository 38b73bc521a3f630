//! The Tessera auth server: password login, the OAuth token endpoint (client credentials,
//! rotating refresh tokens), revocation and introspection, the JWKS and discovery documents,
//! key rotation, and a revocation feed for resource servers.
//!
//! [`app`] builds the router from an [`AppState`], so tests drive it with
//! `tower::ServiceExt::oneshot` and no socket; [`serve`] is what `tessera serve` runs;
//! [`Admin`] is what `tessera user|client|key` do.

#![forbid(unsafe_code)]

mod accounts;
mod admin;
mod api;
mod config;
mod db;
mod dpop;
mod error;
mod keys;
mod metrics;
mod oauth;
mod oidc;
mod ops;
mod ratelimit;
mod revocations;
mod seal;
mod sessions;
mod tokens;
mod wellknown;

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

pub use accounts::{Client, ClientSpec, Profile, User};
pub use admin::{Access, Admin};
pub use config::{Config, FileConfig, Secret, DEFAULT_DATABASE, DEFAULT_LISTEN};
pub use db::Db;
pub use error::{Error, Result};
pub use keys::{Changes, KeyInfo, KeyManager, KeyState, Published};
pub use seal::{MasterKey, MasterKeySource};

use accounts::{Clients, PasswordChecker, Users};
use metrics::Metrics;
use ratelimit::FailureLimiter;
use revocations::Revocations;
use sessions::Sessions;
use tessera_contract::revocation as wire;
use tessera_contract::SharedClock;
use tessera_jose::Algorithm;
use tessera_listen::{Limits, Shutdown, ShutdownTrigger};
use tokens::TokenIssuer;

/// The key access tokens are encrypted to, and the one that reads them back (when the
/// file holds a private or shared key), from `encrypt_access_tokens`.
#[allow(clippy::type_complexity)]
fn access_token_encryption(
    config: &Config,
) -> Result<(
    Option<Arc<tessera_jose::jwe::EncryptionKey>>,
    Option<Arc<tessera_jose::jwe::DecryptionKey>>,
)> {
    let Some(path) = &config.encrypt_access_tokens else {
        return Ok((None, None));
    };
    let what = |e: &dyn std::fmt::Display| {
        Error::Config(format!("encrypt_access_tokens {}: {e}", path.display()))
    };
    let bytes = std::fs::read(path).map_err(|e| what(&e))?;
    let jwk = tessera_jose::pem::parse_key(&bytes).map_err(|e| what(&e))?;
    let encrypt = tessera_jose::jwe::EncryptionKey::from_jwk(&jwk, None).map_err(|e| what(&e))?;
    let decrypt = if jwk.is_private() {
        Some(Arc::new(
            tessera_jose::jwe::DecryptionKey::from_jwk(&jwk, None).map_err(|e| what(&e))?,
        ))
    } else {
        tracing::warn!(
            "access tokens are encrypted to a public key only: UserInfo, logout and introspection cannot read them"
        );
        None
    };
    Ok((Some(Arc::new(encrypt)), decrypt))
}

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    config: Arc<Config>,
    db: Db,
    clock: SharedClock,
    keys: Arc<KeyManager>,
    users: Users,
    clients: Clients,
    passwords: PasswordChecker,
    issuer: TokenIssuer,
    sessions: Sessions,
    revocations: Revocations,
    limiter: Arc<FailureLimiter>,
    metrics: Arc<Metrics>,
    /// Fired when the server stops: ends the event streams so that the drain is quick.
    shutdown: Shutdown,
    stop: ShutdownTrigger,
    /// One permit per open revocation event stream.
    event_streams: Arc<tokio::sync::Semaphore>,
    /// Seals CSRF tokens and sign-in requests (and the private keys).
    master: Arc<MasterKey>,
    /// The sign-in pages.
    pages: Arc<oidc::pages::Pages>,
    /// Authorization codes.
    codes: oidc::codes::Codes,
    /// The origins browser applications may call from.
    cors_origins: Arc<oidc::cors::Origins>,
    /// DPoP proofs: the checker (its replay cache shared by every request) and nonces.
    pub(crate) dpop: Arc<dpop::Dpop>,
    /// Reads back encrypted access tokens at the server's own endpoints, when the
    /// configured encryption key is a private (or shared) one.
    pub(crate) own_decrypter: Option<Arc<tessera_jose::jwe::DecryptionKey>>,
}

impl AppState {
    /// Opens the database, checks the master key against it ([`MasterKey::check`]), and
    /// brings the keys up to date (creating the first signing key on a new database). Does
    /// not start background tasks.
    pub async fn open(config: Config, master: MasterKey, clock: SharedClock) -> Result<AppState> {
        let db = Db::connect(&config.database_url).await?;
        AppState::open_with_db(config, db, master, clock).await
    }

    /// [`AppState::open`] with the master key found for the database: `master_env`
    /// (`TESSERA_MASTER_KEY`), else the key file, created only for a database with nothing
    /// sealed yet ([`MasterKey::for_database`]). Says where the key came from.
    pub async fn open_with_master_key(
        config: Config,
        master_env: Option<&str>,
        clock: SharedClock,
    ) -> Result<(AppState, MasterKeySource)> {
        config.validate()?;
        let db = Db::connect(&config.database_url).await?;
        let (master, source) =
            MasterKey::for_database(&db, master_env, &config.master_key_file).await?;
        let state = AppState::open_with_db(config, db, master, clock).await?;
        Ok((state, source))
    }

    async fn open_with_db(
        config: Config,
        db: Db,
        master: MasterKey,
        clock: SharedClock,
    ) -> Result<AppState> {
        config.validate()?;
        let config = Arc::new(config);
        master.check(&db).await?;
        let master = Arc::new(master);
        // ID tokens are RS256 unless a client asks otherwise (OpenID Connect Core 3.1.3.7):
        // an RS256 key stays active beside a signing algorithm of another kind.
        let mut algorithms = vec![config.alg];
        if config.alg != Algorithm::RS256 {
            algorithms.push(Algorithm::RS256);
        }
        let keys = Arc::new(KeyManager::new(
            db.clone(),
            master.clone(),
            clock.clone(),
            config.clone(),
            algorithms,
        ));
        keys.record_policy().await?;
        let changes = keys.maintain().await?;
        for change in changes.done {
            tracing::info!("{change}");
        }
        let revocations = Revocations::new(db.clone(), clock.clone());
        let (stop, shutdown) = Shutdown::new();
        let dpop = Arc::new(dpop::Dpop::new(
            config.dpop_window,
            config.dpop_nonce,
            &master.derive("dpop nonce"),
        ));
        let (encrypt_to, own_decrypter) = access_token_encryption(&config)?;
        Ok(AppState {
            dpop,
            own_decrypter,
            master,
            pages: Arc::new(oidc::pages::Pages::new()?),
            codes: oidc::codes::Codes::new(db.clone(), clock.clone()),
            cors_origins: Arc::new(oidc::cors::Origins::default()),
            shutdown,
            stop,
            event_streams: Arc::new(tokio::sync::Semaphore::new(config.max_event_streams)),
            users: Users::new(db.clone(), clock.clone()),
            clients: Clients::new(db.clone(), clock.clone()),
            passwords: PasswordChecker::new()?,
            issuer: TokenIssuer::new(config.clone(), keys.clone(), clock.clone())
                .encrypting_to(encrypt_to),
            sessions: Sessions::new(
                db.clone(),
                clock.clone(),
                config.clone(),
                revocations.clone(),
            ),
            limiter: Arc::new(FailureLimiter::new(
                db.clone(),
                config.failure_window,
                config.max_failures_per_user,
                config.max_failures_per_address,
            )),
            metrics: Arc::new(Metrics::default()),
            revocations,
            keys,
            config,
            db,
            clock,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The database (for inspection; changes go through [`AppState::admin`]).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The clock.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    /// Delivers the back-channel logouts that are due, once (the server does this every
    /// second); returns how many were delivered.
    pub async fn deliver_logouts(&self) -> Result<usize> {
        let http = oidc::backchannel::client()?;
        oidc::backchannel::deliver_due(self, &http).await
    }

    /// Stops a server running on this state (as SIGTERM does): it stops accepting, ends its
    /// event streams, and lets open requests finish.
    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        self.stop.clone()
    }

    /// The keys and what is published.
    pub fn keys(&self) -> &KeyManager {
        &self.keys
    }

    /// Administration of this server's database, sharing its keys.
    pub fn admin(&self) -> Admin {
        Admin::with_db(
            self.db.clone(),
            self.config.clone(),
            self.clock.clone(),
            None,
            Some(self.keys.clone()),
        )
    }

    /// Creates the seed's demo users if absent.
    pub async fn create_demo_users(&self) -> Result<()> {
        for (name, password, role) in [("John", "testpass", "read"), ("Jane", "pass123", "write")] {
            if self
                .users
                .ensure(name, password, role, &self.passwords)
                .await?
            {
                tracing::info!(user = name, role, "demo user created");
            }
        }
        Ok(())
    }

    /// Starts the background work: key maintenance and reload (picks up rotations made by
    /// the admin CLI or another replica) and the revocation poller.
    pub fn spawn_background(&self) {
        let keys = self.keys.clone();
        let every = Duration::from_millis(self.config.reload_interval_ms.max(100));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                match keys.maintain().await {
                    Ok(changes) => {
                        for change in changes.done {
                            tracing::info!("{change}");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "key maintenance failed; will retry"),
                }
            }
        });
        let revocations = self.revocations.clone();
        let poll = Duration::from_millis(self.config.revocation_poll_ms.max(50));
        tokio::spawn(revocations.run_poller(poll));
        tokio::spawn(oidc::backchannel::run(self.clone()));
        let codes = self.codes.clone();
        let limiter = self.limiter.clone();
        let clock = self.clock.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(60));
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                if let Err(e) = limiter.sweep(clock.unix_secs()).await {
                    tracing::warn!(error = %e, "failed-login sweep failed; will retry");
                }
                if let Err(e) = codes.sweep().await {
                    tracing::warn!(error = %e, "authorization code sweep failed; will retry");
                }
            }
        });
    }
}

/// Largest request body accepted anywhere.
const MAX_BODY: usize = 16 * 1024;

/// The HTTP API.
pub fn app(state: AppState) -> Router {
    // A request that reads a body and has not been answered after 30 s gets a 408: a client
    // trickling its body cannot hold a connection and a task for ever. Only on the routes
    // with bodies: a timer per request costs the hot GET routes, such as the JWKS, about a
    // tenth of their throughput.
    let timeout =
        || TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30));
    // What browser applications call from their own origin (CORS for registered ones).
    let browser_api = Router::new()
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/revoke", post(oauth::revoke))
        .route(
            "/oauth/userinfo",
            get(oidc::userinfo::userinfo).post(oidc::userinfo::userinfo),
        )
        .route_layer(timeout())
        .route("/.well-known/jwks.json", get(wellknown::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(wellknown::discovery),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(wellknown::discovery),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            oidc::cors::cors,
        ));
    // The sign-in pages (HTML, same-origin only).
    let pages = Router::new()
        .route(
            "/oauth/authorize",
            get(oidc::authorize::authorize_get).post(oidc::authorize::authorize_post),
        )
        .route("/oauth/login", post(oidc::authorize::login))
        .route("/oauth/consent", post(oidc::authorize::consent))
        .route(
            "/oauth/logout",
            get(oidc::logout::logout_get).post(oidc::logout::logout_post),
        )
        .route_layer(timeout())
        .route("/oauth/static/tessera.css", get(oidc::pages::stylesheet));
    let router = Router::new()
        .route("/api/v1/auth", post(api::login))
        .route("/api/v1/logout", post(api::logout))
        .route("/oauth/introspect", post(oauth::introspect))
        .route_layer(timeout())
        .route(&format!("/{}", wire::LIST_PATH), get(ops::revocations))
        .route(
            &format!("/{}", wire::STREAM_PATH),
            get(ops::revocation_stream),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .merge(browser_api)
        .merge(pages);
    // With a listener of its own, /metrics is not on the main one.
    let router = if state.config.metrics_listen.is_none() {
        router.route("/metrics", get(ops::metrics))
    } else {
        router
    };
    router
        .fallback(ops::not_found)
        // The limit inside the JSON mapping, so that its 413 gets a JSON body too.
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(axum::middleware::map_response(ops::json_errors))
        .with_state(state)
}

/// `/metrics` alone, for its own listener (`metrics_listen`).
pub fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .fallback(ops::not_found)
        .with_state(state)
}

/// Runs the server until Ctrl-C or SIGTERM, then drains in-flight requests.
pub async fn serve(state: AppState) -> Result<()> {
    let listen = state.config.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| Error::Config(format!("cannot listen on {listen}: {e}")))?;
    serve_on(listener, state).await
}

/// [`serve`] on a listener already bound (so that a caller can check the port before it
/// opens the database).
pub async fn serve_on(listener: tokio::net::TcpListener, state: AppState) -> Result<()> {
    let listen = state.config.listen;
    let tls = match (&state.config.tls_cert, &state.config.tls_key) {
        (Some(cert), Some(key)) => {
            Some(tessera_listen::tls::load(cert, key).map_err(|e| Error::Config(e.to_string()))?)
        }
        _ => None,
    };
    state.spawn_background();
    let mut limits = Limits::for_this_process();
    if let Some(n) = state.config.max_connections {
        limits.max_connections = n;
    }
    tracing::info!(%listen, https = tls.is_some(), max_connections = limits.max_connections, "listening");
    if let Some(addr) = state.config.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {addr} for metrics: {e}")))?;
        tracing::info!(%addr, "metrics listening");
        let limits = Limits {
            max_connections: 64,
            ..Limits::default()
        };
        tokio::spawn(tessera_listen::serve_router(
            metrics,
            None,
            metrics_app(state.clone()),
            limits,
            state.shutdown.clone(),
        ));
    }
    let stop = state.stop.clone();
    tokio::spawn(async move {
        tessera_listen::shutdown_signal().await;
        stop.fire();
    });
    let shutdown = state.shutdown.clone();
    tessera_listen::serve_router(listener, tls, app(state), limits, shutdown).await;
    tracing::info!("stopped");
    Ok(())
}
