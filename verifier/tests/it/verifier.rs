//! The verifier: several issuers chosen by `iss`, discovery, per-issuer policy, typed claims.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::json;
use tessera_jose::{Algorithm, AlgorithmError, ClaimError};
use tessera_verifier::{Clock, Error, Issuer, ManualClock, Verifier};

use crate::support::{jwks_of, quick_options, JwksServer, Key};

fn claim_error(e: &Error) -> Option<&ClaimError> {
    match e {
        Error::Token(inner) => match inner.as_ref() {
            tessera_jose::Error::Claim(c) => Some(c),
            _ => None,
        },
        _ => None,
    }
}

#[tokio::test]
async fn several_issuers_each_with_their_own_keys_and_policy() {
    let a_key = Key::new(Algorithm::ES256, "a1");
    let b_key = Key::new(Algorithm::EdDSA, "b1");
    let a = JwksServer::start(jwks_of(&[&a_key])).await;
    let b = JwksServer::start(jwks_of(&[&b_key])).await;
    let verifier = Verifier::builder()
        .issuer(
            Issuer::jwks(a.url())
                .issuer("https://a.example")
                .audience("api")
                .jwks_options(quick_options()),
        )
        .issuer(
            Issuer::jwks(b.url())
                .issuer("https://b.example")
                .audience("other-api")
                .algorithms([Algorithm::EdDSA]),
        )
        .build()
        .unwrap();

    let jwt = verifier
        .verify(&a_key.token(json!({"iss": "https://a.example", "aud": "api", "sub": "x"})))
        .await
        .unwrap();
    assert_eq!(jwt.claims().iss(), Some("https://a.example"));
    verifier
        .verify(&b_key.token(json!({"iss": "https://b.example", "aud": ["other-api"]})))
        .await
        .unwrap();

    // B's key cannot speak for A: A's set does not hold it.
    let e = verifier
        .verify(&b_key.token(json!({"iss": "https://a.example", "aud": "api"})))
        .await
        .unwrap_err();
    assert_eq!(e.unknown_kid(), Some("b1"));
    // And B only accepts EdDSA, whatever key would match.
    let e = verifier
        .verify(&a_key.token(json!({"iss": "https://b.example", "aud": "other-api"})))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("not in the allowed algorithms"),
        "{e}"
    );
    // Per-issuer audience.
    let e = verifier
        .verify(&a_key.token(json!({"iss": "https://a.example", "aud": "other-api"})))
        .await
        .unwrap_err();
    assert!(
        matches!(claim_error(&e), Some(ClaimError::Audience(_))),
        "{e:?}"
    );
    // An issuer nobody configured, and no `iss` at all.
    let e = verifier
        .verify(&a_key.token(json!({"iss": "https://evil.example", "aud": "api"})))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::UnknownIssuer(_)), "{e:?}");
    let e = verifier
        .verify(&a_key.token(json!({"aud": "api"})))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::UnknownIssuer(_)), "{e:?}");
    // One fetch each, plus A's single refetch for the unknown kid; none for the refused
    // issuers.
    assert_eq!((a.hits(), b.hits()), (2, 1));
}

#[tokio::test]
async fn per_issuer_algorithm_policy() {
    let rsa = Key::new(Algorithm::RS256, "r");
    let ec = Key::new(Algorithm::ES256, "e");
    let server = JwksServer::start(jwks_of(&[&rsa, &ec])).await;
    let verifier = Verifier::builder()
        .issuer(Issuer::jwks(server.url()).algorithms([Algorithm::ES256]))
        .build()
        .unwrap();
    verifier.verify(&ec.token(json!({}))).await.unwrap();
    let e = verifier.verify(&rsa.token(json!({}))).await.unwrap_err();
    assert!(
        matches!(&e, Error::Token(inner) if matches!(inner.as_ref(),
            tessera_jose::Error::Algorithm(AlgorithmError::NotAllowed(Algorithm::RS256)))),
        "{e:?}"
    );
}

