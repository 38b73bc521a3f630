//! `tessera gateway`: the verifying reverse proxy of `tessera_gateway::proxy`.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::Args;
use tessera_gateway::proxy::{self as gateway, GatewayConfig};
use tessera_verifier::{Guard, Issuer, Verifier};

use crate::{init_logging, runtime, Failure, Outcome};

/// Arguments of `tessera gateway`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("keys").required(true).multiple(true).args(["jwks_url", "issuer"])))]
pub struct GatewayArgs {
    /// JWKS URL of the issuer (https, or http on loopback). With --issuer too, tokens must
    /// also carry that `iss`.
    #[arg(long, value_name = "URL")]
    jwks_url: Option<String>,
    /// Issuer URL: tokens must carry exactly this `iss`; without --jwks-url the key set is
    /// found by OpenID discovery.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// Accepted audience (repeatable). Without it, any `aud` is accepted.
    #[arg(long, value_name = "AUD")]
    audience: Vec<String>,
    /// Upstream service base URL (http://host:port[/prefix]).
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Role required of every request (repeatable: any listed role is enough).
    #[arg(long = "role", value_name = "ROLE")]
    roles: Vec<String>,
    /// Scope required of every request (repeatable: all are needed).
    #[arg(long = "scope", value_name = "SCOPE")]
    scopes: Vec<String>,
    /// Require the `__Host-Fgp` cookie to match the token's `fgp` claim.
    #[arg(long)]
    fingerprint_cookie: bool,
    /// Base URL of the auth server whose revocation stream to follow.
    #[arg(long, value_name = "URL")]
    revocations: Option<String>,
    /// How long the upstream may take to send its response head before the client gets a
    /// 504 (seconds, or a number with s, m or h).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = positive_duration)]
    upstream_timeout: std::time::Duration,
    /// Remember up to N verified tokens: a token sent again skips its signature check while
    /// the key set is unchanged (expiry and revocation are checked every time). 0 = off.
    #[arg(long, value_name = "N", default_value_t = 0)]
    token_cache: usize,
    /// Open client connections at most (default: below the descriptor limit, which is
    /// raised to its hard limit at start). At the limit the oldest idle connection is
    /// closed to make room.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// Upgraded connections (WebSockets) open at once; more are answered 503.
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_tunnels: u32,
    /// Threads serving connections, each with its own upstream pool [default: one per core].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,
    /// Also send an RFC 7239 `Forwarded` header (for, host, proto) to the upstream.
    #[arg(long)]
    forwarded: bool,
    /// Append the client's address to the `X-Forwarded-For` it sent instead of replacing
    /// it. Only when every client is a proxy you trust (a load balancer).
    #[arg(long)]
    keep_forwarded_for: bool,
    /// The URL clients reach the gateway at (default http://LISTEN): a DPoP proof's `htu`
    /// must be it followed by the request path. Set it behind a load balancer or TLS
    /// terminator; it is never taken from request headers.
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// How old a DPoP proof's `iat` may be (at most 1h; it may be 5s ahead at most).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = dpop_window)]
    dpop_window: std::time::Duration,
    /// Accept encrypted access tokens (nested JWTs) decrypted with this private key (JWK
    /// or PEM), as issued by `tessera serve --encrypt-access-tokens`.
    #[arg(long, value_name = "FILE")]
    decrypt_key: Option<String>,
    /// With --decrypt-key: refuse tokens that are not encrypted.
    #[arg(long, requires = "decrypt_key")]
    require_encryption: bool,
    /// Also send oauth2-proxy's headers (X-Forwarded-User = sub, -Email, -Preferred-Username,
    /// -Groups, -Access-Token), for applications configured for oauth2-proxy.
    #[arg(long)]
    oauth2_proxy_headers: bool,
}

/// `tessera gateway`.
pub fn run(args: GatewayArgs) -> Outcome {
    init_logging();
    let mut issuer = match (&args.jwks_url, &args.issuer) {
        (Some(url), Some(iss)) => Issuer::jwks(url).issuer(iss),
        (Some(url), None) => Issuer::jwks(url),
        (None, Some(iss)) => Issuer::discover(iss),
        (None, None) => return Err(Failure("give --jwks-url or --issuer".into())),
    };
    let any_audience = args.audience.is_empty();
    if any_audience {
        issuer = issuer.insecure_any_audience();
    }
    for aud in &args.audience {
        issuer = issuer.audience(aud);
    }
    let mut guard = Guard::new();
    for role in args.roles {
        guard = guard.role(role);
    }
    for scope in args.scopes {
        guard = guard.scope(scope);
    }
    if args.fingerprint_cookie {
        guard = guard.fingerprint_cookie();
    }
    let upstream_timeout = args.upstream_timeout;
    gateway::upstream_base(&args.upstream)?;
    let config = GatewayConfig {
        guard,
        upstream_timeout,
        forwarded: args.forwarded,
        keep_forwarded_for: args.keep_forwarded_for,
        oauth2_proxy_headers: args.oauth2_proxy_headers,
        max_tunnels: args.max_tunnels as usize,
        workers: args.workers.map(usize::from),
        ..GatewayConfig::new(args.upstream)
    };
    runtime()?.block_on(async move {
        let public_url = args
            .public_url
            .unwrap_or_else(|| format!("http://{}", args.listen));
        let mut builder = Verifier::builder()
            .issuer(issuer)
            .token_cache(args.token_cache)
            .public_url(public_url)
            .dpop(tessera_contract::dpop::ProofChecker::new().window(args.dpop_window.as_secs()));
        if let Some(url) = args.revocations {
            builder = builder.revocation_feed(url);
        }
        if let Some(path) = &args.decrypt_key {
            builder = builder.decryption_key(
                crate::jwe_cmd::decryption_key(path, None)?,
                args.require_encryption,
            );
        }
        let verifier = Arc::new(builder.build()?);
        // Not fatal: an issuer that starts later is fetched on the first request.
        let _ = verifier.prefetch().await;
        if any_audience {
            tracing::warn!("no --audience: tokens for any audience are accepted");
        }
        let mut limits = tessera_listen::Limits::for_this_process();
        if let Some(n) = args.max_connections {
            limits.max_connections = n as usize;
        }
        gateway::serve(
            args.listen,
            verifier,
            config,
            limits,
            tessera_listen::Shutdown::on_signal(),
        )
        .await?;
        Ok(String::new())
    })
}

/// A duration of at least one second.
fn dpop_window(text: &str) -> Result<std::time::Duration, String> {
    let d = positive_duration(text)?;
    if d.as_secs() > tessera_contract::dpop::MAX_WINDOW {
        return Err(format!(
            "must be at most {}s",
            tessera_contract::dpop::MAX_WINDOW
        ));
    }
    Ok(d)
}

fn positive_duration(text: &str) -> Result<std::time::Duration, String> {
    let d = crate::input::duration(text)?;
    if d.is_zero() {
        return Err("must be at least 1s".into());
    }
    Ok(d)
}
