//! Encrypted access tokens (nested JWTs): decrypted with the service's key, then verified
//! like any other; plain tokens refused when encryption is required.

use std::sync::Arc;

use serde_json::json;
use tessera_jose::jwe::{ContentEncryption, DecryptionKey, EncryptionKey, KeyAlgorithm};
use tessera_jose::Jwk;
use tessera_verifier::{Error, Issuer, Verifier};

use crate::support::{jwks_of, JwksServer, Key};

async fn verifier(server: &JwksServer, key: Option<(&Jwk, bool)>) -> Arc<Verifier> {
    let mut builder = Verifier::builder().issuer(
        Issuer::jwks(server.url())
            .issuer("https://auth.test")
            .audience("api"),
    );
    if let Some((jwk, required)) = key {
        builder = builder.decryption_key(DecryptionKey::from_jwk(jwk, None).unwrap(), required);
    }
    Arc::new(builder.token_cache(100).build().unwrap())
}

#[tokio::test]
async fn nested_tokens_are_decrypted_then_verified() {
    let issuer = Key::new(tessera_jose::Algorithm::ES256, "k");
    let server = JwksServer::start(jwks_of(&[&issuer])).await;
    let enc = Jwk::generate_encryption(KeyAlgorithm::EcdhEs, None, Some("X25519")).unwrap();
    let to_service = EncryptionKey::from_jwk(&enc.to_public(), None).unwrap();
    let claims = json!({"iss": "https://auth.test", "aud": "api", "sub": "jane"});
    let plain = issuer.token(claims.clone());
    let nested = to_service
        .encrypt_jws(&plain, ContentEncryption::A256Gcm)
        .unwrap();

    // Optional encryption: both forms pass, twice (the second time from the cache).
    let optional = verifier(&server, Some((&enc, false))).await;
    for _ in 0..2 {
        let jwt = optional.verify(&nested).await.unwrap();
        assert_eq!(jwt.claims().sub(), Some("jane"));
        assert_eq!(
            optional.verify(&plain).await.unwrap().claims().sub(),
            Some("jane")
        );
    }

    // Required: the plain token is refused for that reason.
    let required = verifier(&server, Some((&enc, true))).await;
    assert_eq!(
        required.verify(&nested).await.unwrap().claims().sub(),
        Some("jane")
    );
    assert!(matches!(
        required.verify(&plain).await,
        Err(Error::EncryptionRequired)
    ));

    // A verifier without the key cannot read it, and says it is a JWE.
    let without = verifier(&server, None).await;
    let err = without.verify(&nested).await.unwrap_err().to_string();
    assert!(err.contains("a JWE where a JWS was expected"), "{err}");

    // Encrypted to another key: a decryption failure.
    let other = Jwk::generate_encryption(KeyAlgorithm::EcdhEs, None, Some("X25519")).unwrap();
    let wrong = verifier(&server, Some((&other, true))).await;
    let err = wrong.verify(&nested).await.unwrap_err().to_string();
    assert!(err.contains("decryption failed"), "{err}");

    // A nested token whose inner signature is forged: decrypted, then refused.
    let forger = Key::new(tessera_jose::Algorithm::ES256, "k");
    let forged = to_service
        .encrypt_jws(&forger.token(claims), ContentEncryption::A256Gcm)
        .unwrap();
    assert!(matches!(
        required.verify(&forged).await,
        Err(Error::Token(e)) if matches!(*e, tessera_jose::Error::InvalidSignature)
    ));
    // Encrypted claims without a signature never become claims.
    let unsigned = to_service
        .encrypt(
            br#"{"iss":"https://auth.test","aud":"api","sub":"admin"}"#,
            ContentEncryption::A256Gcm,
            Some("JWT"),
        )
        .unwrap();
    assert!(required.verify(&unsigned).await.is_err());
}
