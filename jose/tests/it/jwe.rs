//! JWE: the RFC examples (RFC 7516 appendix A.1 and A.3, RFC 7520 section 5), round trips
//! for every (alg, enc) pair, nested JWTs, and each known attack refused for its reason.

use serde_json::{json, Value};
use tessera_jose::jwe::{
    ContentEncryption, DecryptionKey, EncryptionKey, JweError, JweLimits, KeyAlgorithm,
};
use tessera_jose::{Algorithm, Error, Jwk, SigningKey, UnverifiedJwt, Validation, VerifyingKey};

fn data(path: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/tests/data/rfc/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn jwk(value: &Value) -> Jwk {
    Jwk::from_json(&value.to_string()).unwrap()
}

fn jwe_error(result: Result<impl std::fmt::Debug, Error>) -> JweError {
    match result {
        Err(Error::Jwe(e)) => e,
        other => panic!("expected a JWE error, got {other:?}"),
    }
}

#[test]
fn rfc7516_a1_rsa_oaep_a256gcm() {
    let v = data("rfc7516_a1.json");
    let key = DecryptionKey::from_jwk(&jwk(&v["key"]), Some(KeyAlgorithm::RsaOaep)).unwrap();
    let out = key.decrypt(v["compact"].as_str().unwrap()).unwrap();
    assert_eq!(out.plaintext(), v["plaintext"].as_str().unwrap().as_bytes());
    assert_eq!(out.header().enc(), ContentEncryption::A256Gcm);
}

#[test]
fn rfc7516_a3_a128kw_a128cbc_hs256() {
    let v = data("rfc7516_a3.json");
    let key = DecryptionKey::from_jwk(&jwk(&v["key"]), None).unwrap();
    assert_eq!(key.algorithm(), KeyAlgorithm::A128Kw);
    let out = key.decrypt(v["compact"].as_str().unwrap()).unwrap();
    assert_eq!(out.plaintext(), b"Live long and prosper.");
}

/// RFC 7520 section 5: every example of a supported algorithm decrypts to its plaintext;
/// the others are refused by name.
#[test]
fn rfc7520_section_5_examples() {
    let dir = format!("{}/tests/data/rfc/rfc7520_5", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 9);
    for name in names {
        let v = data(&format!("rfc7520_5/{name}"));
        let compact = v["output"]["compact"].as_str().unwrap();
        let plaintext = v["input"]["plaintext"].as_str().unwrap();
        let alg = v["input"]["alg"].as_str().unwrap();
        match alg {
            "RSA1_5" => {
                // Refused by name, before any key is involved.
                assert_eq!(alg.parse::<KeyAlgorithm>().unwrap_err(), JweError::Rsa15);
                let mut key = v["input"]["key"].clone();
                key["alg"] = "RSA-OAEP".into();
                let key = DecryptionKey::from_jwk(&jwk(&key), None).unwrap();
                assert_eq!(jwe_error(key.decrypt(compact)), JweError::Rsa15, "{name}");
            }
            "PBES2-HS512+A256KW" => {
                let password = v["input"]["pwd"].as_str().unwrap();
                let key = DecryptionKey::from_jwk(
                    &jwk(&json!({"kty": "oct", "k": tessera_b64(password.as_bytes())})),
                    Some(KeyAlgorithm::Pbes2Hs512A256Kw),
                )
                .unwrap();
                // Refused by default; decrypted when the caller enables PBES2 with a bound.
                assert_eq!(jwe_error(key.decrypt(compact)), JweError::Pbes2, "{name}");
                let limits = JweLimits {
                    pbes2_max_iterations: Some(10_000),
                    ..JweLimits::default()
                };
                let out = key.decrypt_with(compact, &limits).unwrap();
                assert_eq!(out.plaintext(), plaintext.as_bytes(), "{name}");
                let low = JweLimits {
                    pbes2_max_iterations: Some(4096),
                    ..JweLimits::default()
                };
                assert!(matches!(
                    jwe_error(key.decrypt_with(compact, &low)),
                    JweError::Pbes2Iterations {
                        p2c: 8192,
                        max: 4096,
                        ..
                    }
                ));
            }
            "A256GCMKW" => {
                let mut key = v["input"]["key"].clone();
                key.as_object_mut().unwrap().remove("alg");
                let key = DecryptionKey::from_jwk(&jwk(&key), Some(KeyAlgorithm::A256Kw)).unwrap();
                assert!(
                    matches!(jwe_error(key.decrypt(compact)), JweError::UnsupportedAlg(a) if a == "A256GCMKW"),
                    "{name}"
                );
            }
            _ if v["input"].get("zip").is_some() => {
                let key = DecryptionKey::from_jwk(&jwk(&v["input"]["key"]), None).unwrap();
                assert_eq!(jwe_error(key.decrypt(compact)), JweError::Zip, "{name}");
                let limits = JweLimits {
                    max_inflated_len: Some(64 * 1024),
                    ..JweLimits::default()
                };
                let out = key.decrypt_with(compact, &limits).unwrap();
                assert_eq!(out.plaintext(), plaintext.as_bytes(), "{name}");
            }
            _ => {
                let key =
                    DecryptionKey::from_jwk(&jwk(&v["input"]["key"]), Some(alg.parse().unwrap()))
                        .unwrap();
                assert_eq!(key.algorithm().as_str(), alg, "{name}");
                let out = key
                    .decrypt(compact)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(out.plaintext(), plaintext.as_bytes(), "{name}");
                assert_eq!(
                    out.header().kid(),
                    v["input"]["key"]["kid"].as_str(),
                    "{name}"
                );
            }
        }
    }
}

/// One private key per key-management algorithm (X25519 for plain ECDH-ES, P-384 and
/// P-521 for the wrapping variants, so every curve is covered).
fn keys() -> Vec<(Jwk, &'static str)> {
    vec![
        (
            Jwk::generate_encryption(KeyAlgorithm::RsaOaep256, None, None).unwrap(),
            "RSA",
        ),
        (
            Jwk::generate_encryption(KeyAlgorithm::RsaOaep, None, None).unwrap(),
            "RSA",
        ),
        (
            Jwk::generate_encryption(KeyAlgorithm::EcdhEs, None, Some("X25519")).unwrap(),
            "X25519",
        ),
        (
            Jwk::generate_encryption(KeyAlgorithm::EcdhEs, None, Some("P-256")).unwrap(),
            "P-256",
        ),
        (
            Jwk::generate_encryption(KeyAlgorithm::EcdhEsA128Kw, None, Some("P-384")).unwrap(),
            "P-384",
        ),
        (
            Jwk::generate_encryption(KeyAlgorithm::EcdhEsA256Kw, None, Some("P-521")).unwrap(),
            "P-521",
        ),
        (
            Jwk::generate_encryption(KeyAlgorithm::A128Kw, None, None).unwrap(),
            "oct",
        ),
        (
            Jwk::generate_encryption(KeyAlgorithm::A256Kw, None, None).unwrap(),
            "oct",
        ),
    ]
}

#[test]
fn every_pair_round_trips_and_a_flipped_bit_is_refused() {
    for (private, what) in keys() {
        let alg = private.key_algorithm().unwrap();
        assert_eq!(private.key_use(), Some(&tessera_jose::KeyUse::Encryption));
        // A shared key has no public form: the sender holds the same key.
        let public = if what == "oct" {
            private.clone()
        } else {
            private.to_public()
        };
        let encrypter = EncryptionKey::from_jwk(&public, None).unwrap();
        let decrypter = DecryptionKey::from_jwk(&private, None).unwrap();
        for enc in ContentEncryption::ALL {
            let token = encrypter.encrypt(b"the plaintext", enc, None).unwrap();
            let out = decrypter
                .decrypt(&token)
                .unwrap_or_else(|e| panic!("{alg} {enc}: {e}"));
            assert_eq!(out.plaintext(), b"the plaintext", "{alg} {enc} {what}");
            assert_eq!(out.header().alg(), alg);
            assert_eq!(out.header().kid(), private.kid());
            // Each of the ciphertext's and tag's bits matters.
            let parts: Vec<&str> = token.split('.').collect();
            for index in [3, 4] {
                let mut bytes = parts[index].as_bytes().to_vec();
                bytes[0] = if bytes[0] == b'A' { b'B' } else { b'A' };
                let mut changed = parts.clone();
                let text = String::from_utf8(bytes).unwrap();
                changed[index] = &text;
                assert_eq!(
                    jwe_error(decrypter.decrypt(&changed.join("."))),
                    JweError::Decryption,
                    "{alg} {enc} part {index}"
                );
            }
        }
    }
    // dir, with each content encryption's own key length.
    for enc in ContentEncryption::ALL {
        let key = jwk(&json!({"kty": "oct", "k": tessera_b64(&vec![9u8; enc.key_len()])}));
        let e = EncryptionKey::from_jwk(&key, Some(KeyAlgorithm::Dir)).unwrap();
        let token = e.encrypt(b"direct", enc, None).unwrap();
        assert_eq!(
            token.split('.').nth(1),
            Some(""),
            "dir has no encrypted key"
        );
        let d = DecryptionKey::from_jwk(&key, Some(KeyAlgorithm::Dir)).unwrap();
        assert_eq!(d.decrypt(&token).unwrap().plaintext(), b"direct");
    }
}

fn b64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

fn tessera_b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn nested_jwts_are_verified_after_decryption() {
    let enc = Jwk::generate_encryption(KeyAlgorithm::EcdhEs, None, Some("X25519")).unwrap();
    let sig = Jwk::generate(Algorithm::ES256, None).unwrap();
    let signer = SigningKey::from_jwk(&sig, None).unwrap();
    let verifier = VerifyingKey::from_jwk(&sig.to_public()).unwrap();
    let encrypter = EncryptionKey::from_jwk(&enc.to_public(), None).unwrap();
    let decrypter = DecryptionKey::from_jwk(&enc, None).unwrap();
    let jws = signer
        .sign_jwt(&json!({"sub": "jane", "exp": tessera_jose::unix_now() + 60}))
        .unwrap();
    let token = encrypter
        .encrypt_jws(&jws, ContentEncryption::A256Gcm)
        .unwrap();
    let nested = decrypter.decrypt_nested(&token).unwrap();
    assert_eq!(nested.jwe_header().cty(), Some("JWT"));
    let jwt = nested.verify(&verifier, &Validation::new()).unwrap();
    assert_eq!(jwt.claims().sub(), Some("jane"));

    // The inner signature by another key: refused, though the JWE decrypts.
    let other =
        SigningKey::from_jwk(&Jwk::generate(Algorithm::ES256, None).unwrap(), None).unwrap();
    let forged = other
        .sign_jwt(&json!({"sub": "admin", "exp": tessera_jose::unix_now() + 60}))
        .unwrap();
    let token = encrypter
        .encrypt_jws(&forged, ContentEncryption::A256Gcm)
        .unwrap();
    let nested = decrypter.decrypt_nested(&token).unwrap();
    // (Its kid names the other key; without a kid, the signature itself fails.)
    assert!(matches!(
        nested.verify(&verifier, &Validation::new()),
        Err(Error::UnknownKid(_))
    ));
    let no_kid = Jwk::from_json(
        &serde_json::to_string(&{
            let mut v: Value =
                serde_json::from_str(&Jwk::generate(Algorithm::ES256, None).unwrap().to_json())
                    .unwrap();
            v.as_object_mut().unwrap().remove("kid");
            v
        })
        .unwrap(),
    )
    .unwrap();
    let forged = SigningKey::from_jwk(&no_kid, None)
        .unwrap()
        .sign_jwt(&json!({"sub": "admin", "exp": tessera_jose::unix_now() + 60}))
        .unwrap();
    let token = encrypter
        .encrypt_jws(&forged, ContentEncryption::A256Gcm)
        .unwrap();
    let anonymous = VerifyingKey::from_jwk(&{
        let mut v: Value = serde_json::from_str(&sig.to_public().to_json()).unwrap();
        v.as_object_mut().unwrap().remove("kid");
        jwk(&v)
    })
    .unwrap();
    assert!(matches!(
        decrypter
            .decrypt_nested(&token)
            .unwrap()
            .verify(&anonymous, &Validation::new()),
        Err(Error::InvalidSignature)
    ));

    // An expired inner token: the claims rules apply inside too.
    let expired = signer
        .sign_jwt(&json!({"sub": "jane", "exp": tessera_jose::unix_now() - 3600}))
        .unwrap();
    let token = encrypter
        .encrypt_jws(&expired, ContentEncryption::A256Gcm)
        .unwrap();
    assert!(matches!(
        decrypter
            .decrypt_nested(&token)
            .unwrap()
            .verify(&verifier, &Validation::new()),
        Err(Error::Claim(_))
    ));

    // Plain claims encrypted without a signature are not a nested JWT: no claims come out.
    let unsigned = encrypter
        .encrypt(br#"{"sub":"admin"}"#, ContentEncryption::A256Gcm, None)
        .unwrap();
    assert!(matches!(
        jwe_error(decrypter.decrypt_nested(&unsigned)),
        JweError::NotNested(_)
    ));
    let unsigned = encrypter
        .encrypt(
            br#"{"sub":"admin"}"#,
            ContentEncryption::A256Gcm,
            Some("JWT"),
        )
        .unwrap();
    assert!(decrypter
        .decrypt_nested(&unsigned)
        .unwrap()
        .verify(&verifier, &Validation::new())
        .is_err());
}

#[test]
fn a_jwe_where_a_jws_is_expected_and_the_reverse() {
    let enc = Jwk::generate_encryption(KeyAlgorithm::A256Kw, None, None).unwrap();
    let token = EncryptionKey::from_jwk(&enc, None)
        .unwrap()
        .encrypt(b"x", ContentEncryption::A128Gcm, None)
        .unwrap();
    let err = UnverifiedJwt::parse(&token).unwrap_err();
    assert!(
        err.to_string().contains("a JWE where a JWS was expected"),
        "{err}"
    );
    let sig = Jwk::generate(Algorithm::ES256, None).unwrap();
    let jws = SigningKey::from_jwk(&sig, None)
        .unwrap()
        .sign_jwt(&json!({"exp": 4102444800u64}))
        .unwrap();
    assert_eq!(
        jwe_error(DecryptionKey::from_jwk(&enc, None).unwrap().decrypt(&jws)),
        JweError::NotJwe(3)
    );
}

#[test]
fn keys_are_typed_by_use() {
    let sig = Jwk::generate(Algorithm::ES256, None).unwrap();
    assert!(matches!(
        jwe_error(EncryptionKey::from_jwk(&sig, None)),
        JweError::Key(m) if m.contains("signing key")
    ));
    assert!(matches!(
        jwe_error(DecryptionKey::from_jwk(&sig, None)),
        JweError::Key(m) if m.contains("signing key")
    ));
    let enc = Jwk::generate_encryption(KeyAlgorithm::EcdhEs, None, None).unwrap();
    let err = SigningKey::from_jwk(&enc, None).unwrap_err().to_string();
    assert!(err.contains("encryption key"), "{err}");
    let err = VerifyingKey::from_jwk(&enc.to_public())
        .unwrap_err()
        .to_string();
    assert!(err.contains("encryption key"), "{err}");
    // X25519 signs nothing, whatever the JWK says.
    let x = Jwk::generate_encryption(KeyAlgorithm::EcdhEs, None, Some("X25519")).unwrap();
    let mut doc: Value = serde_json::from_str(&x.to_json()).unwrap();
    doc.as_object_mut().unwrap().remove("alg");
    doc.as_object_mut().unwrap().remove("use");
    assert!(SigningKey::from_jwk(&jwk(&doc), None).is_err());
    // A public key cannot decrypt.
    assert!(DecryptionKey::from_jwk(&enc.to_public(), None).is_err());
    // The JWK round-trips with its key-management alg and use.
    let back = jwk(&serde_json::from_str::<Value>(&enc.to_json()).unwrap());
    assert_eq!(back.key_algorithm(), Some(KeyAlgorithm::EcdhEs));
    assert!(enc.to_json().contains("\"use\":\"enc\""));
}

/// Builds a token by hand from a header and raw parts, encrypted to `key` with A256GCM
/// through the public API and then edited.
fn edit(token: &str, index: usize, text: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[index] = text.to_owned();
    parts.join(".")
}

fn header_of(token: &str) -> Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn with_header(token: &str, header: &Value) -> String {
    edit(token, 0, &tessera_b64(header.to_string().as_bytes()))
}

#[test]
fn attacks_are_refused_for_their_reason() {
    // alg/enc that do not match the key.
    let kw = Jwk::generate_encryption(KeyAlgorithm::A128Kw, None, None).unwrap();
    let kw_enc = EncryptionKey::from_jwk(&kw, None).unwrap();
    let kw_dec = DecryptionKey::from_jwk(&kw, None).unwrap();
    let token = kw_enc
        .encrypt(b"x", ContentEncryption::A128Gcm, None)
        .unwrap();
    let mut h = header_of(&token);
    h["alg"] = "dir".into();
    assert_eq!(
        jwe_error(kw_dec.decrypt(&with_header(&token, &h))),
        JweError::AlgMismatch {
            header: KeyAlgorithm::Dir,
            key: KeyAlgorithm::A128Kw
        }
    );
    for (alg, expected) in [
        ("RSA1_5", JweError::Rsa15),
        ("PBES2-HS256+A128KW", JweError::Pbes2),
        ("A192KW", JweError::UnsupportedAlg("A192KW".into())),
        ("none", JweError::UnsupportedAlg("none".into())),
    ] {
        let mut h = header_of(&token);
        h["alg"] = alg.into();
        assert_eq!(
            jwe_error(kw_dec.decrypt(&with_header(&token, &h))),
            expected,
            "{alg}"
        );
    }
    // An enc outside the accepted list.
    let limits = JweLimits {
        encs: vec![ContentEncryption::A256Gcm],
        ..JweLimits::default()
    };
    assert_eq!(
        jwe_error(kw_dec.decrypt_with(&token, &limits)),
        JweError::EncNotAllowed(ContentEncryption::A128Gcm)
    );
    // zip, crit.
    let mut h = header_of(&token);
    h["zip"] = "DEF".into();
    assert_eq!(
        jwe_error(kw_dec.decrypt(&with_header(&token, &h))),
        JweError::Zip
    );
    let mut h = header_of(&token);
    h["crit"] = json!(["exp"]);
    assert!(matches!(
        jwe_error(kw_dec.decrypt(&with_header(&token, &h))),
        JweError::Header(m) if m.contains("crit")
    ));
    // GCM tags of any other length, before the key is unwrapped.
    let tag = token.split('.').nth(4).unwrap();
    for short in [&tag[..tag.len() - 2], &tag[..11], ""] {
        assert!(matches!(
            jwe_error(kw_dec.decrypt(&edit(&token, 4, short))),
            JweError::TagLength { expected: 16, .. } | JweError::Base64(_)
        ));
    }
    let long = [b64_decode(tag).as_slice(), &[0, 0, 0]].concat();
    assert!(matches!(
        jwe_error(kw_dec.decrypt(&edit(&token, 4, &tessera_b64(&long)))),
        JweError::TagLength {
            expected: 16,
            found: 19,
            ..
        }
    ));
    // IV of another length.
    assert!(matches!(
        jwe_error(kw_dec.decrypt(&edit(&token, 2, &tessera_b64(&[0u8; 16])))),
        JweError::IvLength {
            expected: 12,
            found: 16,
            ..
        }
    ));
    // A wrong CEK length after unwrap: a 32-byte CEK wrapped for A128GCM (16 bytes).
    let sneaky = EncryptionKey::from_jwk(&kw, None)
        .unwrap()
        .encrypt(b"x", ContentEncryption::A256Gcm, None)
        .unwrap();
    let mut h = header_of(&sneaky);
    h["enc"] = "A128GCM".into();
    let sneaky = with_header(&sneaky, &h);
    let sneaky = edit(&sneaky, 2, &tessera_b64(&[0u8; 12]));
    assert_eq!(
        jwe_error(kw_dec.decrypt(&sneaky)),
        JweError::CekLength {
            enc: ContentEncryption::A128Gcm,
            expected: 16,
            found: 32
        }
    );
    // CBC-HMAC tags truncated or extended.
    let cbc = kw_enc
        .encrypt(b"x", ContentEncryption::A128CbcHs256, None)
        .unwrap();
    let tag = b64_decode(cbc.split('.').nth(4).unwrap());
    for bad in [
        tessera_b64(&tag[..8]),
        tessera_b64(&[tag.as_slice(), &[0, 0]].concat()),
    ] {
        assert!(matches!(
            jwe_error(kw_dec.decrypt(&edit(&cbc, 4, &bad))),
            JweError::TagLength { expected: 16, .. }
        ));
    }
    // A dir token with an encrypted key.
    let dir = jwk(&json!({"kty": "oct", "k": tessera_b64(&[1u8; 16])}));
    let dir_enc = EncryptionKey::from_jwk(&dir, Some(KeyAlgorithm::Dir)).unwrap();
    let dir_dec = DecryptionKey::from_jwk(&dir, Some(KeyAlgorithm::Dir)).unwrap();
    let t = dir_enc
        .encrypt(b"x", ContentEncryption::A128Gcm, None)
        .unwrap();
    assert_eq!(
        jwe_error(dir_dec.decrypt(&edit(&t, 1, "AAAA"))),
        JweError::EncryptedKeyNotEmpty(KeyAlgorithm::Dir)
    );
    // A dir key used with an enc of another key length: the header's enc does not match
    // the key, refused for the CEK length.
    let mut h = header_of(&t);
    h["enc"] = "A256GCM".into();
    assert_eq!(
        jwe_error(dir_dec.decrypt(&with_header(&t, &h))),
        JweError::CekLength {
            enc: ContentEncryption::A256Gcm,
            expected: 32,
            found: 16
        }
    );
    assert!(matches!(
        jwe_error(dir_enc.encrypt(b"x", ContentEncryption::A256Gcm, None)),
        JweError::CekLength { .. }
    ));
    // Oversized, before anything else.
    let big = format!("{}{}", t, "A".repeat(40 * 1024));
    assert!(matches!(
        jwe_error(dir_dec.decrypt(&big)),
        JweError::TooLarge { .. }
    ));
    // Not five parts.
    assert_eq!(jwe_error(dir_dec.decrypt("a.b.c.d")), JweError::NotJwe(4));
    // Another key of the same kind: a decryption failure, nothing more precise.
    let other = Jwk::generate_encryption(KeyAlgorithm::A128Kw, None, None).unwrap();
    assert_eq!(
        jwe_error(
            DecryptionKey::from_jwk(&other, None)
                .unwrap()
                .decrypt(&token)
        ),
        JweError::Decryption
    );
}

#[test]
fn pbes2_and_zip_are_opt_in_and_bounded() {
    let password = jwk(&json!({"kty": "oct", "k": tessera_b64(b"correct horse battery staple")}));
    for alg in [
        KeyAlgorithm::Pbes2Hs256A128Kw,
        KeyAlgorithm::Pbes2Hs512A256Kw,
    ] {
        let e = EncryptionKey::from_jwk(&password, Some(alg)).unwrap();
        let d = DecryptionKey::from_jwk(&password, Some(alg)).unwrap();
        let token = e
            .encrypt(b"pw", ContentEncryption::A128CbcHs256, None)
            .unwrap();
        assert_eq!(jwe_error(d.decrypt(&token)), JweError::Pbes2);
        let header = header_of(&token);
        let p2c = header["p2c"].as_u64().unwrap();
        assert!(p2c >= 210_000, "{p2c}");
        let enabled = JweLimits {
            pbes2_max_iterations: Some(1_000_000),
            ..JweLimits::default()
        };
        assert_eq!(d.decrypt_with(&token, &enabled).unwrap().plaintext(), b"pw");
        // A p2c of a billion would be minutes of HMACs per token: refused before any.
        let mut h = header.clone();
        h["p2c"] = 1_000_000_000u64.into();
        assert!(matches!(
            jwe_error(d.decrypt_with(&with_header(&token, &h), &enabled)),
            JweError::Pbes2Iterations {
                p2c: 1_000_000_000,
                ..
            }
        ));
        h["p2c"] = 10.into();
        assert!(matches!(
            jwe_error(d.decrypt_with(&with_header(&token, &h), &enabled)),
            JweError::Pbes2Iterations { p2c: 10, .. }
        ));
    }
    // A zip bomb: 8 MiB of zeros compress to a few KiB.
    let key = Jwk::generate_encryption(KeyAlgorithm::A256Kw, None, None).unwrap();
    let e = EncryptionKey::from_jwk(&key, None).unwrap();
    let d = DecryptionKey::from_jwk(&key, None).unwrap();
    let bomb = e
        .encrypt_deflated(&vec![0u8; 8 << 20], ContentEncryption::A256Gcm, None)
        .unwrap();
    assert!(bomb.len() < 32 * 1024, "{}", bomb.len());
    assert_eq!(jwe_error(d.decrypt(&bomb)), JweError::Zip);
    let bounded = JweLimits {
        max_inflated_len: Some(1 << 20),
        ..JweLimits::default()
    };
    assert!(matches!(
        jwe_error(d.decrypt_with(&bomb, &bounded)),
        JweError::Inflate(m) if m.contains("past the limit")
    ));
    let small = e
        .encrypt_deflated(b"hello hello hello", ContentEncryption::A256Gcm, None)
        .unwrap();
    assert_eq!(
        d.decrypt_with(&small, &bounded).unwrap().plaintext(),
        b"hello hello hello"
    );
}

#[test]
fn ecdh_ephemeral_keys_off_the_curve_or_on_another_curve_are_refused() {
    let p256 = Jwk::generate_encryption(KeyAlgorithm::EcdhEs, None, Some("P-256")).unwrap();
    let enc = EncryptionKey::from_jwk(&p256.to_public(), None).unwrap();
    let dec = DecryptionKey::from_jwk(&p256, None).unwrap();
    let token = enc.encrypt(b"x", ContentEncryption::A128Gcm, None).unwrap();
    let header = header_of(&token);
    // The invalid-curve attack: a point that is not on P-256 (y changed).
    let mut h = header.clone();
    let y = h["epk"]["y"].as_str().unwrap().to_owned();
    let mut bytes = y.into_bytes();
    bytes[5] = if bytes[5] == b'A' { b'B' } else { b'A' };
    h["epk"]["y"] = String::from_utf8(bytes).unwrap().into();
    assert!(matches!(
        jwe_error(dec.decrypt(&with_header(&token, &h))),
        JweError::Epk(m) if m.contains("not a valid point on P-256")
    ));
    // A point on another curve.
    let p384 = Jwk::generate_encryption(KeyAlgorithm::EcdhEs, None, Some("P-384")).unwrap();
    let mut h = header.clone();
    let other: Value = serde_json::from_str(&p384.to_public().to_json()).unwrap();
    h["epk"] = json!({"kty": "EC", "crv": "P-384", "x": other["x"], "y": other["y"]});
    assert!(matches!(
        jwe_error(dec.decrypt(&with_header(&token, &h))),
        JweError::Epk(m) if m.contains("is on P-384")
    ));
    // An X25519 key against a P-256 recipient.
    let mut h = header.clone();
    h["epk"] = json!({"kty": "OKP", "crv": "X25519", "x": tessera_b64(&[9u8; 32])});
    assert!(matches!(
        jwe_error(dec.decrypt(&with_header(&token, &h))),
        JweError::Epk(m) if m.contains("X25519")
    ));
    // No epk, and one carrying a private key.
    let mut h = header.clone();
    h.as_object_mut().unwrap().remove("epk");
    assert!(matches!(
        jwe_error(dec.decrypt(&with_header(&token, &h))),
        JweError::Epk(_)
    ));
    let mut h = header.clone();
    let private: Value = serde_json::from_str(&p256.to_json()).unwrap();
    h["epk"]["d"] = private["d"].clone();
    assert!(matches!(
        jwe_error(dec.decrypt(&with_header(&token, &h))),
        JweError::Epk(m) if m.contains("private")
    ));
    // X25519: a low-order point (all zeros) gives no shared secret.
    let x = Jwk::generate_encryption(KeyAlgorithm::EcdhEs, None, Some("X25519")).unwrap();
    let xe = EncryptionKey::from_jwk(&x.to_public(), None).unwrap();
    let xd = DecryptionKey::from_jwk(&x, None).unwrap();
    let t = xe.encrypt(b"x", ContentEncryption::A128Gcm, None).unwrap();
    let mut h = header_of(&t);
    h["epk"]["x"] = tessera_b64(&[0u8; 32]).into();
    assert!(xd.decrypt(&with_header(&t, &h)).is_err());
}
