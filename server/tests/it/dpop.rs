//! DPoP (RFC 9449) at the auth server: bound tokens from every grant and from the login
//! endpoint, refresh tokens bound to the key that obtained them, `--require-dpop` clients,
//! server nonces, metadata and introspection, and the server's own protected endpoints.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::Value;
use tessera_contract::dpop::sign_proof;
use tessera_contract::ManualClock;
use tessera_jose::{dangerous, thumbprint, Algorithm, Jwk, SigningKey, UnverifiedJwt};
use tessera_server::{AppState, ClientSpec};

use crate::{add_client, config, databases, get, send, state_with, Reply, T0};

const ISSUER: &str = "https://auth.test";

struct Holder {
    jwk: Jwk,
    key: SigningKey,
}

impl Holder {
    fn new(alg: Algorithm) -> Holder {
        let jwk = Jwk::generate(alg, None).unwrap();
        let key = SigningKey::from_jwk(&jwk, None).unwrap();
        Holder { jwk, key }
    }

    fn jkt(&self) -> String {
        thumbprint(&self.jwk)
    }

    /// A proof for `POST {ISSUER}{path}` at the tests' clock.
    fn proof(&self, path: &str, nonce: Option<&str>) -> String {
        self.proof_for("POST", path, None, nonce)
    }

    fn proof_for(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        nonce: Option<&str>,
    ) -> String {
        sign_proof(
            &self.key,
            &self.jwk,
            method,
            &format!("{ISSUER}{path}"),
            T0,
            token,
            nonce,
        )
        .unwrap()
    }
}

fn request(
    method: &str,
    uri: &str,
    body: &str,
    form: bool,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(uri).header(
        header::CONTENT_TYPE,
        if form {
            "application/x-www-form-urlencoded"
        } else {
            "application/json"
        },
    );
    for (name, value) in headers {
        r = r.header(*name, *value);
    }
    r.body(Body::from(body.to_owned())).unwrap()
}

async fn login(state: &AppState, proof: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = proof.map(|p| ("dpop", p)).into_iter().collect();
    send(
        state,
        request(
            "POST",
            "/api/v1/auth",
            r#"{"userName":"Jane","password":"pass123"}"#,
            false,
            &headers,
        ),
    )
    .await
}

async fn refresh(state: &AppState, token: &str, proof: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = proof.map(|p| ("dpop", p)).into_iter().collect();
    send(
        state,
        request(
            "POST",
            "/oauth/token",
            &format!("grant_type=refresh_token&refresh_token={token}"),
            true,
            &headers,
        ),
    )
    .await
}

async fn client_token(state: &AppState, id: &str, secret: &str, proof: Option<&str>) -> Reply {
    let headers: Vec<(&str, &str)> = proof.map(|p| ("dpop", p)).into_iter().collect();
    let body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}");
    send(
        state,
        request("POST", "/oauth/token", &body, true, &headers),
    )
    .await
}

fn claims(token: &str) -> Value {
    let parsed = UnverifiedJwt::parse(token).unwrap();
    serde_json::from_slice(dangerous::insecure_claims(&parsed).raw()).unwrap()
}

async fn demo(url: &str) -> AppState {
    let state = state_with(config(url), ManualClock::at(T0)).await;
    state.create_demo_users().await.unwrap();
    state
}

#[tokio::test]
async fn a_login_with_a_proof_binds_the_token_and_the_refresh_family() {
    for url in databases().await {
        let state = demo(&url).await;
        let holder = Holder::new(Algorithm::ES256);
        let reply = login(&state, Some(&holder.proof("/api/v1/auth", None))).await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = reply.json();
        assert_eq!(body["token_type"], "DPoP");
        assert_eq!(
            claims(body["jwt"].as_str().unwrap())["cnf"]["jkt"],
            holder.jkt()
        );
        let rt = body["refresh_token"].as_str().unwrap().to_owned();

        // Without a proof, or with one by another key: refused, and the token is not spent.
        let reply = refresh(&state, &rt, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.json()["error"], "invalid_dpop_proof");
        let thief = Holder::new(Algorithm::ES256);
        let reply = refresh(&state, &rt, Some(&thief.proof("/oauth/token", None))).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.json()["error_description"]
            .as_str()
            .unwrap()
            .contains("cnf.jkt"));

        // With a proof by the key: a new bound token and a new bound refresh token.
        let reply = refresh(&state, &rt, Some(&holder.proof("/oauth/token", None))).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let body = reply.json();
        assert_eq!(body["token_type"], "DPoP");
        assert_eq!(
            claims(body["access_token"].as_str().unwrap())["cnf"]["jkt"],
            holder.jkt()
        );
        let next = body["refresh_token"].as_str().unwrap();
        let reply = refresh(&state, next, None).await;
        assert_eq!(
            reply.json()["error"],
            "invalid_dpop_proof",
            "the binding is carried on"
        );

        // A login without a proof is a bearer login, as before.
        let reply = login(&state, None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(reply.json().get("token_type").is_none());
        assert!(claims(reply.json()["jwt"].as_str().unwrap())
            .get("cnf")
            .is_none());
    }
}

