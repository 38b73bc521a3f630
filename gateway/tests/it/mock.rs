//! The mock JWKS server: its tokens verify through discovery, bad requests get a 400.

use std::sync::Arc;

use serde_json::{json, Value};
use tessera_gateway::mock::MockIssuer;
use tessera_verifier::{Issuer, Verifier};

async fn start() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let mock = Arc::new(MockIssuer::generate(issuer.clone()).unwrap());
    tokio::spawn(async move { axum::serve(listener, mock.router()).await.unwrap() });
    issuer
}

#[tokio::test]
async fn minted_tokens_verify_by_discovery_for_each_algorithm() {
    let issuer = start().await;
    let verifier = Verifier::builder()
        .issuer(Issuer::discover(issuer.clone()).audience("svc"))
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let jwks: Value = serde_json::from_str(
        &client
            .get(format!("{issuer}/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    )
    .unwrap();
    let algs: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs, ["RS256", "ES256", "EdDSA", "ML-DSA-65"]);
    assert!(jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k.get("d").is_none()));

    for alg in [
        None,
        Some("RS256"),
        Some("ES256"),
        Some("EdDSA"),
        Some("ML-DSA-65"),
    ] {
        let mut body = json!({"sub": "dev", "aud": "svc", "role": "read"});
        if let Some(a) = alg {
            body["alg"] = json!(a);
        }
        let text = client
            .post(format!("{issuer}/token"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let r: Value = serde_json::from_str(&text).unwrap();
        let jwt = verifier.verify(r["token"].as_str().unwrap()).await.unwrap();
        assert_eq!(jwt.header().alg().as_str(), alg.unwrap_or("RS256"));
        assert_eq!(jwt.claims().iss(), Some(issuer.as_str()));
        assert_eq!(jwt.claims().get("role"), Some(&json!("read")));
        assert!(
            jwt.claims().get("alg").is_none(),
            "`alg` leaked into the claims"
        );
    }
    let text = client
        .post(format!("{issuer}/token"))
        .header("accept", "text/plain")
        .body(r#"{"aud":"svc"}"#)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    verifier.verify(&text).await.unwrap();
}

#[tokio::test]
async fn bad_requests_are_400() {
    let issuer = start().await;
    let client = reqwest::Client::new();
    for body in [
        "not json",
        "[1,2]",
        r#"{"alg":"HS256"}"#,
        r#"{"alg":"none"}"#,
        r#"{"alg":7}"#,
    ] {
        let r = client
            .post(format!("{issuer}/token"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert!(v["message"].is_string());
    }
    let r = client.get(format!("{issuer}/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}
