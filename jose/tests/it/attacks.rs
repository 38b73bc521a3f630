//! Every attack class of SPEC section 7, each asserting that the attack is refused for the
//! right reason (the specific error), not merely refused.

use std::sync::OnceLock;

use aws_lc_rs::hmac;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use tessera_jose::pem::{self, KeyFormat};
use tessera_jose::{
    Algorithm, AlgorithmError, ClaimError, Error, Jwk, JwkSet, KeyError, KeySet, MalformedError,
    Part, SigningKey, UnverifiedJwt, Validation, VerifyingKey,
};

const NOW: i64 = 1_800_000_000;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A compact token from raw header and payload text and raw signature bytes.
fn forge(header: &str, payload: &str, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.as_bytes()),
        b64(payload.as_bytes()),
        b64(signature)
    )
}

fn claims() -> serde_json::Value {
    json!({"iss": "https://issuer.test", "sub": "jane", "aud": "api", "exp": NOW + 600, "iat": NOW})
}

fn validation() -> Validation {
    Validation::new()
        .issuer("https://issuer.test")
        .audience("api")
        .at_time(NOW)
}

fn rsa() -> &'static Jwk {
    static KEY: OnceLock<Jwk> = OnceLock::new();
    KEY.get_or_init(|| Jwk::generate(Algorithm::RS256, None).unwrap())
}

fn ec() -> &'static Jwk {
    static KEY: OnceLock<Jwk> = OnceLock::new();
    KEY.get_or_init(|| Jwk::generate(Algorithm::ES256, None).unwrap())
}

fn set() -> KeySet {
    KeySet::from_jwks(&JwkSet::new(vec![rsa().to_public(), ec().to_public()]))
}

fn sign_raw(key: &Jwk, header: &str, payload: &str) -> String {
    SigningKey::from_jwk(key, None)
        .unwrap()
        .sign_compact(header.as_bytes(), payload.as_bytes())
        .unwrap()
}

fn verify(token: &str) -> Result<tessera_jose::Jwt, Error> {
    UnverifiedJwt::parse(token)?.verify(&set(), &validation())
}

fn rsa_header() -> String {
    format!(r#"{{"alg":"RS256","kid":"{}"}}"#, rsa().kid().unwrap())
}

#[test]
fn baseline_valid_token_verifies() {
    let token = sign_raw(rsa(), &rsa_header(), &claims().to_string());
    assert_eq!(verify(&token).unwrap().claims().sub(), Some("jane"));
}

#[test]
fn alg_none_is_refused_in_every_letter_case() {
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, rsa().kid().unwrap());
        // The classic form ends with an empty signature ("header.payload."); try both.
        for sig in [&b""[..], b"x"] {
            let token = forge(&header, &claims().to_string(), sig);
            let err = verify(&token).unwrap_err();
            assert!(
                matches!(err, Error::Algorithm(AlgorithmError::None)),
                "{alg}: {err}"
            );
        }
    }
}

/// CVE-2015-9235 and friends: an attacker signs HS256 with the RSA public key as the HMAC
/// secret, in every form a verifier might have lying around.
#[test]
fn hs256_keyed_with_the_rsa_public_key_is_refused_in_every_form() {
    let public = rsa().to_public();
    let pem_text = pem::to_pem(&public, KeyFormat::Spki).unwrap();
    let der = pem::to_der(&public, KeyFormat::Spki).unwrap();
    let jwk_text = public.to_json();
    let modulus = URL_SAFE_NO_PAD
        .decode(
            serde_json::from_str::<serde_json::Value>(&jwk_text).unwrap()["n"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let header = format!(r#"{{"alg":"HS256","kid":"{}"}}"#, rsa().kid().unwrap());
    let payload = claims().to_string();
    let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let pem_verifier =
        VerifyingKey::from_jwk(&pem::parse_key(pem_text.as_bytes()).unwrap()).unwrap();
    for (form, secret) in [
        ("PEM", pem_text.as_bytes()),
        ("DER", &der[..]),
        ("JWK", jwk_text.as_bytes()),
        ("modulus", &modulus[..]),
    ] {
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, secret),
            signing_input.as_bytes(),
        );
        let token = format!("{signing_input}.{}", b64(tag.as_ref()));
        let err = verify(&token).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Algorithm(AlgorithmError::Mismatch {
                    header: Algorithm::HS256,
                    ..
                })
            ),
            "{form} via JWKS: {err}"
        );
        let err = UnverifiedJwt::parse(&token)
            .unwrap()
            .verify(&pem_verifier, &validation())
            .unwrap_err();
        assert!(
            matches!(err, Error::Algorithm(AlgorithmError::Mismatch { .. })),
            "{form} via PEM key: {err}"
        );
    }
}

