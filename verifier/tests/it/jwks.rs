//! Every behaviour of the remote key set (SPEC section 3), against a local JWKS server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::json;
use tessera_jose::{Algorithm, UnverifiedJwt, Validation};
use tessera_verifier::{Error, FetchError, Issuer, JwksOptions, ManualClock, RemoteJwks, Verifier};

use crate::support::{eventually, forged_token, jwks_of, quick_options, JwksServer, Key};

fn source(server: &JwksServer, clock: &ManualClock, options: JwksOptions) -> RemoteJwks {
    RemoteJwks::with_clock(&server.url(), options, Arc::new(clock.clone())).unwrap()
}

fn verifier(url: &str, clock: &ManualClock, options: JwksOptions) -> Verifier {
    Verifier::builder()
        .issuer(Issuer::jwks(url).jwks_options(options))
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn max_age_is_honoured() {
    let key = Key::new(Algorithm::ES256, "k1");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    server.set_cache_control(Some("public, max-age=120"));
    let clock = ManualClock::new();
    let jwks = source(&server, &clock, quick_options());

    assert_eq!(jwks.key_set().await.unwrap().len(), 1);
    assert_eq!(server.hits(), 1);
    clock.advance(Duration::from_secs(60));
    jwks.key_set().await.unwrap();
    assert_eq!(server.hits(), 1, "a fresh set is not refetched");
    clock.advance(Duration::from_secs(61));
    jwks.key_set().await.unwrap();
    assert_eq!(server.hits(), 2, "an expired set is refetched");
}

#[tokio::test]
async fn max_age_is_clamped_and_defaults_to_ten_minutes() {
    let key = Key::new(Algorithm::ES256, "k1");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let clock = ManualClock::new();

    // max-age=1 is raised to the 30 s floor.
    server.set_cache_control(Some("max-age=1"));
    let jwks = source(&server, &clock, quick_options());
    jwks.key_set().await.unwrap();
    clock.advance(Duration::from_secs(20));
    jwks.key_set().await.unwrap();
    assert_eq!(server.hits(), 1);
    clock.advance(Duration::from_secs(11));
    jwks.key_set().await.unwrap();
    assert_eq!(server.hits(), 2);

    // A huge max-age is cut to 24 h.
    server.set_cache_control(Some("max-age=999999999"));
    clock.advance(Duration::from_secs(31));
    jwks.key_set().await.unwrap();
    assert_eq!(server.hits(), 3);
    clock.advance(Duration::from_secs(86_401));
    jwks.key_set().await.unwrap();
    assert_eq!(server.hits(), 4);

    // No Cache-Control: 10 minutes.
    server.set_cache_control(None);
    let fresh = source(&server, &clock, quick_options());
    fresh.key_set().await.unwrap();
    assert_eq!(server.hits(), 5);
    clock.advance(Duration::from_secs(400));
    fresh.key_set().await.unwrap();
    assert_eq!(server.hits(), 5);
    clock.advance(Duration::from_secs(201));
    fresh.key_set().await.unwrap();
    assert_eq!(server.hits(), 6);
}

#[tokio::test]
async fn etag_revalidation_sends_if_none_match_and_keeps_keys_on_304() {
    let key = Key::new(Algorithm::EdDSA, "k1");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    server.set_cache_control(Some("max-age=60"));
    server.set_etag(Some("\"v1\""));
    let clock = ManualClock::new();
    let verifier = verifier(&server.url(), &clock, quick_options());
    let token = key.token(json!({"sub": "a"}));

    verifier.verify(&token).await.unwrap();
    clock.advance(Duration::from_secs(61));
    verifier.verify(&token).await.unwrap();
    assert_eq!(server.hits(), 2);
    assert_eq!(
        server
            .behaviour
            .not_modified
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(
        *server.behaviour.if_none_match.lock().unwrap(),
        vec!["\"v1\"".to_owned()]
    );
    // The 304 renewed the lifetime.
    clock.advance(Duration::from_secs(30));
    verifier.verify(&token).await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_bare_304_keeps_the_stored_etag_and_lifetime() {
    let key = Key::new(Algorithm::EdDSA, "k1");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    server.set_cache_control(Some("max-age=120"));
    server.set_etag(Some("\"v1\""));
    server
        .behaviour
        .bare_not_modified
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let clock = ManualClock::new();
    let verifier = verifier(&server.url(), &clock, quick_options());
    let token = key.token(json!({"sub": "a"}));
    verifier.verify(&token).await.unwrap();
    clock.advance(Duration::from_secs(121));
    verifier.verify(&token).await.unwrap();
    assert_eq!(server.hits(), 2);
    // Still 120 s (not the 10-minute default) and still conditional.
    clock.advance(Duration::from_secs(121));
    verifier.verify(&token).await.unwrap();
    assert_eq!(server.hits(), 3);
    assert_eq!(
        *server.behaviour.if_none_match.lock().unwrap(),
        vec!["\"v1\"".to_owned(), "\"v1\"".to_owned()]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_kid_that_joins_an_older_refresh_still_gets_its_own_refetch() {
    let old = Key::new(Algorithm::ES256, "old");
    let new = Key::new(Algorithm::ES256, "new");
    let server = JwksServer::start(jwks_of(&[&old])).await;
    server.set_cache_control(Some("max-age=60"));
    let clock = ManualClock::new();
    let verifier = Arc::new(verifier(&server.url(), &clock, quick_options()));
    verifier.verify(&old.token(json!({}))).await.unwrap();
    // A background refresh starts (three quarters of the lifetime passed) and answers
    // slowly with the set as it was when asked...
    server
        .behaviour
        .body_at_arrival
        .store(true, std::sync::atomic::Ordering::SeqCst);
    server.set_delay(Duration::from_millis(300));
    clock.advance(Duration::from_secs(46));
    verifier.verify(&old.token(json!({}))).await.unwrap();
    assert!(eventually(Duration::from_secs(2), || server.hits() == 2).await);
    // ...and meanwhile the issuer rotates with `--now`.
    server.set_body(jwks_of(&[&old, &new]));
    let verified = verifier.verify(&new.token(json!({}))).await;
    assert!(verified.is_ok(), "{verified:?}");
    assert_eq!(server.hits(), 3);
}

#[tokio::test]
async fn refresh_ahead_runs_in_the_background() {
    let key = Key::new(Algorithm::ES256, "k1");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    server.set_cache_control(Some("max-age=100"));
    let clock = ManualClock::new();
    let jwks = source(&server, &clock, quick_options());
    jwks.key_set().await.unwrap();

    // Past three quarters of the lifetime: served at once, refreshed behind the caller.
    server.set_delay(Duration::from_millis(800));
    clock.advance(Duration::from_secs(80));
    let started = Instant::now();
    jwks.key_set().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(400),
        "caller waited for the refresh"
    );
    assert!(eventually(Duration::from_secs(3), || server.hits() == 2).await);
    // The refreshed set carries a new lifetime: past the old expiry, no fetch.
    assert!(eventually(Duration::from_secs(3), || jwks.fetch_count() == 2).await);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    clock.advance(Duration::from_secs(30));
    jwks.key_set().await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn unknown_kid_triggers_one_refetch_then_a_cooldown() {
    let old = Key::new(Algorithm::ES256, "old");
    let new = Key::new(Algorithm::RS256, "new");
    let server = JwksServer::start(jwks_of(&[&old])).await;
    server.set_cache_control(Some("max-age=3600"));
    let clock = ManualClock::new();
    let verifier = verifier(&server.url(), &clock, quick_options());
    verifier.verify(&old.token(json!({}))).await.unwrap();

    // A rotation: the set now holds the new key; its first token causes one refetch.
    server.set_body(jwks_of(&[&old, &new]));
    verifier.verify(&new.token(json!({}))).await.unwrap();
    assert_eq!(server.hits(), 2);

    // A refetch that finds the new key does not start the cooldown; one that finds nothing
    // does: the first made-up kid costs one fetch, the next ones within 30 s cost nothing.
    clock.advance(Duration::from_secs(5));
    let e = verifier.verify(&forged_token("nope")).await.unwrap_err();
    assert_eq!(e.unknown_kid(), Some("nope"));
    assert_eq!(server.hits(), 3);
    clock.advance(Duration::from_secs(5));
    let e = verifier.verify(&forged_token("nope1")).await.unwrap_err();
    assert_eq!(e.unknown_kid(), Some("nope1"));
    assert_eq!(server.hits(), 3, "within the cooldown: no fetch");
    // After the cooldown, one more refetch.
    clock.advance(Duration::from_secs(30));
    let e = verifier.verify(&forged_token("nope2")).await.unwrap_err();
    assert_eq!(e.unknown_kid(), Some("nope2"));
    assert_eq!(server.hits(), 4);
}

/// Two `rotate --now` a few seconds apart: each new key is fetched when its first token
/// arrives, because a refetch that finds its kid does not hold back the next one.
#[tokio::test]
async fn back_to_back_rotations_are_both_picked_up() {
    let k1 = Key::new(Algorithm::ES256, "k1");
    let k2 = Key::new(Algorithm::ES256, "k2");
    let k3 = Key::new(Algorithm::ES256, "k3");
    let server = JwksServer::start(jwks_of(&[&k1])).await;
    server.set_cache_control(Some("max-age=3600"));
    let clock = ManualClock::new();
    let verifier = verifier(&server.url(), &clock, quick_options());
    verifier.verify(&k1.token(json!({}))).await.unwrap();
    server.set_body(jwks_of(&[&k1, &k2]));
    verifier.verify(&k2.token(json!({}))).await.unwrap();
    clock.advance(Duration::from_secs(3));
    server.set_body(jwks_of(&[&k1, &k2, &k3]));
    verifier.verify(&k3.token(json!({}))).await.unwrap();
    assert_eq!(server.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kid_flood_costs_one_fetch_and_never_blocks_beyond_the_timeout() {
    let key = Key::new(Algorithm::ES256, "k1");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    server.set_cache_control(Some("max-age=3600"));
    let clock = ManualClock::new();
    let verifier = Arc::new(verifier(&server.url(), &clock, quick_options()));
    verifier.verify(&key.token(json!({}))).await.unwrap();
    assert_eq!(server.hits(), 1);

    // The issuer hangs for far longer than the fetch timeout (1 s) during the flood.
    server.set_delay(Duration::from_secs(6));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..10_000 {
        let verifier = verifier.clone();
        let token = forged_token(&format!("random-{n}"));
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let e = verifier.verify(&token).await.unwrap_err();
            (e.unknown_kid().is_some(), t.elapsed())
        }));
    }
    let mut slowest = Duration::ZERO;
    for t in tasks {
        let (unknown, took) = t.await.unwrap();
        assert!(unknown, "refused for another reason than the unknown kid");
        slowest = slowest.max(took);
    }
    assert!(
        slowest < Duration::from_millis(3000),
        "a caller waited {slowest:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(server.hits(), 2, "the flood cost more than one fetch");
    // Valid tokens were never affected.
    server.set_delay(Duration::ZERO);
    verifier.verify(&key.token(json!({}))).await.unwrap();
}

#[tokio::test]
async fn stale_if_error_keeps_verifying_through_an_hour_long_outage() {
    let key = Key::new(Algorithm::RS256, "k1");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    server.set_cache_control(Some("max-age=300"));
    let clock = ManualClock::new();
    let verifier = verifier(&server.url(), &clock, quick_options());
    let token = key.token(json!({"sub": "jane"}));
    verifier.verify(&token).await.unwrap();

    server.set_down(true);
    for _ in 0..60 {
        clock.advance(Duration::from_secs(60));
        let jwt = verifier.verify(&token).await.unwrap();
        assert_eq!(jwt.claims().sub(), Some("jane"));
        // Let the background retry run.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let attempts = server.hits();
    assert!(
        attempts > 2,
        "the outage was never noticed ({attempts} fetches)"
    );
    assert!(
        attempts <= 61,
        "retries are not throttled ({attempts} fetches)"
    );

    // An issuer that hangs instead of failing delays no caller either.
    server.set_delay(Duration::from_secs(3));
    clock.advance(Duration::from_secs(60));
    let started = Instant::now();
    verifier.verify(&token).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "caller waited {:?}",
        started.elapsed()
    );
    assert!(eventually(Duration::from_secs(2), || server.hits() == attempts + 1).await);

    // Back up: the next retry picks up a fresh set, and fetches stop.
    server.set_delay(Duration::ZERO);
    server.set_down(false);
    tokio::time::sleep(Duration::from_millis(1200)).await; // the hanging fetch times out
    clock.advance(Duration::from_secs(11));
    verifier.verify(&token).await.unwrap();
    let jwks = verifier.jwks_for(None).unwrap();
    let before = jwks.fetch_count();
    assert!(eventually(Duration::from_secs(3), || jwks.fetch_count() > before).await);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let recovered = server.hits();
    clock.advance(Duration::from_secs(200));
    verifier.verify(&token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.hits(), recovered, "the recovered set is fresh again");
}

#[tokio::test]
async fn stale_if_error_is_bounded() {
    let key = Key::new(Algorithm::ES256, "k1");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    server.set_cache_control(Some("max-age=60"));
    let clock = ManualClock::new();
    let options = JwksOptions {
        stale_if_error: Duration::from_secs(3600),
        ..quick_options()
    };
    let verifier = verifier(&server.url(), &clock, options);
    let token = key.token(json!({}));
    verifier.verify(&token).await.unwrap();
    server.set_down(true);
    clock.advance(Duration::from_secs(60 + 3000));
    verifier.verify(&token).await.unwrap();
    clock.advance(Duration::from_secs(700));
    let e = verifier.verify(&token).await.unwrap_err();
    assert!(
        matches!(
            e,
            Error::KeysUnavailable {
                cause: FetchError::Status { status: 503, .. },
                ..
            }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn responses_over_one_mib_are_refused() {
    let server = JwksServer::start(String::new()).await;
    for path in ["big", "big-chunked"] {
        let jwks =
            RemoteJwks::new(&format!("http://{}/{path}", server.addr), quick_options()).unwrap();
        let e = jwks.key_set().await.unwrap_err();
        assert!(
            matches!(
                e,
                Error::KeysUnavailable {
                    cause: FetchError::TooLarge {
                        limit: 1_048_576,
                        ..
                    },
                    ..
                }
            ),
            "{path}: {e:?}"
        );
    }
}

#[tokio::test]
async fn redirects_only_within_the_same_host() {
    let key = Key::new(Algorithm::ES256, "k1");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let same =
        RemoteJwks::new(&format!("{}/redirect-same", server.base()), quick_options()).unwrap();
    assert_eq!(same.key_set().await.unwrap().len(), 1);

    let other = RemoteJwks::new(
        &format!("{}/redirect-other", server.base()),
        quick_options(),
    )
    .unwrap();
    let e = other.key_set().await.unwrap_err();
    let text = format!("{e:?}");
    assert!(text.contains("another host"), "{text}");
    assert_eq!(
        server.hits(),
        1,
        "the redirect to another host was followed"
    );
}

#[test]
fn https_is_required_except_on_loopback() {
    let e =
        RemoteJwks::new("http://auth.example.com/jwks.json", JwksOptions::default()).unwrap_err();
    assert!(e.to_string().contains("plain http"), "{e}");
    assert!(RemoteJwks::new("https://auth.example.com/jwks.json", JwksOptions::default()).is_ok());
    assert!(RemoteJwks::new("http://[::1]:8080/jwks.json", JwksOptions::default()).is_ok());
    assert!(Verifier::builder()
        .issuer(Issuer::discover("http://auth.example.com"))
        .build()
        .is_err());
}

#[tokio::test]
async fn a_bad_key_is_skipped_and_the_others_keep_working() {
    let good = Key::new(Algorithm::ES256, "good");
    // A 1024-bit modulus: under the 2048-bit floor.
    let modulus = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xc5u8; 128]);
    let small = json!({"kty": "RSA", "kid": "small", "n": modulus, "e": "AQAB"});
    let mut document: serde_json::Value = serde_json::from_str(&jwks_of(&[&good])).unwrap();
    let keys = document["keys"].as_array_mut().unwrap();
    keys.push(small);
    keys.push(
        json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}),
    );
    keys.push(json!({"kty": "EC", "kid": "broken", "crv": "P-256", "x": "AAAA", "y": "AAAA"}));
    keys.push(json!({"kty": "nonsense", "kid": "weird"}));
    let server = JwksServer::start(document.to_string()).await;

    let jwks = RemoteJwks::new(&server.url(), quick_options()).unwrap();
    let set = jwks.key_set().await.unwrap();
    assert_eq!(set.len(), 1);
    let mut skipped: Vec<_> = set.skipped().iter().filter_map(|s| s.kid.clone()).collect();
    skipped.sort();
    assert_eq!(skipped, ["broken", "hmac", "small", "weird"]);
    assert_eq!(set.skipped().len(), 4);

    let token = good.token(json!({"sub": "s"}));
    let jwt = UnverifiedJwt::parse(&token)
        .unwrap()
        .verify(&*set, &Validation::new())
        .unwrap();
    assert_eq!(jwt.claims().sub(), Some("s"));
}

#[tokio::test]
async fn duplicate_kids_are_each_tried() {
    let a = Key::new(Algorithm::ES256, "dup");
    let b = Key::new(Algorithm::ES256, "dup");
    let server = JwksServer::start(jwks_of(&[&a, &b])).await;
    let clock = ManualClock::new();
    let verifier = verifier(&server.url(), &clock, quick_options());
    for key in [&a, &b] {
        let jwt = verifier
            .verify(&key.token(json!({"sub": "x"})))
            .await
            .unwrap();
        assert_eq!(jwt.verified_by(), Some("dup"));
    }
    let stranger = Key::new(Algorithm::ES256, "dup");
    let e = verifier
        .verify(&stranger.token(json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::Token(inner) if matches!(inner.as_ref(), tessera_jose::Error::InvalidSignature)),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_set_without_usable_keys_does_not_replace_a_good_one() {
    let key = Key::new(Algorithm::ES256, "k1");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    server.set_cache_control(Some("max-age=60"));
    let clock = ManualClock::new();
    let verifier = verifier(&server.url(), &clock, quick_options());
    let token = key.token(json!({}));
    verifier.verify(&token).await.unwrap();
    server.set_body(
        r#"{"keys":[{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}]}"#.into(),
    );
    clock.advance(Duration::from_secs(61));
    verifier.verify(&token).await.unwrap();
    assert_eq!(server.hits(), 2);
    server.set_body("not json".into());
    clock.advance(Duration::from_secs(61));
    verifier.verify(&token).await.unwrap();
}

#[tokio::test]
async fn an_issuer_that_starts_late_is_picked_up_quickly_without_hammering_it() {
    let key = Key::new(Algorithm::ES256, "k1");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    server.set_down(true);
    let clock = ManualClock::new();
    let verifier = verifier(&server.url(), &clock, quick_options());
    let token = key.token(json!({}));
    for _ in 0..5 {
        let e = verifier.verify(&token).await.unwrap_err();
        assert!(matches!(e, Error::KeysUnavailable { .. }), "{e:?}");
    }
    assert_eq!(server.hits(), 1, "failed fetches are not retried at once");
    server.set_down(false);
    clock.advance(Duration::from_millis(1100));
    verifier.verify(&token).await.unwrap();
    assert_eq!(server.hits(), 2);
}
