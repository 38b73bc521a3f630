//! Tokens and keys made by other libraries: PyJWT (with `cryptography`) and Node's `jose`.
//!
//! The fixtures under `tests/data/interop/` were written by `interop/gen_pyjwt.py` and
//! `interop/gen_jose.mjs` (rerun them to refresh; `interop/run.sh` does the same
//! live, with fresh keys, and also checks the other direction). Each holds, per algorithm,
//! the public JWK (for HS* the `oct` JWK), the SPKI PEM for the asymmetric algorithms, a
//! token, and the exact claims that were signed; `jwks.json` is the set of the asymmetric
//! public keys. Every token expires in 2100.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value};
use tessera_jose::{
    pem, thumbprint, Algorithm, AlgorithmError, Error, Jwk, JwkSet, KeySet, UnverifiedJwt,
    Validation, VerifyingKey,
};

const PYJWT: &str = include_str!("../data/interop/pyjwt/fixtures.json");
const PYJWT_JWKS: &str = include_str!("../data/interop/pyjwt/jwks.json");
const NODE_JOSE: &str = include_str!("../data/interop/node-jose/fixtures.json");
const NODE_JOSE_JWKS: &str = include_str!("../data/interop/node-jose/jwks.json");

#[derive(Deserialize)]
struct Fixtures {
    source: String,
    iss: String,
    aud: String,
    tokens: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    jwk: Value,
    token: String,
    claims: Map<String, Value>,
    pem: Option<String>,
}

struct Library {
    fixtures: Fixtures,
    jwks: &'static str,
}

impl Library {
    fn load(fixtures: &str, jwks: &'static str) -> Library {
        let fixtures: Fixtures = serde_json::from_str(fixtures).expect("fixtures.json");
        // Every algorithm these libraries have is covered (not ML-DSA: neither PyJWT nor
        // jose signs with it; its interop is interop/mldsa.sh), and nothing else is in the file.
        let names: Vec<&str> = fixtures.tokens.keys().map(String::as_str).collect();
        let mut expected: Vec<&str> = Algorithm::ALL
            .iter()
            .filter(|a| a.family() != tessera_jose::Family::Akp)
            .map(|a| a.as_str())
            .collect();
        expected.sort_unstable();
        assert_eq!(
            names, expected,
            "{}: algorithms in fixtures.json",
            fixtures.source
        );
        Library { fixtures, jwks }
    }

    fn pyjwt() -> Library {
        Library::load(PYJWT, PYJWT_JWKS)
    }

    fn node_jose() -> Library {
        Library::load(NODE_JOSE, NODE_JOSE_JWKS)
    }

    fn entries(&self) -> impl Iterator<Item = (Algorithm, &Entry)> {
        Algorithm::ALL
            .into_iter()
            .filter(|alg| alg.family() != tessera_jose::Family::Akp)
            .map(|alg| (alg, &self.fixtures.tokens[alg.as_str()]))
    }

    /// What a resource server of this issuer would configure, limited to one algorithm.
    fn validation(&self, alg: Algorithm) -> Validation {
        Validation::new()
            .issuer(self.fixtures.iss.clone())
            .audience(self.fixtures.aud.clone())
            .algorithms([alg])
    }

    fn jwk(&self, alg: Algorithm, entry: &Entry) -> Jwk {
        Jwk::from_json(&entry.jwk.to_string())
            .unwrap_or_else(|e| panic!("{} {alg}: JWK refused: {e}", self.fixtures.source))
    }

