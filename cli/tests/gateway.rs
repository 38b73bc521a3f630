//! `tessera mock-jwks` and `tessera gateway` as processes: a token minted by the mock passes
//! the gateway (proxied and on `/verify`), a missing or bad one gets a 401.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(args: &[&str]) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .env("TESSERA_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// One HTTP/1.1 request; the status, the raw head and the body.
fn request(port: u16, head: &str, body: &str) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let text = format!(
        "{head}\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, head.to_ascii_lowercase(), body.to_owned()))
}

fn wait_for(port: u16, head: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if request(port, head, "").is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing answers on port {port}");
}

#[test]
fn mock_minted_tokens_pass_the_gateway() {
    let (mock_port, gw_port) = (free_port(), free_port());
    let mock_addr = format!("127.0.0.1:{mock_port}");
    let _mock = spawn(&["mock-jwks", "--listen", &mock_addr]);
    wait_for(mock_port, "GET /.well-known/jwks.json HTTP/1.1");
    let jwks = format!("http://{mock_addr}/.well-known/jwks.json");
    let upstream = format!("http://{mock_addr}");
    let gw_addr = format!("127.0.0.1:{gw_port}");
    let _gateway = spawn(&[
        "gateway",
        "--jwks-url",
        &jwks,
        "--audience",
        "svc",
        "--upstream",
        &upstream,
        "--listen",
        &gw_addr,
        // Every token below is used at least twice: the second time comes from the cache.
        "--token-cache",
        "16",
    ]);
    wait_for(gw_port, "GET /verify HTTP/1.1");

    let (status, _, body) = request(
        mock_port,
        "POST /token HTTP/1.1\r\nContent-Type: application/json",
        r#"{"sub":"jane","aud":"svc","role":"write","alg":"ES256"}"#,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let minted: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = minted["token"].as_str().unwrap();

    let (status, head, _) = request(
        gw_port,
        &format!("GET /verify HTTP/1.1\r\nAuthorization: Bearer {token}"),
        "",
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(head.contains("x-tessera-sub: jane"), "{head}");
    assert!(head.contains("x-tessera-role: write"), "{head}");

    // Proxied to the upstream (here the mock itself), the seed's bare header accepted.
    let (status, _, body) = request(
        gw_port,
        &format!("GET /.well-known/jwks.json HTTP/1.1\r\nAuthorization: {token}"),
        "",
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("\"keys\""), "{body}");

    let (status, head, _) = request(gw_port, "GET /.well-known/jwks.json HTTP/1.1", "").unwrap();
    assert_eq!(status, 401);
    assert!(head.contains("www-authenticate: bearer"), "{head}");
    let (status, head, _) = request(
        gw_port,
        "GET /verify HTTP/1.1\r\nAuthorization: Bearer not.a.token",
        "",
    )
    .unwrap();
    assert_eq!(status, 401);
    assert!(head.contains("error=\"invalid_token\""), "{head}");
    // Another audience: refused.
    let (_, _, body) = request(
        mock_port,
        "POST /token HTTP/1.1\r\nContent-Type: application/json",
        r#"{"sub":"jane","aud":"other"}"#,
    )
    .unwrap();
    let other: serde_json::Value = serde_json::from_str(&body).unwrap();
    let (status, _, _) = request(
        gw_port,
        &format!(
            "GET /verify HTTP/1.1\r\nAuthorization: Bearer {}",
            other["token"].as_str().unwrap()
        ),
        "",
    )
    .unwrap();
    assert_eq!(status, 401);
}

#[test]
fn gateway_configuration_errors_are_one_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "gateway",
            "--jwks-url",
            "http://auth.example.com/jwks",
            "--upstream",
            "http://127.0.0.1:1",
            "--listen",
            "127.0.0.1:0",
        ])
        .env_remove("TESSERA_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("plain http"), "{stderr}");
}

