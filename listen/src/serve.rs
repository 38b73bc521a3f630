//! Serving a router over plain TCP or TLS: what `axum::serve` does, plus limits on slow
//! clients (hyper's own defaults hold a silent connection for ever).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// How long a new connection may stay silent before its first byte (slow-loris defence).
const FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request's headers may take, which hyper also applies to an idle keep-alive
/// connection waiting for its next request: longer than the 60 s idle timeout of common
/// load balancers and proxies (AWS ALB, nginx upstream keepalive), which must be the side
/// that closes an idle connection, or they would send requests into closing sockets.
const HEADER_TIMEOUT: Duration = Duration::from_secs(65);
/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener`, over TLS when `tls` is given, until `shutdown`, then
/// drains open connections for up to 30 s. Unlike `axum::serve`, a client that sends its
/// headers too slowly is cut off after 10 s; each request carries its peer address as
/// `ConnectInfo`.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<ServerConfig>>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let router = router.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let service = TowerToHyperService::new(router.map_request(
                move |mut request: axum::http::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(ConnectInfo::<SocketAddr>(peer));
                    request
                },
            ));
            let mut builder = Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            builder
                .http2()
                .timer(TokioTimer::new())
                .keep_alive_interval(Some(Duration::from_secs(30)));
            let outcome = match acceptor {
                None => {
                    if !first_byte_arrives(&stream).await {
                        return;
                    }
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    watcher.watch(connection).await
                }
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                    let tls_stream = match handshake {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    // ALPN already chose the protocol: no version sniffing (which has no
                    // timer of its own) after the handshake.
                    let h2 = tls_stream.get_ref().1.alpn_protocol() == Some(b"h2".as_slice());
                    let builder = if h2 {
                        builder.http2_only()
                    } else {
                        builder.http1_only()
                    };
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(tls_stream), service)
                        .into_owned();
                    watcher.watch(connection).await
                }
            };
            if let Err(e) = outcome {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("connections still open after 30 s; closing");
        }
    }
}

/// Waits (at most [`FIRST_BYTE_TIMEOUT`]) for a new connection's first byte: hyper's
/// protocol detection reads without a timer, so a client that connects and sends nothing
/// would otherwise hold its socket for ever.
async fn first_byte_arrives(stream: &tokio::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(FIRST_BYTE_TIMEOUT, stream.peek(&mut byte)).await,
        Ok(Ok(1..))
    )
}