#[tokio::test]
async fn login_proofs_are_checked_after_the_limiter_and_before_the_password() {
    for url in databases().await {
        let state = demo(&url).await;
        let holder = Holder::new(Algorithm::ES256);
        // Bad proofs with the right password: 400 each, and no failure counted.
        for _ in 0..6 {
            let reply = login(&state, Some(&holder.proof("/oauth/token", None))).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST);
            assert_eq!(reply.json()["error"], "invalid_dpop_proof");
        }
        assert_eq!(login(&state, None).await.status, StatusCode::OK);
        // Five wrong passwords limit the address; from then on its proofs are not even
        // checked (a limited client cannot fill the replay cache): 429, not 400.
        for _ in 0..5 {
            let reply = send(
                &state,
                request(
                    "POST",
                    "/api/v1/auth",
                    r#"{"userName":"Jane","password":"wrong"}"#,
                    false,
                    &[],
                ),
            )
            .await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        }
        let reply = login(&state, Some(&holder.proof("/oauth/token", None))).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    }
}

#[tokio::test]
async fn bad_proofs_at_the_token_endpoint_are_400_invalid_dpop_proof() {
    for url in databases().await {
        let state = demo(&url).await;
        let secret = add_client(&state, "svc", "orders:read").await;
        let holder = Holder::new(Algorithm::EdDSA);
        let good = holder.proof("/oauth/token", None);
        let reply = client_token(&state, "svc", &secret, Some(&good)).await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = reply.json();
        assert_eq!(body["token_type"], "DPoP");
        let token = body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(claims(&token)["cnf"]["jkt"], holder.jkt());
        for (name, proof) in [
            ("replayed", good.clone()),
            ("another endpoint", holder.proof("/api/v1/auth", None)),
            (
                "another method",
                holder.proof_for("GET", "/oauth/token", None, None),
            ),
            ("not a JWS", "not-a-proof".to_owned()),
        ] {
            let reply = client_token(&state, "svc", &secret, Some(&proof)).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}");
            assert_eq!(reply.json()["error"], "invalid_dpop_proof", "{name}");
        }

        // Introspection shows the binding.
        let reply = send(
            &state,
            request(
                "POST",
                "/oauth/introspect",
                &format!("client_id=svc&client_secret={secret}&token={token}"),
                true,
                &[],
            ),
        )
        .await;
        let body = reply.json();
        assert_eq!(body["active"], true);
        assert_eq!(body["token_type"], "DPoP");
        assert_eq!(body["cnf"]["jkt"], holder.jkt());

        // The metadata lists the proof algorithms.
        let meta = send(&state, get("/.well-known/openid-configuration"))
            .await
            .json();
        let algs: Vec<&str> = meta["dpop_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(
            algs.contains(&"ES256") && algs.contains(&"EdDSA"),
            "{algs:?}"
        );
        assert!(!algs.iter().any(|a| a.starts_with("HS")), "{algs:?}");
    }
}

