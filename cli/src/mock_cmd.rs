//! `tessera mock-jwks`: a local JWKS server that mints tokens, for tests.

use std::net::SocketAddr;

use clap::Args;

use crate::{init_logging, runtime, Outcome};

/// Arguments of `tessera mock-jwks`.
#[derive(Args)]
#[command(
    after_help = "Endpoints:\n  GET  /.well-known/jwks.json             the public keys (RS256, ES256, EdDSA, ML-DSA-65)\n  GET  /.well-known/openid-configuration  issuer and jwks_uri\n  POST /token   JSON claims (+ optional \"alg\") -> {\"token\", \"access_token\", ...};\n                e.g. curl -s -XPOST localhost:3001/token -d '{\"sub\":\"jane\"}'\n\nAnyone who can reach it can mint tokens: keep it on loopback, for tests only."
)]
pub struct MockArgs {
    /// Address to listen on; the issuer is `http://ADDR`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3001")]
    listen: SocketAddr,
}

/// `tessera mock-jwks`.
pub fn run(args: MockArgs) -> Outcome {
    init_logging();
    runtime()?.block_on(async move {
        tessera_gateway::mock::serve(args.listen, tessera_listen::Shutdown::on_signal()).await?;
        Ok(String::new())
    })
}
