//! `tessera mock-jwks`: a local JWKS server that mints tokens, for tests.

use std::net::SocketAddr;

use clap::Args;

use crate::gateway_cmd::{init_logging, runtime, shutdown_signal};
use crate::Outcome;

/// Arguments of `tessera mock-jwks`.
#[derive(Args)]
pub struct MockArgs {
    /// Address to listen on; the issuer is `http://ADDR`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3001")]
    listen: SocketAddr,
}

/// `tessera mock-jwks`.
pub fn run(args: MockArgs) -> Outcome {
    init_logging();
    runtime()?.block_on(async move {
        tessera_verifier::mock::serve(args.listen, shutdown_signal()).await?;
        Ok(String::new())
    })
}