#[tokio::test]
async fn a_require_dpop_client_gets_nothing_without_a_proof() {
    for url in databases().await {
        let state = demo(&url).await;
        let mut secret = String::new();
        state
            .admin()
            .add_client(
                &ClientSpec {
                    client_id: "strict".into(),
                    require_dpop: true,
                    ..Default::default()
                },
                |s| {
                    secret = s.unwrap_or_default().to_owned();
                    Ok(())
                },
            )
            .await
            .unwrap();
        let reply = client_token(&state, "strict", &secret, None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.json()["error"], "invalid_dpop_proof");
        let holder = Holder::new(Algorithm::ES256);
        let reply = client_token(
            &state,
            "strict",
            &secret,
            Some(&holder.proof("/oauth/token", None)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json()["token_type"], "DPoP");
    }
}

#[tokio::test]
async fn server_nonces_when_configured() {
    for url in databases().await {
        let mut config = config(&url);
        config.dpop_nonce = true;
        let state = state_with(config, ManualClock::at(T0)).await;
        state.create_demo_users().await.unwrap();
        let holder = Holder::new(Algorithm::ES256);
        let reply = login(&state, Some(&holder.proof("/api/v1/auth", None))).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.json()["error"], "use_dpop_nonce");
        let nonce = reply
            .headers
            .get("dpop-nonce")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        // A made-up nonce: the same answer.
        let reply = login(&state, Some(&holder.proof("/api/v1/auth", Some("made-up")))).await;
        assert_eq!(reply.json()["error"], "use_dpop_nonce");
        let reply = login(&state, Some(&holder.proof("/api/v1/auth", Some(&nonce)))).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(
            reply.headers.get("dpop-nonce").is_some(),
            "the next nonce comes with the answer"
        );
        // A login without any proof does not need a nonce.
        assert_eq!(login(&state, None).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn the_servers_own_endpoints_want_the_proof_of_a_bound_token() {
    for url in databases().await {
        let state = demo(&url).await;
        let holder = Holder::new(Algorithm::ES256);
        let body = login(&state, Some(&holder.proof("/api/v1/auth", None)))
            .await
            .json();
        let token = body["jwt"].as_str().unwrap().to_owned();
        // As a bearer token: refused with a DPoP challenge, and the session lives on.
        let bearer = format!("Bearer {token}");
        let reply = send(
            &state,
            request(
                "POST",
                "/api/v1/logout",
                "",
                false,
                &[("authorization", &bearer)],
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(reply
            .header(header::WWW_AUTHENTICATE)
            .unwrap()
            .starts_with("DPoP error=\"invalid_token\""));
        // With the DPoP scheme but a proof by another key: refused.
        let dpop = format!("DPoP {token}");
        let thief = Holder::new(Algorithm::ES256);
        let stolen = thief.proof_for("POST", "/api/v1/logout", Some(&token), None);
        let reply = send(
            &state,
            request(
                "POST",
                "/api/v1/logout",
                "",
                false,
                &[("authorization", &dpop), ("dpop", &stolen)],
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(reply
            .header(header::WWW_AUTHENTICATE)
            .unwrap()
            .contains("invalid_dpop_proof"));
        // UserInfo with its proof, but a login token has no `openid` scope: 403, and the
        // challenge is in the scheme the client used.
        let userinfo = |proof: String| {
            send(
                &state,
                request(
                    "GET",
                    "/oauth/userinfo",
                    "",
                    false,
                    &[("authorization", &dpop), ("dpop", &proof)],
                ),
            )
        };
        let reply = userinfo(holder.proof_for("GET", "/oauth/userinfo", Some(&token), None)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(
            reply.header(header::WWW_AUTHENTICATE).unwrap(),
            "DPoP error=\"insufficient_scope\", scope=\"openid\""
        );
        // A token that does not verify, in the DPoP scheme: a DPoP challenge too.
        let mut forged = token.clone().into_bytes();
        let at = forged.len() - 20;
        forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        let forged_proof = holder.proof_for("POST", "/api/v1/logout", Some(&forged), None);
        let reply = send(
            &state,
            request(
                "POST",
                "/api/v1/logout",
                "",
                false,
                &[
                    ("authorization", &format!("DPoP {forged}")),
                    ("dpop", &forged_proof),
                ],
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(reply
            .header(header::WWW_AUTHENTICATE)
            .unwrap()
            .starts_with("DPoP error=\"invalid_token\""));
        // With its proof: the session ends.
        let proof = holder.proof_for("POST", "/api/v1/logout", Some(&token), None);
        let reply = send(
            &state,
            request(
                "POST",
                "/api/v1/logout",
                "",
                false,
                &[("authorization", &dpop), ("dpop", &proof)],
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        // The token of the ended session, with a fresh proof: revoked, said in DPoP terms.
        let reply = userinfo(holder.proof_for("GET", "/oauth/userinfo", Some(&token), None)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(reply
            .header(header::WWW_AUTHENTICATE)
            .unwrap()
            .starts_with("DPoP error=\"invalid_token\""));
        let rt = body["refresh_token"].as_str().unwrap();
        let reply = refresh(&state, rt, Some(&holder.proof("/oauth/token", None))).await;
        assert_eq!(
            reply.json()["error"],
            "invalid_grant",
            "the session has ended"
        );
    }
}
