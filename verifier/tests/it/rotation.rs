//! Key rotation while requests run: the JWKS changes to a new key mid-load and no valid
//! token fails.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use serde_json::json;
use tessera_jose::Algorithm;
use tessera_verifier::{AuthLayer, Issuer, VerifiedClaims, Verifier};

use crate::support::{jwks_of, JwksServer, Key};

async fn protected_app(verifier: Arc<Verifier>) -> SocketAddr {
    let app = Router::new()
        .route(
            "/api/v1/protected",
            get(|VerifiedClaims(c): VerifiedClaims| async move { axum::Json(json!({"user": c})) }),
        )
        .route_layer(AuthLayer::new(verifier));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_loses_no_request() {
    let old = Arc::new(Key::new(Algorithm::RS256, "old"));
    let new = Arc::new(Key::new(Algorithm::ES256, "new"));
    let jwks = JwksServer::start(jwks_of(&[&old])).await;
    jwks.set_cache_control(Some("public, max-age=600"));
    let verifier = Arc::new(
        Verifier::builder()
            .issuer(Issuer::jwks(jwks.url()))
            .build()
            .unwrap(),
    );
    let addr = protected_app(verifier).await;

    // Tokens are minted ahead, so the load measures verification only.
    let old_tokens: Arc<Vec<String>> = Arc::new(
        (0..50)
            .map(|n| old.token(json!({"sub": format!("u{n}")})))
            .collect(),
    );
    let new_tokens: Arc<Vec<String>> = Arc::new(
        (0..50)
            .map(|n| new.token(json!({"sub": format!("u{n}")})))
            .collect(),
    );
    let current = Arc::new(RwLock::new(old_tokens.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed, with_new) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );

    let client = reqwest::Client::new();
    let mut workers = Vec::new();
    for w in 0..8 {
        let (client, current, stop, ok, failed, with_new, new_tokens) = (
            client.clone(),
            current.clone(),
            stop.clone(),
            ok.clone(),
            failed.clone(),
            with_new.clone(),
            new_tokens.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut n = w;
            while !stop.load(Ordering::SeqCst) {
                let tokens = current.read().unwrap().clone();
                let token = &tokens[n % tokens.len()];
                n += 1;
                let r = client
                    .get(format!("http://{addr}/api/v1/protected"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                if r.status() == 200 {
                    ok.fetch_add(1, Ordering::SeqCst);
                    if Arc::ptr_eq(&tokens, &new_tokens) {
                        with_new.fetch_add(1, Ordering::SeqCst);
                    }
                } else {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    // The issuer publishes the new key and signs with it at once (the verifier still holds
    // the old set, fresh for ten more minutes).
    jwks.set_body(jwks_of(&[&old, &new]));
    *current.write().unwrap() = new_tokens.clone();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Tokens of both keys in flight together.
    let mixed: Arc<Vec<String>> = Arc::new(
        old_tokens
            .iter()
            .chain(new_tokens.iter())
            .cloned()
            .collect(),
    );
    *current.write().unwrap() = mixed;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }

    let (ok, failed, with_new) = (
        ok.load(Ordering::SeqCst),
        failed.load(Ordering::SeqCst),
        with_new.load(Ordering::SeqCst),
    );
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
    assert!(
        with_new > 0 && ok > with_new,
        "load did not span the rotation ({ok} ok, {with_new} new)"
    );
    assert_eq!(
        jwks.hits(),
        2,
        "expected the first fetch and one refetch for the new kid"
    );
}
