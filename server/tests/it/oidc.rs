//! The OpenID Connect provider through `app().oneshot(...)`: a browser (a cookie jar and
//! the pages' hidden fields) signs in, allows, and an application redeems the code; then
//! the refusals of the OpenID Foundation's Basic and Config OP test plans.

use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use tessera_contract::ManualClock;
use tessera_jose::{KeySet, UnverifiedJwt, Validation};
use tessera_server::{AppState, ClientSpec, Profile};

use crate::{config, databases, get, post_form, revoked_values, send, state_with, Reply, T0};

const APP: &str = "app";
const APP_CB: &str = "https://app.test/cb";
const APP_BYE: &str = "https://app.test/bye";

/// A browser: one cookie, as the server sets it.
#[derive(Default, Clone)]
struct Browser {
    cookie: Option<String>,
}

impl Browser {
    async fn send(&mut self, state: &AppState, mut request: Request<Body>) -> Reply {
        if let Some(cookie) = &self.cookie {
            request.headers_mut().insert(
                header::COOKIE,
                format!("__Host-tessera={cookie}").parse().unwrap(),
            );
        }
        let reply = send(state, request).await;
        for set in reply.headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            if let Some(rest) = set.strip_prefix("__Host-tessera=") {
                let value = rest.split(';').next().unwrap();
                self.cookie =
                    (!value.is_empty() && !set.contains("Max-Age=0")).then(|| value.to_owned());
            }
        }
        reply
    }

    async fn get(&mut self, state: &AppState, uri: &str) -> Reply {
        self.send(state, get(uri)).await
    }

    async fn post(&mut self, state: &AppState, uri: &str, form: &[(&str, &str)]) -> Reply {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(state, post_form(uri, &body)).await
    }
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// The value of the hidden (or other) input named `name` in a page.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end]
        .replace("&#x2f;", "/")
        .replace("&#x2b;", "+")
        .replace("&#x3d;", "=")
        .replace("&amp;", "&")
}

/// The `Location` of a redirect, and its query parameters.
fn redirect(reply: &Reply) -> (String, Vec<(String, String)>) {
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", text(reply));
    let location = reply.header(header::LOCATION).unwrap().to_owned();
    let url = url::Url::parse(&location).unwrap();
    let params = url.query_pairs().into_owned().collect();
    let base = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.path()
    );
    (base, params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn pkce() -> (String, String) {
    let verifier = format!("{}{}", "v".repeat(40), rand_suffix());
    let challenge = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    (verifier, challenge)
}

fn rand_suffix() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!("{:08}", N.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
}

fn authorize_uri(
    client: &str,
    redirect_uri: &str,
    scope: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect_uri),
        ("scope", scope),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    format!(
        "/oauth/authorize?{}",
        serde_urlencoded::to_string(&params).unwrap()
    )
}

struct Setup {
    state: AppState,
    clock: ManualClock,
    secret: String,
}

