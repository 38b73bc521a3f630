//! Published test vectors: RFC 7515 appendix A (JWS), RFC 7517 appendices A and B (JWK),
//! RFC 7520 sections 3 and 4 (the JOSE cookbook), RFC 7638 section 3.1 and RFC 8037
//! appendix A (thumbprints and Ed25519). Each test is named after the section it checks.
//!
//! The keys and tokens are copied from the RFCs (line-wrapped base64 joined); the longer
//! keys live in `tests/data/rfc/`. Examples whose payload is not JSON (RFC 7515 A.4,
//! RFC 7520 section 4, RFC 8037 A.4) are checked at the signature level, since a JWT parser
//! rightly refuses them.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use tessera_jose::{
    thumbprint, Algorithm, AlgorithmError, ClaimError, Error, Jwk, JwkSet, KeyError, KeySet,
    KeyUse, MalformedError, Part, SigningKey, UnverifiedJwt, Validation, VerifyingKey,
};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A compact JWS cut into its signing input and its decoded parts.
struct Compact<'a> {
    signing_input: &'a str,
    header: Vec<u8>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

fn split(token: &str) -> Compact<'_> {
    let (signing_input, s64) = token.rsplit_once('.').expect("three parts");
    let (h64, p64) = signing_input.split_once('.').expect("three parts");
    Compact {
        signing_input,
        header: URL_SAFE_NO_PAD.decode(h64).expect("header base64url"),
        payload: URL_SAFE_NO_PAD.decode(p64).expect("payload base64url"),
        signature: URL_SAFE_NO_PAD.decode(s64).expect("signature base64url"),
    }
}

/// The token with one bit of one signature byte flipped (re-encoded canonically).
fn tampered(token: &str) -> String {
    let parts = split(token);
    let mut signature = parts.signature;
    let middle = signature.len() / 2;
    signature[middle] ^= 0x01;
    format!(
        "{}.{}",
        parts.signing_input,
        URL_SAFE_NO_PAD.encode(&signature)
    )
}

/// Verifies a compact token at the signature level: `alg` over the signing input.
fn verify_signature(key: &VerifyingKey, alg: Algorithm, token: &str) -> Result<(), Error> {
    let parts = split(token);
    key.verify(alg, parts.signing_input.as_bytes(), &parts.signature)
}

/// The RFC 7515 tokens expired in 2011 and have no `aud`.
fn expired_vector_validation() -> Validation {
    Validation::new().insecure_disable_time_checks()
}

fn assert_invalid_signature(result: Result<(), Error>) {
    match result {
        Err(Error::InvalidSignature) => {}
        other => panic!("expected Error::InvalidSignature, got {other:?}"),
    }
}

fn assert_refused_as_non_json_payload(token: &str) {
    match UnverifiedJwt::parse(token) {
        Err(Error::Malformed(MalformedError::Json {
            part: Part::Payload,
            ..
        })) => {}
        other => panic!("expected a non-JSON payload error, got {other:?}"),
    }
}

fn jwk(text: &str) -> Jwk {
    Jwk::from_json(text).expect("vector JWK parses")
}

fn verifier(text: &str) -> VerifyingKey {
    VerifyingKey::from_jwk(&jwk(text)).expect("vector JWK verifies")
}

/// The JWK text with one member removed.
fn without_member(text: &str, member: &str) -> String {
    let mut value: Value = serde_json::from_str(text).expect("JSON");
    value
        .as_object_mut()
        .expect("a JSON object")
        .remove(member)
        .expect("the member is there");
    value.to_string()
}

/// One entry of a `{"keys": [...]}` document, as JSON text.
fn set_entry(set: &str, index: usize) -> String {
    let value: Value = serde_json::from_str(set).expect("JSON");
    value["keys"][index].to_string()
}

// ---------------------------------------------------------------------------------------
// RFC 7515 appendix A: JWS examples
// ---------------------------------------------------------------------------------------

/// A.1 to A.3 sign these exact header and payload bytes (note the CRLFs).
const RFC7515_A1_HEADER: &[u8] = b"{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
const RFC7515_A_PAYLOAD: &[u8] =
    b"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";

/// A.1.1: the HMAC key.
const RFC7515_A1_JWK: &str = r#"{"kty":"oct","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"}"#;

/// A.1.1: the compact serialisation.
const RFC7515_A1_TOKEN: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A.2.1: the RSA private key (2048 bits).
const RFC7515_A2_JWK: &str = include_str!("../data/rfc/rfc7515_a2_rsa.json");

/// A.2.1: the compact serialisation.
const RFC7515_A2_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";

/// A.3.1: the P-256 private key.
const RFC7515_A3_JWK: &str = r#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;

/// A.3.1: the compact serialisation.
const RFC7515_A3_TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";

/// A.4.1: the P-521 private key.
const RFC7515_A4_JWK: &str = r#"{"kty":"EC","crv":"P-521","x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk","y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2","d":"AY5pb7A0UFiB3RELSD64fTLOSV_jazdF7fLYyuTw8lOfRhWg6Y6rUrPAxerEzgdRhajnu0ferB0d53vM9mE15j2C"}"#;

/// A.4.1: the compact serialisation, over the payload `Payload` (not JSON).
const RFC7515_A4_TOKEN: &str = "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn";

/// What A.1 to A.3 must verify to.
fn assert_rfc7515_claims(jwt: &tessera_jose::Jwt) {
    assert_eq!(jwt.claims().iss(), Some("joe"));
    assert_eq!(jwt.claims().exp(), Some(1_300_819_380));
    assert_eq!(
        jwt.claims().get("http://example.com/is_root"),
        Some(&Value::Bool(true))
    );
    assert!(jwt.claims().aud().is_empty());
}