/// CVE-2022-21449 ("psychic signatures"): r = s = 0 must never verify.
#[test]
fn es256_with_r_and_s_zero_is_refused() {
    let header = format!(r#"{{"alg":"ES256","kid":"{}"}}"#, ec().kid().unwrap());
    let token = forge(&header, &claims().to_string(), &[0u8; 64]);
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::InvalidSignature
    ));
    // Also with the DER-shaped all-zero signature some libraries accept.
    let token = forge(
        &header,
        &claims().to_string(),
        &[0x30, 0x06, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00],
    );
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::InvalidSignature
    ));
}

#[test]
fn tampered_payload_is_refused() {
    let token = sign_raw(rsa(), &rsa_header(), &claims().to_string());
    let sig = token.rsplit('.').next().unwrap();
    let mut evil = claims();
    evil["sub"] = json!("admin");
    let forged = format!(
        "{}.{}.{sig}",
        b64(rsa_header().as_bytes()),
        b64(evil.to_string().as_bytes())
    );
    assert!(matches!(
        verify(&forged).unwrap_err(),
        Error::InvalidSignature
    ));
}

#[test]
fn duplicates_are_found_among_many_members_too() {
    // Past 16 members the duplicate check switches from a list to a hash set.
    for (part, at) in [("payload", 30), ("header", 25)] {
        let mut members: Vec<String> = (0..40).map(|n| format!(r#""m{n}":{n}"#)).collect();
        members.push(format!(r#""m{at}":0"#));
        let extra = members.join(",");
        let (header, payload) = if part == "payload" {
            let c = claims().to_string();
            (rsa_header(), format!("{},{extra}}}", &c[..c.len() - 1]))
        } else {
            let h = rsa_header();
            (
                format!("{},{extra}}}", &h[..h.len() - 1]),
                claims().to_string(),
            )
        };
        let token = sign_raw(rsa(), &header, &payload);
        let err = verify(&token).unwrap_err();
        assert!(
            err.to_string().contains(&format!("`m{at}`")),
            "{part}: {err}"
        );
    }
}

#[test]
fn tampered_header_is_refused() {
    let token = sign_raw(rsa(), &rsa_header(), &claims().to_string());
    let mut parts = token.split('.');
    let _ = parts.next();
    let payload = parts.next().unwrap();
    let sig = parts.next().unwrap();
    let header = format!(
        r#"{{"alg":"RS256","kid":"{}","typ":"at+jwt"}}"#,
        rsa().kid().unwrap()
    );
    let forged = format!("{}.{payload}.{sig}", b64(header.as_bytes()));
    assert!(matches!(
        verify(&forged).unwrap_err(),
        Error::InvalidSignature
    ));
}

#[test]
fn expired_token_is_refused_and_leeway_applies() {
    let mut c = claims();
    c["exp"] = json!(NOW - 61);
    let token = sign_raw(rsa(), &rsa_header(), &c.to_string());
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Claim(ClaimError::Expired { exp, now: NOW, leeway: 60 }) if exp == NOW - 61
    ));
    c["exp"] = json!(NOW - 30);
    let token = sign_raw(rsa(), &rsa_header(), &c.to_string());
    assert!(
        verify(&token).is_ok(),
        "30 s past exp is within the 60 s leeway"
    );
}

#[test]
fn token_without_exp_is_refused_by_default() {
    let mut c = claims();
    c.as_object_mut().unwrap().remove("exp");
    let token = sign_raw(rsa(), &rsa_header(), &c.to_string());
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Claim(ClaimError::Missing(name)) if name == "exp"
    ));
}

#[test]
fn not_yet_valid_token_is_refused() {
    let mut c = claims();
    c["nbf"] = json!(NOW + 120);
    let token = sign_raw(rsa(), &rsa_header(), &c.to_string());
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Claim(ClaimError::NotYetValid { .. })
    ));
}

#[test]
fn token_issued_in_the_future_is_refused() {
    let mut c = claims();
    c["iat"] = json!(NOW + 3600);
    let token = sign_raw(rsa(), &rsa_header(), &c.to_string());
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Claim(ClaimError::IssuedInFuture { .. })
    ));
}

#[test]
fn claims_of_the_wrong_type_are_errors_not_absent() {
    for (claim, value, found) in [
        ("exp", json!("1900000000"), "a string"),
        ("nbf", json!(true), "a boolean"),
        ("iat", json!(null), "null"),
        ("iss", json!(7), "a number"),
        ("aud", json!(42), "a number"),
        ("sub", json!(["jane"]), "an array"),
    ] {
        let mut c = claims();
        c[claim] = value;
        let token = sign_raw(rsa(), &rsa_header(), &c.to_string());
        let err = verify(&token).unwrap_err();
        match err {
            Error::Claim(ClaimError::WrongType {
                claim: ref name,
                found: f,
                ..
            }) => {
                assert_eq!(name, claim);
                assert_eq!(f, found);
            }
            other => panic!("{claim}: {other}"),
        }
    }
    let mut c = claims();
    c["aud"] = json!(["api", 3]);
    let token = sign_raw(rsa(), &rsa_header(), &c.to_string());
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Claim(ClaimError::WrongType { .. })
    ));
}