#[test]
fn upstream_timeout_is_configurable_and_answers_504() {
    // An upstream that accepts connections and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let (mock_port, gw_port) = (free_port(), free_port());
    let mock_addr = format!("127.0.0.1:{mock_port}");
    let _mock = spawn(&["mock-jwks", "--listen", &mock_addr]);
    wait_for(mock_port, "GET /.well-known/jwks.json HTTP/1.1");
    let jwks = format!("http://{mock_addr}/.well-known/jwks.json");
    let upstream = format!("http://127.0.0.1:{silent_port}");
    let gw_addr = format!("127.0.0.1:{gw_port}");
    let _gateway = spawn(&[
        "gateway",
        "--jwks-url",
        &jwks,
        "--upstream",
        &upstream,
        "--listen",
        &gw_addr,
        "--upstream-timeout",
        "1s",
    ]);
    wait_for(gw_port, "GET /verify HTTP/1.1");
    let (_, _, body) = request(
        mock_port,
        "POST /token HTTP/1.1\r\nContent-Type: application/json",
        r#"{"sub":"jane"}"#,
    )
    .unwrap();
    let minted: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = minted["token"].as_str().unwrap();
    let started = Instant::now();
    let (status, _, _) = request(
        gw_port,
        &format!("GET /slow HTTP/1.1\r\nAuthorization: Bearer {token}"),
        "",
    )
    .unwrap();
    assert_eq!(status, 504);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(8),
        "{waited:?}"
    );

    // Zero and nonsense are refused before anything starts.
    for bad in ["0", "soon"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args([
                "gateway",
                "--jwks-url",
                &jwks,
                "--upstream",
                &upstream,
                "--upstream-timeout",
                bad,
            ])
            .output()
            .unwrap();
        // A usage error, like every bad flag value.
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains("upstream-timeout") || stderr.contains("duration"),
            "{bad}: {stderr}"
        );
    }
}

fn tessera_out(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn the_gateway_decrypts_nested_tokens_and_can_require_them() {
    let dir = std::env::temp_dir().join(format!("tessera-gw-jwe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("enc.jwk");
    let public = dir.join("enc.pub.jwk");
    std::fs::write(
        &key,
        tessera_out(&["jwk", "generate", "--alg", "ECDH-ES+A256KW"]),
    )
    .unwrap();
    std::fs::write(
        &public,
        tessera_out(&["jwk", "public", key.to_str().unwrap()]),
    )
    .unwrap();

    let (mock_port, gw_port) = (free_port(), free_port());
    let mock_addr = format!("127.0.0.1:{mock_port}");
    let _mock = spawn(&["mock-jwks", "--listen", &mock_addr]);
    wait_for(mock_port, "GET /.well-known/jwks.json HTTP/1.1");
    let gw_addr = format!("127.0.0.1:{gw_port}");
    let _gateway = spawn(&[
        "gateway",
        "--jwks-url",
        &format!("http://{mock_addr}/.well-known/jwks.json"),
        "--audience",
        "svc",
        "--upstream",
        &format!("http://{mock_addr}"),
        "--listen",
        &gw_addr,
        "--decrypt-key",
        key.to_str().unwrap(),
        "--require-encryption",
    ]);
    wait_for(gw_port, "GET /verify HTTP/1.1");
    let (_, _, body) = request(
        mock_port,
        "POST /token HTTP/1.1\r\nContent-Type: application/json",
        r#"{"sub":"jane","aud":"svc","alg":"ES256"}"#,
    )
    .unwrap();
    let minted: serde_json::Value = serde_json::from_str(&body).unwrap();
    let plain = minted["token"].as_str().unwrap();
    let nested = tessera_out(&[
        "jwe",
        "encrypt",
        "--key",
        public.to_str().unwrap(),
        "--cty",
        "JWT",
        plain,
    ]);
    let (status, head, _) = request(
        gw_port,
        &format!("GET /verify HTTP/1.1\r\nAuthorization: Bearer {nested}"),
        "",
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(head.contains("x-tessera-sub: jane"), "{head}");
    // The same token unencrypted: refused, encryption being required.
    let (status, head, _) = request(
        gw_port,
        &format!("GET /verify HTTP/1.1\r\nAuthorization: Bearer {plain}"),
        "",
    )
    .unwrap();
    assert_eq!(status, 401);
    assert!(head.contains("error=\"invalid_token\""), "{head}");
    let _ = std::fs::remove_dir_all(&dir);
}