async fn setup(url: &str) -> Setup {
    let clock = ManualClock::at(T0);
    let state = state_with(config(url), clock.clone()).await;
    state
        .admin()
        .add_user(
            "Jane",
            "correct horse battery",
            "write",
            &Profile {
                email: Some("jane@example.com".into()),
                display_name: Some("Jane Doe".into()),
            },
        )
        .await
        .unwrap();
    let secret = add(
        &state,
        ClientSpec {
            client_id: APP.into(),
            scope: "orders:read".into(),
            redirect_uris: vec![APP_CB.into()],
            post_logout_redirect_uris: vec![APP_BYE.into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    Setup {
        state,
        clock,
        secret,
    }
}

async fn add(state: &AppState, spec: ClientSpec) -> Option<String> {
    let mut shown = None;
    state
        .admin()
        .add_client(&spec, |secret| {
            shown = secret.map(str::to_owned);
            Ok(())
        })
        .await
        .unwrap();
    shown
}

/// Authorize, sign in on the login page, allow on the consent page: the redirect back.
async fn sign_in(state: &AppState, browser: &mut Browser, uri: &str) -> Reply {
    let page = browser.get(state, uri).await;
    assert_eq!(page.status, StatusCode::OK, "{}", text(&page));
    let html = text(&page);
    assert!(html.contains("name=\"password\""), "a login page: {html}");
    let login = browser
        .post(
            state,
            "/oauth/login",
            &[
                ("username", "Jane"),
                ("password", "correct horse battery"),
                ("csrf_token", &field(&html, "csrf_token")),
                ("request", &field(&html, "request")),
            ],
        )
        .await;
    if login.status == StatusCode::SEE_OTHER {
        return login;
    }
    assert_eq!(login.status, StatusCode::OK, "{}", text(&login));
    let html = text(&login);
    assert!(html.contains("value=\"allow\""), "a consent page: {html}");
    browser
        .post(
            state,
            "/oauth/consent",
            &[
                ("decision", "allow"),
                ("csrf_token", &field(&html, "csrf_token")),
                ("request", &field(&html, "request")),
            ],
        )
        .await
}

async fn redeem(
    state: &AppState,
    client: &str,
    secret: Option<&str>,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Reply {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
        ("client_id", client),
    ];
    if let Some(secret) = secret {
        form.push(("client_secret", secret));
    }
    send(
        state,
        post_form("/oauth/token", &serde_urlencoded::to_string(&form).unwrap()),
    )
    .await
}

async fn keys(state: &AppState) -> KeySet {
    KeySet::from_slice(&send(state, get("/.well-known/jwks.json")).await.body).unwrap()
}

#[tokio::test]
async fn a_browser_signs_in_allows_and_the_application_gets_tokens() {
    for url in databases().await {
        let s = setup(&url).await;
        let mut browser = Browser::default();
        let (verifier, challenge) = pkce();
        let uri = authorize_uri(
            APP,
            APP_CB,
            "openid profile email offline_access orders:read",
            &challenge,
            &[],
        );
        // The login page: security headers, no script, the form fields of the contract.
        let page = browser.get(&s.state, &uri).await;
        assert_eq!(page.status, StatusCode::OK);
        let csp = page
            .header(header::CONTENT_SECURITY_POLICY)
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("frame-ancestors 'none'") && !csp.contains("script"),
            "{csp}"
        );
        assert!(csp.contains("form-action 'self' https://app.test"), "{csp}");
        assert_eq!(page.header(header::X_CONTENT_TYPE_OPTIONS), Some("nosniff"));
        assert_eq!(page.header(header::REFERRER_POLICY), Some("no-referrer"));
        assert_eq!(page.header(header::CACHE_CONTROL), Some("no-store"));
        let set_cookie = page.header(header::SET_COOKIE).unwrap().to_owned();
        for attribute in [
            "__Host-tessera=",
            "Path=/",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
        ] {
            assert!(set_cookie.contains(attribute), "{set_cookie}");
        }
        assert!(!text(&page).contains("<script"));

        let back = sign_in(
            &s.state,
            &mut Browser {
                cookie: browser.cookie.clone(),
            },
            &uri,
        )
        .await;
        let (to, params) = redirect(&back);
        assert_eq!(to, APP_CB);
        assert_eq!(param(&params, "state"), Some("st-1"));
        assert_eq!(param(&params, "iss"), Some("https://auth.test"), "RFC 9207");
        let code = param(&params, "code").unwrap().to_owned();

        let reply = redeem(&s.state, APP, Some(&s.secret), &code, APP_CB, &verifier).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", text(&reply));
        let tokens = reply.json();
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(
            tokens["scope"],
            "openid profile email offline_access orders:read"
        );
        let access = tokens["access_token"].as_str().unwrap();
        let keys = keys(&s.state).await;
        // The ID token: RS256 (the server signs access tokens with ES256), every claim.
        let id_token = tokens["id_token"].as_str().unwrap();
        let parsed = UnverifiedJwt::parse(id_token).unwrap();
        assert_eq!(parsed.header().alg().as_str(), "RS256");
        let id = parsed
            .verify(
                &keys,
                &Validation::new()
                    .audience(APP)
                    .issuer("https://auth.test")
                    .at_time(T0),
            )
            .unwrap();
        let c = id.claims();
        let sub = c.sub().unwrap().to_owned();
        assert_eq!(sub.len(), 22, "an opaque subject");
        assert_eq!(c.get("azp").unwrap(), APP);
        assert_eq!(c.get("nonce").unwrap(), "n-1");
        assert_eq!(c.get("auth_time").unwrap(), T0);
        assert_eq!(c.get("preferred_username").unwrap(), "Jane");
        assert_eq!(c.get("name").unwrap(), "Jane Doe");
        assert_eq!(c.get("email").unwrap(), "jane@example.com");
        assert_eq!(c.get("email_verified").unwrap(), true);
        let expected_at_hash = URL_SAFE_NO_PAD
            .encode(&digest::digest(&digest::SHA256, access.as_bytes()).as_ref()[..16]);
        assert_eq!(c.get("at_hash").unwrap(), expected_at_hash.as_str());
        // The access token: the same sub, its sessionId is the ID token's sid.
        let at = UnverifiedJwt::parse(access)
            .unwrap()
            .verify(&keys, &Validation::new().audience("tessera").at_time(T0))
            .unwrap();
        assert_eq!(at.claims().sub(), Some(sub.as_str()));
        assert_eq!(at.claims().get("sessionId"), c.get("sid"));
        assert_eq!(at.claims().get("client_id").unwrap(), APP);
        // UserInfo, GET and POST.
        for request in [
            Request::get("/oauth/userinfo"),
            Request::post("/oauth/userinfo"),
        ] {
            let reply = send(
                &s.state,
                request
                    .header(header::AUTHORIZATION, format!("Bearer {access}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", text(&reply));
            let info = reply.json();
            assert_eq!(info["sub"], sub.as_str());
            assert_eq!(info["email"], "jane@example.com");
            assert_eq!(info["preferred_username"], "Jane");
        }
        // The refresh token rotates, and needs the client's credentials.
        let refresh = tokens["refresh_token"].as_str().unwrap();
        let anonymous = send(
            &s.state,
            post_form(
                "/oauth/token",
                &format!("grant_type=refresh_token&refresh_token={refresh}"),
            ),
        )
        .await;
        assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "{}",
            text(&anonymous)
        );
        let rotated = send(
            &s.state,
            post_form(
                "/oauth/token",
                &format!("grant_type=refresh_token&refresh_token={refresh}&client_id={APP}&client_secret={}", s.secret),
            ),
        )
        .await;
        assert_eq!(rotated.status, StatusCode::OK, "{}", text(&rotated));
        assert_ne!(rotated.json()["refresh_token"], tokens["refresh_token"]);

        // A second authorization: no login (the cookie), no consent (remembered).
        let (verifier2, challenge2) = pkce();
        let uri2 = authorize_uri(APP, APP_CB, "openid profile", &challenge2, &[]);
        let mut signed_in = Browser {
            cookie: browser_cookie_after(&s.state, &uri).await,
        };
        let again = signed_in.get(&s.state, &uri2).await;
        let (_, params) = redirect(&again);
        let code2 = param(&params, "code").unwrap().to_owned();
        let reply = redeem(&s.state, APP, Some(&s.secret), &code2, APP_CB, &verifier2).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply.json().get("refresh_token").is_none(),
            "no offline_access, no refresh token"
        );
    }
}

/// Signs in through `uri` in a new browser and returns its cookie.
async fn browser_cookie_after(state: &AppState, uri: &str) -> Option<String> {
    let mut browser = Browser::default();
    let back = sign_in(state, &mut browser, uri).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER);
    browser.cookie
}

#[tokio::test]
async fn errors_before_the_redirect_uri_is_trusted_are_pages_never_redirects() {
    for url in databases().await {
        let s = setup(&url).await;
        let (_, challenge) = pkce();
        let cases = [
            authorize_uri("nobody", APP_CB, "openid", &challenge, &[]),
            authorize_uri(APP, "https://evil.test/cb", "openid", &challenge, &[]),
            authorize_uri(APP, "https://app.test/cb/../x", "openid", &challenge, &[]),
            authorize_uri(APP, "https://app.test/cb?x=1", "openid", &challenge, &[]),
            format!("/oauth/authorize?response_type=code&client_id={APP}&scope=openid"),
            "/oauth/authorize?response_type=code&redirect_uri=https%3A%2F%2Fapp.test%2Fcb"
                .to_owned(),
        ];
        for uri in cases {
            let reply = send(&s.state, get(&uri)).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
            assert!(reply.header(header::LOCATION).is_none(), "{uri} redirected");
            assert!(reply
                .header(header::CONTENT_TYPE)
                .unwrap()
                .starts_with("text/html"));
            assert!(reply.header(header::CONTENT_SECURITY_POLICY).is_some());
        }
    }
}

#[tokio::test]
async fn errors_after_it_is_trusted_go_back_with_state_and_iss() {
    for url in databases().await {
        let s = setup(&url).await;
        let (_, challenge) = pkce();
        let base = |drop: &str, extra: &[(&str, &str)]| {
            let mut params: Vec<(&str, &str)> = vec![
                ("response_type", "code"),
                ("client_id", APP),
                ("redirect_uri", APP_CB),
                ("scope", "openid"),
                ("state", "st-9"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ];
            params.retain(|(n, _)| *n != drop);
            for (n, v) in extra {
                params.retain(|(name, _)| name != n);
                params.push((n, v));
            }
            format!(
                "/oauth/authorize?{}",
                serde_urlencoded::to_string(&params).unwrap()
            )
        };
        let cases = [
            (base("response_type", &[]), "invalid_request"),
            (
                base("", &[("response_type", "token")]),
                "unsupported_response_type",
            ),
            (
                base("", &[("response_type", "code id_token")]),
                "unsupported_response_type",
            ),
            (base("code_challenge", &[]), "invalid_request"),
            (
                base("", &[("code_challenge_method", "plain")]),
                "invalid_request",
            ),
            (base("code_challenge_method", &[]), "invalid_request"),
            (base("", &[("scope", "openid admin:all")]), "invalid_scope"),
            (base("", &[("prompt", "none login")]), "invalid_request"),
            (base("", &[("max_age", "soon")]), "invalid_request"),
            (
                base("", &[("id_token_hint", "not.a.token")]),
                "invalid_request",
            ),
            (base("", &[("request", "eyJ...")]), "request_not_supported"),
        ];
        for (uri, error) in cases {
            let reply = send(&s.state, get(&uri)).await;
            let (to, params) = redirect(&reply);
            assert_eq!(to, APP_CB, "{uri}");
            assert_eq!(param(&params, "error"), Some(error), "{uri}");
            assert_eq!(param(&params, "state"), Some("st-9"), "{uri}");
            assert_eq!(param(&params, "iss"), Some("https://auth.test"), "{uri}");
        }
    }
}

#[tokio::test]
async fn the_token_endpoint_refuses_what_the_conformance_suite_tries() {
    for url in databases().await {
        let s = setup(&url).await;
        let other = add(
            &s.state,
            ClientSpec {
                client_id: "other".into(),
                redirect_uris: vec![APP_CB.into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let cookie = browser_cookie_after(
            &s.state,
            &authorize_uri(APP, APP_CB, "openid offline_access", &pkce().1, &[]),
        )
        .await;
        let code_for = |challenge: String| {
            let state = s.state.clone();
            let cookie = cookie.clone();
            async move {
                let mut browser = Browser { cookie };
                let reply = browser
                    .get(
                        &state,
                        &authorize_uri(APP, APP_CB, "openid offline_access", &challenge, &[]),
                    )
                    .await;
                param(&redirect(&reply).1, "code").unwrap().to_owned()
            }
        };
        let invalid_grant = |reply: &Reply| {
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", text(reply));
            assert_eq!(reply.json()["error"], "invalid_grant");
        };
        // A wrong verifier.
        let (verifier, challenge) = pkce();
        let code = code_for(challenge).await;
        invalid_grant(&redeem(&s.state, APP, Some(&s.secret), &code, APP_CB, &pkce().0).await);
        // ...and the code is spent by the attempt.
        invalid_grant(&redeem(&s.state, APP, Some(&s.secret), &code, APP_CB, &verifier).await);
        // Another client's code.
        let (verifier, challenge) = pkce();
        let code = code_for(challenge).await;
        invalid_grant(&redeem(&s.state, "other", Some(&other), &code, APP_CB, &verifier).await);
        // Another redirect URI than the request's.
        let (verifier, challenge) = pkce();
        let code = code_for(challenge).await;
        invalid_grant(
            &redeem(
                &s.state,
                APP,
                Some(&s.secret),
                &code,
                "https://app.test/other",
                &verifier,
            )
            .await,
        );
        // A confidential client without its secret.
        let (verifier, challenge) = pkce();
        let code = code_for(challenge).await;
        let reply = redeem(&s.state, APP, None, &code, APP_CB, &verifier).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.json()["error"], "invalid_client");
        // An expired code (60 s).
        let (verifier, challenge) = pkce();
        let code = code_for(challenge).await;
        s.clock.advance_secs(61);
        invalid_grant(&redeem(&s.state, APP, Some(&s.secret), &code, APP_CB, &verifier).await);
        // Reuse: the second use revokes what the first issued.
        let (verifier, challenge) = pkce();
        let code = code_for(challenge).await;
        let first = redeem(&s.state, APP, Some(&s.secret), &code, APP_CB, &verifier).await;
        assert_eq!(first.status, StatusCode::OK);
        let first = first.json();
        let jti = UnverifiedJwt::parse(first["access_token"].as_str().unwrap())
            .unwrap()
            .verify(
                &keys(&s.state).await,
                &Validation::new().audience("tessera").at_time(T0 + 61),
            )
            .unwrap()
            .claims()
            .jti()
            .unwrap()
            .to_owned();
        invalid_grant(&redeem(&s.state, APP, Some(&s.secret), &code, APP_CB, &verifier).await);
        assert!(
            revoked_values(&s.state).await.contains(&jti),
            "the access token is revoked"
        );
        let refresh = send(
            &s.state,
            post_form(
                "/oauth/token",
                &format!(
                    "grant_type=refresh_token&refresh_token={}&client_id={APP}&client_secret={}",
                    first["refresh_token"].as_str().unwrap(),
                    s.secret
                ),
            ),
        )
        .await;
        invalid_grant(&refresh);
    }
}

#[tokio::test]
async fn prompt_and_max_age() {
    for url in databases().await {
        let s = setup(&url).await;
        let (_, challenge) = pkce();
        // prompt=none, signed out: login_required, no page.
        let reply = send(
            &s.state,
            get(&authorize_uri(
                APP,
                APP_CB,
                "openid",
                &challenge,
                &[("prompt", "none")],
            )),
        )
        .await;
        assert_eq!(param(&redirect(&reply).1, "error"), Some("login_required"));
        let cookie = browser_cookie_after(
            &s.state,
            &authorize_uri(APP, APP_CB, "openid", &challenge, &[]),
        )
        .await;
        let mut browser = Browser { cookie };
        // prompt=none, signed in (consent remembered): a code, no UI.
        let reply = browser
            .get(
                &s.state,
                &authorize_uri(APP, APP_CB, "openid", &challenge, &[("prompt", "none")]),
            )
            .await;
        assert!(param(&redirect(&reply).1, "code").is_some());
        // prompt=none with a scope never allowed: consent_required.
        let reply = browser
            .get(
                &s.state,
                &authorize_uri(
                    APP,
                    APP_CB,
                    "openid email",
                    &challenge,
                    &[("prompt", "none")],
                ),
            )
            .await;
        assert_eq!(
            param(&redirect(&reply).1, "error"),
            Some("consent_required")
        );
        // prompt=login: the login page although signed in, and a later auth_time.
        s.clock.advance_secs(100);
        let (verifier, challenge) = pkce();
        let uri = authorize_uri(APP, APP_CB, "openid", &challenge, &[("prompt", "login")]);
        let back = sign_in(&s.state, &mut browser, &uri).await;
        let code = param(&redirect(&back).1, "code").unwrap().to_owned();
        let tokens = redeem(&s.state, APP, Some(&s.secret), &code, APP_CB, &verifier)
            .await
            .json();
        let id = UnverifiedJwt::parse(tokens["id_token"].as_str().unwrap())
            .unwrap()
            .verify(
                &keys(&s.state).await,
                &Validation::new().audience(APP).at_time(T0 + 100),
            )
            .unwrap();
        assert_eq!(id.claims().get("auth_time").unwrap(), T0 + 100);
        // max_age: an older sign-in than that means the login page.
        s.clock.advance_secs(50);
        let page = browser
            .get(
                &s.state,
                &authorize_uri(APP, APP_CB, "openid", &challenge, &[("max_age", "10")]),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(text(&page).contains("name=\"password\""));
        let page = browser
            .get(
                &s.state,
                &authorize_uri(APP, APP_CB, "openid", &challenge, &[("max_age", "3600")]),
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
    }
}

#[tokio::test]
async fn consent_denied_csrf_and_wrong_passwords() {
    for url in databases().await {
        let s = setup(&url).await;
        let (_, challenge) = pkce();
        let uri = authorize_uri(APP, APP_CB, "openid email", &challenge, &[]);
        let mut browser = Browser::default();
        let page = text(&browser.get(&s.state, &uri).await);
        let (csrf, request) = (field(&page, "csrf_token"), field(&page, "request"));
        // A missing or foreign CSRF token is refused, and nothing is checked.
        for token in ["", "v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"] {
            let reply = browser
                .post(
                    &s.state,
                    "/oauth/login",
                    &[
                        ("username", "Jane"),
                        ("password", "correct horse battery"),
                        ("csrf_token", token),
                        ("request", &request),
                    ],
                )
                .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{token}");
        }
        let mut stranger = Browser::default();
        let foreign = text(&stranger.get(&s.state, &uri).await);
        let reply = browser
            .post(
                &s.state,
                "/oauth/login",
                &[
                    ("username", "Jane"),
                    ("password", "correct horse battery"),
                    ("csrf_token", &field(&foreign, "csrf_token")),
                    ("request", &request),
                ],
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "another browser's token"
        );
        // A wrong password: the form again, one generic message.
        let reply = browser
            .post(
                &s.state,
                "/oauth/login",
                &[
                    ("username", "Jane"),
                    ("password", "wrong"),
                    ("csrf_token", &csrf),
                    ("request", &request),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(text(&reply).contains("Wrong user name or password."));
        assert!(text(&reply).contains("name=\"password\""));
        // Sign in, then deny.
        let consent = browser
            .post(
                &s.state,
                "/oauth/login",
                &[
                    ("username", "Jane"),
                    ("password", "correct horse battery"),
                    ("csrf_token", &csrf),
                    ("request", &request),
                ],
            )
            .await;
        let html = text(&consent);
        assert!(html.contains("jane") || html.contains("Jane"));
        let denied = browser
            .post(
                &s.state,
                "/oauth/consent",
                &[
                    ("decision", "deny"),
                    ("csrf_token", &field(&html, "csrf_token")),
                    ("request", &field(&html, "request")),
                ],
            )
            .await;
        let (to, params) = redirect(&denied);
        assert_eq!(to, APP_CB);
        assert_eq!(param(&params, "error"), Some("access_denied"));
        assert_eq!(param(&params, "state"), Some("st-1"));
        // The login page counts towards the same limits as /api/v1/auth: 5 failures (since
        // the last success) lock the API login out too.
        for _ in 0..5 {
            let page = text(
                &browser
                    .get(
                        &s.state,
                        &authorize_uri(APP, APP_CB, "openid", &challenge, &[("prompt", "login")]),
                    )
                    .await,
            );
            browser
                .post(
                    &s.state,
                    "/oauth/login",
                    &[
                        ("username", "Jane"),
                        ("password", "nope"),
                        ("csrf_token", &field(&page, "csrf_token")),
                        ("request", &field(&page, "request")),
                    ],
                )
                .await;
        }
        let api = send(
            &s.state,
            crate::post_json(
                "/api/v1/auth",
                r#"{"userName":"Jane","password":"correct horse battery"}"#,
            ),
        )
        .await;
        assert_eq!(api.status, StatusCode::TOO_MANY_REQUESTS);
    }
}

#[tokio::test]
async fn a_public_client_uses_pkce_alone_and_any_loopback_port() {
    for url in databases().await {
        let s = setup(&url).await;
        let shown = add(
            &s.state,
            ClientSpec {
                client_id: "cli".into(),
                public: true,
                redirect_uris: vec!["http://127.0.0.1/callback".into()],
                skip_consent: true,
                ..Default::default()
            },
        )
        .await;
        assert_eq!(shown, None, "a public client has no secret");
        let (verifier, challenge) = pkce();
        let redirect_uri = "http://127.0.0.1:49213/callback";
        let back = sign_in(
            &s.state,
            &mut Browser::default(),
            &authorize_uri("cli", redirect_uri, "openid", &challenge, &[]),
        )
        .await;
        let (to, params) = redirect(&back);
        assert_eq!(to, "http://127.0.0.1/callback");
        let code = param(&params, "code").unwrap().to_owned();
        let reply = redeem(&s.state, "cli", None, &code, redirect_uri, &verifier).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", text(&reply));
        // Not for a confidential client, and not another path or host.
        for uri in [
            "http://127.0.0.1:49213/other",
            "http://localhost:49213/callback",
        ] {
            let reply = send(
                &s.state,
                get(&authorize_uri("cli", uri, "openid", &challenge, &[])),
            )
            .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
        }
        let reply = send(
            &s.state,
            get(&authorize_uri(
                APP,
                "https://app.test:8443/cb",
                "openid",
                &challenge,
                &[],
            )),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        // A public client cannot use client credentials.
        let reply = send(
            &s.state,
            post_form(
                "/oauth/token",
                "grant_type=client_credentials&client_id=cli",
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
}

/// A back-channel receiver on loopback: what it was sent.
async fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/bc",
        axum::routing::post(move |body: String| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/bc"), got)
}

#[tokio::test]
async fn logout_ends_the_session_tells_the_clients_and_never_follows_an_unregistered_uri() {
    for url in databases().await {
        let s = setup(&url).await;
        let (bc, received) = receiver().await;
        add(
            &s.state,
            ClientSpec {
                client_id: "portal".into(),
                redirect_uris: vec!["https://portal.test/cb".into()],
                backchannel_logout_uri: Some(bc.clone()),
                skip_consent: true,
                ..Default::default()
            },
        )
        .await;
        let (verifier, challenge) = pkce();
        let mut browser = Browser::default();
        let back = sign_in(
            &s.state,
            &mut browser,
            &authorize_uri(APP, APP_CB, "openid offline_access", &challenge, &[]),
        )
        .await;
        let code = param(&redirect(&back).1, "code").unwrap().to_owned();
        let tokens = redeem(&s.state, APP, Some(&s.secret), &code, APP_CB, &verifier)
            .await
            .json();
        let id_token = tokens["id_token"].as_str().unwrap().to_owned();
        // The same browser signs in to the portal too: one session, two clients.
        let portal = browser
            .get(
                &s.state,
                &authorize_uri(
                    "portal",
                    "https://portal.test/cb",
                    "openid",
                    &challenge,
                    &[],
                ),
            )
            .await;
        assert!(param(&redirect(&portal).1, "code").is_some());

        // An unregistered post-logout URI: a page, no redirect, nothing ended.
        let reply = browser
            .get(&s.state, &format!("/oauth/logout?id_token_hint={id_token}&post_logout_redirect_uri=https%3A%2F%2Fevil.test%2F"))
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(reply.header(header::LOCATION).is_none());
        assert_eq!(revoked_values(&s.state).await, Vec::<String>::new());
        // Without a hint: a confirmation page first; nothing ends until it is posted.
        let page = browser.get(&s.state, "/oauth/logout").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(text(&page).contains("name=\"confirm\""));
        assert_eq!(revoked_values(&s.state).await, Vec::<String>::new());
        // With a valid hint: the session ends at once, the browser goes back with state.
        let reply = browser
            .get(&s.state, &format!("/oauth/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye-1", url_encode(APP_BYE)))
            .await;
        let (to, params) = redirect(&reply);
        assert_eq!(to, APP_BYE);
        assert_eq!(param(&params, "state"), Some("bye-1"));
        assert_eq!(browser.cookie, None, "the browser forgot its session");
        // Its refresh tokens are dead, its sid is on the revocation feed.
        let refresh = send(
            &s.state,
            post_form(
                "/oauth/token",
                &format!(
                    "grant_type=refresh_token&refresh_token={}&client_id={APP}&client_secret={}",
                    tokens["refresh_token"].as_str().unwrap(),
                    s.secret
                ),
            ),
        )
        .await;
        assert_eq!(refresh.status, StatusCode::BAD_REQUEST);
        let sid = UnverifiedJwt::parse(&id_token)
            .unwrap()
            .verify(
                &keys(&s.state).await,
                &Validation::new().audience(APP).at_time(T0),
            )
            .unwrap()
            .claims()
            .get("sid")
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(revoked_values(&s.state).await, vec![sid.clone()]);
        // The portal, which registered a back-channel URI, is told (app did not register one).
        assert_eq!(s.state.deliver_logouts().await.unwrap(), 1);
        let got = received.lock().unwrap().clone();
        assert_eq!(got.len(), 1);
        let token = got[0].strip_prefix("logout_token=").unwrap();
        let logout = UnverifiedJwt::parse(token).unwrap();
        assert_eq!(logout.header().typ(), Some("logout+jwt"));
        let logout = logout
            .verify(
                &keys(&s.state).await,
                &Validation::new()
                    .audience("portal")
                    .issuer("https://auth.test")
                    .at_time(T0),
            )
            .unwrap();
        let c = logout.claims();
        assert_eq!(c.get("sid").unwrap(), sid.as_str());
        assert!(c.get("nonce").is_none());
        assert!(c.jti().is_some() && c.sub().is_some());
        assert!(
            c.get("events").unwrap()["http://schemas.openid.net/event/backchannel-logout"]
                .is_object()
        );
        // Delivered once: nothing is due any more.
        assert_eq!(s.state.deliver_logouts().await.unwrap(), 0);
    }
}

fn url_encode(text: &str) -> String {
    serde_urlencoded::to_string([("v", text)]).unwrap()[2..].to_owned()
}

#[tokio::test]
async fn back_channel_logouts_survive_a_failing_receiver_and_a_restart() {
    for url in databases().await {
        let s = setup(&url).await;
        // A receiver that is not there yet.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        add(
            &s.state,
            ClientSpec {
                client_id: "late".into(),
                redirect_uris: vec!["https://late.test/cb".into()],
                backchannel_logout_uri: Some(format!("http://{closed}/bc")),
                skip_consent: true,
                ..Default::default()
            },
        )
        .await;
        let (_, challenge) = pkce();
        let mut browser = Browser::default();
        sign_in(
            &s.state,
            &mut browser,
            &authorize_uri("late", "https://late.test/cb", "openid", &challenge, &[]),
        )
        .await;
        // Disabling the user ends its sessions: a job for the client.
        assert_eq!(s.state.admin().disable_user("Jane").await.unwrap(), 1);
        assert_eq!(
            s.state.deliver_logouts().await.unwrap(),
            0,
            "the receiver is down"
        );
        let pending = sqlx::query("SELECT attempts, next_attempt_at FROM backchannel_logouts")
            .fetch_all(s.state.db().pool())
            .await
            .unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(
            sqlx::Row::try_get::<i64, _>(&pending[0], "attempts").unwrap(),
            1
        );
        // A restart (a new state on the same database) still has the job; it is retried once
        // the backoff has passed.
        drop(s.state);
        let state = state_with(config(&url), s.clock.clone()).await;
        s.clock.advance_secs(6);
        assert_eq!(state.deliver_logouts().await.unwrap(), 0);
        let left = sqlx::query("SELECT attempts FROM backchannel_logouts")
            .fetch_all(state.db().pool())
            .await
            .unwrap();
        assert_eq!(
            sqlx::Row::try_get::<i64, _>(&left[0], "attempts").unwrap(),
            2,
            "retried after the restart"
        );
    }
}

#[tokio::test]
async fn cors_only_for_registered_origins_and_browser_endpoints() {
    for url in databases().await {
        let s = setup(&url).await;
        let preflight = |origin: &str, path: &str| {
            Request::builder()
                .method("OPTIONS")
                .uri(path)
                .header(header::ORIGIN, origin)
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .body(Body::empty())
                .unwrap()
        };
        for path in [
            "/oauth/token",
            "/oauth/userinfo",
            "/oauth/revoke",
            "/.well-known/jwks.json",
            "/.well-known/openid-configuration",
        ] {
            let ok = send(&s.state, preflight("https://app.test", path)).await;
            assert_eq!(ok.status, StatusCode::NO_CONTENT, "{path}");
            assert_eq!(
                ok.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
                Some("https://app.test"),
                "{path}"
            );
            let evil = send(&s.state, preflight("https://evil.test", path)).await;
            assert!(
                evil.header(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
                "{path}"
            );
        }
        // Not the login API, not introspection, not the pages.
        for path in ["/api/v1/auth", "/oauth/introspect", "/oauth/authorize"] {
            let reply = send(&s.state, preflight("https://app.test", path)).await;
            assert!(
                reply.header(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none(),
                "{path}"
            );
        }
        // An actual request from the registered origin.
        let jwks = send(
            &s.state,
            Request::get("/.well-known/jwks.json")
                .header(header::ORIGIN, "https://app.test")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            jwks.header(header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("https://app.test")
        );
    }
}

#[tokio::test]
async fn an_rs256_key_signs_id_tokens_beside_another_algorithm() {
    for url in databases().await {
        let s = setup(&url).await;
        let jwks = send(&s.state, get("/.well-known/jwks.json")).await.json();
        let algs: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["alg"].as_str().unwrap())
            .collect();
        assert!(
            algs.contains(&"ES256") && algs.contains(&"RS256"),
            "{algs:?}"
        );
        let listed = s.state.admin().list_keys().await.unwrap();
        let active: Vec<_> = listed
            .iter()
            .filter(|k| k.state == tessera_server::KeyState::Active)
            .map(|k| k.alg.as_str())
            .collect();
        assert_eq!(active.len(), 2, "{active:?}");
    }
}

/// RFC 9449 section 10: a code requested with `dpop_jkt` is redeemed only with a proof by
/// that key; the public client's tokens and refresh tokens are bound to it.
#[tokio::test]
async fn a_code_bound_with_dpop_jkt_needs_a_proof_by_that_key() {
    use tessera_contract::dpop::sign_proof;
    for url in databases().await {
        let s = setup(&url).await;
        add(
            &s.state,
            ClientSpec {
                client_id: "spa".into(),
                public: true,
                redirect_uris: vec!["http://127.0.0.1/cb".into()],
                skip_consent: true,
                ..Default::default()
            },
        )
        .await;
        let jwk = tessera_jose::Jwk::generate(tessera_jose::Algorithm::ES256, None).unwrap();
        let key = tessera_jose::SigningKey::from_jwk(&jwk, None).unwrap();
        let other = tessera_jose::Jwk::generate(tessera_jose::Algorithm::ES256, None).unwrap();
        let other_key = tessera_jose::SigningKey::from_jwk(&other, None).unwrap();
        let jkt = tessera_jose::thumbprint(&jwk);
        let (verifier, challenge) = pkce();
        let back = sign_in(
            &s.state,
            &mut Browser::default(),
            &authorize_uri(
                "spa",
                "http://127.0.0.1/cb",
                "openid offline_access",
                &challenge,
                &[("dpop_jkt", &jkt)],
            ),
        )
        .await;
        let (_, params) = redirect(&back);
        let code = param(&params, "code").unwrap().to_owned();
        let form = serde_urlencoded::to_string([
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "http://127.0.0.1/cb"),
            ("code_verifier", verifier.as_str()),
            ("client_id", "spa"),
        ])
        .unwrap();
        let token_request = |proof: Option<String>| {
            let mut r = Request::post("/oauth/token")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            if let Some(p) = proof {
                r = r.header("dpop", p);
            }
            r.body(Body::from(form.clone())).unwrap()
        };
        let proof_by = |k: &tessera_jose::SigningKey, j: &tessera_jose::Jwk| {
            sign_proof(
                k,
                j,
                "POST",
                "https://auth.test/oauth/token",
                T0,
                None,
                None,
            )
            .unwrap()
        };
        // No proof, then a proof by another key: refused, and the code is not spent.
        let reply = send(&s.state, token_request(None)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.json()["error"], "invalid_dpop_proof");
        let reply = send(&s.state, token_request(Some(proof_by(&other_key, &other)))).await;
        assert_eq!(reply.json()["error"], "invalid_dpop_proof");
        let reply = send(&s.state, token_request(Some(proof_by(&key, &jwk)))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", text(&reply));
        let body = reply.json();
        assert_eq!(body["token_type"], "DPoP");
        // The public client's refresh token is bound to the key too.
        let refresh = serde_urlencoded::to_string([
            ("grant_type", "refresh_token"),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ("client_id", "spa"),
        ])
        .unwrap();
        let reply = send(&s.state, post_form("/oauth/token", &refresh)).await;
        assert_eq!(reply.json()["error"], "invalid_dpop_proof");
        // A malformed dpop_jkt is refused at the authorization endpoint.
        let reply = send(
            &s.state,
            get(&authorize_uri(
                "spa",
                "http://127.0.0.1/cb",
                "openid",
                &challenge,
                &[("dpop_jkt", "short")],
            )),
        )
        .await;
        let (_, params) = redirect(&reply);
        assert_eq!(param(&params, "error"), Some("invalid_request"));
    }
}

#[tokio::test]
async fn id_tokens_are_encrypted_for_clients_registered_with_a_key() {
    use tessera_jose::jwe::{DecryptionKey, KeyAlgorithm};
    for url in databases().await {
        let s = setup(&url).await;
        let rp_key =
            tessera_jose::Jwk::generate_encryption(KeyAlgorithm::RsaOaep256, None, None).unwrap();
        // A private key is refused at registration: the server must never hold it.
        let refused = s
            .state
            .admin()
            .add_client(
                &ClientSpec {
                    client_id: "leaky".into(),
                    redirect_uris: vec!["https://leaky.test/cb".into()],
                    id_token_encryption_jwk: Some(rp_key.to_json()),
                    ..Default::default()
                },
                |_| Ok(()),
            )
            .await;
        assert!(refused.is_err());
        let secret = add(
            &s.state,
            ClientSpec {
                client_id: "sealed".into(),
                redirect_uris: vec!["https://sealed.test/cb".into()],
                skip_consent: true,
                id_token_encryption_jwk: Some(rp_key.to_public().to_json()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let (verifier, challenge) = pkce();
        let back = sign_in(
            &s.state,
            &mut Browser::default(),
            &authorize_uri(
                "sealed",
                "https://sealed.test/cb",
                "openid profile",
                &challenge,
                &[],
            ),
        )
        .await;
        let (_, params) = redirect(&back);
        let code = param(&params, "code").unwrap().to_owned();
        let reply = redeem(
            &s.state,
            "sealed",
            Some(&secret),
            &code,
            "https://sealed.test/cb",
            &verifier,
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", text(&reply));
        let body = reply.json();
        let id_token = body["id_token"].as_str().unwrap();
        assert_eq!(id_token.split('.').count(), 5, "an encrypted ID token");
        // Only the client's private key opens it; inside is the signed ID token.
        let nested = DecryptionKey::from_jwk(&rp_key, None)
            .unwrap()
            .decrypt_nested(id_token)
            .unwrap();
        assert_eq!(nested.jwe_header().alg(), KeyAlgorithm::RsaOaep256);
        assert_eq!(nested.jwe_header().enc().as_str(), "A128CBC-HS256");
        let validation = Validation::new()
            .issuer("https://auth.test")
            .audience("sealed")
            .at_time(T0);
        let jwt = nested.verify(&keys(&s.state).await, &validation).unwrap();
        assert_eq!(jwt.claims().get("nonce").unwrap(), "n-1");
        // The access token beside it is a plain JWS: encryption is per audience.
        assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
        // Discovery says what the server can encrypt with.
        let meta = send(&s.state, get("/.well-known/openid-configuration"))
            .await
            .json();
        assert!(meta["id_token_encryption_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&"RSA-OAEP-256".into()));
    }
}

#[tokio::test]
async fn access_tokens_are_encrypted_to_the_resource_servers_key() {
    use tessera_jose::jwe::{DecryptionKey, KeyAlgorithm};
    for url in databases().await {
        let dir = std::env::temp_dir().join(format!(
            "tessera-enc-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let rs_key =
            tessera_jose::Jwk::generate_encryption(KeyAlgorithm::EcdhEs, None, Some("X25519"))
                .unwrap();
        for (private, name) in [(true, "private.jwk"), (false, "public.jwk")] {
            let path = dir.join(name);
            let key = if private {
                rs_key.clone()
            } else {
                rs_key.to_public()
            };
            std::fs::write(&path, key.to_json()).unwrap();
            let mut config = config(&url);
            config.encrypt_access_tokens = Some(path);
            let state = state_with(config, ManualClock::at(T0)).await;
            state.create_demo_users().await.unwrap();
            let login = send(
                &state,
                crate::post_json(
                    "/api/v1/auth",
                    r#"{"userName":"Jane","password":"pass123"}"#,
                ),
            )
            .await;
            assert_eq!(login.status, StatusCode::OK);
            let token = login.json()["jwt"].as_str().unwrap().to_owned();
            assert_eq!(token.split('.').count(), 5, "a nested access token");
            // The resource server decrypts, then verifies with the published keys.
            let nested = DecryptionKey::from_jwk(&rs_key, None)
                .unwrap()
                .decrypt_nested(&token)
                .unwrap();
            let validation = Validation::new()
                .issuer("https://auth.test")
                .audience("tessera")
                .at_time(T0);
            let jwt = nested.verify(&keys(&state).await, &validation).unwrap();
            assert_eq!(jwt.claims().get("preferred_username").unwrap(), "Jane");
            // The server's own endpoints read it back only with the private key.
            let logout = send(
                &state,
                Request::post("/api/v1/logout")
                    .header(header::AUTHORIZATION, format!("Bearer {token}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
            let expected = if private {
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(logout.status, expected, "private key: {private}");
        }
        // A file that is not an encryption key stops the server at start.
        let bad = dir.join("bad.jwk");
        std::fs::write(
            &bad,
            tessera_jose::Jwk::generate(tessera_jose::Algorithm::ES256, None)
                .unwrap()
                .to_json(),
        )
        .unwrap();
        let mut config = config(&url);
        config.encrypt_access_tokens = Some(bad);
        let err =
            tessera_server::AppState::open(config, crate::master(), ManualClock::at(T0).shared())
                .await
                .err()
                .unwrap()
                .to_string();
        assert!(err.contains("encrypt_access_tokens"), "{err}");
    }
}
