//! `tessera serve` and the admin commands (`user`, `client`, `key`) that work on the same
//! database as a running server.

use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use tessera_contract::SystemClock;
use tessera_jose::Algorithm;
use tessera_server::{
    Access, Admin, AppState, ClientSpec, Config, FileConfig, KeyState, MasterKeySource, Profile,
    Secret, DEFAULT_LISTEN,
};

use crate::{init_logging, input, runtime, Failure, Outcome};

/// Flags shared by `serve` and the admin commands.
#[derive(Args, Clone)]
pub struct Common {
    /// Database URL: sqlite://FILE (created if absent) or postgres://...
    #[arg(long = "db", env = "TESSERA_DATABASE_URL", hide_env_values = true)]
    pub db: Option<String>,
    /// TOML configuration file (flags > env > file > defaults).
    #[arg(long, env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `tessera serve` flags.
#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:3001; the seed's JWKPORT sets the port).
    #[arg(long, env = "TESSERA_LISTEN")]
    listen: Option<SocketAddr>,
    /// Issuer URL put in `iss` (default: http:// and the listen address).
    #[arg(long, env = "TESSERA_ISSUER")]
    issuer: Option<String>,
    /// Audience put in `aud` (default tessera).
    #[arg(long, env = "TESSERA_AUDIENCE")]
    audience: Option<String>,
    /// Signing algorithm (default RS256).
    #[arg(long, env = "TESSERA_ALG")]
    alg: Option<Algorithm>,
    /// Create the demo users John/testpass (read) and Jane/pass123 (write) if absent.
    #[arg(long)]
    demo: bool,
    /// Demand a server nonce (RFC 9449 section 8) in every DPoP proof sent to the token and
    /// login endpoints: clients get it from the `DPoP-Nonce` header of a
    /// `use_dpop_nonce` answer, and a fresh one with every answer.
    #[arg(long)]
    dpop_nonce: bool,
    /// Encrypt access tokens to the resource servers' key (JWK or PEM file): they become
    /// nested JWTs (signed, then encrypted). Give the private key to keep UserInfo, logout
    /// and introspection working with them.
    #[arg(long, env = "TESSERA_ENCRYPT_ACCESS_TOKENS", value_name = "FILE")]
    encrypt_access_tokens: Option<PathBuf>,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "TESSERA_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "TESSERA_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Open client connections at most (default: below the descriptor limit, which is
    /// raised to its hard limit at start); idle ones are closed to make room.
    #[arg(long, env = "TESSERA_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// Serve /metrics on this address only (not on --listen). With TESSERA_METRICS_TOKEN
    /// set, /metrics requires `Authorization: Bearer <token>` wherever it is served.
    #[arg(long, env = "TESSERA_METRICS_LISTEN", value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    common: Common,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user (password from --password-stdin or a prompt).
    Add {
        /// Login name (`preferred_username` in tokens; `sub` is an opaque id made here).
        name: String,
        /// The `role` claim.
        #[arg(long)]
        role: String,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Email address (the `email` claim, scope `email`).
        #[arg(long, value_name = "ADDR")]
        email: Option<String>,
        /// Full name (the `name` claim, scope `profile`).
        #[arg(long = "name", value_name = "FULL NAME")]
        display_name: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// List users.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Disable a user: no more logins or refreshes.
    Disable {
        /// User name.
        name: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Register an OAuth client; prints its id and secret (the secret only this once).
    Add {
        /// The client id.
        id: String,
        /// Space-separated scopes the client may request (with client credentials, and
        /// beside openid, profile, email and offline_access in the code flow).
        #[arg(long, default_value = "")]
        scope: String,
        /// Where the authorization code may be sent (repeatable; matched exactly).
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// A public client (SPA, native app): no secret, PKCE only.
        #[arg(long)]
        public: bool,
        /// Where the browser may go after a logout the client asks for (repeatable).
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// Where to announce that a session ended (OpenID Connect Back-Channel Logout).
        #[arg(long, value_name = "URI")]
        backchannel_logout_uri: Option<String>,
        /// Never ask the user for consent (a first-party application).
        #[arg(long)]
        skip_consent: bool,
        /// Issue tokens to this client only with a DPoP proof (RFC 9449): its access
        /// tokens are then always bound to its key.
        #[arg(long)]
        require_dpop: bool,
        /// The client's public encryption key (JWK or PEM file): its ID tokens are then
        /// encrypted to it (RSA-OAEP-256 / ECDH-ES unless the JWK names its `alg`;
        /// A128CBC-HS256).
        #[arg(long, value_name = "FILE")]
        encryption_key: Option<String>,
        /// A resource server: may introspect tokens issued to other clients (without it, a
        /// client learns only about its own tokens).
        #[arg(long)]
        introspect: bool,
        #[command(flatten)]
        common: Common,
    },
    /// List the registered clients.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Remove a client: its refresh tokens, codes and remembered consents go with it.
    Remove {
        /// The client id.
        id: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// List signing keys and their states.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Publish a new key; it signs after the pre-publication period, or at once with --now.
    Rotate {
        /// Sign with the new key immediately. Verifiers fetch it on the unknown kid, but
        /// at most once per their refetch cooldown (30 s by default, so that made-up kids
        /// cannot flood the issuer): for an emergency only; plain `rotate` pre-publishes.
        #[arg(long)]
        now: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Import a private key (PEM, e.g. `ssh-keygen -m pem`, DER, or JWK) as a new key.
    Import {
        /// The key file.
        file: String,
        /// Algorithm for the key (default: the key's, else RS256 for RSA).
        #[arg(long)]
        alg: Option<Algorithm>,
        /// Sign with it immediately instead of after the pre-publication period.
        #[arg(long)]
        now: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Remove a key from the JWKS at once and destroy it (a new key signs if it was active).
    Revoke {
        /// The key id.
        kid: String,
        #[command(flatten)]
        common: Common,
    },
}

/// Builds the configuration: defaults, then the file, then env and flags.
fn config(common: &Common, listen: Option<SocketAddr>) -> Result<Config, Failure> {
    let file = match &common.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    // Flags and TESSERA_LISTEN, then the seed's JWKPORT (env beats file), then the file.
    let listen = match (listen, std::env::var("JWKPORT").ok(), file.listen) {
        (Some(l), _, _) => l,
        (None, Some(port), _) => {
            let port: u16 = port
                .trim()
                .parse()
                .map_err(|_| Failure(format!("JWKPORT `{port}` is not a port number")))?;
            SocketAddr::from(([127, 0, 0, 1], port))
        }
        (None, None, Some(l)) => l,
        (None, None, None) => DEFAULT_LISTEN
            .parse()
            .map_err(|_| Failure("bad default listen address".into()))?,
    };
    let mut config = Config::with_defaults(listen);
    file.apply(&mut config)?;
    if let Some(db) = &common.db {
        config.database_url.clone_from(db);
    }
    if let Ok(token) = std::env::var("TESSERA_METRICS_TOKEN") {
        config.metrics_token = Some(Secret::new(token));
    }
    if let Ok(alg) = std::env::var("TESSERA_ALG") {
        // As `serve` would read it; admin commands use it only before any server ran.
        config.alg = alg
            .parse()
            .map_err(|e| Failure(format!("TESSERA_ALG: {e}")))?;
    }
    Ok(config)
}

fn master_env() -> Option<String> {
    std::env::var("TESSERA_MASTER_KEY").ok()
}

/// `tessera serve`.
pub fn serve(args: ServeArgs) -> Outcome {
    init_logging();
    let mut config = config(&args.common, args.listen)?;
    if let Some(alg) = args.alg {
        config.alg = alg;
    }
    if let Some(audience) = args.audience {
        config.audience = audience;
    }
    if let Some(issuer) = args.issuer {
        config.issuer = issuer;
    }
    config.demo |= args.demo;
    config.dpop_nonce |= args.dpop_nonce;
    if args.encrypt_access_tokens.is_some() {
        config.encrypt_access_tokens = args.encrypt_access_tokens;
    }
    if let Some(n) = args.max_connections {
        config.max_connections = Some(n as usize);
    }
    if args.metrics_listen.is_some() {
        config.metrics_listen = args.metrics_listen;
    }
    if args.tls_cert.is_some() {
        config.tls_cert = args.tls_cert;
        config.tls_key = args.tls_key;
    }
    // The default issuer names the listen address; over TLS its scheme is https.
    if config.issuer == format!("http://{}", config.listen) {
        if config.tls_cert.is_some() {
            config.issuer = format!("https://{}", config.listen);
        }
        if config.listen.ip().is_unspecified() {
            tracing::warn!(
                issuer = %config.issuer,
                "listening on a wildcard address: tokens name it as their issuer, which \
                 verifiers cannot reach; set --issuer to the URL clients use"
            );
        }
    }
    tracing::info!(
        db = %config.redacted_database_url(),
        issuer = %config.issuer,
        audience = %config.audience,
        alg = %config.alg,
        "starting"
    );
    let demo = config.demo;
    runtime()?.block_on(async move {
        config.validate()?;
        // The port first: a busy port must not leave a new database and key file behind.
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|e| Failure(format!("cannot listen on {}: {e}", config.listen)))?;
        let (state, source) = AppState::open_with_master_key(
            config,
            master_env().as_deref(),
            SystemClock::shared(),
        )
        .await?;
        match &source {
            MasterKeySource::Environment => tracing::info!("master key from TESSERA_MASTER_KEY"),
            MasterKeySource::File(path) => tracing::info!(%path, "master key from file"),
            MasterKeySource::Created(path) => {
                tracing::warn!(%path, "created a new master key file (mode 0600); back it up: the signing keys cannot be decrypted without it")
            }
        }
        if demo {
            state.create_demo_users().await?;
        }
        tessera_server::serve_on(listener, state).await?;
        Ok::<_, Failure>(())
    })?;
    Ok(String::new())
}

/// The administration of the database `common` names.
async fn admin(common: &Common, access: Access) -> Result<Admin, Failure> {
    let config = config(common, None)?;
    Ok(Admin::open(config, master_env(), access, SystemClock::shared()).await?)
}

fn read_password(name: &str, from_stdin: bool) -> Result<String, Failure> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .take(4096)
            .read_to_string(&mut text)
            .map_err(|e| Failure(format!("cannot read the password: {e}")))?;
        return Ok(text.trim_end_matches(['\r', '\n']).to_owned());
    }
    let no_prompt = |e: std::io::Error| {
        Failure(format!(
            "cannot prompt for the password ({e}); without a terminal, pipe it in with \
             --password-stdin"
        ))
    };
    let first = rpassword::prompt_password(format!("Password for {name}: ")).map_err(no_prompt)?;
    let again = rpassword::prompt_password("Again: ").map_err(no_prompt)?;
    if first != again {
        return Err(Failure("the passwords differ".into()));
    }
    Ok(first)
}

pub fn user(cmd: UserCommand) -> Outcome {
    runtime()?.block_on(async move {
        match cmd {
            UserCommand::Add {
                name,
                role,
                password_stdin,
                email,
                display_name,
                common,
            } => {
                let password = read_password(&name, password_stdin)?;
                let profile = Profile {
                    email,
                    display_name,
                };
                admin(&common, Access::Create)
                    .await?
                    .add_user(&name, &password, &role, &profile)
                    .await?;
                Ok(format!("user {name} added with role {role}"))
            }
            UserCommand::List { common } => {
                let list = admin(&common, Access::Existing).await?.list_users().await?;
                let mut out = format!("{:<24} {:<12} {:<8}\n", "NAME", "ROLE", "STATE");
                for u in list {
                    let state = if u.disabled { "disabled" } else { "active" };
                    out.push_str(&format!("{:<24} {:<12} {:<8}\n", u.name, u.role, state));
                }
                Ok(out)
            }
            UserCommand::Disable { name, common } => {
                let sessions = admin(&common, Access::Existing)
                    .await?
                    .disable_user(&name)
                    .await?;
                Ok(format!(
                    "user {name} disabled; {sessions} session(s) revoked"
                ))
            }
        }
    })
}

pub fn client(cmd: ClientCommand) -> Outcome {
    runtime()?.block_on(async move {
        match cmd {
            ClientCommand::Add {
                id,
                scope,
                redirect_uris,
                public,
                post_logout_redirect_uris,
                backchannel_logout_uri,
                skip_consent,
                require_dpop,
                encryption_key,
                introspect,
                common,
            } => {
                let id_token_encryption_jwk = match encryption_key {
                    Some(path) => {
                        let jwk = tessera_jose::pem::parse_key(&crate::input::read(Some(&path))?)
                            .map_err(|e| Failure(format!("{path}: {e}")))?;
                        if jwk.is_private() {
                            return Err(Failure(format!(
                                "{path} holds a private or shared key; give the client's public key"
                            )));
                        }
                        Some(jwk.to_json())
                    }
                    None => None,
                };
                let spec = ClientSpec {
                    id_token_encryption_jwk,
                    client_id: id.clone(),
                    scope,
                    can_introspect: introspect,
                    public,
                    redirect_uris,
                    post_logout_redirect_uris,
                    backchannel_logout_uri,
                    skip_consent,
                    require_dpop,
                };
                // Printed before the client is committed: a secret that cannot be shown
                // (a full disk) leaves no client behind.
                admin(&common, Access::Create)
                    .await?
                    .add_client(&spec, |secret| {
                        let shown = match secret {
                            Some(secret) => serde_json::json!({
                                "client_id": id,
                                "client_secret": secret,
                            }),
                            None => serde_json::json!({ "client_id": id }),
                        };
                        let text =
                            serde_json::to_string_pretty(&shown).map_err(|e| e.to_string())?;
                        if secret.is_some() {
                            crate::restrict_stdout().map_err(|e| e.0)?;
                        }
                        crate::print(&text).map_err(|e| format!("cannot write the output: {e}"))
                    })
                    .await?;
                Ok(String::new())
            }
            ClientCommand::List { common } => {
                let clients = admin(&common, Access::Existing)
                    .await?
                    .list_clients()
                    .await?;
                let mut out = format!(
                    "{:<24} {:<12} {:<24} {}\n",
                    "CLIENT", "TYPE", "SCOPE", "REDIRECT URIS"
                );
                for c in clients {
                    let kind = match (c.public, c.can_introspect) {
                        (true, _) => "public",
                        (false, true) => "introspect",
                        (false, false) => "confidential",
                    };
                    let scope = if c.scope.is_empty() { "-" } else { &c.scope };
                    let uris = if c.redirect_uris.is_empty() {
                        "-".to_owned()
                    } else {
                        c.redirect_uris.join(" ")
                    };
                    out.push_str(&format!(
                        "{:<24} {:<12} {:<24} {}\n",
                        c.client_id, kind, scope, uris
                    ));
                }
                Ok(out)
            }
            ClientCommand::Remove { id, common } => {
                admin(&common, Access::Existing)
                    .await?
                    .remove_client(&id)
                    .await?;
                Ok(format!("client {id} removed"))
            }
        }
    })
}

pub fn key(cmd: KeyCommand) -> Outcome {
    runtime()?.block_on(async move {
        match cmd {
            KeyCommand::List { common } => {
                let keys = admin(&common, Access::Existing).await?.list_keys().await?;
                let mut out = format!(
                    "{:<44} {:<6} {:<8} {:<9} {:<20} {:<20} {:<20}\n",
                    "KID", "ALG", "STATE", "SOURCE", "CREATED", "SIGNS FROM", "EXPIRES"
                );
                for k in keys {
                    // When a pending key starts signing (at the next maintenance pass after
                    // this time); when the others did.
                    let signs_from = match k.state {
                        KeyState::Pending => utc(k.activate_after),
                        _ => k.activated_at.map_or("-".into(), utc),
                    };
                    out.push_str(&format!(
                        "{:<44} {:<6} {:<8} {:<9} {:<20} {:<20} {:<20}\n",
                        k.kid,
                        k.alg.as_str(),
                        k.state.as_str(),
                        k.source,
                        utc(k.created_at),
                        signs_from,
                        k.expires_at.map_or("-".into(), utc),
                    ));
                }
                Ok(out)
            }
            KeyCommand::Rotate { now, common } => {
                let changes = admin(&common, Access::Create)
                    .await?
                    .rotate_key(now)
                    .await?;
                let kid = changes.new_kid.unwrap_or_default();
                Ok(if now {
                    format!("key {kid} created and signing now")
                } else {
                    format!("key {kid} published; it signs after the pre-publication period")
                })
            }
            KeyCommand::Import {
                file,
                alg,
                now,
                common,
            } => {
                let bytes = input::read(Some(&file))?;
                let changes = admin(&common, Access::Create)
                    .await?
                    .import_key(&bytes, alg, now)
                    .await?;
                Ok(format!(
                    "key {} imported",
                    changes.new_kid.unwrap_or_default()
                ))
            }
            KeyCommand::Revoke { kid, common } => {
                let changes = admin(&common, Access::Existing)
                    .await?
                    .revoke_key(&kid)
                    .await?;
                Ok(match changes.now_signing.first() {
                    Some(next) if changes.new_kid.as_ref() == Some(next) => format!(
                        "key {kid} revoked; no key was waiting, so a new key {next} signs now \
                         (verifiers fetch it on the unknown kid)"
                    ),
                    Some(next) => {
                        format!("key {kid} revoked; key {next}, already published, signs now")
                    }
                    None => format!("key {kid} revoked"),
                })
            }
        }
    })
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (UTC), for tables people read.
fn utc(t: i64) -> String {
    tessera_jose::UtcTime(t).to_string()
}