#[test]
fn rfc7515_a1_hs256_verifies() {
    let parts = split(RFC7515_A1_TOKEN);
    assert_eq!(parts.header, RFC7515_A1_HEADER);
    assert_eq!(parts.payload, RFC7515_A_PAYLOAD);

    let key = verifier(RFC7515_A1_JWK);
    let jwt = UnverifiedJwt::parse(RFC7515_A1_TOKEN)
        .unwrap()
        .verify(&key, &expired_vector_validation())
        .unwrap();
    assert_eq!(jwt.header().alg(), Algorithm::HS256);
    assert_eq!(jwt.header().typ(), Some("JWT"));
    assert_rfc7515_claims(&jwt);
}

#[test]
fn rfc7515_a1_hs256_sign_reproduces_token() {
    // The key is 64 bytes, so without an explicit algorithm it would sign HS512.
    let key = jwk(RFC7515_A1_JWK);
    assert_eq!(key.default_algorithm(), Algorithm::HS512);
    let signer = SigningKey::from_jwk(&key, Some(Algorithm::HS256)).unwrap();
    assert_eq!(
        signer
            .sign_compact(RFC7515_A1_HEADER, RFC7515_A_PAYLOAD)
            .unwrap(),
        RFC7515_A1_TOKEN
    );
}

#[test]
fn rfc7515_a1_hs256_tampered_signature_fails() {
    let key = verifier(RFC7515_A1_JWK);
    let token = tampered(RFC7515_A1_TOKEN);
    let err = UnverifiedJwt::parse(&token)
        .unwrap()
        .verify(&key, &expired_vector_validation())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSignature), "{err:?}");
    assert_invalid_signature(verify_signature(&key, Algorithm::HS256, &token));
}

#[test]
fn rfc7515_a1_hs256_is_expired_under_default_validation() {
    let key = verifier(RFC7515_A1_JWK);
    let err = UnverifiedJwt::parse(RFC7515_A1_TOKEN)
        .unwrap()
        .verify(&key, &Validation::new())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Claim(ClaimError::Expired {
                exp: 1_300_819_380,
                ..
            })
        ),
        "{err:?}"
    );
    // One second before `exp` (and past the leeway) it is still valid.
    let jwt = UnverifiedJwt::parse(RFC7515_A1_TOKEN)
        .unwrap()
        .verify(&key, &Validation::new().leeway(0).at_time(1_300_819_379))
        .unwrap();
    assert_rfc7515_claims(&jwt);
}

#[test]
fn rfc7515_a2_rs256_verifies() {
    let private = jwk(RFC7515_A2_JWK);
    assert!(private.is_private());
    assert_eq!(private.describe(), "RSA 2048");
    let public = private.to_public();
    assert!(!public.is_private());

    let key = VerifyingKey::from_jwk(&public).unwrap();
    let jwt = UnverifiedJwt::parse(RFC7515_A2_TOKEN)
        .unwrap()
        .verify(&key, &expired_vector_validation())
        .unwrap();
    assert_eq!(jwt.header().alg(), Algorithm::RS256);
    assert_rfc7515_claims(&jwt);

    // The same key published in a set, restricted to RS256 by the verifier.
    let keys = KeySet::from_jwks(&JwkSet::new(vec![public]));
    let jwt = UnverifiedJwt::parse(RFC7515_A2_TOKEN)
        .unwrap()
        .verify(
            &keys,
            &expired_vector_validation().algorithms([Algorithm::RS256]),
        )
        .unwrap();
    assert_rfc7515_claims(&jwt);
}

#[test]
fn rfc7515_a2_rs256_sign_reproduces_token() {
    let parts = split(RFC7515_A2_TOKEN);
    assert_eq!(parts.header, br#"{"alg":"RS256"}"#);
    assert_eq!(parts.payload, RFC7515_A_PAYLOAD);
    // RSASSA-PKCS1-v1_5 is deterministic: the same bytes give the same token.
    let signer = SigningKey::from_jwk(&jwk(RFC7515_A2_JWK), Some(Algorithm::RS256)).unwrap();
    assert_eq!(
        signer.sign_compact(&parts.header, &parts.payload).unwrap(),
        RFC7515_A2_TOKEN
    );
}

#[test]
fn rfc7515_a2_rs256_tampered_signature_fails() {
    let key = VerifyingKey::from_jwk(&jwk(RFC7515_A2_JWK).to_public()).unwrap();
    let token = tampered(RFC7515_A2_TOKEN);
    let err = UnverifiedJwt::parse(&token)
        .unwrap()
        .verify(&key, &expired_vector_validation())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSignature), "{err:?}");
    // The genuine signature is not a PS256 signature either.
    assert_invalid_signature(verify_signature(&key, Algorithm::PS256, RFC7515_A2_TOKEN));
}

#[test]
fn rfc7515_a3_es256_verifies() {
    let key = VerifyingKey::from_jwk(&jwk(RFC7515_A3_JWK).to_public()).unwrap();
    assert_eq!(split(RFC7515_A3_TOKEN).signature.len(), 64);
    let jwt = UnverifiedJwt::parse(RFC7515_A3_TOKEN)
        .unwrap()
        .verify(&key, &expired_vector_validation())
        .unwrap();
    assert_eq!(jwt.header().alg(), Algorithm::ES256);
    assert_rfc7515_claims(&jwt);
}

