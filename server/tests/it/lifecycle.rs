//! Key lifecycle invariants with a controllable clock, replicas sharing a database, and the
//! private keys sealed at rest.

use serde_json::json;
use tessera_contract::ManualClock;
use tessera_jose::{KeySet, UnverifiedJwt, Validation};
use tessera_server::{Access, Admin, AppState, KeyState};

use crate::{add_client, advance, config, databases, get, master, post_form, send, state_with, T0};

const DAY: i64 = 86_400;

// These tests follow the keys of the access-token algorithm (ES256 in `config`); the RS256
// key kept beside it for ID tokens has its own, identical lifecycle.
const ID_TOKEN_ALG: &str = "RS256";

fn states(state: &AppState) -> Vec<(String, KeyState)> {
    state
        .keys()
        .published()
        .keys
        .iter()
        .filter(|k| k.alg == state.config().alg)
        .map(|k| (k.kid.clone(), k.state))
        .collect()
}

/// The keys of the access-token algorithm, as `key list` shows them.
async fn signing_keys(state: &AppState) -> Vec<tessera_server::KeyInfo> {
    state
        .admin()
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.alg == state.config().alg)
        .collect()
}

fn active_kid(state: &AppState) -> String {
    state
        .keys()
        .published()
        .signer
        .as_ref()
        .and_then(|s| s.kid().map(str::to_owned))
        .unwrap()
}