    /// Verifies `entry`'s token with `keys` and checks the result in full.
    fn assert_verifies(
        &self,
        alg: Algorithm,
        entry: &Entry,
        keys: &impl tessera_jose::KeyResolver,
        how: &str,
    ) {
        let source = &self.fixtures.source;
        let jwt = UnverifiedJwt::parse(&entry.token)
            .unwrap_or_else(|e| panic!("{source} {alg}: token does not parse: {e}"))
            .verify(keys, &self.validation(alg))
            .unwrap_or_else(|e| panic!("{source} {alg} via {how}: {e}"));
        assert_eq!(jwt.header().alg(), alg, "{source} {alg} via {how}");
        assert_eq!(
            jwt.header().kid(),
            entry.jwk["kid"].as_str(),
            "{source} {alg} via {how}: header kid"
        );
        assert_eq!(
            jwt.claims().members(),
            &entry.claims,
            "{source} {alg} via {how}: claims differ from what was signed"
        );
        assert_eq!(
            jwt.claims().sub(),
            Some(format!("{source}:{alg}").as_str()),
            "{source} {alg} via {how}"
        );
        assert_eq!(jwt.claims().exp(), Some(4_102_444_800), "{source} {alg}");
        assert_eq!(
            jwt.claims().aud(),
            std::slice::from_ref(&self.fixtures.aud),
            "{source} {alg}"
        );
    }

    /// Asymmetric tokens verify against the published set; the key is found by `kid`.
    fn check_jwks(&self) {
        let source = &self.fixtures.source;
        let keys = KeySet::from_slice(self.jwks.as_bytes()).expect("jwks.json");
        assert!(keys.skipped().is_empty(), "{source}: {:?}", keys.skipped());
        assert_eq!(keys.len(), 10, "{source}: one key per asymmetric algorithm");
        for (alg, entry) in self.entries().filter(|(alg, _)| !alg.is_symmetric()) {
            self.assert_verifies(alg, entry, &keys, "jwks.json");
            let jwt = UnverifiedJwt::parse(&entry.token)
                .unwrap()
                .verify(&keys, &self.validation(alg))
                .unwrap();
            assert_eq!(
                jwt.verified_by(),
                entry.jwk["kid"].as_str(),
                "{source} {alg}"
            );
        }
    }

    /// Every token verifies with its own JWK (HS* included: a shared secret is given
    /// directly, never through a set).
    fn check_single_jwks(&self) {
        for (alg, entry) in self.entries() {
            let jwk = self.jwk(alg, entry);
            assert_eq!(jwk.alg(), Some(alg), "{} {alg}", self.fixtures.source);
            assert_eq!(
                jwk.is_private(),
                alg.is_symmetric(),
                "{} {alg}",
                self.fixtures.source
            );
            let key = VerifyingKey::from_jwk(&jwk)
                .unwrap_or_else(|e| panic!("{} {alg}: {e}", self.fixtures.source));
            self.assert_verifies(alg, entry, &key, "its JWK");
        }
    }

    /// The PEM form of each asymmetric key is the same key as its JWK and verifies the
    /// token too (without `alg`, the key is bound to its family).
    fn check_pem(&self) {
        let source = &self.fixtures.source;
        let mut seen = 0;
        for (alg, entry) in self.entries() {
            let Some(text) = &entry.pem else {
                assert!(alg.is_symmetric(), "{source} {alg}: no PEM");
                continue;
            };
            assert!(
                !alg.is_symmetric(),
                "{source} {alg}: a PEM for a shared secret"
            );
            let from_pem = pem::parse_key(text.as_bytes())
                .unwrap_or_else(|e| panic!("{source} {alg}: PEM refused: {e}"));
            assert!(!from_pem.is_private(), "{source} {alg}");
            assert_eq!(
                thumbprint(&from_pem),
                thumbprint(&self.jwk(alg, entry)),
                "{source} {alg}: the PEM and the JWK are different keys"
            );
            let key = VerifyingKey::from_jwk(&from_pem).unwrap();
            assert!(key.supports(alg), "{source} {alg}");
            // The PEM key has no kid, so it accepts whatever kid the token names.
            self.assert_verifies(alg, entry, &key, "its PEM");
            seen += 1;
        }
        assert_eq!(seen, 10, "{source}: PEMs");
    }