#[test]
fn rfc7515_a3_es256_private_key_signs() {
    // ECDSA is randomised, so the RFC's signature cannot be reproduced; the key must still
    // sign the same bytes into a token that its public half verifies.
    let private = jwk(RFC7515_A3_JWK);
    let signer = SigningKey::from_jwk(&private, None).unwrap();
    assert_eq!(signer.algorithm(), Algorithm::ES256);
    let header = split(RFC7515_A3_TOKEN).header;
    let token = signer.sign_compact(&header, RFC7515_A_PAYLOAD).unwrap();
    let key = VerifyingKey::from_jwk(&private.to_public()).unwrap();
    let jwt = UnverifiedJwt::parse(&token)
        .unwrap()
        .verify(&key, &expired_vector_validation())
        .unwrap();
    assert_rfc7515_claims(&jwt);
}

#[test]
fn rfc7515_a3_es256_tampered_signature_fails() {
    let key = verifier(RFC7515_A3_JWK);
    let token = tampered(RFC7515_A3_TOKEN);
    let err = UnverifiedJwt::parse(&token)
        .unwrap()
        .verify(&key, &expired_vector_validation())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSignature), "{err:?}");
}

#[test]
fn rfc7515_a4_es512_verifies() {
    let parts = split(RFC7515_A4_TOKEN);
    assert_eq!(parts.header, br#"{"alg":"ES512"}"#);
    assert_eq!(parts.payload, b"Payload");
    assert_eq!(parts.signature.len(), 132);

    let key = VerifyingKey::from_jwk(&jwk(RFC7515_A4_JWK).to_public()).unwrap();
    assert!(key.supports(Algorithm::ES512));
    verify_signature(&key, Algorithm::ES512, RFC7515_A4_TOKEN).unwrap();
    assert_refused_as_non_json_payload(RFC7515_A4_TOKEN);
}

#[test]
fn rfc7515_a4_es512_tampered_signature_fails() {
    let key = verifier(RFC7515_A4_JWK);
    assert_invalid_signature(verify_signature(
        &key,
        Algorithm::ES512,
        &tampered(RFC7515_A4_TOKEN),
    ));
    // The signature over other bytes does not verify either.
    let parts = split(RFC7515_A4_TOKEN);
    assert_invalid_signature(key.verify(
        Algorithm::ES512,
        b"eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZB",
        &parts.signature,
    ));
}

#[test]
fn rfc7515_a4_es512_private_key_signs() {
    let private = jwk(RFC7515_A4_JWK);
    let signer = SigningKey::from_jwk(&private, None).unwrap();
    assert_eq!(signer.algorithm(), Algorithm::ES512);
    let token = signer
        .sign_compact(br#"{"alg":"ES512"}"#, b"Payload")
        .unwrap();
    assert!(
        token.starts_with("eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA."),
        "{token}"
    );
    let key = VerifyingKey::from_jwk(&private.to_public()).unwrap();
    verify_signature(&key, Algorithm::ES512, &token).unwrap();
}

// ---------------------------------------------------------------------------------------
// RFC 7517 appendices A and B: JWK and JWK Set examples
// ---------------------------------------------------------------------------------------

/// A.1: a public EC key (marked for encryption) and a public RSA key.
const RFC7517_A1: &str = include_str!("../data/rfc/rfc7517_a1.json");
/// A.2: the private keys of A.1.
const RFC7517_A2: &str = include_str!("../data/rfc/rfc7517_a2.json");
/// A.3: an AES key-wrap key and an HMAC key.
const RFC7517_A3: &str = include_str!("../data/rfc/rfc7517_a3.json");
/// B: an RSA public key with an `x5c` certificate chain.
const RFC7517_B: &str = include_str!("../data/rfc/rfc7517_b.json");

const RFC7517_RSA_KID: &str = "2011-04-29";

#[test]
fn rfc7517_a1_public_keys_parse() {
    let set = JwkSet::from_slice(RFC7517_A1.as_bytes()).unwrap();
    assert_eq!(set.keys.len(), 2);
    assert!(set.skipped.is_empty(), "{:?}", set.skipped);

    let ec = &set.keys[0];
    assert_eq!(ec.kty(), "EC");
    assert_eq!(ec.kid(), Some("1"));
    assert_eq!(ec.key_use(), Some(&KeyUse::Encryption));
    assert_eq!(ec.alg(), None);
    assert_eq!(ec.describe(), "EC P-256");
    assert!(!ec.is_private());

    let rsa = set.find(RFC7517_RSA_KID).unwrap();
    assert_eq!(rsa.kty(), "RSA");
    assert_eq!(rsa.alg(), Some(Algorithm::RS256));
    assert_eq!(rsa.key_use(), None);
    assert_eq!(rsa.describe(), "RSA 2048");
    assert!(!rsa.is_private());
    assert!(!rsa.is_symmetric());
}

#[test]
fn rfc7517_a1_encryption_key_is_left_out_of_a_verification_set() {
    let keys = KeySet::from_slice(RFC7517_A1.as_bytes()).unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys.contains_kid(RFC7517_RSA_KID));
    assert!(!keys.contains_kid("1"));
    let rsa = &keys.keys()[0];
    assert_eq!(rsa.algorithms().collect::<Vec<_>>(), [Algorithm::RS256]);

    assert_eq!(keys.skipped().len(), 1, "{:?}", keys.skipped());
    let skipped = &keys.skipped()[0];
    assert_eq!(skipped.kid.as_deref(), Some("1"));
    assert!(skipped.reason.contains("enc"), "{}", skipped.reason);

    let ec = jwk(&set_entry(RFC7517_A1, 0));
    let err = VerifyingKey::from_jwk(&ec).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Key(KeyError::WrongUse {
                wanted: "verify",
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn rfc7517_a2_private_keys_parse() {
    let private = JwkSet::from_slice(RFC7517_A2.as_bytes()).unwrap();
    let public = JwkSet::from_slice(RFC7517_A1.as_bytes()).unwrap();
    assert_eq!(private.keys.len(), 2);
    assert!(private.skipped.is_empty(), "{:?}", private.skipped);

    for (private, public) in private.keys.iter().zip(&public.keys) {
        assert!(private.is_private(), "{private:?}");
        assert_eq!(private.kty(), public.kty());
        assert_eq!(private.kid(), public.kid());
        assert_eq!(private.alg(), public.alg());
        assert_eq!(private.key_use(), public.key_use());
        let derived = private.to_public();
        assert!(!derived.is_private());
        assert_eq!(thumbprint(&derived), thumbprint(public));
        assert_eq!(thumbprint(private), thumbprint(public));
        assert_eq!(derived.to_json(), public.to_json());
        // The public form carries no private member.
        let members: Value = serde_json::from_str(&derived.to_json()).unwrap();
        for name in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(members.get(name).is_none(), "{name} in {members}");
        }
    }
    // The RSA key is the one whose thumbprint RFC 7638 section 3.1 computes.
    assert_eq!(
        thumbprint(private.find(RFC7517_RSA_KID).unwrap()),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // The published form of the private set is the public set.
    assert_eq!(
        private.to_public().to_json(),
        JwkSet::new(public.keys).to_json()
    );
}

#[test]
fn rfc7517_a2_rsa_private_key_signs_for_a1_public_key() {
    let private = jwk(&set_entry(RFC7517_A2, 1));
    let signer = SigningKey::from_jwk(&private, None).unwrap();
    assert_eq!(signer.algorithm(), Algorithm::RS256);
    assert_eq!(signer.kid(), Some(RFC7517_RSA_KID));
    let token = signer
        .sign_jwt(&json!({"sub": "rfc7517", "exp": 4_102_444_800_u64}))
        .unwrap();

    let keys = KeySet::from_slice(RFC7517_A1.as_bytes()).unwrap();
    let jwt = UnverifiedJwt::parse(&token)
        .unwrap()
        .verify(&keys, &Validation::new())
        .unwrap();
    assert_eq!(jwt.verified_by(), Some(RFC7517_RSA_KID));
    assert_eq!(jwt.claims().sub(), Some("rfc7517"));

    let err = UnverifiedJwt::parse(&tampered(&token))
        .unwrap()
        .verify(&keys, &Validation::new())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidSignature), "{err:?}");
}

#[test]
fn rfc7517_a2_ec_private_key_signs_for_a1_public_key() {
    let private_text = set_entry(RFC7517_A2, 0);
    let public_text = set_entry(RFC7517_A1, 0);

    // As published, the EC key is marked `"use":"enc"` and may not sign.
    let err = SigningKey::from_jwk(&jwk(&private_text), None).unwrap_err();
    assert!(
        matches!(err, Error::Key(KeyError::WrongUse { wanted: "sign", .. })),
        "{err:?}"
    );

    // Without the `use` marking, the private key signs and the A.1 public key verifies:
    // the two halves belong together.
    let signer = SigningKey::from_jwk(&jwk(&without_member(&private_text, "use")), None).unwrap();
    assert_eq!(signer.algorithm(), Algorithm::ES256);
    let key = verifier(&without_member(&public_text, "use"));
    let message = b"RFC 7517 appendix A.2";
    let signature = signer.sign(message).unwrap();
    assert_eq!(signature.len(), 64);
    key.verify(Algorithm::ES256, message, &signature).unwrap();
    assert_invalid_signature(key.verify(Algorithm::ES256, b"RFC 7517 appendix A.1", &signature));
}

#[test]
fn rfc7517_a3_symmetric_keys_and_the_key_wrap_key() {
    let set = JwkSet::from_slice(RFC7517_A3.as_bytes()).unwrap();

    // The A128KW key is a JWE key-management key: it parses, and can never sign or verify.
    assert!(set.skipped.is_empty(), "{:?}", set.skipped);
    assert_eq!(set.keys.len(), 2);
    let wrap = &set.keys[0];
    assert_eq!(
        wrap.key_algorithm(),
        Some(tessera_jose::jwe::KeyAlgorithm::A128Kw)
    );
    assert_eq!(wrap.alg(), None);
    let err = VerifyingKey::from_jwk(wrap).unwrap_err().to_string();
    assert!(err.contains("encryption key"), "{err}");
    let hmac = &set.keys[1];
    assert_eq!(hmac.kty(), "oct");
    assert_eq!(
        hmac.kid(),
        Some("HMAC key used in JWS spec Appendix A.1 example")
    );
    assert!(hmac.is_symmetric());
    assert!(hmac.is_private());
    assert_eq!(hmac.alg(), None);
    assert_eq!(hmac.describe(), "oct 512 bits");
    assert_eq!(
        hmac.algorithms(),
        [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
    );

    // A128KW on its own: a key for JWE, refused for signing by its use.
    let alone = Jwk::from_json(&set_entry(RFC7517_A3, 0)).unwrap();
    let err = SigningKey::from_jwk(&alone, None).unwrap_err();
    assert!(
        matches!(err, Error::Key(KeyError::WrongUse { .. })),
        "{err:?}"
    );
}

#[test]
fn rfc7517_a3_hmac_key_verifies_rfc7515_a1() {
    let set = JwkSet::from_slice(RFC7517_A3.as_bytes()).unwrap();
    let hmac = &set.keys[1];
    assert_eq!(thumbprint(hmac), thumbprint(&jwk(RFC7515_A1_JWK)));

    // It is the key of RFC 7515 A.1, so it verifies that token.
    let key = VerifyingKey::from_jwk(hmac).unwrap();
    assert!(key.is_symmetric());
    let jwt = UnverifiedJwt::parse(RFC7515_A1_TOKEN)
        .unwrap()
        .verify(&key, &expired_vector_validation())
        .unwrap();
    assert_rfc7515_claims(&jwt);

    // But a set published for verification never yields a symmetric key.
    let keys = KeySet::from_slice(RFC7517_A3.as_bytes()).unwrap();
    assert!(keys.is_empty());
    assert_eq!(keys.skipped().len(), 2, "{:?}", keys.skipped());
    let reason = &keys
        .skipped()
        .iter()
        .find(|s| s.kid.as_deref() == hmac.kid())
        .unwrap()
        .reason;
    assert_eq!(
        reason,
        &Error::from(AlgorithmError::SymmetricFromSet).to_string()
    );
}

#[test]
fn rfc7517_b_x5c_key_parses() {
    let key = jwk(RFC7517_B);
    assert_eq!(key.kty(), "RSA");
    assert_eq!(key.kid(), Some("1b94c"));
    assert_eq!(key.key_use(), Some(&KeyUse::Signature));
    assert!(!key.is_private());
    assert_eq!(key.describe(), "RSA 2048");
    let verifier = VerifyingKey::from_jwk(&key).unwrap();
    assert_eq!(verifier.kid(), Some("1b94c"));
    assert!(verifier.supports(Algorithm::RS256));
    assert!(verifier.supports(Algorithm::PS256));

    // The certificate in `x5c` (standard base64, not base64url) holds the same modulus.
    let value: Value = serde_json::from_str(RFC7517_B).unwrap();
    let chain = value["x5c"].as_array().unwrap();
    assert_eq!(chain.len(), 1);
    let certificate = STANDARD.decode(chain[0].as_str().unwrap()).unwrap();
    assert_eq!(certificate[0], 0x30, "a DER SEQUENCE");
    let modulus = URL_SAFE_NO_PAD
        .decode(value["n"].as_str().unwrap())
        .unwrap();
    assert_eq!(modulus.len(), 256);
    assert!(
        certificate
            .windows(modulus.len())
            .any(|window| window == modulus.as_slice()),
        "the x5c certificate does not contain the JWK's modulus"
    );

    // And as a one-key set it is a usable verification key.
    let keys = KeySet::from_slice(json!({ "keys": [value] }).to_string().as_bytes()).unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys.contains_kid("1b94c"));
}

// ---------------------------------------------------------------------------------------
// RFC 7520 sections 3 and 4: the JOSE cookbook
// ---------------------------------------------------------------------------------------

const RFC7520_3_1_EC_PUBLIC: &str = include_str!("../data/rfc/rfc7520_3_1_ec_public.json");
const RFC7520_3_2_EC_PRIVATE: &str = include_str!("../data/rfc/rfc7520_3_2_ec_private.json");
const RFC7520_3_3_RSA_PUBLIC: &str = include_str!("../data/rfc/rfc7520_3_3_rsa_public.json");
const RFC7520_3_4_RSA_PRIVATE: &str = include_str!("../data/rfc/rfc7520_3_4_rsa_private.json");
const RFC7520_3_5_HMAC: &str = include_str!("../data/rfc/rfc7520_3_5_hmac.json");

const RFC7520_KID: &str = "bilbo.baggins@hobbiton.example";
const RFC7520_HMAC_KID: &str = "018c0ae5-4d9b-471b-bfd6-eef314bc7037";

/// Section 4, figure 7 (U+2019 is the right single quotation mark). Not JSON.
const RFC7520_PAYLOAD: &str = "It\u{2019}s a dangerous business, Frodo, going out your door. You step onto the road, and if you don't keep your feet, there\u{2019}s no knowing where you might be swept off to.";

/// Section 4.1.3, figure 13.
const RFC7520_4_1_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.MRjdkly7_-oTPTS3AXP41iQIGKa80A0ZmTuV5MEaHoxnW2e5CZ5NlKtainoFmKZopdHM1O2U4mwzJdQx996ivp83xuglII7PNDi84wnB-BDkoBwA78185hX-Es4JIwmDLJK3lfWRa-XtL0RnltuYv746iYTh_qHRD68BNt1uSNCrUCTJDt5aAE6x8wW1Kt9eRo4QPocSadnHXFxnt8Is9UzpERV0ePPQdLuW3IS_de3xyIrDaLGdjluPxUAhb6L2aXic1U12podGU0KLUQSE_oI-ZnmKJ3F4uOZDnd6QZWJushZ41Axf_fcIe8u9ipH84ogoree7vjbU5y18kDquDg";

/// Section 4.2.3, figure 20.
const RFC7520_4_2_TOKEN: &str = "eyJhbGciOiJQUzM4NCIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.cu22eBqkYDKgIlTpzDXGvaFfz6WGoz7fUDcfT0kkOy42miAh2qyBzk1xEsnk2IpN6-tPid6VrklHkqsGqDqHCdP6O8TTB5dDDItllVo6_1OLPpcbUrhiUSMxbbXUvdvWXzg-UD8biiReQFlfz28zGWVsdiNAUf8ZnyPEgVFn442ZdNqiVJRmBqrYRXe8P_ijQ7p8Vdz0TTrxUeT3lm8d9shnr2lfJT8ImUjvAA2Xez2Mlp8cBE5awDzT0qI0n6uiP1aCN_2_jLAeQTlqRHtfa64QQSUmFAAjVKPbByi7xho0uTOcbH510a6GYmJUAfmWjwZ6oD4ifKo8DYM-X72Eaw";

/// Section 4.3.3, figure 27.
const RFC7520_4_3_TOKEN: &str = "eyJhbGciOiJFUzUxMiIsImtpZCI6ImJpbGJvLmJhZ2dpbnNAaG9iYml0b24uZXhhbXBsZSJ9.SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.AE_R_YZCChjn4791jSQCrdPZCNYqHXCTZH0-JZGYNlaAjP2kqaluUIIUnC9qvbu9Plon7KRTzoNEuT4Va2cmL1eJAQy3mtPBu_u_sDDyYjnAMDxXPn7XrT0lw-kvAD890jl8e2puQens_IEKBpHABlsbEPX6sFY8OcGDqoRuBomu9xQ2";

/// Section 4.4.3, figure 34.
const RFC7520_4_4_TOKEN: &str = "eyJhbGciOiJIUzI1NiIsImtpZCI6IjAxOGMwYWU1LTRkOWItNDcxYi1iZmQ2LWVlZjMxNGJjNzAzNyJ9.SXTigJlzIGEgZGFuZ2Vyb3VzIGJ1c2luZXNzLCBGcm9kbywgZ29pbmcgb3V0IHlvdXIgZG9vci4gWW91IHN0ZXAgb250byB0aGUgcm9hZCwgYW5kIGlmIHlvdSBkb24ndCBrZWVwIHlvdXIgZmVldCwgdGhlcmXigJlzIG5vIGtub3dpbmcgd2hlcmUgeW91IG1pZ2h0IGJlIHN3ZXB0IG9mZiB0by4.s0h6KThzkfBBBkLspW1h84VsJZFTsPPqMDA7g1Md7p0";

/// The header of a section 4 example, as the RFC gives it.
fn rfc7520_header(alg: &str, kid: &str) -> Vec<u8> {
    format!(r#"{{"alg":"{alg}","kid":"{kid}"}}"#).into_bytes()
}

/// The parts of a section 4 token are the RFC's header and payload.
fn assert_rfc7520_parts(token: &str, alg: &str, kid: &str) {
    let parts = split(token);
    assert_eq!(parts.header, rfc7520_header(alg, kid));
    assert_eq!(parts.payload, RFC7520_PAYLOAD.as_bytes());
}

fn assert_key_pair(private: &Jwk, public: &Jwk) {
    assert!(private.is_private());
    assert!(!public.is_private());
    assert_eq!(private.kid(), public.kid());
    assert_eq!(private.key_use(), public.key_use());
    assert_eq!(thumbprint(private), thumbprint(public));
    assert_eq!(private.to_public().to_json(), public.to_json());
}

#[test]
fn rfc7520_3_1_and_3_2_ec_p521_keys() {
    let public = jwk(RFC7520_3_1_EC_PUBLIC);
    let private = jwk(RFC7520_3_2_EC_PRIVATE);
    assert_eq!(public.kty(), "EC");
    assert_eq!(public.kid(), Some(RFC7520_KID));
    assert_eq!(public.key_use(), Some(&KeyUse::Signature));
    assert_eq!(public.describe(), "EC P-521");
    assert_eq!(public.algorithms(), [Algorithm::ES512]);
    assert_key_pair(&private, &public);

    // The private half signs what the public half verifies.
    let signer = SigningKey::from_jwk(&private, None).unwrap();
    assert_eq!(signer.algorithm(), Algorithm::ES512);
    assert_eq!(signer.kid(), Some(RFC7520_KID));
    let signature = signer.sign(b"RFC 7520 section 3.2").unwrap();
    assert_eq!(signature.len(), 132);
    VerifyingKey::from_jwk(&public)
        .unwrap()
        .verify(Algorithm::ES512, b"RFC 7520 section 3.2", &signature)
        .unwrap();
}

#[test]
fn rfc7520_3_3_and_3_4_rsa_keys() {
    let public = jwk(RFC7520_3_3_RSA_PUBLIC);
    let private = jwk(RFC7520_3_4_RSA_PRIVATE);
    assert_eq!(public.kty(), "RSA");
    assert_eq!(public.kid(), Some(RFC7520_KID));
    assert_eq!(public.key_use(), Some(&KeyUse::Signature));
    assert_eq!(public.alg(), None);
    assert_eq!(public.describe(), "RSA 2048");
    assert_key_pair(&private, &public);

    // Without `alg` the key serves every RSA algorithm.
    let key = VerifyingKey::from_jwk(&public).unwrap();
    for alg in [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ] {
        assert!(key.supports(alg), "{alg}");
    }
    assert!(!key.supports(Algorithm::ES512));
}

#[test]
fn rfc7520_3_5_symmetric_key() {
    let key = jwk(RFC7520_3_5_HMAC);
    assert_eq!(key.kty(), "oct");
    assert_eq!(key.kid(), Some(RFC7520_HMAC_KID));
    assert_eq!(key.key_use(), Some(&KeyUse::Signature));
    assert_eq!(key.alg(), Some(Algorithm::HS256));
    assert_eq!(key.describe(), "oct 256 bits");
    assert!(key.is_symmetric());
    // Bound to HS256 by its `alg`: it signs nothing else.
    let err = SigningKey::from_jwk(&key, Some(Algorithm::HS384)).unwrap_err();
    assert!(
        matches!(err, Error::Algorithm(AlgorithmError::Mismatch { .. })),
        "{err:?}"
    );
}

#[test]
fn rfc7520_4_1_rs256_verifies() {
    assert_rfc7520_parts(RFC7520_4_1_TOKEN, "RS256", RFC7520_KID);
    let key = verifier(RFC7520_3_3_RSA_PUBLIC);
    verify_signature(&key, Algorithm::RS256, RFC7520_4_1_TOKEN).unwrap();
    assert_refused_as_non_json_payload(RFC7520_4_1_TOKEN);
}

#[test]
fn rfc7520_4_1_rs256_sign_reproduces_token() {
    let parts = split(RFC7520_4_1_TOKEN);
    let signer =
        SigningKey::from_jwk(&jwk(RFC7520_3_4_RSA_PRIVATE), Some(Algorithm::RS256)).unwrap();
    assert_eq!(
        signer.sign_compact(&parts.header, &parts.payload).unwrap(),
        RFC7520_4_1_TOKEN
    );
    assert_eq!(
        signer.sign(parts.signing_input.as_bytes()).unwrap(),
        parts.signature
    );
}

#[test]
fn rfc7520_4_1_rs256_tampered_signature_fails() {
    let key = verifier(RFC7520_3_3_RSA_PUBLIC);
    assert_invalid_signature(verify_signature(
        &key,
        Algorithm::RS256,
        &tampered(RFC7520_4_1_TOKEN),
    ));
    // Nor is the genuine signature valid under another hash.
    assert_invalid_signature(verify_signature(&key, Algorithm::RS384, RFC7520_4_1_TOKEN));
}

#[test]
fn rfc7520_4_2_ps384_verifies() {
    assert_rfc7520_parts(RFC7520_4_2_TOKEN, "PS384", RFC7520_KID);
    let key = verifier(RFC7520_3_3_RSA_PUBLIC);
    verify_signature(&key, Algorithm::PS384, RFC7520_4_2_TOKEN).unwrap();
    assert_refused_as_non_json_payload(RFC7520_4_2_TOKEN);
}

#[test]
fn rfc7520_4_2_ps384_tampered_signature_fails() {
    let key = verifier(RFC7520_3_3_RSA_PUBLIC);
    assert_invalid_signature(verify_signature(
        &key,
        Algorithm::PS384,
        &tampered(RFC7520_4_2_TOKEN),
    ));
    // A PSS signature is not a PKCS#1 v1.5 one.
    assert_invalid_signature(verify_signature(&key, Algorithm::RS384, RFC7520_4_2_TOKEN));
}

#[test]
fn rfc7520_4_2_ps384_private_key_signs() {
    // PSS is randomised: the RFC's signature cannot be reproduced, but ours must verify.
    let parts = split(RFC7520_4_2_TOKEN);
    let signer =
        SigningKey::from_jwk(&jwk(RFC7520_3_4_RSA_PRIVATE), Some(Algorithm::PS384)).unwrap();
    let token = signer.sign_compact(&parts.header, &parts.payload).unwrap();
    assert!(token.starts_with(parts.signing_input), "{token}");
    let key = verifier(RFC7520_3_3_RSA_PUBLIC);
    verify_signature(&key, Algorithm::PS384, &token).unwrap();
}

#[test]
fn rfc7520_4_3_es512_verifies() {
    assert_rfc7520_parts(RFC7520_4_3_TOKEN, "ES512", RFC7520_KID);
    assert_eq!(split(RFC7520_4_3_TOKEN).signature.len(), 132);
    let key = verifier(RFC7520_3_1_EC_PUBLIC);
    verify_signature(&key, Algorithm::ES512, RFC7520_4_3_TOKEN).unwrap();
    assert_refused_as_non_json_payload(RFC7520_4_3_TOKEN);
}

#[test]
fn rfc7520_4_3_es512_tampered_signature_fails() {
    let key = verifier(RFC7520_3_1_EC_PUBLIC);
    assert_invalid_signature(verify_signature(
        &key,
        Algorithm::ES512,
        &tampered(RFC7520_4_3_TOKEN),
    ));
    // The P-521 key verifies nothing but ES512.
    let err = verify_signature(&key, Algorithm::ES256, RFC7520_4_3_TOKEN).unwrap_err();
    assert!(
        matches!(err, Error::Algorithm(AlgorithmError::Mismatch { .. })),
        "{err:?}"
    );
}

#[test]
fn rfc7520_4_4_hs256_sign_reproduces_token() {
    assert_rfc7520_parts(RFC7520_4_4_TOKEN, "HS256", RFC7520_HMAC_KID);
    let parts = split(RFC7520_4_4_TOKEN);
    let signer = SigningKey::from_jwk(&jwk(RFC7520_3_5_HMAC), None).unwrap();
    assert_eq!(signer.algorithm(), Algorithm::HS256);
    assert_eq!(signer.kid(), Some(RFC7520_HMAC_KID));
    assert_eq!(
        signer.sign_compact(&parts.header, &parts.payload).unwrap(),
        RFC7520_4_4_TOKEN
    );
}

#[test]
fn rfc7520_4_4_hs256_verifies() {
    let key = verifier(RFC7520_3_5_HMAC);
    assert_eq!(key.algorithms().collect::<Vec<_>>(), [Algorithm::HS256]);
    verify_signature(&key, Algorithm::HS256, RFC7520_4_4_TOKEN).unwrap();
    assert_refused_as_non_json_payload(RFC7520_4_4_TOKEN);
}

#[test]
fn rfc7520_4_4_hs256_tampered_signature_fails() {
    let key = verifier(RFC7520_3_5_HMAC);
    assert_invalid_signature(verify_signature(
        &key,
        Algorithm::HS256,
        &tampered(RFC7520_4_4_TOKEN),
    ));
    // A truncated MAC is not accepted.
    let parts = split(RFC7520_4_4_TOKEN);
    assert_invalid_signature(key.verify(
        Algorithm::HS256,
        parts.signing_input.as_bytes(),
        &parts.signature[..16],
    ));
}

// ---------------------------------------------------------------------------------------
// RFC 7638 section 3.1: JWK thumbprint
// ---------------------------------------------------------------------------------------

#[test]
fn rfc7638_3_1_thumbprint() {
    let key = jwk(
        r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
    );
    assert_eq!(
        thumbprint(&key),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );

    // Only the required members count: dropping `alg` and `kid` changes nothing.
    let bare = jwk(&without_member(
        &without_member(&key.to_json(), "alg"),
        "kid",
    ));
    assert_eq!(bare.kid(), None);
    assert_eq!(thumbprint(&bare), thumbprint(&key));
}

// ---------------------------------------------------------------------------------------
// RFC 8037 appendix A: Ed25519
// ---------------------------------------------------------------------------------------

/// A.1: the private key.
const RFC8037_A1_JWK: &str = r#"{"kty":"OKP","crv":"Ed25519","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

/// A.2: the public key.
const RFC8037_A2_JWK: &str =
    r#"{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;

/// A.3: the thumbprint of the public key.
const RFC8037_A3_THUMBPRINT: &str = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";

/// A.4: the protected header and the payload (not JSON).
const RFC8037_A4_HEADER: &[u8] = br#"{"alg":"EdDSA"}"#;
const RFC8037_A4_PAYLOAD: &[u8] = b"Example of Ed25519 signing";

/// A.4: the compact serialisation.
const RFC8037_A4_TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

#[test]
fn rfc8037_a1_ed25519_private_key() {
    let key = jwk(RFC8037_A1_JWK);
    assert_eq!(key.kty(), "OKP");
    assert!(key.is_private());
    assert!(!key.is_symmetric());
    assert_eq!(key.describe(), "OKP Ed25519");
    assert_eq!(key.algorithms(), [Algorithm::EdDSA]);
    assert_eq!(key.default_algorithm(), Algorithm::EdDSA);
    let signer = SigningKey::from_jwk(&key, None).unwrap();
    assert_eq!(signer.algorithm(), Algorithm::EdDSA);
}

#[test]
fn rfc8037_a2_ed25519_public_key() {
    let public = jwk(RFC8037_A2_JWK);
    assert_eq!(public.kty(), "OKP");
    assert!(!public.is_private());
    assert_key_pair(&jwk(RFC8037_A1_JWK), &public);
    let err = SigningKey::from_jwk(&public, None).unwrap_err();
    assert!(matches!(err, Error::Key(KeyError::NotPrivate)), "{err:?}");
}

#[test]
fn rfc8037_a3_thumbprint() {
    assert_eq!(thumbprint(&jwk(RFC8037_A2_JWK)), RFC8037_A3_THUMBPRINT);
    // The private key has the same thumbprint: `d` is not a required member.
    assert_eq!(thumbprint(&jwk(RFC8037_A1_JWK)), RFC8037_A3_THUMBPRINT);
}

#[test]
fn rfc8037_a4_ed25519_sign() {
    let signer = SigningKey::from_jwk(&jwk(RFC8037_A1_JWK), None).unwrap();
    // Ed25519 is deterministic: the RFC's token, byte for byte.
    assert_eq!(
        signer
            .sign_compact(RFC8037_A4_HEADER, RFC8037_A4_PAYLOAD)
            .unwrap(),
        RFC8037_A4_TOKEN
    );
    let parts = split(RFC8037_A4_TOKEN);
    assert_eq!(parts.header, RFC8037_A4_HEADER);
    assert_eq!(parts.payload, RFC8037_A4_PAYLOAD);
    assert_eq!(
        parts.signing_input,
        "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
    );
    assert_eq!(
        signer.sign(parts.signing_input.as_bytes()).unwrap(),
        parts.signature
    );
}

#[test]
fn rfc8037_a5_ed25519_verify() {
    let key = verifier(RFC8037_A2_JWK);
    assert_eq!(key.algorithms().collect::<Vec<_>>(), [Algorithm::EdDSA]);
    verify_signature(&key, Algorithm::EdDSA, RFC8037_A4_TOKEN).unwrap();
    assert_refused_as_non_json_payload(RFC8037_A4_TOKEN);

    assert_invalid_signature(verify_signature(
        &key,
        Algorithm::EdDSA,
        &tampered(RFC8037_A4_TOKEN),
    ));
    let parts = split(RFC8037_A4_TOKEN);
    assert_invalid_signature(key.verify(
        Algorithm::EdDSA,
        b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmd",
        &parts.signature,
    ));
}
