//! Every refusal is logged with its reason (a kid mismatch included), skipped keys are
//! logged, and token-supplied text cannot forge log lines.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tessera_jose::Algorithm;
use tessera_verifier::{Issuer, Verifier};
use tracing_subscriber::fmt::MakeWriter;

use crate::support::{forged_token, jwks_of, JwksServer, Key};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test]
async fn refusals_and_skipped_keys_are_logged_with_their_reason() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(capture.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let key = Key::new(Algorithm::ES256, "good");
    let mut document: serde_json::Value = serde_json::from_str(&jwks_of(&[&key])).unwrap();
    document["keys"].as_array_mut().unwrap().push(
        json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}),
    );
    let server = JwksServer::start(document.to_string()).await;
    let verifier = Verifier::builder()
        .issuer(Issuer::jwks(server.url()))
        .build()
        .unwrap();

    verifier
        .verify(&key.token(json!({"sub": "ok"})))
        .await
        .unwrap();
    let _ = verifier.verify(&forged_token("ghost")).await.unwrap_err();
    let _ = verifier
        .verify(&key.token(json!({"exp": tessera_jose::unix_now() - 3600})))
        .await
        .unwrap_err();
    let _ = verifier
        .verify(&forged_token("evil\nINFO forged line"))
        .await
        .unwrap_err();

    let log = capture.text();
    let skipped = log
        .lines()
        .find(|l| l.contains("skipped a key of the set"))
        .unwrap_or_default();
    assert!(
        skipped.contains("hmac") && skipped.contains("symmetric"),
        "{log}"
    );
    let kid = log
        .lines()
        .find(|l| l.contains("unknown key id `ghost`"))
        .unwrap_or_default();
    assert!(
        kid.contains("token rejected") && kid.contains("kid=ghost"),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("token rejected") && l.contains("token expired")),
        "{log}"
    );
    assert!(log.contains(r"evil\nINFO forged line"), "{log}");
    assert!(
        !log.lines().any(|l| l.starts_with("INFO forged line")),
        "{log}"
    );
}