async fn published_kids(state: &AppState) -> Vec<String> {
    let doc = send(state, get("/.well-known/jwks.json")).await.json();
    doc["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] != ID_TOKEN_ALG)
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// A client-credentials token from the token endpoint.
async fn issue(state: &AppState) -> String {
    static CLIENTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let id = format!(
        "c{}",
        CLIENTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let secret = add_client(state, &id, "").await;
    let reply = send(
        state,
        post_form(
            "/oauth/token",
            &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
        ),
    )
    .await
    .json();
    reply["access_token"].as_str().unwrap().to_owned()
}

async fn verifies_now(state: &AppState, token: &str) -> bool {
    let body = send(state, get("/.well-known/jwks.json")).await.body;
    let keys = KeySet::from_slice(&body).unwrap();
    UnverifiedJwt::parse(token)
        .unwrap()
        .verify(
            &keys,
            &Validation::new()
                .audience("tessera")
                .at_time(state.clock().unix_secs()),
        )
        .is_ok()
}

#[tokio::test]
async fn scheduled_rotation_prepublishes_then_retires_then_expires() {
    for url in databases().await {
        let clock = ManualClock::at(T0);
        let state = state_with(config(&url), clock.clone()).await;
        let first = active_kid(&state);
        assert_eq!(states(&state), vec![(first.clone(), KeyState::Active)]);
        let old_token = issue(&state).await;

        // Just before the pre-publication window: nothing happens.
        advance(&clock, 30 * DAY - 3600 - 1);
        state.keys().maintain().await.unwrap();
        assert_eq!(states(&state).len(), 1, "{url}");

        // In the window: a successor is published but does not sign.
        advance(&clock, 1);
        state.keys().maintain().await.unwrap();
        let now = states(&state);
        assert_eq!(now.len(), 2);
        let next = now.iter().find(|(k, _)| *k != first).unwrap().0.clone();
        assert!(now.contains(&(next.clone(), KeyState::Pending)));
        assert_eq!(active_kid(&state), first, "a pending key never signs");
        assert_eq!(
            published_kids(&state).await.len(),
            2,
            "pending keys are published"
        );

        // Not a second early.
        advance(&clock, 3599);
        state.keys().maintain().await.unwrap();
        assert_eq!(active_kid(&state), first);

        // After a full pre-publication period it signs; the old key is retired but published.
        advance(&clock, 1);
        state.keys().maintain().await.unwrap();
        assert_eq!(active_kid(&state), next);
        assert!(states(&state).contains(&(first.clone(), KeyState::Retired)));
        let info = signing_keys(&state).await;
        let successor = info.iter().find(|k| k.kid == next).unwrap();
        assert!(
            successor.activated_at.unwrap() - successor.created_at >= 3600,
            "signed only after a full pre-publication period"
        );

        // A token the old key signed, still within its lifetime, keeps verifying.
        advance(&clock, 10 * 60);
        state.keys().maintain().await.unwrap();
        assert!(published_kids(&state).await.contains(&first));

        // The old key goes once its last token expired (20 min + 60 s leeway after retiring).
        advance(&clock, 10 * 60 + 60);
        state.keys().maintain().await.unwrap();
        assert!(!published_kids(&state).await.contains(&first));
        let gone = signing_keys(&state).await;
        assert_eq!(
            gone.iter().find(|k| k.kid == first).unwrap().state,
            KeyState::Expired
        );
        assert!(!verifies_now(&state, &old_token).await);
        assert!(verifies_now(&state, &issue(&state).await).await);
    }
}

#[tokio::test]
async fn manual_rotation_waits_and_rotate_now_does_not() {
    for url in databases().await {
        let clock = ManualClock::at(T0);
        let state = state_with(config(&url), clock.clone()).await;
        let first = active_kid(&state);
        let pending = state
            .admin()
            .rotate_key(false)
            .await
            .unwrap()
            .new_kid
            .unwrap();
        assert_eq!(active_kid(&state), first);
        assert!(published_kids(&state).await.contains(&pending));
        advance(&clock, 3600);
        state.keys().maintain().await.unwrap();
        assert_eq!(active_kid(&state), pending);

        let token = issue(&state).await;
        let urgent = state
            .admin()
            .rotate_key(true)
            .await
            .unwrap()
            .new_kid
            .unwrap();
        assert_eq!(active_kid(&state), urgent);
        // The previous key is retired, still published, so its tokens verify.
        assert!(verifies_now(&state, &token).await);
        let actives = signing_keys(&state)
            .await
            .into_iter()
            .filter(|k| k.state == KeyState::Active)
            .count();
        assert_eq!(actives, 1, "exactly one active key");
    }
}

#[tokio::test]
async fn revoking_the_active_key_removes_it_at_once_and_signing_goes_on() {
    for url in databases().await {
        let state = state_with(config(&url), ManualClock::at(T0)).await;
        let first = active_kid(&state);
        let token = issue(&state).await;
        let replacement = state.admin().revoke_key(&first).await.unwrap().now_signing[0].clone();
        assert_eq!(active_kid(&state), replacement);
        assert_eq!(published_kids(&state).await, vec![replacement.clone()]);
        assert!(
            !verifies_now(&state, &token).await,
            "tokens of a revoked key die with it"
        );
        assert!(
            state.admin().revoke_key(&first).await.is_err(),
            "revoking twice is an error"
        );
        assert!(state.admin().revoke_key("no-such-kid").await.is_err());
    }
}

#[tokio::test]
async fn the_database_refuses_a_second_active_key() {
    for url in databases().await {
        let state = state_with(config(&url), ManualClock::at(T0)).await;
        let pending = state
            .admin()
            .rotate_key(false)
            .await
            .unwrap()
            .new_kid
            .unwrap();
        let result = sqlx::query("UPDATE signing_keys SET state = 'active' WHERE kid = $1")
            .bind(&pending)
            .execute(state.db().pool())
            .await;
        assert!(result.is_err(), "{url}: unique index must hold");
    }
}

#[tokio::test]
async fn replicas_share_one_jwks_and_rotate_once() {
    for url in databases().await {
        let clock = ManualClock::at(T0);
        let a = state_with(config(&url), clock.clone()).await;
        let b = state_with(config(&url), clock.clone()).await;
        assert_eq!(
            active_kid(&a),
            active_kid(&b),
            "the second replica reuses the first's key"
        );
        let jwks_a = send(&a, get("/.well-known/jwks.json")).await;
        let jwks_b = send(&b, get("/.well-known/jwks.json")).await;
        assert_eq!(jwks_a.body, jwks_b.body);
        assert_eq!(
            jwks_a.header(axum::http::header::ETAG),
            jwks_b.header(axum::http::header::ETAG)
        );

        // Both replicas run the schedule at the same moment: one successor, not two.
        advance(&clock, 30 * DAY);
        let (ra, rb) = tokio::join!(a.keys().maintain(), b.keys().maintain());
        // One of them may have lost a lock race on SQLite; it simply retries next tick.
        assert!(ra.is_ok() || rb.is_ok(), "{ra:?} {rb:?}");
        a.keys().maintain().await.unwrap();
        b.keys().maintain().await.unwrap();
        let keys = signing_keys(&a).await;
        assert_eq!(keys.len(), 2, "{url}: exactly one rotation: {keys:?}");

        // A revocation made through one replica is seen by the other.
        a.create_demo_users().await.unwrap();
        let login = send(
            &a,
            crate::post_json(
                "/api/v1/auth",
                r#"{"userName":"Jane","password":"pass123"}"#,
            ),
        )
        .await
        .json();
        let token = login["jwt"].as_str().unwrap();
        let session = UnverifiedJwt::parse(token)
            .unwrap()
            .verify(
                &a.keys().published().verifier,
                &Validation::new()
                    .audience("tessera")
                    .at_time(tessera_contract::Clock::unix_secs(&clock)),
            )
            .unwrap()
            .claims()
            .get("sessionId")
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        let logout = axum::http::Request::post("/api/v1/logout")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(send(&a, logout).await.status, 200);
        assert_eq!(crate::revoked_values(&b).await, vec![session.clone()]);
        let list = send(&b, get("/revocations")).await.json();
        assert_eq!(list["revocations"][0]["value"], json!(session));
    }
}

#[tokio::test]
async fn a_restart_serves_the_same_jwks_and_keeps_signing_with_the_same_key() {
    for url in databases().await {
        let clock = ManualClock::at(T0);
        let first = state_with(config(&url), clock.clone()).await;
        first.admin().rotate_key(false).await.unwrap();
        let before = send(&first, get("/.well-known/jwks.json")).await.body;
        let signer = active_kid(&first);
        drop(first);
        let again = state_with(config(&url), clock.clone()).await;
        assert_eq!(
            send(&again, get("/.well-known/jwks.json")).await.body,
            before
        );
        assert_eq!(active_kid(&again), signer);
    }
}

#[tokio::test]
async fn private_keys_are_sealed_at_rest_and_need_the_master_key() {
    for url in databases().await {
        let state = state_with(config(&url), ManualClock::at(T0)).await;
        state.admin().rotate_key(true).await.unwrap();
        let rows =
            sqlx::query("SELECT private_sealed FROM signing_keys WHERE private_sealed IS NOT NULL AND alg <> 'RS256'")
                .fetch_all(state.db().pool())
                .await
                .unwrap();
        assert_eq!(rows.len(), 2);
        for row in rows {
            let sealed: String = sqlx::Row::try_get(&row, "private_sealed").unwrap();
            assert!(sealed.starts_with("v1:"));
            assert!(!sealed.contains("\"d\""));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            // Nothing in the database files holds a private member in clear.
            for suffix in ["", "-wal"] {
                if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                    let text = String::from_utf8_lossy(&bytes);
                    assert!(
                        !text.contains("\"d\":\""),
                        "clear private key in {path}{suffix}"
                    );
                }
            }
        }
        // Another master key cannot load (or add) a signing key.
        let wrong = Admin::open(
            config(&url),
            Some("01".repeat(32)),
            Access::Existing,
            ManualClock::at(T0).shared(),
        )
        .await
        .unwrap();
        let err = wrong.rotate_key(true).await.unwrap_err();
        assert!(
            err.to_string().contains("not the one this database"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn changing_the_algorithm_retires_the_old_keys_and_import_must_match() {
    for url in databases().await {
        let clock = ManualClock::at(T0);
        let es = state_with(config(&url), clock.clone()).await;
        let old = active_kid(&es);
        let mut eddsa = config(&url);
        eddsa.alg = tessera_jose::Algorithm::EdDSA;
        let ed = state_with(eddsa, clock.clone()).await;
        let new = active_kid(&ed);
        assert_ne!(old, new);
        let keys = ed.admin().list_keys().await.unwrap();
        assert_eq!(
            keys.iter().find(|k| k.kid == old).unwrap().state,
            KeyState::Retired
        );
        assert_eq!(
            keys.iter()
                .filter(|k| k.state == KeyState::Active && k.alg.as_str() != ID_TOKEN_ALG)
                .count(),
            1
        );
        // Still published until its tokens have expired.
        assert!(published_kids(&ed).await.contains(&old));

        let rsa = tessera_jose::Jwk::generate(tessera_jose::Algorithm::RS256, None).unwrap();
        let err = ed
            .admin()
            .import_key(rsa.to_json().as_bytes(), None, false)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("the server signs with EdDSA"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_wrong_or_missing_master_key_is_refused_before_it_seals_anything() {
    for url in databases().await {
        let state = state_with(config(&url), ManualClock::at(T0)).await;
        let keys_before = state.admin().list_keys().await.unwrap().len();
        let wrong = tessera_server::MasterKey::from_bytes(&[1u8; 32]).unwrap();
        // The server refuses to start with another master key...
        let err = AppState::open(config(&url), wrong, ManualClock::at(T0).shared())
            .await
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("not the one this database"),
            "{err}"
        );
        // ...and nothing was added under it.
        assert_eq!(state.admin().list_keys().await.unwrap().len(), keys_before);
        // An admin command run where the key file is not (and no env key) does not
        // create a new one for a database that has sealed keys.
        let dir = std::env::temp_dir().join(format!("tessera-mk-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("absent-{}.key", keys_before));
        let _ = std::fs::remove_file(&file);
        let err = tessera_server::MasterKey::for_database(state.db(), None, &file)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no master key"), "{err}");
        assert!(!file.exists());
        // The right key passes.
        master().check(state.db()).await.unwrap();
    }
}

#[tokio::test]
async fn a_fresh_database_gets_a_new_key_file_once() {
    for url in databases().await {
        let db = tessera_server::Db::connect(&url).await.unwrap();
        let dir = std::env::temp_dir().join(format!("tessera-mk-fresh-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!(
            "{}.key",
            url.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        ));
        let _ = std::fs::remove_file(&file);
        let (first, source) = tessera_server::MasterKey::for_database(&db, None, &file)
            .await
            .unwrap();
        assert!(matches!(
            source,
            tessera_server::MasterKeySource::Created(_)
        ));
        let (_, source) = tessera_server::MasterKey::for_database(&db, None, &file)
            .await
            .unwrap();
        assert!(matches!(source, tessera_server::MasterKeySource::File(_)));
        // The database now remembers which key it belongs to.
        let other = tessera_server::MasterKey::from_bytes(&[9u8; 32]).unwrap();
        assert!(other.check(&db).await.is_err());
        first.check(&db).await.unwrap();
        let _ = std::fs::remove_file(&file);
    }
}

#[tokio::test]
async fn admin_commands_keep_keys_published_as_long_as_the_server_needs() {
    for url in databases().await {
        // The server runs with tokens valid for an hour.
        let mut server_config = config(&url);
        server_config.token_ttl = 3600;
        let state = state_with(server_config, ManualClock::at(T0)).await;
        let old = active_kid(&state);
        // A second replica starts with the default 20-minute tokens: it must not shorten
        // what the first one recorded.
        let _replica = state_with(config(&url), ManualClock::at(T0)).await;
        // An admin command with default settings (20-minute tokens) rotates now.
        let admin = Admin::open(
            config(&url),
            Some("2a".repeat(32)),
            Access::Existing,
            ManualClock::at(T0).shared(),
        )
        .await
        .unwrap();
        admin.rotate_key(true).await.unwrap();
        let old_info = state
            .admin()
            .list_keys()
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.kid == old)
            .unwrap();
        assert_eq!(old_info.state, KeyState::Retired);
        // Published until the server's last token (1 h + leeway) has expired.
        assert_eq!(old_info.expires_at, Some(T0 + 3600 + 60));
    }
}
