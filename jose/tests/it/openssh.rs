//! Keys as `ssh-keygen` writes them by default (`openssh-key-v1`), next to their `.pub`.

use tessera_jose::{pem, thumbprint, Algorithm, Error, KeyError, SigningKey, VerifyingKey};

fn key(name: &str) -> &'static [u8] {
    match name {
        "ed25519" => include_bytes!("../data/openssh/ed25519"),
        "ed25519.pub" => include_bytes!("../data/openssh/ed25519.pub"),
        "ecdsa256" => include_bytes!("../data/openssh/ecdsa256"),
        "ecdsa256.pub" => include_bytes!("../data/openssh/ecdsa256.pub"),
        "ecdsa384" => include_bytes!("../data/openssh/ecdsa384"),
        "ecdsa384.pub" => include_bytes!("../data/openssh/ecdsa384.pub"),
        "ecdsa521" => include_bytes!("../data/openssh/ecdsa521"),
        "ecdsa521.pub" => include_bytes!("../data/openssh/ecdsa521.pub"),
        "rsa" => include_bytes!("../data/openssh/rsa"),
        "rsa.pub" => include_bytes!("../data/openssh/rsa.pub"),
        "rsa4096" => include_bytes!("../data/openssh/rsa4096"),
        "rsa4096.pub" => include_bytes!("../data/openssh/rsa4096.pub"),
        "encrypted" => include_bytes!("../data/openssh/encrypted"),
        other => panic!("no fixture {other}"),
    }
}

#[test]
fn ssh_keygen_default_private_keys_sign_for_their_pub_files() {
    for (name, alg) in [
        ("ed25519", Algorithm::EdDSA),
        ("ecdsa256", Algorithm::ES256),
        ("ecdsa384", Algorithm::ES384),
        ("ecdsa521", Algorithm::ES512),
        ("rsa", Algorithm::RS256),
        ("rsa4096", Algorithm::RS256),
    ] {
        let private = pem::parse_key(key(name)).unwrap();
        let public = pem::parse_key(key(&format!("{name}.pub"))).unwrap();
        assert!(private.is_private(), "{name}");
        assert_eq!(thumbprint(&private), thumbprint(&public), "{name}");
        let signer = SigningKey::from_jwk(&private, None).unwrap();
        assert_eq!(signer.algorithm(), alg);
        let sig = signer.sign(b"message").unwrap();
        VerifyingKey::from_jwk(&public)
            .unwrap()
            .verify(alg, b"message", &sig)
            .unwrap();
    }
}

#[test]
fn encrypted_keys_get_a_hint() {
    let err = pem::parse_key(key("encrypted")).unwrap_err();
    assert!(
        matches!(&err, Error::Key(KeyError::Unsupported(msg)) if msg.contains("ssh-keygen -p -m pem")),
        "{err}"
    );
}

/// An OpenSSH RSA key has no CRT exponents: they are computed from `d`, `p` and `q`. The
/// result must be exactly the PKCS#1 key `ssh-keygen -m pem` would have written, and a file
/// whose numbers do not belong together must be refused when read.
#[test]
fn openssh_rsa_keys_gain_their_crt_exponents() {
    let jwk = pem::parse_key(key("rsa")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&jwk.to_json()).unwrap();
    for member in ["n", "e", "d", "p", "q", "dp", "dq", "qi"] {
        assert!(json[member].is_string(), "{member}");
    }
    // PKCS#1 out and back in: aws-lc-rs accepts the whole key (it checks dp, dq and qi).
    let der = pem::to_der(&jwk, pem::KeyFormat::Pkcs1).unwrap();
    let again = pem::from_der(&der).unwrap();
    assert_eq!(again.to_json(), jwk.to_json());

    // The same file with one byte of `d` changed: its CRT values no longer fit the key.
    let text = std::str::from_utf8(key("rsa")).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut blob =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, body).unwrap();
    let d = json["d"].as_str().unwrap();
    let d_bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, d).unwrap();
    let at = blob
        .windows(d_bytes.len())
        .position(|w| w == &d_bytes[..])
        .expect("d in the file");
    blob[at + d_bytes.len() / 2] ^= 0x01;
    let broken = format!(
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &blob)
    );
    assert!(pem::parse_key(broken.as_bytes()).is_err());
}
