//! The revocation feed, against an SSE server of the test's own that follows the auth
//! server's format: `id:` is the cursor, `data:` a JSON revocation; `Last-Event-ID` resumes;
//! `GET /revocations?since=N` lists what came after N.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use tessera_jose::Algorithm;
use tessera_verifier::{Clock, Error, Issuer, RevocationKind, Verifier};
use tokio::sync::watch;

use crate::support::{eventually, jwks_of, JwksServer, Key};

/// The feed: a log of revocations, a notifier, and a switch that cuts open streams.
struct Feed {
    log: Mutex<Vec<Value>>,
    changed: watch::Sender<u64>,
    cut: watch::Sender<u64>,
    last_event_ids: Mutex<Vec<Option<String>>>,
    backlog_sinces: Mutex<Vec<String>>,
    /// The list endpoint answers 503 (the stream still works).
    backlog_down: std::sync::atomic::AtomicBool,
}

impl Feed {
    fn push(&self, kind: &str, value: &str, expires_at: i64) {
        let mut log = self.log.lock().unwrap();
        let id = log.len() as u64 + 1;
        log.push(json!({"id": id, "kind": kind, "value": value, "expires_at": expires_at}));
        drop(log);
        self.changed.send_modify(|n| *n += 1);
    }

    fn cut_streams(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

async fn start_feed() -> (SocketAddr, Arc<Feed>) {
    let feed = Arc::new(Feed {
        log: Mutex::new(Vec::new()),
        changed: watch::channel(0).0,
        cut: watch::channel(0).0,
        last_event_ids: Mutex::new(Vec::new()),
        backlog_sinces: Mutex::new(Vec::new()),
        backlog_down: std::sync::atomic::AtomicBool::new(false),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/revocations", get(backlog))
        .route("/revocations/stream", get(stream))
        .with_state(feed.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, feed)
}

#[derive(serde::Deserialize)]
struct Since {
    since: String,
}

async fn backlog(State(feed): State<Arc<Feed>>, Query(q): Query<Since>) -> Response {
    feed.backlog_sinces.lock().unwrap().push(q.since.clone());
    if feed.backlog_down.load(std::sync::atomic::Ordering::SeqCst) {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let since: usize = q.since.parse().unwrap();
    let log = feed.log.lock().unwrap();
    let after: Vec<Value> = log.iter().skip(since).cloned().collect();
    axum::Json(json!({"revocations": after, "cursor": log.len()})).into_response()
}

#[derive(serde::Deserialize)]
struct StreamQuery {
    since: Option<usize>,
}

/// As the auth server: from `Last-Event-ID`, else `?since=`, else only what comes next.
async fn stream(
    State(feed): State<Arc<Feed>>,
    Query(q): Query<StreamQuery>,
    headers: HeaderMap,
) -> Response {
    let last = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap().to_owned());
    feed.last_event_ids.lock().unwrap().push(last.clone());
    let start: usize = match (last.as_deref(), q.since) {
        (Some(id), _) => id.parse().unwrap(),
        (None, Some(since)) => since,
        (None, None) => feed.log.lock().unwrap().len(),
    };
    let changed = feed.changed.subscribe();
    let mut cut = feed.cut.subscribe();
    cut.mark_unchanged();
    let state = (feed, start, changed, cut, true);
    let events = futures_util::stream::unfold(
        state,
        |(feed, sent, mut changed, mut cut, first)| async move {
            if first {
                // A comment first, as servers do to flush headers.
                return Some((
                    Ok::<_, std::io::Error>(": hello\n\n".to_owned()),
                    (feed, sent, changed, cut, false),
                ));
            }
            loop {
                if cut.has_changed().unwrap_or(true) {
                    return None;
                }
                let next = feed.log.lock().unwrap().get(sent).cloned();
                if let Some(event) = next {
                    let text = format!("id: {}\ndata: {}\n\n", event["id"], event);
                    return Some((Ok(text), (feed, sent + 1, changed, cut, false)));
                }
                tokio::select! {
                    _ = changed.changed() => {}
                    _ = cut.changed() => return None,
                }
            }
        },
    );
    (
        [(header::CONTENT_TYPE, "text/event-stream")],
        Body::from_stream(events),
    )
        .into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_are_pushed_within_a_second_and_resume_after_reconnects() {
    let key = Key::new(Algorithm::ES256, "k");
    let jwks = JwksServer::start(jwks_of(&[&key])).await;
    let (addr, feed) = start_feed().await;
    let exp = tessera_jose::unix_now() + 3600;
    // One revocation made before the verifier started: picked up from the backlog.
    feed.push("jti", "early", exp);

    let verifier = Verifier::builder()
        .issuer(Issuer::jwks(jwks.url()))
        .revocation_feed(format!("http://{addr}"))
        .build()
        .unwrap();
    let revocations = verifier.revocations().unwrap().clone();
    assert!(eventually(Duration::from_secs(2), || !revocations.is_empty()).await);
    let early = key.token(json!({"jti": "early"}));
    assert!(matches!(
        verifier.verify(&early).await,
        Err(Error::Revoked {
            kind: RevocationKind::Jti,
            ..
        })
    ));

    // A logout: the session is revoked on the server; the consumer refuses within 1 s.
    let token = key.token(json!({"jti": "t-1", "sessionId": "session-1"}));
    verifier.verify(&token).await.unwrap();
    assert!(
        eventually(Duration::from_secs(2), || feed
            .last_event_ids
            .lock()
            .unwrap()
            .len()
            == 1)
        .await
    );
    let pushed = Instant::now();
    feed.push("session", "session-1", exp);
    loop {
        match verifier.verify(&token).await {
            Err(Error::Revoked {
                kind: RevocationKind::Session,
                value,
            }) => {
                assert_eq!(value, "session-1");
                break;
            }
            Ok(_) => assert!(
                pushed.elapsed() < Duration::from_secs(1),
                "not refused within 1 s"
            ),
            Err(e) => panic!("refused for the wrong reason: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Another token of another session still passes.
    verifier
        .verify(&key.token(json!({"jti": "t-2", "sessionId": "session-2"})))
        .await
        .unwrap();

    // The stream drops; what is revoked meanwhile arrives after the reconnect, which
    // resumes from the last cursor.
    feed.cut_streams();
    feed.push("jti", "t-2", exp);
    let t2 = key.token(json!({"jti": "t-2", "sessionId": "session-2"}));
    assert!(
        eventually(Duration::from_secs(5), || revocations
            .is_revoked(tessera_verifier::RevocationKind::Jti, "t-2"))
        .await,
        "revocation lost across a reconnect"
    );
    assert!(matches!(
        verifier.verify(&t2).await,
        Err(Error::Revoked { .. })
    ));
    assert!(
        eventually(Duration::from_secs(5), || feed
            .last_event_ids
            .lock()
            .unwrap()
            .len()
            >= 2)
        .await
    );
    let ids = feed.last_event_ids.lock().unwrap().clone();
    assert_eq!(
        ids[0].as_deref(),
        Some("1"),
        "first connection resumes after the backlog"
    );
    // Each connection first reads the backlog after its cursor until a page comes back
    // empty (0 then 1 at start; 2 then 3 after the cut), then streams from the cursor
    // reached.
    assert_eq!(*feed.backlog_sinces.lock().unwrap(), ["0", "1", "2", "3"]);
    assert_eq!(
        ids[1].as_deref(),
        Some("3"),
        "reconnection resumes from the last event"
    );
    assert_eq!(revocations.cursor().as_deref(), Some("3"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocations_from_before_start_arrive_even_if_the_backlog_list_fails() {
    let key = Key::new(Algorithm::ES256, "k");
    let jwks = JwksServer::start(jwks_of(&[&key])).await;
    let (addr, feed) = start_feed().await;
    let exp = tessera_jose::unix_now() + 3600;
    feed.push("jti", "early", exp);
    feed.backlog_down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let verifier = Verifier::builder()
        .issuer(Issuer::jwks(jwks.url()))
        .revocation_feed(format!("http://{addr}"))
        .build()
        .unwrap();
    let token = key.token(json!({"jti": "early", "exp": exp}));
    // The stream, asked for everything (there is no cursor yet), brings it.
    let mut refused = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(verifier.verify(&token).await, Err(Error::Revoked { .. })) {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused, "a revocation made before start was never applied");
}

#[tokio::test]
async fn revocations_expire_with_their_tokens() {
    let clock = tessera_verifier::ManualClock::new();
    let key = Key::new(Algorithm::ES256, "k");
    let jwks = JwksServer::start(jwks_of(&[&key])).await;
    let revocations = tessera_verifier::Revocations::new(Arc::new(clock.clone()));
    let verifier = Verifier::builder()
        .issuer(Issuer::jwks(jwks.url()))
        .clock(Arc::new(clock.clone()))
        .revocations(revocations.clone())
        .build()
        .unwrap();
    let now = clock.unix_secs();
    revocations.revoke(tessera_verifier::RevocationKind::Jti, "j", now + 120);
    let token = key.token(json!({"jti": "j", "exp": now + 3600}));
    assert!(matches!(
        verifier.verify(&token).await,
        Err(Error::Revoked { .. })
    ));
    clock.advance(Duration::from_secs(121));
    verifier.verify(&token).await.unwrap();
}

#[test]
fn the_feed_url_must_be_https_or_loopback() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let e = Verifier::builder()
        .issuer(Issuer::jwks("https://a.example/jwks"))
        .revocation_feed("http://auth.example.com")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("plain http"), "{e}");
}
