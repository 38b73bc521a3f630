//! How every Tessera listener serves: the auth server and the example consumer accept
//! connections through [`serve_router`], the gateway through [`serve_on`] with a
//! [`Handler`] of its own on one runtime per core; plain or over TLS ([`tls::load`]), with
//! limits on slow and silent clients, and stop on [`shutdown_signal`].

#![forbid(unsafe_code)]

mod serve;
pub mod tls;

pub use serve::{
    default_max_connections, serve_on, serve_router, BoxError, Handler, Limits, Shutdown,
    ShutdownTrigger, Worker,
};

/// Why a listener could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TLS certificate or key could not be loaded.
    #[error("{0}")]
    Tls(String),
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