#[tokio::test]
async fn discovery_finds_the_key_set_and_checks_the_issuer() {
    let key = Key::new(Algorithm::RS256, "k");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let issuer = server.base();
    let verifier = Verifier::builder()
        .issuer(Issuer::discover(issuer.clone()).audience("api"))
        .build()
        .unwrap();
    let jwt = verifier
        .verify(&key.token(json!({"iss": issuer, "aud": "api", "sub": "d"})))
        .await
        .unwrap();
    assert_eq!(jwt.claims().sub(), Some("d"));

    // A document speaking for another issuer is refused.
    *server.behaviour.discovery_issuer.lock().unwrap() = Some("https://evil.example".into());
    let other = Verifier::builder()
        .issuer(Issuer::discover(issuer.clone()).audience("api"))
        .build()
        .unwrap();
    let e = other
        .verify(&key.token(json!({"iss": issuer, "aud": "api"})))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::KeysUnavailable { .. }), "{e:?}");
    assert!(e.to_string().contains("evil.example"), "{e}");
}

#[tokio::test]
async fn the_fallback_issuer_accepts_any_iss_and_typed_claims_deserialize() {
    #[derive(Deserialize)]
    struct MyClaims {
        sub: String,
        role: String,
        user_id: u64,
    }
    let key = Key::new(Algorithm::ES256, "k");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let clock = ManualClock::new();
    let verifier = Verifier::builder()
        .issuer(Issuer::jwks(server.url()).insecure_any_audience())
        .clock(Arc::new(clock.clone()))
        .build()
        .unwrap();
    let token = key.token(json!({"iss": "anything", "aud": "whatever", "sub": "john",
        "role": "read", "user_id": 777, "exp": clock.unix_secs() + 600}));
    let claims: MyClaims = verifier
        .verify(&token)
        .await
        .unwrap()
        .deserialize()
        .unwrap();
    assert_eq!(
        (claims.sub.as_str(), claims.role.as_str(), claims.user_id),
        ("john", "read", 777)
    );

    // Time is the injected clock's: ten minutes later (plus leeway) the token has expired.
    clock.advance(std::time::Duration::from_secs(661));
    let e = verifier.verify(&token).await.unwrap_err();
    assert!(e.is_expired(), "{e:?}");
}

#[test]
fn configuration_mistakes_are_reported() {
    assert!(Verifier::builder().build().is_err());
    let twice = Verifier::builder()
        .issuer(Issuer::jwks("https://a.example/jwks").issuer("https://a.example"))
        .issuer(Issuer::discover("https://a.example"))
        .build();
    assert!(twice.unwrap_err().to_string().contains("twice"));
    let two_fallbacks = Verifier::builder()
        .issuer(Issuer::jwks("https://a.example/jwks"))
        .issuer(Issuer::jwks("https://b.example/jwks"))
        .build();
    assert!(two_fallbacks.is_err());
}

