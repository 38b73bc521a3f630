//! The HTTP API: login, tokens, JWKS, OAuth endpoints, revocations, and bad input.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;
use tessera_contract::ManualClock;
use tessera_jose::{Algorithm, KeySet, UnverifiedJwt, Validation};
use tessera_server::AppState;
use tower::ServiceExt;

use crate::{
    add_client, config, databases, get, post_form, post_json, revoked_values, send, state_with, T0,
};

async fn demo_state(url: &str) -> AppState {
    let state = state_with(config(url), ManualClock::at(T0)).await;
    state.create_demo_users().await.unwrap();
    state
}

async fn login(state: &AppState, user: &str, password: &str) -> crate::Reply {
    send(
        state,
        post_json(
            "/api/v1/auth",
            &format!(r#"{{"userName":"{user}","password":"{password}"}}"#),
        ),
    )
    .await
}

async fn refresh(state: &AppState, token: &str) -> crate::Reply {
    send(
        state,
        post_form(
            "/oauth/token",
            &format!("grant_type=refresh_token&refresh_token={token}"),
        ),
    )
    .await
}

async fn jwks(state: &AppState) -> KeySet {
    let reply = send(state, get("/.well-known/jwks.json")).await;
    KeySet::from_slice(&reply.body).unwrap()
}

fn validation() -> Validation {
    Validation::new()
        .issuer("https://auth.test")
        .audience("tessera")
        .typ("at+jwt")
        .at_time(T0)
}

#[tokio::test]
async fn login_issues_a_token_verifiable_with_the_jwks() {
    for url in databases().await {
        let state = demo_state(&url).await;
        let reply = login(&state, "Jane", "pass123").await;
        assert_eq!(reply.status, StatusCode::OK, "{url}");
        assert_eq!(reply.header(header::CACHE_CONTROL), Some("no-store"));
        let body = reply.json();
        assert_eq!(body["expires_in"], 1200);
        assert!(body["refresh_token"].as_str().unwrap().len() >= 40);
        let token = body["jwt"].as_str().unwrap();
        let keys = jwks(&state).await;
        let jwt = UnverifiedJwt::parse(token)
            .unwrap()
            .verify(&keys, &validation().algorithms([Algorithm::ES256]))
            .unwrap();
        let claims = jwt.claims();
        // `sub` is the user's opaque, stable subject; the name travels beside it.
        let sub = claims.sub().unwrap();
        assert_ne!(sub, "Jane");
        assert_eq!(sub.len(), 22, "{sub}");
        assert_eq!(claims.get("preferred_username").unwrap(), "Jane");
        assert_eq!(claims.get("role").unwrap(), "write");
        assert_eq!(claims.exp(), Some(T0 + 1200));
        assert!(claims.get("sessionId").unwrap().as_str().unwrap().len() > 10);
        assert!(claims.jti().is_some());
        assert!(jwt.header().kid().is_some());
    }
}

#[tokio::test]
async fn an_ml_dsa_server_signs_with_ml_dsa_and_publishes_akp_keys() {
    for url in databases().await {
        let mut config = config(&url);
        config.alg = Algorithm::MlDsa65;
        let state = state_with(config, ManualClock::at(T0)).await;
        state.create_demo_users().await.unwrap();
        let reply = login(&state, "Jane", "pass123").await;
        assert_eq!(reply.status, StatusCode::OK, "{url}");
        let token = reply.json()["jwt"].as_str().unwrap().to_owned();
        let set: Value =
            serde_json::from_slice(&send(&state, get("/.well-known/jwks.json")).await.body)
                .unwrap();
        let akp = set["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kty"] == "AKP")
            .expect("an AKP key in the JWKS");
        assert_eq!(akp["alg"], "ML-DSA-65");
        assert!(akp.get("priv").is_none(), "no private member is published");
        let jwt = UnverifiedJwt::parse(&token)
            .unwrap()
            .verify(
                &jwks(&state).await,
                &validation().algorithms([Algorithm::MlDsa65]),
            )
            .unwrap();
        assert_eq!(jwt.header().alg(), Algorithm::MlDsa65);
        assert_eq!(jwt.verified_by(), akp["kid"].as_str());
    }
}

