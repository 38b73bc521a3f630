//! Slow, silent and half-sent clients against a real listener on loopback: each stage is
//! cut off, and a flood of idle sockets does not stop a health check.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::routing::get;
use axum::Router;
use tessera_listen::{serve_router, Limits, Shutdown};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn quick() -> Limits {
    Limits {
        max_connections: 64,
        first_bytes: Duration::from_millis(300),
        handshake: Duration::from_millis(300),
        headers: Duration::from_millis(600),
        idle: Duration::from_millis(400),
        drain: Duration::from_secs(5),
    }
}

async fn start(limits: Limits) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route("/healthz", get(|| async { "ok" }));
    tokio::spawn(serve_router(listener, None, app, limits, Shutdown::never()));
    addr
}

/// Reads until the server closes the connection; the time it took, or None if it did not
/// close within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

async fn healthz(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test]
async fn silent_and_half_sent_prefaces_are_cut_off() {
    let addr = start(quick()).await;
    for sent in [
        &b""[..],
        b"P",
        b"PRI * HTTP/2.0\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n",
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(sent).await.unwrap();
        let took = closed_within(&mut stream, Duration::from_secs(3)).await;
        assert!(
            took.is_some(),
            "{:?}: the connection was held open",
            String::from_utf8_lossy(sent)
        );
    }
}

#[tokio::test]
async fn slow_headers_and_idle_http2_connections_are_cut_off() {
    let addr = start(quick()).await;
    // HTTP/1 headers that never end.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost")
        .await
        .unwrap();
    assert!(closed_within(&mut stream, Duration::from_secs(3))
        .await
        .is_some());
    // HTTP/2: the preface and the client's SETTINGS, then nothing.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    assert!(
        closed_within(&mut stream, Duration::from_secs(3))
            .await
            .is_some(),
        "an idle HTTP/2 connection was held open"
    );
}

#[tokio::test]
async fn a_flood_of_idle_sockets_does_not_stop_health_checks() {
    let limits = Limits {
        max_connections: 8,
        // Long stage timeouts: only the cap's eviction of idle sockets can save the day.
        first_bytes: Duration::from_secs(60),
        idle: Duration::from_secs(60),
        ..quick()
    };
    let addr = start(limits).await;
    let mut flood = Vec::new();
    for _ in 0..40 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"P").await.unwrap();
        flood.push(stream);
    }
    for _ in 0..3 {
        let answer = tokio::time::timeout(Duration::from_secs(3), healthz(addr))
            .await
            .expect("/healthz must answer under a flood of idle sockets");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // The oldest idle sockets were closed to make room; at most the cap is open.
    let mut open = 0;
    for stream in &mut flood {
        if closed_within(stream, Duration::from_millis(50))
            .await
            .is_none()
        {
            open += 1;
        }
    }
    assert!(open <= 8, "{open} flood sockets still open");
}

#[tokio::test]
async fn a_busy_connection_is_not_closed_to_make_room() {
    // Two slots: one busy with a slow response, then a flood of idle sockets.
    let limits = Limits {
        max_connections: 2,
        first_bytes: Duration::from_secs(60),
        ..quick()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(800)).await;
            "done"
        }),
    );
    tokio::spawn(serve_router(listener, None, app, limits, Shutdown::never()));
    let mut busy = TcpStream::connect(addr).await.unwrap();
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut idle = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"P").await.unwrap();
        idle.push(s);
    }
    let mut answer = String::new();
    busy.read_to_string(&mut answer).await.unwrap();
    assert!(
        answer.ends_with("done"),
        "the busy request was cut: {answer:?}"
    );
}

/// Reads one keep-alive HTTP/1.1 answer and returns its body.
async fn body_of_answer(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the answer");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_owned)
                })
                .unwrap()
                .parse()
                .unwrap();
            if body.len() >= length {
                return body[..length].to_owned();
            }
        }
    }
}

#[tokio::test]
async fn connections_spread_over_workers_and_the_cap_holds_for_all_of_them() {
    // Two single-threaded runtimes, each driven by its own thread, as the gateway runs.
    let (stop, stopped) = Shutdown::new();
    let mut workers = Vec::new();
    for n in 0..2 {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let handle = runtime.handle().clone();
        let stopped = stopped.clone();
        std::thread::Builder::new()
            .name(format!("worker-{n}"))
            .spawn(move || runtime.block_on(stopped.fired()))
            .unwrap();
        let app = Router::new().route(
            "/who",
            get(|| async { std::thread::current().name().unwrap_or("?").to_owned() }),
        );
        workers.push(tessera_listen::Worker {
            runtime: handle,
            handler: app,
        });
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits {
        max_connections: 4,
        idle: Duration::from_secs(60),
        headers: Duration::from_secs(60),
        ..quick()
    };
    tokio::spawn(tessera_listen::serve_on(
        listener,
        None,
        workers,
        limits,
        Shutdown::never(),
    ));

    let mut open = Vec::new();
    let mut served_by = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /who HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        served_by.push(body_of_answer(&mut stream).await);
        open.push(stream);
    }
    // Each new connection goes to the worker with fewer open ones: they alternate.
    assert_eq!(served_by, ["worker-0", "worker-1", "worker-0", "worker-1"]);
    // A fifth connection passes the cap of four across both workers: the oldest idle one
    // (on worker-0) is closed to make room, and the newcomer is served.
    let mut fifth = TcpStream::connect(addr).await.unwrap();
    fifth
        .write_all(b"GET /who HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    assert!(body_of_answer(&mut fifth).await.starts_with("worker-"));
    assert!(
        closed_within(&mut open[0], Duration::from_secs(3))
            .await
            .is_some(),
        "the cap did not count the other worker's connections"
    );
    for stream in &mut open[1..] {
        stream
            .write_all(b"GET /who HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .unwrap();
        assert!(body_of_answer(stream).await.starts_with("worker-"));
    }
    stop.fire();
}
