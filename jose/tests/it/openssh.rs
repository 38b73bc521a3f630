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
fn openssh_rsa_and_encrypted_keys_get_a_hint() {
    for name in ["rsa", "encrypted"] {
        let err = pem::parse_key(key(name)).unwrap_err();
        assert!(
            matches!(&err, Error::Key(KeyError::Unsupported(msg)) if msg.contains("ssh-keygen -p -m pem")),
            "{name}: {err}"
        );
    }
}
