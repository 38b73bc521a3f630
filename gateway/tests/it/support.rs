//! Fixtures: signing keys and the key sets verifiers fetch, both from the mock issuer.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{json, Value};
use tessera_gateway::mock::MockIssuer;
use tessera_jose::Algorithm;

/// A signing key of one algorithm, with the key set that publishes it.
pub struct Key {
    issuer: Arc<MockIssuer>,
    alg: Algorithm,
}

impl Key {
    pub fn new(alg: Algorithm) -> Key {
        Key {
            issuer: Arc::new(MockIssuer::generate("http://mock.test").unwrap()),
            alg,
        }
    }

    /// A token with these claims plus `exp` two days ahead.
    pub fn token(&self, claims: Value) -> String {
        let mut claims = claims.as_object().unwrap().clone();
        claims
            .entry("exp")
            .or_insert(json!(tessera_jose::unix_now() + 2 * 86_400));
        self.issuer.mint(claims, Some(self.alg)).unwrap()
    }
}

/// The key set of a [`Key`], served on loopback.
pub struct JwksServer {
    addr: SocketAddr,
}

impl JwksServer {
    pub async fn start(key: &Key) -> JwksServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = key.issuer.clone().router();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        JwksServer { addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }
}