#[test]
fn wrong_or_missing_issuer_is_refused() {
    let mut c = claims();
    c["iss"] = json!("https://evil.test");
    let token = sign_raw(rsa(), &rsa_header(), &c.to_string());
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Claim(ClaimError::Issuer(iss)) if iss == "https://evil.test"
    ));
    c.as_object_mut().unwrap().remove("iss");
    let token = sign_raw(rsa(), &rsa_header(), &c.to_string());
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Claim(ClaimError::Missing(name)) if name == "iss"
    ));
}

#[test]
fn wrong_or_missing_audience_is_refused() {
    let mut c = claims();
    c["aud"] = json!(["billing", "reports"]);
    let token = sign_raw(rsa(), &rsa_header(), &c.to_string());
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Claim(ClaimError::Audience(_))
    ));
    c["aud"] = json!(["billing", "api"]);
    let token = sign_raw(rsa(), &rsa_header(), &c.to_string());
    assert!(
        verify(&token).is_ok(),
        "one matching audience in an array is enough"
    );
    c.as_object_mut().unwrap().remove("aud");
    let token = sign_raw(rsa(), &rsa_header(), &c.to_string());
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Claim(ClaimError::Missing(name)) if name == "aud"
    ));
}

#[test]
fn audience_present_but_not_configured_is_refused() {
    let token = sign_raw(rsa(), &rsa_header(), &claims().to_string());
    let err = UnverifiedJwt::parse(&token)
        .unwrap()
        .verify(&set(), &Validation::new().at_time(NOW))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Claim(ClaimError::AudienceNotConfigured(_))
    ));
}

#[test]
fn unknown_kid_is_refused() {
    let header = r#"{"alg":"RS256","kid":"not-a-key-we-know"}"#;
    let token = sign_raw(rsa(), header, &claims().to_string());
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::UnknownKid(kid) if kid == "not-a-key-we-know"
    ));
}

/// The token names the EC key's kid but claims RS256 (and is RSA-signed): the EC key cannot
/// verify RS256, whatever the header says.
#[test]
fn kid_of_a_key_of_another_type_is_refused() {
    let header = format!(r#"{{"alg":"RS256","kid":"{}"}}"#, ec().kid().unwrap());
    let token = sign_raw(rsa(), &header, &claims().to_string());
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Algorithm(AlgorithmError::Mismatch {
            header: Algorithm::RS256,
            ..
        })
    ));
}