    /// A set holding the shared secrets too: those are left out (and reported), so HS*
    /// tokens cannot be verified through it.
    fn check_symmetric_keys_refused_from_a_set(&self) {
        let source = &self.fixtures.source;
        let all: Vec<Value> = self.entries().map(|(_, e)| e.jwk.clone()).collect();
        let doc = serde_json::json!({ "keys": all }).to_string();
        let keys = KeySet::from_slice(doc.as_bytes()).unwrap();
        assert_eq!(keys.len(), 10, "{source}");
        let skipped: Vec<Option<&str>> = keys.skipped().iter().map(|s| s.kid.as_deref()).collect();
        let hmac_kids: Vec<Option<&str>> = self
            .entries()
            .filter(|(alg, _)| alg.is_symmetric())
            .map(|(_, e)| e.jwk["kid"].as_str())
            .collect();
        assert_eq!(skipped, hmac_kids, "{source}");
        let reason = AlgorithmError::SymmetricFromSet.to_string();
        assert!(
            keys.skipped().iter().all(|s| s.reason.contains(&reason)),
            "{source}: {:?}",
            keys.skipped()
        );
        for (alg, entry) in self.entries().filter(|(alg, _)| alg.is_symmetric()) {
            let err = UnverifiedJwt::parse(&entry.token)
                .unwrap()
                .verify(&keys, &self.validation(alg))
                .unwrap_err();
            assert!(matches!(err, Error::UnknownKid(_)), "{source} {alg}: {err}");
        }
    }

    /// A changed payload, or a changed signature, fails as a bad signature, for every
    /// algorithm and with the key the token really was signed with.
    fn check_tampering_refused(&self) {
        let source = &self.fixtures.source;
        for (alg, entry) in self.entries() {
            let key = VerifyingKey::from_jwk(&self.jwk(alg, entry)).unwrap();
            let mut parts = entry.token.split('.');
            let (header, payload, signature) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );

            let mut claims: Map<String, Value> =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
            claims.insert("sub".into(), "mallory".into());
            let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
            let forged = format!("{header}.{forged_payload}.{signature}");

            let mut sig = URL_SAFE_NO_PAD.decode(signature).unwrap();
            let middle = sig.len() / 2;
            sig[middle] ^= 0x01;
            let flipped = format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(&sig));

            for (what, token) in [("changed payload", forged), ("changed signature", flipped)] {
                let err = UnverifiedJwt::parse(&token)
                    .unwrap_or_else(|e| panic!("{source} {alg} {what}: does not parse: {e}"))
                    .verify(&key, &self.validation(alg))
                    .unwrap_err();
                assert!(
                    matches!(err, Error::InvalidSignature),
                    "{source} {alg} {what}: {err}"
                );
            }
        }
    }

    /// The algorithm comes from the key: a token is refused by a validation that does not
    /// allow its algorithm, and by a key bound to another algorithm of the same family.
    fn check_algorithm_binding(&self) {
        let source = &self.fixtures.source;
        let rs256 = &self.fixtures.tokens["RS256"];
        let mut other = rs256.jwk.clone();
        other["alg"] = "PS256".into();
        let key = VerifyingKey::from_jwk(&Jwk::from_json(&other.to_string()).unwrap()).unwrap();
        let err = UnverifiedJwt::parse(&rs256.token)
            .unwrap()
            .verify(&key, &Validation::new().audience(self.fixtures.aud.clone()))
            .unwrap_err();
        assert!(
            matches!(err, Error::Algorithm(AlgorithmError::Mismatch { .. })),
            "{source}: {err}"
        );
        let key = VerifyingKey::from_jwk(&self.jwk(Algorithm::RS256, rs256)).unwrap();
        let err = UnverifiedJwt::parse(&rs256.token)
            .unwrap()
            .verify(&key, &self.validation(Algorithm::RS384))
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Algorithm(AlgorithmError::NotAllowed(Algorithm::RS256))
            ),
            "{source}: {err}"
        );
    }

    /// Claims are checked after the signature: another audience or issuer is refused.
    fn check_claims_policy(&self) {
        let source = &self.fixtures.source;
        let (alg, entry) = (Algorithm::ES256, &self.fixtures.tokens["ES256"]);
        let key = VerifyingKey::from_jwk(&self.jwk(alg, entry)).unwrap();
        for (what, validation) in [
            (
                "audience",
                Validation::new()
                    .issuer(self.fixtures.iss.clone())
                    .audience("another-api"),
            ),
            (
                "issuer",
                Validation::new()
                    .issuer("https://elsewhere.example")
                    .audience(self.fixtures.aud.clone()),
            ),
            ("no audience configured", Validation::new()),
        ] {
            let err = UnverifiedJwt::parse(&entry.token)
                .unwrap()
                .verify(&key, &validation)
                .unwrap_err();
            assert!(matches!(err, Error::Claim(_)), "{source} {what}: {err}");
        }
    }
}