#[tokio::test]
async fn malformed_tokens_are_refused_before_any_fetch() {
    let key = Key::new(Algorithm::ES256, "k");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let verifier = Verifier::builder()
        .issuer(Issuer::jwks(server.url()))
        .build()
        .unwrap();
    for bad in [
        "",
        "a.b",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.e30.",
        &"a".repeat(20_000),
    ] {
        let e = verifier.verify(bad).await.unwrap_err();
        assert!(matches!(e, Error::Token(_)), "{bad:.20}: {e:?}");
    }
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn prefetch_loads_every_issuer_and_reports_failures() {
    let key = Key::new(Algorithm::ES256, "k");
    let up = JwksServer::start(jwks_of(&[&key])).await;
    let down = JwksServer::start(jwks_of(&[&key])).await;
    down.set_down(true);
    let verifier = Verifier::builder()
        .issuer(Issuer::jwks(up.url()).issuer("https://up.example"))
        .issuer(Issuer::jwks(down.url()).issuer("https://down.example"))
        .build()
        .unwrap();
    let e = verifier.prefetch().await.unwrap_err();
    assert!(matches!(e, Error::KeysUnavailable { .. }), "{e:?}");
    assert_eq!((up.hits(), down.hits()), (1, 1));
    // The prefetched set serves the first token without another fetch.
    verifier
        .verify(&key.token(json!({"iss": "https://up.example"})))
        .await
        .unwrap();
    assert_eq!(up.hits(), 1);
}

fn cached_len(verifier: &Verifier) -> usize {
    let shown = format!("{verifier:?}");
    let at = shown.find("TokenCache { capacity: ").unwrap();
    let rest = &shown[at..];
    let len = rest.split("len: ").nth(1).unwrap();
    len.split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn token_cache_checks_time_revocation_and_keys_again() {
    use std::time::Duration;
    use tessera_verifier::{RevocationKind, Revocations};

    let key = Key::new(Algorithm::ES256, "c1");
    let other = Key::new(Algorithm::ES256, "c2");
    let server = JwksServer::start(jwks_of(&[&key, &other])).await;
    let clock = Arc::new(ManualClock::new());
    let verifier = Verifier::builder()
        .issuer(Issuer::jwks(server.url()).jwks_options(quick_options()))
        .clock(clock.clone())
        .revocations(Revocations::new(clock.clone()))
        .token_cache(4)
        .build()
        .unwrap();
    let now = clock.unix_secs();

    // Verified in full once, then served from the cache with the same claims.
    let token = key.token(json!({"sub": "jane", "jti": "t-1", "exp": now + 60}));
    let first = verifier.verify(&token).await.unwrap();
    assert_eq!(cached_len(&verifier), 1);
    let again = verifier.verify(&token).await.unwrap();
    assert_eq!(first.claims().raw(), again.claims().raw());
    assert_eq!(again.verified_by(), Some("c1"));
    // The cache never shows its tokens.
    assert!(!format!("{verifier:?}").contains(&token));

    // Time moves on for cached tokens too.
    clock.advance(Duration::from_secs(120));
    let e = verifier.verify(&token).await.unwrap_err();
    assert!(
        matches!(claim_error(&e), Some(ClaimError::Expired { .. })),
        "{e:?}"
    );

    // A revocation reaches a cached token.
    let now = clock.unix_secs();
    let revoked = key.token(json!({"sub": "jane", "jti": "t-2", "exp": now + 600}));
    verifier.verify(&revoked).await.unwrap();
    verifier
        .revocations()
        .unwrap()
        .revoke(RevocationKind::Jti, "t-2", now + 600);
    let e = verifier.verify(&revoked).await.unwrap_err();
    assert!(matches!(e, Error::Revoked { .. }), "{e:?}");

    // A refused token is never cached (checked while the cache has room, so an eviction
    // could not hide an insertion).
    let before = cached_len(&verifier);
    assert!(before < 4);
    let forged = crate::support::forged_token("c1");
    assert!(verifier.verify(&forged).await.is_err());
    assert!(verifier.verify(&forged).await.is_err());
    assert_eq!(cached_len(&verifier), before);

    // A key withdrawn from the published set: the cached token is verified again, in
    // full, and refused.
    let withdrawn = key.token(json!({"sub": "jane", "jti": "t-3", "exp": now + 600}));
    verifier.verify(&withdrawn).await.unwrap();
    server.set_body(jwks_of(&[&other]));
    verifier.jwks_for(None).unwrap().refresh().await.unwrap();
    let e = verifier.verify(&withdrawn).await.unwrap_err();
    assert_eq!(e.unknown_kid(), Some("c1"), "{e:?}");

    // Bounded: many distinct tokens never hold more than the capacity.
    for i in 0..20 {
        let t = other.token(json!({"jti": format!("n{i}"), "exp": now + 600}));
        verifier.verify(&t).await.unwrap();
        assert!(cached_len(&verifier) <= 4);
    }
}

#[tokio::test]
async fn without_a_token_cache_nothing_is_kept() {
    let key = Key::new(Algorithm::ES256, "k");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let verifier = Verifier::builder()
        .issuer(Issuer::jwks(server.url()))
        .build()
        .unwrap();
    verifier.verify(&key.token(json!({}))).await.unwrap();
    assert!(format!("{verifier:?}").contains("cache: None"));
}

#[tokio::test]
async fn tokens_over_8_kib_are_not_cached() {
    let key = Key::new(Algorithm::ES256, "k");
    let server = JwksServer::start(jwks_of(&[&key])).await;
    let verifier = Verifier::builder()
        .issuer(Issuer::jwks(server.url()))
        .token_cache(8)
        .build()
        .unwrap();
    let big = key.token(json!({"pad": "x".repeat(9000)}));
    assert!(big.len() > 8192);
    verifier.verify(&big).await.unwrap();
    verifier.verify(&big).await.unwrap();
    assert_eq!(cached_len(&verifier), 0);
    verifier.verify(&key.token(json!({}))).await.unwrap();
    assert_eq!(cached_len(&verifier), 1);
    // An ML-DSA-87-sized token (about 6.5 KiB) is kept.
    let pq_sized = key.token(json!({"pad": "x".repeat(4500)}));
    assert!(pq_sized.len() > 6000 && pq_sized.len() <= 8192);
    verifier.verify(&pq_sized).await.unwrap();
    assert_eq!(cached_len(&verifier), 2);
}