/// The key is published with `alg: RS256`; a token signed by the same RSA key with RS384 or
/// PS256 is refused because the key's algorithm wins over the header's.
#[test]
fn header_alg_differing_from_the_key_alg_is_refused() {
    for alg in [Algorithm::RS384, Algorithm::PS256] {
        let header = format!(r#"{{"alg":"{alg}","kid":"{}"}}"#, rsa().kid().unwrap());
        let mut unbound =
            Jwk::from_json(&rsa().to_json().replace(r#""alg":"RS256","#, "")).unwrap();
        assert_eq!(unbound.alg(), None);
        unbound.set_alg(alg).unwrap();
        let token = sign_raw(&unbound, &header, &claims().to_string());
        let err = verify(&token).unwrap_err();
        assert!(
            matches!(err, Error::Algorithm(AlgorithmError::Mismatch { header, .. }) if header == alg),
            "{alg}: {err}"
        );
    }
}

#[test]
fn algorithm_outside_the_allow_list_is_refused() {
    let header = format!(r#"{{"alg":"ES256","kid":"{}"}}"#, ec().kid().unwrap());
    let token = sign_raw(ec(), &header, &claims().to_string());
    let err = UnverifiedJwt::parse(&token)
        .unwrap()
        .verify(&set(), &validation().algorithms([Algorithm::RS256]))
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Algorithm(AlgorithmError::NotAllowed(Algorithm::ES256))
    ));
}

#[test]
fn key_marked_for_encryption_is_never_used_to_verify() {
    let enc = rsa()
        .to_public()
        .to_json()
        .replace(r#""use":"sig""#, r#""use":"enc""#);
    let jwk = Jwk::from_json(&enc).unwrap();
    assert!(matches!(
        VerifyingKey::from_jwk(&jwk).unwrap_err(),
        Error::Key(KeyError::WrongUse {
            wanted: "verify",
            ..
        })
    ));
    let keys = KeySet::from_slice(format!(r#"{{"keys":[{enc}]}}"#).as_bytes()).unwrap();
    assert!(keys.is_empty());
    assert_eq!(keys.skipped().len(), 1);
    let token = sign_raw(rsa(), &rsa_header(), &claims().to_string());
    let err = UnverifiedJwt::parse(&token)
        .unwrap()
        .verify(&keys, &validation())
        .unwrap_err();
    assert!(matches!(err, Error::UnknownKid(_)));
}

#[test]
fn key_ops_without_verify_are_refused() {
    let text = rsa()
        .to_public()
        .to_json()
        .replace(r#""use":"sig","#, r#""key_ops":["encrypt"],"#);
    let err = VerifyingKey::from_jwk(&Jwk::from_json(&text).unwrap()).unwrap_err();
    assert!(
        matches!(err, Error::Key(KeyError::WrongUse { .. })),
        "{err}"
    );
}

#[test]
fn unknown_crit_is_refused() {
    let cases = [
        (
            r#"{"alg":"RS256","crit":["exp"],"exp":1}"#,
            "not understood",
        ),
        (
            r#"{"alg":"RS256","crit":["b64"],"b64":false}"#,
            "not understood",
        ),
        (r#"{"alg":"RS256","crit":["x","x"],"x":1}"#, "twice"),
        (r#"{"alg":"RS256","crit":["absent"]}"#, "not in the header"),
        (r#"{"alg":"RS256","crit":[]}"#, "empty"),
        (r#"{"alg":"RS256","crit":"x","x":1}"#, "expected an array"),
    ];
    for (header, reason) in cases {
        let token = sign_raw(rsa(), header, &claims().to_string());
        match verify(&token).unwrap_err() {
            Error::Malformed(MalformedError::Crit(msg)) => {
                assert!(msg.contains(reason), "{header}: {msg}")
            }
            other => panic!("{header}: {other}"),
        }
    }
}

/// An attacker signs with their own key and embeds it (or a URL to it) in the header. The
/// verifier must ignore all of that and use only its own keys.
#[test]
fn embedded_jwk_jku_x5u_x5c_are_ignored() {
    let attacker = Jwk::generate(Algorithm::RS256, None).unwrap();
    let embedded = attacker.to_public().to_json();
    let headers = [
        format!(
            r#"{{"alg":"RS256","kid":"{}","jwk":{embedded}}}"#,
            rsa().kid().unwrap()
        ),
        format!(
            r#"{{"alg":"RS256","kid":"{}","jku":"https://evil.test/jwks.json"}}"#,
            rsa().kid().unwrap()
        ),
        format!(
            r#"{{"alg":"RS256","kid":"{}","x5u":"https://evil.test/cert.pem"}}"#,
            rsa().kid().unwrap()
        ),
        format!(
            r#"{{"alg":"RS256","kid":"{}","x5c":["MIIB"]}}"#,
            rsa().kid().unwrap()
        ),
    ];
    for header in headers {
        let token = sign_raw(&attacker, &header, &claims().to_string());
        assert!(
            matches!(verify(&token).unwrap_err(), Error::InvalidSignature),
            "{header}"
        );
    }
    // Without a kid, the embedded key still does not enter the picture.
    let header = format!(r#"{{"alg":"EdDSA","jwk":{embedded}}}"#);
    let token = sign_raw(
        &Jwk::generate(Algorithm::EdDSA, None).unwrap(),
        &header,
        &claims().to_string(),
    );
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::AmbiguousKey(0)
    ));
}

#[test]
fn non_canonical_base64url_is_refused() {
    let token = sign_raw(rsa(), &rsa_header(), &claims().to_string());
    let parts: Vec<&str> = token.split('.').collect();
    let cases = [
        (
            format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
            Part::Header,
        ),
        (
            format!("{}.{}.{}==", parts[0], parts[1], parts[2]),
            Part::Signature,
        ),
        (
            format!(
                "{}.{}.{}",
                parts[0],
                parts[1].replace('-', "+").replace('_', "/") + "+",
                parts[2]
            ),
            Part::Payload,
        ),
        (
            format!("{}.{} .{}", parts[0], parts[1], parts[2]),
            Part::Payload,
        ),
    ];
    for (forged, part) in cases {
        let err = verify(&forged).unwrap_err();
        assert!(
            matches!(err, Error::Malformed(MalformedError::Base64(p)) if p == part),
            "{part}: {err}"
        );
    }
    // A signature whose last character carries non-zero unused bits decodes to the same
    // bytes in lenient decoders; here it is refused.
    let sig = parts[2];
    let last = sig.chars().last().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    // RS256 with a 2048-bit key: 256 bytes -> 342 chars, 4 unused bits in the last char.
    let sibling = alphabet.as_bytes()[(idx & !0xF) | ((idx + 1) & 0xF)] as char;
    let forged = format!(
        "{}.{}.{}{sibling}",
        parts[0],
        parts[1],
        &sig[..sig.len() - 1]
    );
    assert!(matches!(
        verify(&forged).unwrap_err(),
        Error::Malformed(MalformedError::Base64(Part::Signature))
    ));
}

#[test]
fn non_json_payload_is_refused() {
    for payload in [
        "It's a dangerous business",
        "[1,2,3]",
        "\"exp\"",
        "{\"exp\":1",
    ] {
        let token = sign_raw(rsa(), &rsa_header(), payload);
        let err = verify(&token).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Malformed(MalformedError::Json {
                    part: Part::Payload,
                    ..
                })
            ),
            "{payload}: {err}"
        );
    }
}

#[test]
fn one_megabyte_token_is_refused_before_parsing() {
    let big = "a".repeat(1024 * 1024);
    let err = verify(&format!("{big}.{big}.{big}")).unwrap_err();
    assert!(matches!(
        err,
        Error::Malformed(MalformedError::TooLarge { limit: 16384, .. })
    ));
}

#[test]
fn deeply_nested_json_is_refused_before_crypto() {
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let payload = format!(r#"{{"exp":{},"x":{deep}}}"#, NOW + 60);
    // The signature is garbage: the depth check must fire first.
    let token = forge(&rsa_header(), &payload, b"garbage");
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Malformed(MalformedError::TooDeep {
            part: Part::Payload,
            ..
        })
    ));
    let nested = format!("{}1{}", "{\"a\":".repeat(40), "}".repeat(40));
    let header = format!(r#"{{"alg":"RS256","x":{nested}}}"#);
    let token = forge(&header, &claims().to_string(), b"garbage");
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Malformed(MalformedError::TooDeep {
            part: Part::Header,
            ..
        })
    ));
}

#[test]
fn duplicate_json_members_are_refused() {
    let header = format!(
        r#"{{"alg":"RS256","kid":"{}","alg":"HS256"}}"#,
        rsa().kid().unwrap()
    );
    let token = sign_raw(rsa(), &header, &claims().to_string());
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Malformed(MalformedError::DuplicateMember { part: Part::Header, name }) if name == "alg"
    ));
    let payload = format!(
        r#"{{"sub":"jane","exp":{},"exp":{}}}"#,
        NOW + 60,
        NOW + 99_999
    );
    let token = sign_raw(rsa(), &rsa_header(), &payload);
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Malformed(MalformedError::DuplicateMember { part: Part::Payload, name }) if name == "exp"
    ));
}

/// The duplicate-member error of parsing `token`, on this thread and on a thread that has
/// never parsed a header (so the cached-header path cannot apply there).
fn duplicate_here_and_fresh(token: &str) -> [(Part, String); 2] {
    let duplicate = |token: &str| match UnverifiedJwt::parse(token).map(|_| ()) {
        Err(Error::Malformed(MalformedError::DuplicateMember { part, name })) => (part, name),
        other => panic!("expected a duplicate member, got {other:?}"),
    };
    let here = duplicate(token);
    let fresh = std::thread::scope(|s| s.spawn(|| duplicate(token)).join().unwrap());
    [here, fresh]
}

/// A duplicate member is named, in the part it is in, whichever path the parser takes: the
/// general path (a fresh thread), the cached-header path (this thread has just parsed the
/// same header), and payloads that the fast claims reader gives up on at different points
/// (a registered claim, an unregistered one, one past the names it tracks, an escaped name).
#[test]
fn duplicate_members_are_named_on_every_parse_path() {
    let valid = sign_raw(rsa(), &rsa_header(), &claims().to_string());
    let body = claims().to_string();
    let body = &body[1..body.len() - 1];
    let many: String = (0..20).map(|n| format!(r#","m{n}":{n}"#)).collect();
    for (payload, name) in [
        (format!(r#"{{{body},"exp":1}}"#), "exp"),
        (format!(r#"{{"sub":"x",{body}}}"#), "sub"),
        (format!(r#"{{{body},"role":"a","role":"b"}}"#), "role"),
        (format!(r#"{{{body}{many},"m7":0}}"#), "m7"),
        (format!(r#"{{{body},"x\u0041":1,"xA":2}}"#), "xA"),
    ] {
        let token = sign_raw(rsa(), &rsa_header(), &payload);
        // Warm this thread's header cache with the same header text.
        UnverifiedJwt::parse(&valid).unwrap();
        for found in duplicate_here_and_fresh(&token) {
            assert_eq!(found, (Part::Payload, name.to_owned()), "{payload}");
        }
    }
    let kid = rsa().kid().unwrap();
    for (header, name) in [
        (
            format!(r#"{{"alg":"RS256","kid":"{kid}","alg":"RS256"}}"#),
            "alg",
        ),
        (
            format!(r#"{{"alg":"RS256","kid":"{kid}","kid":"{kid}"}}"#),
            "kid",
        ),
        (
            format!(r#"{{"alg":"RS256","kid":"{kid}","x":1,"x":1}}"#),
            "x",
        ),
        (
            format!(r#"{{"alg":"RS256","kid":"{kid}"{many},"m19":0}}"#),
            "m19",
        ),
    ] {
        let token = sign_raw(rsa(), &header, &claims().to_string());
        UnverifiedJwt::parse(&valid).unwrap();
        // Twice on this thread: a refused header is never remembered as parsed.
        for _ in 0..2 {
            for found in duplicate_here_and_fresh(&token) {
                assert_eq!(found, (Part::Header, name.to_owned()), "{header}");
            }
        }
    }
}

/// A single JWK with a member twice is refused naming it; in a set, such a key is skipped
/// naming it, and the rest of the set stands.
#[test]
fn jwk_with_a_duplicate_member_is_refused_naming_it() {
    let k = b64(&[7u8; 32]);
    for name in ["k", "kty", "alg"] {
        let text = format!(r#"{{"kty":"oct","k":"{k}","alg":"HS256","{name}":"HS256"}}"#);
        match Jwk::from_json(&text) {
            Err(Error::Key(KeyError::InvalidJwk(reason))) => {
                assert!(
                    reason.contains(&format!("duplicate field `{name}`")),
                    "{reason}"
                )
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    let public = rsa().to_public().to_json();
    let doc = format!(r#"{{"keys":[{{"kty":"oct","k":"{k}","x":1,"x":2}},{public}]}}"#);
    let set = JwkSet::from_slice(doc.as_bytes()).unwrap();
    assert_eq!(set.keys.len(), 1);
    assert_eq!(set.skipped.len(), 1);
    assert!(
        set.skipped[0].reason.contains("duplicate member `x`"),
        "{:?}",
        set.skipped
    );
}

/// Text a token or a key chose, echoed in an error, cannot break a log line or reach a
/// terminal as an escape sequence, wherever it is echoed.
#[test]
fn echoed_outside_text_cannot_forge_log_lines() {
    let evil = "x\n[INFO] admin ok\u{1b}[2J\u{202e}";
    let no_raw_controls = |e: &dyn std::fmt::Display| {
        let text = e.to_string();
        assert!(
            !text.contains(['\n', '\u{1b}', '\u{202e}']),
            "raw control in {text:?}"
        );
        assert!(
            text.contains(r"x\n[INFO] admin ok\u{1b}[2J\u{202e}"),
            "{text}"
        );
    };
    let kid = serde_json::to_string(evil).unwrap();
    let header = format!(r#"{{"alg":"RS256","kid":{kid},"typ":{kid}}}"#);
    // kid: no such key.
    let token = sign_raw(rsa(), &header, &claims().to_string());
    no_raw_controls(&verify(&token).unwrap_err());
    // iss, sub, aud, typ: refused by validation, naming what was found.
    let rsa_key = VerifyingKey::from_jwk(&rsa().to_public()).unwrap();
    let header = format!(r#"{{"alg":"RS256","typ":{kid}}}"#);
    for (claim, policy) in [
        ("iss", validation()),
        ("sub", validation().subject("jane")),
        ("aud", validation()),
        ("typ", validation().typ("JWT")),
    ] {
        let mut payload = claims();
        if claim != "typ" {
            payload[claim] = json!(evil);
        }
        let token = sign_raw(rsa(), &header, &payload.to_string());
        let err = UnverifiedJwt::parse(&token)
            .unwrap()
            .verify(&rsa_key, &policy)
            .unwrap_err();
        no_raw_controls(&err);
    }
    // alg and crit in the header.
    for header in [
        format!(r#"{{"alg":{kid}}}"#),
        format!(r#"{{"alg":"RS256","crit":[{kid}]}}"#),
    ] {
        let token = sign_raw(rsa(), &header, &claims().to_string());
        no_raw_controls(&UnverifiedJwt::parse(&token).unwrap_err());
    }
    // A JWK's kty, crv and use.
    for jwk in [
        format!(r#"{{"kty":{kid}}}"#),
        format!(r#"{{"kty":"EC","crv":{kid},"x":"AA","y":"AA"}}"#),
        format!(r#"{{"kty":"oct","k":"{}","use":{kid}}}"#, b64(&[1; 32])),
    ] {
        let err = Jwk::from_json(&jwk)
            .and_then(|k| VerifyingKey::from_jwk(&k).map(|_| ()))
            .unwrap_err();
        no_raw_controls(&err);
    }
    // A PEM block's label.
    let pem = format!("-----BEGIN {evil}-----\nAAAA\n-----END {evil}-----\n");
    no_raw_controls(&pem::from_pem(&pem).unwrap_err());
}

/// The caller's own claims type may quote the payload in its errors (serde's "unknown
/// variant"): the message is escaped in full.
#[test]
fn deserialize_errors_quoting_the_payload_are_escaped() {
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    enum Role {
        Reader,
    }
    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Mine {
        role: Role,
    }
    let mut payload = claims();
    payload["role"] = json!("x\n[INFO] ok");
    let token = sign_raw(rsa(), &rsa_header(), &payload.to_string());
    let jwt = verify(&token).unwrap();
    let err = jwt.deserialize::<Mine>().unwrap_err().to_string();
    assert!(!err.contains('\n'), "{err:?}");
    assert!(err.contains(r"x\n[INFO] ok"), "{err}");
}

#[test]
fn wrong_number_of_parts_is_refused() {
    for token in ["", "a", "a.b", "a.b.c.d", "a.b.c.d.e"] {
        assert!(
            matches!(
                verify(token).unwrap_err(),
                Error::Malformed(MalformedError::PartCount(_))
            ),
            "{token}"
        );
    }
}

#[test]
fn rsa_keys_under_2048_bits_are_refused() {
    let small = pem::parse_key(include_bytes!("../data/rsa1024.pub.pem")).unwrap();
    assert!(matches!(
        VerifyingKey::from_jwk(&small).unwrap_err(),
        Error::Key(KeyError::RsaTooSmall(1024))
    ));
    let keys = KeySet::from_jwks(&JwkSet::new(vec![small]));
    assert!(keys.is_empty());
    assert!(
        keys.skipped()[0].reason.contains("1024 bits"),
        "{:?}",
        keys.skipped()
    );
}

#[test]
fn short_hmac_keys_are_refused() {
    let k16 = Jwk::from_json(&format!(
        r#"{{"kty":"oct","k":"{}","alg":"HS256"}}"#,
        b64(&[7u8; 16])
    ))
    .unwrap();
    assert!(matches!(
        VerifyingKey::from_jwk(&k16).unwrap_err(),
        Error::Key(KeyError::HmacTooShort {
            min: 32,
            len: 16,
            ..
        })
    ));
    assert!(matches!(
        SigningKey::from_jwk(&k16, None).unwrap_err(),
        Error::Key(KeyError::HmacTooShort { .. })
    ));
    let k32 = Jwk::from_json(&format!(r#"{{"kty":"oct","k":"{}"}}"#, b64(&[7u8; 32]))).unwrap();
    assert!(matches!(
        SigningKey::from_jwk(&k32, Some(Algorithm::HS512)).unwrap_err(),
        Error::Key(KeyError::HmacTooShort {
            min: 64,
            len: 32,
            ..
        })
    ));
    // Without `alg`, a 32-byte key verifies HS256 only.
    let key = VerifyingKey::from_jwk(&k32).unwrap();
    assert_eq!(key.algorithms().collect::<Vec<_>>(), vec![Algorithm::HS256]);
}

#[test]
fn symmetric_keys_are_never_taken_from_a_jwks() {
    let secret = Jwk::generate(Algorithm::HS256, None).unwrap();
    let kid = secret.kid().unwrap().to_owned();
    let keys = KeySet::from_jwks(&JwkSet::new(vec![secret.clone()]));
    assert!(keys.is_empty());
    assert!(keys.skipped()[0]
        .reason
        .contains("never accepted from a JWKS"));
    let token = sign_raw(
        &secret,
        &format!(r#"{{"alg":"HS256","kid":"{kid}"}}"#),
        &claims().to_string(),
    );
    let err = UnverifiedJwt::parse(&token)
        .unwrap()
        .verify(&keys, &validation())
        .unwrap_err();
    assert!(matches!(err, Error::UnknownKid(k) if k == kid));
}

#[test]
fn a_bad_key_in_a_set_does_not_spoil_the_others() {
    let doc = format!(
        r#"{{"keys":[{{"kty":"RSA","kid":"broken","n":"%%%","e":"AQAB"}},{{"kty":"EC","crv":"secp256k1","kid":"k1","x":"AA","y":"AA"}},{}]}}"#,
        rsa().to_public().to_json()
    );
    let keys = KeySet::from_slice(doc.as_bytes()).unwrap();
    assert_eq!(keys.len(), 1);
    let skipped: Vec<_> = keys
        .skipped()
        .iter()
        .map(|s| s.kid.clone().unwrap())
        .collect();
    assert_eq!(skipped, vec!["broken", "k1"]);
    let token = sign_raw(rsa(), &rsa_header(), &claims().to_string());
    assert!(UnverifiedJwt::parse(&token)
        .unwrap()
        .verify(&keys, &validation())
        .is_ok());
}

/// Headers are cached per thread by their text; a stricter depth limit must still apply to
/// a header that was accepted under a looser one.
#[test]
fn header_cache_respects_the_depth_limit() {
    use tessera_jose::Limits;
    let nested = format!("{}1{}", "[".repeat(10), "]".repeat(10));
    let header = format!(
        r#"{{"alg":"RS256","kid":"{}","x":{nested}}}"#,
        rsa().kid().unwrap()
    );
    let token = sign_raw(rsa(), &header, &claims().to_string());
    assert!(
        UnverifiedJwt::parse(&token).is_ok(),
        "depth 11 is within the default 16"
    );
    let strict = Limits {
        max_depth: 4,
        ..Limits::default()
    };
    assert!(matches!(
        UnverifiedJwt::parse_with_limits(&token, &strict).unwrap_err(),
        Error::Malformed(MalformedError::TooDeep {
            part: Part::Header,
            ..
        })
    ));
}

/// Found by the `claims` fuzz target: serde_json does not check the UTF-8 of strings it
/// skips, so a payload with invalid UTF-8 in an unregistered claim was accepted, and its
/// claims then read as empty. JSON text must be UTF-8; both parts are checked whole.
#[test]
fn invalid_utf8_in_header_or_payload_is_refused() {
    let payload = b"{\"iss\":\"https://issuer.test\",\"role\":\"\xff\xff\"}";
    let token = SigningKey::from_jwk(rsa(), None)
        .unwrap()
        .sign_compact(rsa_header().as_bytes(), payload)
        .unwrap();
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Malformed(MalformedError::Json {
            part: Part::Payload,
            ..
        })
    ));
    let header = format!(
        "{{\"alg\":\"RS256\",\"kid\":\"{}\",\"x\":\"\u{0}\"}}",
        rsa().kid().unwrap()
    )
    .replace('\u{0}', "\u{fffd}")
    .into_bytes();
    let mut header = header;
    let at = header.len() - 3;
    header[at] = 0xff;
    let token = SigningKey::from_jwk(rsa(), None)
        .unwrap()
        .sign_compact(&header, claims().to_string().as_bytes())
        .unwrap();
    assert!(matches!(
        verify(&token).unwrap_err(),
        Error::Malformed(MalformedError::Json {
            part: Part::Header,
            ..
        })
    ));
}

/// Found by the `claims` fuzz target (second session): serde_json skips a number like
/// `1e400` or an escape like `\ud800` without complaint but cannot turn it into a value, so
/// a token carrying one in an unregistered claim was accepted while its claims map (what
/// `Claims::get` serves) came back empty. Such tokens are now refused, whichever parsing
/// path they take, in the payload and in the header.
#[test]
fn members_that_cannot_become_values_are_refused() {
    for extra in [
        r#""x":21.222222722222e27554"#,
        r#""x":1e400"#,
        r#""x":-1E+309"#,
        r#""x":"\ud800""#,
        r#""x":{"y":[1e999]}"#,
    ] {
        let payload = format!(
            r#"{{"iss":"https://issuer.test","aud":"api","exp":{},{extra}}}"#,
            NOW + 600
        );
        let token = sign_raw(rsa(), &rsa_header(), &payload);
        let err = verify(&token).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Malformed(MalformedError::Json {
                    part: Part::Payload,
                    ..
                })
            ),
            "{extra}: {err}"
        );
        let header = format!(
            r#"{{"alg":"RS256","kid":"{}",{extra}}}"#,
            rsa().kid().unwrap()
        );
        let token = sign_raw(rsa(), &header, &claims().to_string());
        let err = verify(&token).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Malformed(MalformedError::Json {
                    part: Part::Header,
                    ..
                })
            ),
            "{extra} in the header: {err}"
        );
    }
    // In range, these stay accepted and readable.
    let payload = format!(
        r#"{{"iss":"https://issuer.test","aud":"api","exp":{},"x":1.5e300,"y":"\u00e9","z":-0.0}}"#,
        NOW + 600
    );
    let jwt = verify(&sign_raw(rsa(), &rsa_header(), &payload)).unwrap();
    assert_eq!(jwt.claims().get("x"), Some(&json!(1.5e300)));
    assert_eq!(jwt.claims().get("y"), Some(&json!("é")));
}

/// Found in review: the claims fast path counted depth only for unregistered members and
/// did not know serde_json's own 128-level stop, so unusual `Limits` let a too-deep `aud`
/// through, or let a document through whose claims map could not be built.
#[test]
fn depth_limits_hold_on_every_path() {
    let payload = format!(r#"{{"aud":["api"],"exp":{}}}"#, NOW + 600);
    let token = sign_raw(rsa(), &rsa_header(), &payload);
    let shallow = tessera_jose::Limits {
        max_depth: 1,
        ..Default::default()
    };
    assert!(matches!(
        UnverifiedJwt::parse_with_limits(&token, &shallow).unwrap_err(),
        Error::Malformed(MalformedError::TooDeep {
            part: Part::Payload,
            ..
        })
    ));
    let deep_payload = format!(
        r#"{{"exp":{},"x":{}1{}}}"#,
        NOW + 600,
        "[".repeat(150),
        "]".repeat(150)
    );
    let token = sign_raw(rsa(), &rsa_header(), &deep_payload);
    let loose = tessera_jose::Limits {
        max_depth: 200,
        ..Default::default()
    };
    assert!(matches!(
        UnverifiedJwt::parse_with_limits(&token, &loose).unwrap_err(),
        Error::Malformed(MalformedError::Json {
            part: Part::Payload,
            ..
        })
    ));
}