#[tokio::test]
async fn login_accepts_a_form_body_too() {
    for url in databases().await {
        let state = demo_state(&url).await;
        let reply = send(
            &state,
            post_form("/api/v1/auth", "userName=John&password=testpass"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.json()["jwt"].is_string());
    }
}

#[tokio::test]
async fn unknown_user_and_wrong_password_answer_identically() {
    for url in databases().await {
        let state = demo_state(&url).await;
        let wrong = login(&state, "Jane", "wrong").await;
        let unknown = login(&state, "Nobody", "wrong").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
        assert_eq!(wrong.body, unknown.body);
        assert_eq!(wrong.json()["message"], "invalid user name or password");
    }
}

#[tokio::test]
async fn repeated_failures_are_rate_limited() {
    for url in databases().await {
        let clock = ManualClock::at(T0);
        let state = state_with(config(&url), clock.clone()).await;
        state.create_demo_users().await.unwrap();
        for _ in 0..5 {
            assert_eq!(
                login(&state, "Jane", "wrong").await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        // Now even the right password is refused until the window passes.
        let limited = login(&state, "Jane", "pass123").await;
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(limited.header(header::RETRY_AFTER).is_some());
        clock.advance_secs(301);
        assert_eq!(
            login(&state, "Jane", "pass123").await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn parallel_guesses_cannot_outrun_the_limit() {
    for url in databases().await {
        let state = demo_state(&url).await;
        // All spawned before any is awaited (a lazy iterator would run them one by one).
        let guesses: Vec<_> = (0..40)
            .map(|n| {
                let state = state.clone();
                tokio::spawn(
                    async move { login(&state, "Jane", &format!("guess{n}")).await.status },
                )
            })
            .collect();
        let mut checked = 0;
        for guess in guesses {
            let status = guess.await.unwrap();
            // Never a 5xx: concurrent writers on SQLite must wait for the lock, not fail.
            assert!(
                status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
                "{url}: {status}"
            );
            if status == StatusCode::UNAUTHORIZED {
                checked += 1;
            }
        }
        // Exactly as many passwords are tried as the per-user limit (5): attempts in flight
        // hold their place in the count; the rest are refused before any hashing.
        assert_eq!(checked, 5, "{url}");
        // And once they have failed, the limit itself holds.
        assert_eq!(
            login(&state, "Jane", "pass123").await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}

#[tokio::test]
async fn disabling_a_user_revokes_their_sessions() {
    for url in databases().await {
        let state = demo_state(&url).await;
        let first = login(&state, "John", "testpass").await.json();
        let second = login(&state, "John", "testpass").await.json();
        assert_eq!(state.admin().disable_user("John").await.unwrap(), 2);
        for session in [&first, &second] {
            let jwt = UnverifiedJwt::parse(session["jwt"].as_str().unwrap())
                .unwrap()
                .verify(&jwks(&state).await, &validation())
                .unwrap();
            let id = jwt.claims().get("sessionId").unwrap().as_str().unwrap();
            assert!(revoked_values(&state).await.iter().any(|v| v == id));
        }
        let reply = refresh(&state, second["refresh_token"].as_str().unwrap()).await;
        assert_eq!(
            reply.json()["error_description"],
            "refresh token has been revoked"
        );
    }
}

#[tokio::test]
async fn a_refresh_racing_a_logout_cannot_keep_the_session() {
    for url in databases().await {
        let state = demo_state(&url).await;
        let first = login(&state, "Jane", "pass123").await.json();
        let first_refresh = first["refresh_token"].as_str().unwrap().to_owned();
        let next = refresh(&state, &first_refresh).await.json();
        let next_refresh = next["refresh_token"].as_str().unwrap().to_owned();
        // What a logout that ran while the refresh was spending `first_refresh` does on
        // PostgreSQL: it ends the session and revokes the token rows it saw (the spent
        // one), not the successor the refresh had not committed yet.
        let pool = state.db().pool();
        let spent = {
            use base64::engine::general_purpose::URL_SAFE_NO_PAD;
            URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                first_refresh.as_bytes(),
            ))
        };
        sqlx::query("UPDATE refresh_tokens SET revoked_at = 1 WHERE token_hash = $1")
            .bind(&spent)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("UPDATE sessions SET revoked_at = 1 WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1)")
            .bind(&spent)
            .execute(pool)
            .await
            .unwrap();
        let reply = refresh(&state, &next_refresh).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            reply.json()["error_description"],
            "refresh token has been revoked"
        );
    }
}

#[tokio::test]
async fn disabled_users_cannot_log_in_or_refresh() {
    for url in databases().await {
        let state = demo_state(&url).await;
        let ok = login(&state, "John", "testpass").await.json();
        state.admin().disable_user("John").await.unwrap();
        assert_eq!(
            login(&state, "John", "testpass").await.status,
            StatusCode::UNAUTHORIZED
        );
        let refresh = refresh(&state, ok["refresh_token"].as_str().unwrap()).await;
        assert_eq!(refresh.status, StatusCode::BAD_REQUEST);
        assert_eq!(refresh.json()["error"], "invalid_grant");
    }
}

#[tokio::test]
async fn jwks_has_public_keys_only_with_caching_headers() {
    for url in databases().await {
        let state = demo_state(&url).await;
        let reply = send(&state, get("/.well-known/jwks.json")).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.header(header::CACHE_CONTROL),
            Some("public, max-age=300")
        );
        let etag = reply.header(header::ETAG).unwrap().to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "strong ETag: {etag}"
        );
        let doc = reply.json();
        for key in doc["keys"].as_array().unwrap() {
            assert!(key.get("d").is_none(), "private member published: {key}");
            assert_eq!(key["use"], "sig");
            assert!(key["kid"].is_string() && key["alg"].is_string() && key["kty"].is_string());
        }
        let not_modified = send(
            &state,
            Request::get("/.well-known/jwks.json")
                .header(header::IF_NONE_MATCH, &etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
        assert!(not_modified.body.is_empty());
        let other = send(
            &state,
            Request::get("/.well-known/jwks.json")
                .header(header::IF_NONE_MATCH, "\"stale\"")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(other.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn client_credentials_by_basic_and_by_form() {
    for url in databases().await {
        let state = demo_state(&url).await;
        let secret = add_client(&state, "svc", "orders:read orders:write").await;
        let basic = STANDARD.encode(format!("svc:{secret}"));
        let reply = send(
            &state,
            Request::post("/oauth/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(header::AUTHORIZATION, format!("Basic {basic}"))
                .body(Body::from(
                    "grant_type=client_credentials&scope=orders:read",
                ))
                .unwrap(),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let body = reply.json();
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["scope"], "orders:read");
        assert!(body.get("refresh_token").is_none());
        let jwt = UnverifiedJwt::parse(body["access_token"].as_str().unwrap())
            .unwrap()
            .verify(&jwks(&state).await, &validation())
            .unwrap();
        assert_eq!(jwt.claims().get("client_id").unwrap(), "svc");
        assert_eq!(jwt.claims().get("scope").unwrap(), "orders:read");

        let by_form = send(
            &state,
            post_form(
                "/oauth/token",
                &format!("grant_type=client_credentials&client_id=svc&client_secret={secret}"),
            ),
        )
        .await;
        assert_eq!(by_form.status, StatusCode::OK);
        assert_eq!(by_form.json()["scope"], "orders:read orders:write");
    }
}

#[tokio::test]
async fn oauth_errors_follow_rfc_6749() {
    for url in databases().await {
        let state = demo_state(&url).await;
        let secret = add_client(&state, "svc", "a").await;
        let bad_secret = send(
            &state,
            Request::post("/oauth/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header(
                    header::AUTHORIZATION,
                    format!("Basic {}", STANDARD.encode("svc:wrong")),
                )
                .body(Body::from("grant_type=client_credentials"))
                .unwrap(),
        )
        .await;
        assert_eq!(bad_secret.status, StatusCode::UNAUTHORIZED);
        assert_eq!(bad_secret.json()["error"], "invalid_client");
        assert_eq!(
            bad_secret.header(header::WWW_AUTHENTICATE),
            Some(r#"Basic realm="tessera""#)
        );
        let cases = [
            (
                format!(
                    "grant_type=client_credentials&client_id=svc&client_secret={secret}&scope=b"
                ),
                "invalid_scope",
            ),
            (
                "grant_type=password&username=a&password=b".to_owned(),
                "unsupported_grant_type",
            ),
            ("scope=a".to_owned(), "invalid_request"),
            ("grant_type=refresh_token".to_owned(), "invalid_request"),
            (
                "grant_type=refresh_token&refresh_token=made-up".to_owned(),
                "invalid_grant",
            ),
            (
                "grant_type=client_credentials&grant_type=client_credentials".to_owned(),
                "invalid_request",
            ),
            (
                "grant_type=client_credentials&client_id=nobody&client_secret=x".to_owned(),
                "invalid_client",
            ),
        ];
        for (body, error) in cases {
            let reply = send(&state, post_form("/oauth/token", &body)).await;
            assert!(reply.status.is_client_error(), "{body}: {}", reply.status);
            assert_eq!(reply.json()["error"], error, "{body}");
        }
        let json = send(
            &state,
            post_json("/oauth/token", r#"{"grant_type":"client_credentials"}"#),
        )
        .await;
        assert_eq!(json.status, StatusCode::BAD_REQUEST);
        assert_eq!(json.json()["error"], "invalid_request");
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    for url in databases().await {
        let state = demo_state(&url).await;
        let first = login(&state, "Jane", "pass123").await.json();
        let r1 = first["refresh_token"].as_str().unwrap().to_owned();
        let second = refresh(&state, &r1).await;
        assert_eq!(second.status, StatusCode::OK);
        let second = second.json();
        let r2 = second["refresh_token"].as_str().unwrap().to_owned();
        assert_ne!(r1, r2, "refresh tokens rotate");
        let jwt = UnverifiedJwt::parse(second["access_token"].as_str().unwrap())
            .unwrap()
            .verify(&jwks(&state).await, &validation())
            .unwrap();
        let session = jwt
            .claims()
            .get("sessionId")
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();

        // Reusing the spent token is refused and takes the whole family down...
        let reuse = refresh(&state, &r1).await;
        assert_eq!(reuse.status, StatusCode::BAD_REQUEST);
        assert_eq!(reuse.json()["error"], "invalid_grant");
        // ...including the newest token, which the attacker or the user may hold.
        let after = refresh(&state, &r2).await;
        assert_eq!(after.json()["error"], "invalid_grant");
        // And the session is published as revoked for resource servers.
        let list = send(&state, get("/revocations?since=0")).await.json();
        let revoked: Vec<&Value> = list["revocations"].as_array().unwrap().iter().collect();
        assert!(revoked
            .iter()
            .any(|r| r["kind"] == "session" && r["value"] == session.as_str()));
    }
}

#[tokio::test]
async fn logout_revokes_the_session_and_introspection_sees_it() {
    for url in databases().await {
        let state = demo_state(&url).await;
        // A resource server, registered as allowed to introspect others' tokens.
        let secret = crate::add_client_with(&state, "rs", "", true).await;
        let body = login(&state, "Jane", "pass123").await.json();
        let token = body["jwt"].as_str().unwrap().to_owned();
        let introspect = |token: String| {
            let state = state.clone();
            let secret = secret.clone();
            async move {
                send(
                    &state,
                    post_form(
                        "/oauth/introspect",
                        &format!("token={token}&client_id=rs&client_secret={secret}"),
                    ),
                )
                .await
                .json()
            }
        };
        let before = introspect(token.clone()).await;
        assert_eq!(before["active"], true);
        assert_eq!(before["preferred_username"], "Jane");

        let cursor_before = send(&state, get("/revocations")).await.json()["cursor"]
            .as_i64()
            .unwrap();
        let logout = send(
            &state,
            Request::post("/api/v1/logout")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(logout.status, StatusCode::OK);
        let after = introspect(token.clone()).await;
        assert_eq!(after, serde_json::json!({"active": false}));
        let list = send(&state, get(&format!("/revocations?since={cursor_before}")))
            .await
            .json();
        assert_eq!(list["revocations"].as_array().unwrap().len(), 1);
        assert!(list["cursor"].as_i64().unwrap() > cursor_before);
        // The refresh token of that session is dead too.
        let refresh = refresh(&state, body["refresh_token"].as_str().unwrap()).await;
        assert_eq!(refresh.json()["error"], "invalid_grant");
        // Logout without a valid token is a 401 with the RFC 6750 challenge.
        let anonymous = send(
            &state,
            Request::post("/api/v1/logout").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            anonymous.header(header::WWW_AUTHENTICATE),
            Some(r#"Bearer error="invalid_token""#)
        );
    }
}

/// A client-credentials token of client `id`.
async fn client_token(state: &AppState, id: &str, secret: &str) -> String {
    send(
        state,
        post_form(
            "/oauth/token",
            &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
        ),
    )
    .await
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn revoke_as(state: &AppState, id: &str, secret: &str, token: &str) -> crate::Reply {
    send(
        state,
        post_form(
            "/oauth/revoke",
            &format!("token={token}&client_id={id}&client_secret={secret}"),
        ),
    )
    .await
}

async fn introspect_as(state: &AppState, id: &str, secret: &str, token: &str) -> Value {
    send(
        state,
        post_form(
            "/oauth/introspect",
            &format!("token={token}&client_id={id}&client_secret={secret}"),
        ),
    )
    .await
    .json()
}

#[tokio::test]
async fn revoking_an_access_token_publishes_its_jti() {
    for url in databases().await {
        let state = demo_state(&url).await;
        let secret = add_client(&state, "rs", "").await;
        let token = client_token(&state, "rs", &secret).await;
        let jti = UnverifiedJwt::parse(&token)
            .unwrap()
            .verify(&jwks(&state).await, &validation())
            .unwrap()
            .claims()
            .jti()
            .unwrap()
            .to_owned();
        let reply = revoke_as(&state, "rs", &secret, &token).await;
        assert_eq!(reply.status, StatusCode::OK);
        let list = send(&state, get("/revocations")).await.json();
        assert!(list["revocations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "jti" && r["value"] == jti.as_str()));
        // RFC 7009 2.2: an unknown token is not an error.
        let unknown = revoke_as(&state, "rs", &secret, "nonsense").await;
        assert_eq!(unknown.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn a_client_cannot_revoke_or_introspect_tokens_issued_to_others() {
    // The finding: `curl -u other:S -d token=$BILLING_TOKEN /oauth/revoke` revoked billing's
    // token, the same with Jane's refresh token logged Jane out, and introspection handed
    // any client another client's claims.
    for url in databases().await {
        let state = demo_state(&url).await;
        let billing = add_client(&state, "billing", "orders:read").await;
        let other = add_client(&state, "other", "").await;
        let billing_token = client_token(&state, "billing", &billing).await;
        let jane = login(&state, "Jane", "pass123").await.json();
        let jane_refresh = jane["refresh_token"].as_str().unwrap();
        let jane_access = jane["jwt"].as_str().unwrap();

        for token in [billing_token.as_str(), jane_refresh, jane_access] {
            assert_eq!(revoke_as(&state, "other", &other, token).await.status, 200);
            assert_eq!(
                introspect_as(&state, "other", &other, token).await,
                serde_json::json!({"active": false}),
                "another client's token is not described"
            );
        }
        // Nothing was revoked: billing's token is still active to billing, Jane's session
        // still refreshes.
        assert_eq!(revoked_values(&state).await, Vec::<String>::new());
        let own = introspect_as(&state, "billing", &billing, &billing_token).await;
        assert_eq!(own["active"], true);
        assert_eq!(own["client_id"], "billing");
        assert_eq!(refresh(&state, jane_refresh).await.status, StatusCode::OK);
        // Billing revokes its own token: now it is.
        assert_eq!(
            revoke_as(&state, "billing", &billing, &billing_token)
                .await
                .status,
            200
        );
        assert_eq!(revoked_values(&state).await.len(), 1);
    }
}

#[tokio::test]
async fn user_and_client_subjects_never_collide() {
    // The finding: `tessera client add Jane` made tokens with `sub: Jane`, the subject of
    // the user Jane too.
    for url in databases().await {
        let state = demo_state(&url).await;
        let secret = add_client(&state, "Jane", "").await;
        let client = client_token(&state, "Jane", &secret).await;
        let user = login(&state, "Jane", "pass123").await.json()["jwt"]
            .as_str()
            .unwrap()
            .to_owned();
        let keys = jwks(&state).await;
        let sub = |token: &str| {
            UnverifiedJwt::parse(token)
                .unwrap()
                .verify(&keys, &validation())
                .unwrap()
                .claims()
                .sub()
                .unwrap()
                .to_owned()
        };
        assert_eq!(sub(&client), "Jane");
        assert_ne!(sub(&user), sub(&client));
        // And no client may take a user's subject as its id.
        let spec = tessera_server::ClientSpec {
            client_id: sub(&user),
            ..Default::default()
        };
        let err = state
            .admin()
            .add_client(&spec, |_| Ok(()))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("subject"), "{err}");
    }
}

#[tokio::test]
async fn discovery_documents_point_at_the_endpoints() {
    for url in databases().await {
        let state = demo_state(&url).await;
        for path in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
        ] {
            let doc = send(&state, get(path)).await.json();
            assert_eq!(doc["issuer"], "https://auth.test");
            assert_eq!(doc["jwks_uri"], "https://auth.test/.well-known/jwks.json");
            assert_eq!(doc["token_endpoint"], "https://auth.test/oauth/token");
            // ID tokens are RS256 by default; the server's own algorithm is offered too.
            assert_eq!(
                doc["id_token_signing_alg_values_supported"],
                serde_json::json!(["RS256", "ES256"])
            );
            for field in [
                "authorization_endpoint",
                "userinfo_endpoint",
                "end_session_endpoint",
                "revocation_endpoint",
                "introspection_endpoint",
            ] {
                assert!(
                    doc[field]
                        .as_str()
                        .unwrap()
                        .starts_with("https://auth.test/"),
                    "{field}"
                );
            }
            assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
            assert_eq!(
                doc["code_challenge_methods_supported"],
                serde_json::json!(["S256"])
            );
            assert_eq!(
                doc["subject_types_supported"],
                serde_json::json!(["public"])
            );
            assert_eq!(
                doc["scopes_supported"],
                serde_json::json!(["openid", "profile", "email", "offline_access"])
            );
            assert_eq!(
                doc["token_endpoint_auth_methods_supported"],
                serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
            );
            for flag in [
                "backchannel_logout_supported",
                "backchannel_logout_session_supported",
                "authorization_response_iss_parameter_supported",
            ] {
                assert_eq!(doc[flag], true, "{flag}");
            }
            assert!(doc["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&serde_json::json!("authorization_code")));
        }
    }
}

#[tokio::test]
async fn bad_input_gets_a_4xx_never_a_5xx() {
    for url in databases().await {
        let state = demo_state(&url).await;
        let big = "x".repeat(64 * 1024);
        let requests = vec![
            post_json("/api/v1/auth", "{not json"),
            post_json("/api/v1/auth", r#"{"userName":1,"password":2}"#),
            post_json("/api/v1/auth", r#"{"userName":"Jane"}"#),
            post_json(
                "/api/v1/auth",
                r#"{"userName":"Jane","password":"pass123","extra":1}"#,
            ),
            post_json("/api/v1/auth", r#"[]"#),
            post_json(
                "/api/v1/auth",
                &format!(r#"{{"userName":"{big}","password":"x"}}"#),
            ),
            post_json(
                "/api/v1/auth",
                r#"{"userName":"' OR '1'='1","password":"' OR '1'='1"}"#,
            ),
            // PostgreSQL refuses NUL in text: must still be a plain 401.
            post_json(
                "/api/v1/auth",
                r#"{"userName":"Jane\u0000","password":"pass123"}"#,
            ),
            Request::post("/oauth/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(
                    "grant_type=client_credentials&client_id=a%00b&client_secret=x",
                ))
                .unwrap(),
            Request::post("/api/v1/auth")
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("x"))
                .unwrap(),
            Request::post("/api/v1/auth").body(Body::empty()).unwrap(),
            post_form("/oauth/token", "%%%"),
            post_form("/oauth/introspect", "token=x"),
            get("/revocations?since=abc"),
            Request::get("/revocations/stream")
                .header("last-event-id", "zzz")
                .body(Body::empty())
                .unwrap(),
            get("/no/such/path"),
            Request::post("/api/v1/logout")
                .header(header::AUTHORIZATION, "Bearer a.b.c")
                .body(Body::empty())
                .unwrap(),
            Request::post("/api/v1/logout")
                .header(header::AUTHORIZATION, "Basic Zm9vOmJhcg==")
                .body(Body::empty())
                .unwrap(),
        ];
        for request in requests {
            let what = format!("{} {}", request.method(), request.uri());
            let reply = send(&state, request).await;
            assert!(
                reply.status.is_client_error(),
                "{what}: {} {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            );
        }
    }
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    for url in databases().await {
        let state = demo_state(&url).await;
        assert_eq!(send(&state, get("/healthz")).await.status, StatusCode::OK);
        let ready = send(&state, get("/readyz")).await;
        assert_eq!(ready.status, StatusCode::OK);
        assert_eq!(ready.json()["signing_key"], true);
        login(&state, "Jane", "pass123").await;
        login(&state, "Jane", "wrong").await;
        send(&state, get("/.well-known/jwks.json")).await;
        let metrics = String::from_utf8(send(&state, get("/metrics")).await.body).unwrap();
        assert!(
            metrics.contains("tessera_tokens_issued_total{grant=\"password\"} 1"),
            "{metrics}"
        );
        assert!(metrics.contains("tessera_logins_failed_total 1"));
        assert!(metrics.contains("tessera_jwks_served_total 1"));
        assert!(metrics.contains("tessera_key_age_seconds{kid="));
    }
}

#[tokio::test]
async fn fingerprint_cookie_binds_the_token() {
    for url in databases().await {
        let mut config = config(&url);
        config.fingerprint_cookie = true;
        let state = state_with(config, ManualClock::at(T0)).await;
        state.create_demo_users().await.unwrap();
        let reply = login(&state, "Jane", "pass123").await;
        let cookie = reply.header(header::SET_COOKIE).unwrap().to_owned();
        assert!(cookie.starts_with("__Host-Fgp="), "{cookie}");
        for attr in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attr), "{cookie} lacks {attr}");
        }
        let value = cookie
            .trim_start_matches("__Host-Fgp=")
            .split(';')
            .next()
            .unwrap();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes());
        let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let jwt = UnverifiedJwt::parse(reply.json()["jwt"].as_str().unwrap())
            .unwrap()
            .verify(&jwks(&state).await, &validation())
            .unwrap();
        assert_eq!(jwt.claims().get("fgp").unwrap(), hex.as_str());
        // A refreshed token stays bound to the same cookie.
        let refreshed = refresh(&state, reply.json()["refresh_token"].as_str().unwrap()).await;
        assert_eq!(refreshed.status, StatusCode::OK);
        let jwt = UnverifiedJwt::parse(refreshed.json()["access_token"].as_str().unwrap())
            .unwrap()
            .verify(&jwks(&state).await, &validation())
            .unwrap();
        assert_eq!(jwt.claims().get("fgp").unwrap(), hex.as_str());
    }
}

#[tokio::test]
async fn every_error_has_a_json_body() {
    for url in databases().await {
        let state = demo_state(&url).await;
        let big = "x".repeat(64 * 1024);
        let cases = [
            (
                post_json("/api/v1/auth", &big),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            // With a Content-Length over the limit, refused before the body is read.
            (
                Request::post("/api/v1/auth")
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::CONTENT_LENGTH, big.len())
                    .body(Body::from(big.clone()))
                    .unwrap(),
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
            (
                Request::delete("/.well-known/jwks.json")
                    .body(Body::empty())
                    .unwrap(),
                StatusCode::METHOD_NOT_ALLOWED,
            ),
            (get("/nope"), StatusCode::NOT_FOUND),
        ];
        for (request, status) in cases {
            let reply = send(&state, request).await;
            assert_eq!(reply.status, status);
            assert!(reply.json()["message"].is_string(), "{status}");
        }
    }
}

#[tokio::test]
async fn revocation_stream_resumes_after_the_last_event_id() {
    use http_body_util::BodyExt;
    for url in databases().await {
        let state = demo_state(&url).await;
        for _ in 0..3 {
            let token = login(&state, "Jane", "pass123").await.json()["jwt"]
                .as_str()
                .unwrap()
                .to_owned();
            let logout = Request::post("/api/v1/logout")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            assert_eq!(send(&state, logout).await.status, StatusCode::OK);
        }
        let list = send(&state, get("/revocations?since=0")).await.json();
        let entries = list["revocations"].as_array().unwrap();
        let ids: Vec<i64> = entries.iter().map(|r| r["id"].as_i64().unwrap()).collect();
        let values: Vec<&str> = entries
            .iter()
            .map(|r| r["value"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 3);
        let response = tessera_server::app(state.clone())
            .oneshot(
                Request::get("/revocations/stream")
                    .header("last-event-id", ids[0].to_string())
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "text/event-stream"
        );
        let mut body = response.into_body();
        let mut text = String::new();
        while !text.contains(values[2]) {
            let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
                .await
                .expect("the backlog arrives at once")
                .unwrap()
                .unwrap();
            if let Ok(data) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
        assert!(
            !text.contains(values[0]),
            "events up to Last-Event-ID are not resent"
        );
        assert!(text.contains(values[1]));
        assert!(text.contains(&format!("id: {}", ids[2])));
    }
}

#[tokio::test]
async fn shutdown_ends_event_streams_instead_of_waiting_for_them() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let url = databases().await.remove(0);
    let state = state_with(config(&url), ManualClock::at(T0)).await;
    let stop = state.shutdown_trigger();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(tessera_server::serve_on(listener, state));
    // A resource server following the feed, as recommended.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /revocations/stream HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 200"));
    let started = std::time::Instant::now();
    stop.fire();
    tokio::time::timeout(std::time::Duration::from_secs(5), server)
        .await
        .expect("the drain waited for the event stream")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // The stream was ended, not cut: the client sees its end.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        stream.read_to_end(&mut rest),
    )
    .await
    .expect("the stream ended");
}

#[tokio::test]
async fn sessions_have_an_absolute_lifetime() {
    // The finding: each refresh slid the session, so a session never ended.
    for url in databases().await {
        let clock = ManualClock::at(T0);
        let mut config = config(&url);
        config.session_lifetime = 3600;
        config.refresh_ttl = 1800;
        let state = state_with(config, clock.clone()).await;
        state.create_demo_users().await.unwrap();
        let mut token = login(&state, "Jane", "pass123").await.json()["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        for at in [1700, 3300] {
            clock.advance_secs(at - (clock_now(&clock) - T0) as u64);
            let reply = refresh(&state, &token).await;
            assert_eq!(reply.status, StatusCode::OK, "refresh at +{at}");
            token = reply.json()["refresh_token"].as_str().unwrap().to_owned();
        }
        // The last token would live until +5100; the session ends at +3600.
        clock.advance_secs(301);
        let reply = refresh(&state, &token).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            reply.json()["error_description"],
            "refresh token has expired"
        );
    }
}

fn clock_now(clock: &ManualClock) -> i64 {
    tessera_contract::Clock::unix_secs(clock)
}

#[tokio::test]
async fn a_user_keeps_a_bounded_number_of_live_sessions() {
    for url in databases().await {
        let mut config = config(&url);
        config.max_sessions_per_user = 3;
        let clock = ManualClock::at(T0);
        let state = state_with(config, clock.clone()).await;
        state.create_demo_users().await.unwrap();
        let mut logins = Vec::new();
        for _ in 0..4 {
            logins.push(login(&state, "Jane", "pass123").await.json());
            clock.advance_secs(1);
        }
        // The oldest session ended: its refresh token is refused and its id published.
        let oldest = refresh(&state, logins[0]["refresh_token"].as_str().unwrap()).await;
        assert_eq!(
            oldest.json()["error_description"],
            "refresh token has been revoked"
        );
        assert_eq!(revoked_values(&state).await.len(), 1);
        for newer in &logins[1..] {
            let reply = refresh(&state, newer["refresh_token"].as_str().unwrap()).await;
            assert_eq!(reply.status, StatusCode::OK);
        }
        // Another user's sessions are not touched.
        let john = login(&state, "John", "testpass").await.json();
        assert_eq!(
            refresh(&state, john["refresh_token"].as_str().unwrap())
                .await
                .status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn guesses_spread_over_replicas_share_one_limit() {
    // The finding: each replica kept its own counts, so N replicas gave N times the guesses.
    for url in databases().await {
        let a = demo_state(&url).await;
        let b = state_with(config(&url), ManualClock::at(T0)).await;
        let guesses: Vec<_> = (0..20)
            .map(|n| {
                let state = if n % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move { login(&state, "Jane", &format!("g{n}")).await.status })
            })
            .collect();
        let mut checked = 0;
        for guess in guesses {
            let status = guess.await.unwrap();
            assert!(
                status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS,
                "{url}: {status}"
            );
            if status == StatusCode::UNAUTHORIZED {
                checked += 1;
            }
        }
        assert_eq!(checked, 5, "{url}: the limit is per user, not per replica");
        for state in [&a, &b] {
            assert_eq!(
                login(state, "Jane", "pass123").await.status,
                StatusCode::TOO_MANY_REQUESTS
            );
        }
    }
}

#[tokio::test]
async fn the_last_forwarded_hop_is_read_even_after_bytes_that_are_not_ascii() {
    // The finding: one non-ASCII byte anywhere in X-Forwarded-For made the header unreadable
    // and the limiter fell back to the proxy's address.
    for url in databases().await {
        let mut config = config(&url);
        config.trust_forwarded_for = true;
        let state = state_with(config, ManualClock::at(T0)).await;
        state.create_demo_users().await.unwrap();
        let attempt = |forwarded: &'static [u8], password: &'static str| {
            Request::post("/api/v1/auth")
                .header(header::CONTENT_TYPE, "application/json")
                .header(
                    "x-forwarded-for",
                    axum::http::HeaderValue::from_bytes(forwarded).unwrap(),
                )
                .body(Body::from(format!(
                    r#"{{"userName":"Jane","password":"{password}"}}"#
                )))
                .unwrap()
        };
        for _ in 0..5 {
            let reply = send(&state, attempt(b"10.0.0.1, \xff\xfe, 9.9.9.9", "wrong")).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        }
        // The failures were counted for 9.9.9.9: it is locked out for Jane...
        let same = send(&state, attempt(b"9.9.9.9", "pass123")).await;
        assert_eq!(same.status, StatusCode::TOO_MANY_REQUESTS);
        // ...and another address is not.
        let other = send(&state, attempt(b"8.8.8.8", "pass123")).await;
        assert_eq!(other.status, StatusCode::OK);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn database_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    // The finding: tessera.db and its -wal/-shm files were created 0644.
    let url = databases().await.remove(0);
    let state = demo_state(&url).await;
    assert_eq!(
        login(&state, "Jane", "pass123").await.status,
        StatusCode::OK
    );
    let path = url.strip_prefix("sqlite://").unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{path}{suffix}");
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file} is {mode:o}");
    }
}

#[tokio::test]
async fn metrics_exposure_is_a_choice() {
    // Default: on the main listener, as Prometheus expects.
    let url = databases().await.remove(0);
    let state = demo_state(&url).await;
    assert_eq!(send(&state, get("/metrics")).await.status, StatusCode::OK);
    // A token: only with it.
    let mut with_token = config(&url);
    with_token.metrics_token = Some(tessera_server::Secret::new("s3cret-scrape-token"));
    let state = state_with(with_token, ManualClock::at(T0)).await;
    let anonymous = send(&state, get("/metrics")).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert!(!String::from_utf8_lossy(&anonymous.body).contains("tessera_"));
    let wrong = Request::get("/metrics")
        .header(header::AUTHORIZATION, "Bearer guess")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&state, wrong).await.status, StatusCode::UNAUTHORIZED);
    let right = Request::get("/metrics")
        .header(header::AUTHORIZATION, "Bearer s3cret-scrape-token")
        .body(Body::empty())
        .unwrap();
    let reply = send(&state, right).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&reply.body).contains("tessera_tokens_issued_total"));
    // A listener of its own: not on the main one.
    let mut separate = config(&url);
    separate.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    let state = state_with(separate, ManualClock::at(T0)).await;
    assert_eq!(
        send(&state, get("/metrics")).await.status,
        StatusCode::NOT_FOUND
    );
    let reply = tessera_server::metrics_app(state.clone())
        .oneshot(get("/metrics"))
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
}