#[test]
fn pyjwt_tokens_verify_with_its_jwks() {
    Library::pyjwt().check_jwks();
}

#[test]
fn pyjwt_tokens_verify_with_each_jwk() {
    Library::pyjwt().check_single_jwks();
}

#[test]
fn pyjwt_tokens_verify_with_each_pem() {
    Library::pyjwt().check_pem();
}

#[test]
fn pyjwt_hmac_keys_are_never_taken_from_a_jwks() {
    Library::pyjwt().check_symmetric_keys_refused_from_a_set();
}

#[test]
fn pyjwt_tampered_tokens_are_invalid_signatures() {
    Library::pyjwt().check_tampering_refused();
}

#[test]
fn pyjwt_tokens_are_bound_to_their_algorithm() {
    Library::pyjwt().check_algorithm_binding();
}

#[test]
fn pyjwt_claims_policy_applies() {
    Library::pyjwt().check_claims_policy();
}

#[test]
fn node_jose_tokens_verify_with_its_jwks() {
    Library::node_jose().check_jwks();
}

#[test]
fn node_jose_tokens_verify_with_each_jwk() {
    Library::node_jose().check_single_jwks();
}

#[test]
fn node_jose_tokens_verify_with_each_pem() {
    Library::node_jose().check_pem();
}

#[test]
fn node_jose_hmac_keys_are_never_taken_from_a_jwks() {
    Library::node_jose().check_symmetric_keys_refused_from_a_set();
}

#[test]
fn node_jose_tampered_tokens_are_invalid_signatures() {
    Library::node_jose().check_tampering_refused();
}

#[test]
fn node_jose_tokens_are_bound_to_their_algorithm() {
    Library::node_jose().check_algorithm_binding();
}

#[test]
fn node_jose_claims_policy_applies() {
    Library::node_jose().check_claims_policy();
}

/// jose's `calculateJwkThumbprint` and Tessera's `thumbprint` agree (RFC 7638): the node
/// fixtures use jose's thumbprint as `kid`, for every key type, `oct` included.
#[test]
fn node_jose_kids_are_tessera_thumbprints() {
    let lib = Library::node_jose();
    for (alg, entry) in lib.entries() {
        let jwk = lib.jwk(alg, entry);
        assert_eq!(
            Some(thumbprint(&jwk).as_str()),
            jwk.kid(),
            "node-jose {alg}"
        );
    }
}

/// The two libraries' sets merge into one that Tessera can use for both issuers' tokens.
#[test]
fn one_set_holds_both_libraries_keys() {
    let (py, node) = (Library::pyjwt(), Library::node_jose());
    let mut set = JwkSet::from_slice(PYJWT_JWKS.as_bytes()).unwrap();
    set.keys
        .extend(JwkSet::from_slice(NODE_JOSE_JWKS.as_bytes()).unwrap().keys);
    let keys = KeySet::from_jwks(&set);
    assert_eq!(keys.len(), 20);
    for lib in [&py, &node] {
        for (alg, entry) in lib.entries().filter(|(alg, _)| !alg.is_symmetric()) {
            lib.assert_verifies(alg, entry, &keys, "the merged set");
        }
    }
}
