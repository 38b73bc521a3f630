//! The `tessera` binary driven as a user would: exit codes, stdout, and one-line errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn tessera(args: &[&str]) -> Output {
    run_with_stdin(args, None)
}

fn run_with_stdin(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A failure is exactly one line on stderr, no panic, no backtrace.
fn assert_one_line_failure(out: &Output, code: i32, needle: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    if code == 1 {
        assert_eq!(
            err.trim_end().lines().count(),
            1,
            "more than one line: {err}"
        );
    }
}

fn sign(key: &str, extra: &[&str], claims: &str) -> String {
    let mut args = vec!["jwt", "sign", "--key", key, "--claims", claims];
    args.extend_from_slice(extra);
    let out = tessera(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_owned()
}

#[test]
fn ssh_keygen_rsa_pem_signs_and_its_pub_file_verifies() {
    let token = sign(&data("rsa-key"), &["--alg", "RS256"], r#"{"user_id":777}"#);
    let out = tessera(&["jwt", "verify", "--key", &data("rsa-key.pub"), &token]);
    assert!(out.status.success(), "{}", stderr(&out));
    let claims: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(claims["user_id"], 777);
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
}

#[test]
fn ssh_keygen_ec_key_signs_es256() {
    let token = sign(&data("ec-key"), &[], r#"{"sub":"svc"}"#);
    let header = tessera(&["jwt", "decode", &token]);
    let decoded: Value = serde_json::from_str(&stdout(&header)).unwrap();
    assert_eq!(decoded["header"]["alg"], "ES256");
    let out = tessera(&[
        "jwt",
        "verify",
        "--key",
        &data("ec-key.pub"),
        "--alg",
        "ES256",
        &token,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn openssh_ed25519_public_key_converts_to_a_jwk() {
    let out = tessera(&["jwk", "from-pem", &data("ed-key.pub")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let jwk: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert!(jwk.get("d").is_none());
}

#[test]
fn tampered_token_exits_1_with_the_reason() {
    let token = sign(&data("rsa-key"), &[], r#"{"user_id":777}"#);
    let (head, rest) = token.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let forged_payload = "eyJ1c2VyX2lkIjoxLCJleHAiOjQxMDI0NDQ4MDB9"; // {"user_id":1,"exp":4102444800}
    let forged = format!("{head}.{forged_payload}.{sig}");
    let out = tessera(&["jwt", "verify", "--key", &data("rsa-key.pub"), &forged]);
    assert_one_line_failure(&out, 1, "invalid token: signature verification failed");
    assert!(stdout(&out).is_empty());
}

#[test]
fn expired_token_exits_1_saying_expired() {
    let token = sign(&data("ec-key"), &[], r#"{"exp":1000000000}"#);
    let out = tessera(&["jwt", "verify", "--key", &data("ec-key.pub"), &token]);
    assert_one_line_failure(&out, 1, "expired");
    // When, as a date people read, not only epoch seconds.
    assert_one_line_failure(&out, 1, "expired at 2001-09-09T01:46:40Z");
}

#[test]
fn a_token_without_exp_needs_an_explicit_option() {
    // PyJWT's own tutorial makes tokens without `exp` (`jwt sign` always adds one): refused
    // by default, with the option named in the message, and accepted with it.
    let pem = std::fs::read(data("ec-key")).unwrap();
    let jwk = tessera_jose::pem::parse_key(&pem).unwrap();
    let signer = tessera_jose::SigningKey::from_jwk(&jwk, None).unwrap();
    let no_exp = signer
        .sign_jwt(&serde_json::json!({"some": "payload"}))
        .unwrap();
    let out = tessera(&["jwt", "verify", "--key", &data("ec-key.pub"), &no_exp]);
    assert_one_line_failure(&out, 1, "--allow-missing-exp");
    let out = tessera(&[
        "jwt",
        "verify",
        "--allow-missing-exp",
        "--key",
        &data("ec-key.pub"),
        &no_exp,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("\"some\": \"payload\""));
}

#[test]
fn issuer_and_audience_are_enforced() {
    let token = sign(
        &data("ec-key"),
        &[],
        r#"{"iss":"https://a.test","aud":"api"}"#,
    );
    let key = data("ec-key.pub");
    let ok = tessera(&[
        "jwt",
        "verify",
        "--key",
        &key,
        "--iss",
        "https://a.test",
        "--aud",
        "api",
        &token,
    ]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let wrong = tessera(&[
        "jwt",
        "verify",
        "--key",
        &key,
        "--iss",
        "https://b.test",
        "--aud",
        "api",
        &token,
    ]);
    assert_one_line_failure(&wrong, 1, "issuer `https://a.test` is not accepted");
    let missing = tessera(&["jwt", "verify", "--key", &key, &token]);
    assert_one_line_failure(&missing, 1, "pass --aud");
}

#[test]
fn generate_every_algorithm_with_thumbprint_kid() {
    let dir = temp_dir("generate");
    for alg in [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
        "HS256", "HS384", "HS512",
    ] {
        let out = tessera(&["jwk", "generate", "--alg", alg]);
        assert!(out.status.success(), "{alg}: {}", stderr(&out));
        let jwk: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(jwk["alg"], alg);
        assert_eq!(jwk["use"], "sig");
        let path = dir.join(format!("{alg}.jwk"));
        std::fs::write(&path, stdout(&out)).unwrap();
        let thumb = tessera(&["jwk", "thumbprint", path.to_str().unwrap()]);
        assert_eq!(stdout(&thumb).trim(), jwk["kid"].as_str().unwrap(), "{alg}");

        // Sign with the private JWK and verify with its public form (or itself for HS*).
        let token = sign(path.to_str().unwrap(), &[], r#"{"sub":"x"}"#);
        let verify_with = if alg.starts_with("HS") {
            path.clone()
        } else {
            let public = tessera(&["jwk", "public", path.to_str().unwrap()]);
            let public_text = stdout(&public);
            assert!(!public_text.contains("\"d\""), "{alg}: {public_text}");
            let p = dir.join(format!("{alg}.pub.jwk"));
            std::fs::write(&p, public_text).unwrap();
            p
        };
        let out = tessera(&[
            "jwt",
            "verify",
            "--key",
            verify_with.to_str().unwrap(),
            &token,
        ]);
        assert!(out.status.success(), "{alg}: {}", stderr(&out));
    }
}

/// Thumbprint kids are base64url and may start with `-`; such a value is a value, not a flag.
#[test]
fn kid_values_may_start_with_a_hyphen() {
    let out = tessera(&["jwk", "generate", "--alg", "ES256", "--kid", "-abc"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let jwk: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(jwk["kid"], "-abc");
    let token = sign(&data("ec-key"), &["--kid", "-xyz"], r#"{"sub":"x"}"#);
    let decoded: Value =
        serde_json::from_str(&stdout(&tessera(&["jwt", "decode", &token]))).unwrap();
    assert_eq!(decoded["header"]["kid"], "-xyz");
}

#[test]
fn pem_round_trip_keeps_the_thumbprint() {
    let dir = temp_dir("pem");
    let jwk = tessera(&["jwk", "generate", "--alg", "ES384", "--kid", "mine"]);
    let jwk_path = dir.join("k.jwk");
    std::fs::write(&jwk_path, stdout(&jwk)).unwrap();
    let kid: Value = serde_json::from_str(&stdout(&jwk)).unwrap();
    assert_eq!(kid["kid"], "mine");
    for extra in [&[][..], &["--format", "sec1"][..], &["--public"][..]] {
        let mut args = vec!["jwk", "to-pem", jwk_path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let pem = tessera(&args);
        assert!(pem.status.success(), "{extra:?}: {}", stderr(&pem));
        let pem_path = dir.join("k.pem");
        std::fs::write(&pem_path, stdout(&pem)).unwrap();
        let back = tessera(&["jwk", "from-pem", pem_path.to_str().unwrap()]);
        let back_path = dir.join("back.jwk");
        std::fs::write(&back_path, stdout(&back)).unwrap();
        let a = tessera(&["jwk", "thumbprint", jwk_path.to_str().unwrap()]);
        let b = tessera(&["jwk", "thumbprint", back_path.to_str().unwrap()]);
        assert_eq!(stdout(&a), stdout(&b), "{extra:?}");
    }
}

#[test]
fn generate_set_and_verify_against_it_from_stdin() {
    let dir = temp_dir("set");
    let set = tessera(&["jwk", "generate", "--alg", "EdDSA", "--set"]);
    let set_text = stdout(&set);
    let doc: Value = serde_json::from_str(&set_text).unwrap();
    assert_eq!(doc["keys"].as_array().unwrap().len(), 1);
    let private_set = dir.join("set.jwks");
    std::fs::write(&private_set, &set_text).unwrap();
    // Sign with the key taken out of the set.
    let key_path = dir.join("key.jwk");
    std::fs::write(&key_path, doc["keys"][0].to_string()).unwrap();
    let token = sign(key_path.to_str().unwrap(), &[], r#"{"sub":"x"}"#);
    let public = run_with_stdin(&["jwk", "public", "-"], Some(&set_text));
    let public_path = dir.join("public.jwks");
    std::fs::write(&public_path, stdout(&public)).unwrap();
    let out = run_with_stdin(
        &[
            "jwt",
            "verify",
            "--jwks",
            public_path.to_str().unwrap(),
            "-",
        ],
        Some(&format!("{token}\n")),
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn decode_marks_the_output_unverified_and_shows_alg_none() {
    // {"alg":"none"}.{"sub":"x"}.
    let out = tessera(&["jwt", "decode", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."]);
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["verified"], false);
    assert_eq!(doc["header"]["alg"], "none");
    assert!(stderr(&out).contains("WITHOUT verifying"));
    // And verify refuses the same token for the right reason.
    let verify = tessera(&[
        "jwt",
        "verify",
        "--key",
        &data("rsa-key.pub"),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    ]);
    assert_one_line_failure(&verify, 1, "`none` is never accepted");
}

#[test]
fn bad_inputs_give_one_line_and_non_zero_exit() {
    let dir = temp_dir("bad");
    let garbage = dir.join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let binary = dir.join("binary");
    std::fs::write(&binary, [0u8, 159, 146, 150, 255]).unwrap();
    let rsa_key = data("rsa-key");
    let rsa_pub = data("rsa-key.pub");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["jwk", "from-pem", "/nonexistent/key.pem"],
            "cannot read /nonexistent/key.pem",
        ),
        (
            vec!["jwk", "from-pem", garbage.to_str().unwrap()],
            "not valid base64",
        ),
        (
            vec!["jwk", "from-pem", binary.to_str().unwrap()],
            "not a PEM, JWK, OpenSSH or DER key",
        ),
        (vec!["jwk", "public", binary.to_str().unwrap()], "not UTF-8"),
        (
            vec!["jwt", "sign", "--key", &rsa_key, "--claims", "{not json"],
            "not valid JSON",
        ),
        (
            vec!["jwt", "sign", "--key", &rsa_key, "--claims", "[1]"],
            "must be a JSON object",
        ),
        (
            vec!["jwt", "sign", "--key", &rsa_pub, "--claims", "{}"],
            "public key",
        ),
        (
            vec![
                "jwt", "sign", "--key", &rsa_key, "--alg", "ES256", "--claims", "{}",
            ],
            "cannot be used with ES256",
        ),
        (
            vec!["jwt", "verify", "--key", &rsa_pub, "not-a-token"],
            "expected 3 dot-separated parts",
        ),
        (
            vec![
                "jwt",
                "verify",
                "--jwks",
                "http://auth.example.com/jwks.json",
                "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.AAAA",
            ],
            "plain http is allowed for loopback hosts only",
        ),
        (
            vec!["jwk", "generate", "--alg", "RS256", "--size", "1024"],
            "RSA size 1024",
        ),
        (
            vec!["jwk", "generate", "--alg", "HS256", "--size", "128"],
            "at least 32 bytes",
        ),
        // Once an allocation failure with a backtrace.
        (
            vec![
                "jwk",
                "generate",
                "--alg",
                "HS256",
                "--size",
                "999999999999",
            ],
            "at most 8192",
        ),
        (
            vec!["jwk", "generate", "--alg", "HS256", "--size", "260"],
            "multiple of 8",
        ),
        (
            vec!["jwk", "generate", "--alg", "ES256", "--size", "384"],
            "curve fixes the size at 256",
        ),
        (
            vec!["jwk", "generate", "--alg", "ES256", "--kid", ""],
            "--kid must not be empty",
        ),
        // Tokens its own verify would refuse are not signed.
        (
            vec![
                "jwt",
                "sign",
                "--key",
                &rsa_key,
                "--claims",
                r#"{"exp":"soon"}"#,
            ],
            "claim `exp` is a string",
        ),
        (
            vec!["jwt", "sign", "--key", "-", "--claims", "@-"],
            "both read stdin",
        ),
        (vec!["jwt", "verify", "--key", "-", "-"], "both read stdin"),
    ];
    for (args, needle) in cases {
        let out = tessera(&args);
        assert_one_line_failure(&out, 1, needle);
    }
    // Usage errors: exit 2, one line too (clap's own message runs to several).
    let out = tessera(&["jwk", "generate", "--alg", "none"]);
    assert_one_line_failure(&out, 2, "`none` is never accepted");
    let out = tessera(&["jwt", "verify", "a.b.c"]);
    assert_one_line_failure(&out, 2, "required arguments were not provided");
    let out = tessera(&["serve", "--listen", "bogus"]);
    assert_one_line_failure(&out, 2, "invalid value 'bogus'");
    // A bad duration is a usage error like any other (it exited 1), and the message
    // points at the subcommand's own help.
    for exp in ["soon", "1y"] {
        let out = tessera(&[
            "jwt", "sign", "--key", &rsa_key, "--exp", exp, "--claims", "{}",
        ]);
        assert_one_line_failure(&out, 2, "invalid duration");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("(see `tessera jwt sign --help`)"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = tessera(&["key", "lisst"]);
    assert_one_line_failure(&out, 2, "(see `tessera key --help`)");
}

#[test]
fn output_that_cannot_be_written_is_a_failure() {
    // `client add` shows its secret only once: a lost write must not look like success.
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return; // Not Linux.
    };
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["jwk", "generate", "--alg", "ES256"])
        .stdout(full)
        .output()
        .unwrap();
    assert_one_line_failure(&out, 1, "cannot write the output");
}

/// A one-shot HTTP server on loopback answering every request with `response`.
fn serve_once(response: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}/.well-known/jwks.json")
}

#[test]
fn verify_fetches_a_jwks_from_a_loopback_url() {
    let dir = temp_dir("url");
    let jwk = tessera(&["jwk", "generate", "--alg", "ES256"]);
    let key_path = dir.join("k.jwk");
    std::fs::write(&key_path, stdout(&jwk)).unwrap();
    let token = sign(key_path.to_str().unwrap(), &[], r#"{"sub":"x"}"#);
    let public: Value = serde_json::from_str(&stdout(&tessera(&[
        "jwk",
        "public",
        key_path.to_str().unwrap(),
    ])))
    .unwrap();
    let body = serde_json::json!({"keys": [public]}).to_string();
    let url = serve_once(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ));
    let out = tessera(&["jwt", "verify", "--jwks", &url, &token]);
    assert!(out.status.success(), "{}", stderr(&out));

    let url = serve_once(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
    );
    let out = tessera(&["jwt", "verify", "--jwks", &url, &token]);
    assert_one_line_failure(&out, 1, "503");

    let url = serve_once(
        "HTTP/1.1 302 Found\r\nlocation: http://elsewhere.test/jwks.json\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
    );
    let out = tessera(&["jwt", "verify", "--jwks", &url, &token]);
    assert_one_line_failure(&out, 1, "cannot fetch");
}

#[test]
fn a_key_set_signs_with_its_one_private_key_or_the_kid_named() {
    let dir = std::env::temp_dir().join(format!("tessera-cli-set-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let set = dir.join("eddsa.jwks");
    let out = tessera(&["jwk", "generate", "--alg", "EdDSA", "--set"]);
    std::fs::write(&set, &out.stdout).unwrap();
    let public = dir.join("eddsa.pub.jwks");
    let out = tessera(&["jwk", "public", set.to_str().unwrap()]);
    std::fs::write(&public, &out.stdout).unwrap();
    let out = tessera(&[
        "jwt",
        "sign",
        "--key",
        set.to_str().unwrap(),
        "--claims",
        r#"{"aud":"api"}"#,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = stdout(&out).trim().to_owned();
    let out = tessera(&[
        "jwt",
        "verify",
        "--jwks",
        public.to_str().unwrap(),
        "--aud",
        "api",
        &token,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Two private keys: which one must be said.
    let two: Value = serde_json::json!({"keys": [
        serde_json::from_slice::<Value>(&tessera(&["jwk", "generate", "--alg", "ES256"]).stdout).unwrap(),
        serde_json::from_slice::<Value>(&tessera(&["jwk", "generate", "--alg", "ES256"]).stdout).unwrap(),
    ]});
    let both = dir.join("two.jwks");
    std::fs::write(&both, two.to_string()).unwrap();
    let out = tessera(&[
        "jwt",
        "sign",
        "--key",
        both.to_str().unwrap(),
        "--claims",
        "{}",
    ]);
    assert_one_line_failure(&out, 1, "pass --kid");
    let kid = two["keys"][1]["kid"].as_str().unwrap();
    let out = tessera(&[
        "jwt",
        "sign",
        "--key",
        both.to_str().unwrap(),
        "--kid",
        kid,
        "--claims",
        "{}",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A public set cannot sign.
    let out = tessera(&[
        "jwt",
        "sign",
        "--key",
        public.to_str().unwrap(),
        "--claims",
        "{}",
    ]);
    assert_one_line_failure(&out, 1, "no private key");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn help_never_shows_the_database_password() {
    // The finding: `--help` printed `[env: TESSERA_DATABASE_URL=postgres://tessera:S3cretPass@...]`.
    for args in [&["user", "list", "--help"][..], &["serve", "--help"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .env(
                "TESSERA_DATABASE_URL",
                "postgres://tessera:S3cretPass@db.internal/tessera",
            )
            .output()
            .unwrap();
        assert!(out.status.success());
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("TESSERA_DATABASE_URL"), "{help}");
        assert!(!help.contains("S3cretPass"), "{help}");
    }
}

#[test]
fn dpop_proofs_verify_once_each_and_name_the_request() {
    use tessera_contract::dpop::{normalize_htu, Expected, ProofChecker};
    let dir = temp_dir("dpop-proof");
    let key = dir.join("client.json");
    let out = tessera(&["jwk", "generate", "--alg", "EdDSA"]);
    std::fs::write(&key, &out.stdout).unwrap();
    let key = key.to_str().unwrap();
    let url = "https://api.example.com/orders?page=2";
    let out = tessera(&[
        "jwt",
        "dpop-proof",
        "--key",
        key,
        "--url",
        url,
        "--token",
        "a.b.c",
        "--count",
        "3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let proofs: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(proofs.len(), 3);
    let checker = ProofChecker::new();
    let htu = normalize_htu(url).unwrap();
    let expected = Expected::new("GET", &htu).access_token("a.b.c");
    let now = tessera_jose::unix_now();
    for proof in &proofs {
        checker.check(proof, &expected, now).unwrap();
    }
    // Each is good once, and only for its request.
    assert!(checker.check(&proofs[0], &expected, now).is_err());
    let out = tessera(&["jwt", "dpop-proof", "--key", key, "--url", url]);
    let other = Expected::new("POST", &htu);
    assert!(checker.check(stdout(&out).trim(), &other, now).is_err());
    // A symmetric key cannot make a proof.
    let secret = dir.join("hmac.json");
    std::fs::write(
        &secret,
        tessera(&["jwk", "generate", "--alg", "HS256"]).stdout,
    )
    .unwrap();
    let out = tessera(&[
        "jwt",
        "dpop-proof",
        "--key",
        secret.to_str().unwrap(),
        "--url",
        url,
    ]);
    assert_one_line_failure(&out, 1, "not an asymmetric private key");
}

#[test]
fn jwe_encrypt_decrypt_and_nested_tokens_for_every_key_management_algorithm() {
    let dir = temp_dir("jwe");
    let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
    // The signer.
    std::fs::write(
        path("sig.jwk"),
        stdout(&tessera(&["jwk", "generate", "--alg", "ES256"])),
    )
    .unwrap();
    std::fs::write(
        path("sig.pub"),
        stdout(&tessera(&["jwk", "public", &path("sig.jwk")])),
    )
    .unwrap();
    for (alg, crv) in [
        ("RSA-OAEP-256", None),
        ("RSA-OAEP", None),
        ("ECDH-ES", Some("X25519")),
        ("ECDH-ES+A128KW", Some("P-256")),
        ("ECDH-ES+A256KW", Some("P-521")),
        ("A128KW", None),
        ("A256KW", None),
        ("dir", None),
    ] {
        let mut args = vec!["jwk", "generate", "--alg", alg];
        if let Some(crv) = crv {
            args.extend(["--crv", crv]);
        }
        let out = tessera(&args);
        assert!(out.status.success(), "{alg}: {}", stderr(&out));
        let jwk: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(jwk["alg"], alg);
        assert_eq!(jwk["use"], "enc");
        std::fs::write(path("enc.jwk"), stdout(&out)).unwrap();
        // The sender needs only the public key (a shared key is its own public form).
        let recipient = if jwk["kty"] == "oct" {
            path("enc.jwk")
        } else {
            std::fs::write(
                path("enc.pub"),
                stdout(&tessera(&["jwk", "public", &path("enc.jwk")])),
            )
            .unwrap();
            path("enc.pub")
        };
        for enc in ["A256GCM", "A128GCM", "A256CBC-HS512", "A128CBC-HS256"] {
            if alg == "dir" && enc != "A256GCM" && enc != "A128CBC-HS256" {
                continue; // a 256-bit dir key serves these two
            }
            let out = tessera(&[
                "jwe",
                "encrypt",
                "--key",
                &recipient,
                "--enc",
                enc,
                "the payload",
            ]);
            assert!(out.status.success(), "{alg} {enc}: {}", stderr(&out));
            let token = stdout(&out).trim().to_owned();
            assert_eq!(token.split('.').count(), 5);
            let out = tessera(&["jwe", "decrypt", "--key", &path("enc.jwk"), &token]);
            assert!(out.status.success(), "{alg} {enc}: {}", stderr(&out));
            assert_eq!(stdout(&out).trim(), "the payload");
            // Nested: signed, then encrypted; verified after decryption.
            let nested = sign(
                &path("sig.jwk"),
                &["--encrypt-to", &recipient, "--enc", enc],
                r#"{"sub":"jane"}"#,
            );
            let out = tessera(&[
                "jwt",
                "verify",
                "--key",
                &path("sig.pub"),
                "--decrypt-key",
                &path("enc.jwk"),
                &nested,
            ]);
            assert!(out.status.success(), "{alg} {enc}: {}", stderr(&out));
            assert!(stdout(&out).contains("\"sub\": \"jane\""));
        }
    }
    let nested = sign(
        &path("sig.jwk"),
        &["--encrypt-to", &path("enc.jwk")],
        r#"{"sub":"jane"}"#,
    );
    // Without --decrypt-key, the JWE is named and the option suggested.
    assert_one_line_failure(
        &tessera(&["jwt", "verify", "--key", &path("sig.pub"), &nested]),
        1,
        "pass --decrypt-key",
    );
    // With --decrypt-key, a plain JWS is refused: encryption was required.
    let plain = sign(&path("sig.jwk"), &[], r#"{"sub":"jane"}"#);
    assert_one_line_failure(
        &tessera(&[
            "jwt",
            "verify",
            "--key",
            &path("sig.pub"),
            "--decrypt-key",
            &path("enc.jwk"),
            &plain,
        ]),
        1,
        "a JWS where a JWE was expected",
    );
    // Signing keys do not encrypt, encryption keys do not sign; RSA1_5 is refused by name.
    assert_one_line_failure(
        &tessera(&["jwe", "encrypt", "--key", &path("sig.pub"), "x"]),
        1,
        "signing key",
    );
    assert_one_line_failure(
        &tessera(&["jwt", "sign", "--key", &path("enc.jwk"), "--claims", "{}"]),
        1,
        "encryption key",
    );
    assert_one_line_failure(
        &tessera(&["jwk", "generate", "--alg", "RSA1_5"]),
        2,
        "RSA1_5",
    );
    // A tampered token: one line, exit 1.
    let token = stdout(&tessera(&[
        "jwe",
        "encrypt",
        "--key",
        &path("enc.jwk"),
        "x",
    ]))
    .trim()
    .to_owned();
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[3] = "AAAA".into();
    assert_one_line_failure(
        &tessera(&[
            "jwe",
            "decrypt",
            "--key",
            &path("enc.jwk"),
            &parts.join("."),
        ]),
        1,
        "decryption failed",
    );
}

/// `tessera jwk generate > key.jwk` under the usual umask 022 would leave a private key
/// readable by every user: stdout that is a file is made owner-only before a secret is
/// written to it; public output is left as the shell made it.
#[cfg(unix)]
#[test]
fn secrets_redirected_to_a_file_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("redirect");
    let run_into = |name: &str, args: &[&str]| -> (Output, u32) {
        let path = dir.join(name);
        let file = std::fs::File::create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .stdout(Stdio::from(file))
            .output()
            .unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        (out, mode)
    };
    let (out, mode) = run_into("es256.jwk", &["jwk", "generate", "--alg", "ES256"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode, 0o600, "a generated private key was left {mode:o}");
    let written = std::fs::read_to_string(dir.join("es256.jwk")).unwrap();
    assert!(written.contains("\"d\""), "not a private key: {written}");

    let key = dir.join("es256.jwk");
    let key = key.to_str().unwrap();
    let (out, mode) = run_into("es256.pem", &["jwk", "to-pem", key]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode, 0o600, "a private PEM was left {mode:o}");

    // Public output keeps the mode the shell gave it.
    let (out, mode) = run_into("es256.pub.jwk", &["jwk", "public", key]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode, 0o644);
    let pem = dir.join("es256.pem");
    let (out, mode) = run_into(
        "from-public.jwk",
        &["jwk", "to-pem", "--public", "--format", "spki", key],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode, 0o644);
    // A private PEM converted back to a JWK is a secret again.
    let (out, mode) = run_into("from-pem.jwk", &["jwk", "from-pem", pem.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode, 0o600);
}
