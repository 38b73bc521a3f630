//! The HTML pages of sign-in: server-rendered templates (minijinja, HTML-escaped), one
//! stylesheet, no scripts, and the security headers every HTML response carries.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::{AutoEscape, Environment};
use serde::Serialize;

use crate::error::{Error, Result};

/// The templates, parsed once.
pub(crate) struct Pages {
    env: Environment<'static>,
}

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("consent.html", include_str!("../../templates/consent.html")),
    ("error.html", include_str!("../../templates/error.html")),
    ("logout.html", include_str!("../../templates/logout.html")),
    (
        "signed_out.html",
        include_str!("../../templates/signed_out.html"),
    ),
];

/// The one stylesheet.
pub(crate) const STYLESHEET: &str = include_str!("../../templates/tessera.css");

impl Pages {
    pub(crate) fn new() -> Result<Pages> {
        let mut env = Environment::new();
        // Every template is HTML: every value is escaped.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        // An absent value (`None` from Rust, `null` in JSON) prints nothing, never "none".
        env.set_formatter(|out, state, value| {
            if value.is_none() {
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .map_err(|e| Error::Invalid(format!("template {name}: {e}")))?;
        }
        Ok(Pages { env })
    }

    /// Renders `template` with `context` into a response with the security headers;
    /// `form_targets` are the origins (beyond this server) that a form on the page may end
    /// up at after its redirect (CSP `form-action` applies to redirects too).
    pub(crate) fn render(
        &self,
        template: &str,
        context: impl Serialize,
        status: StatusCode,
        form_targets: &[String],
    ) -> Response {
        match self.render_string(template, context) {
            Ok(body) => html(status, body, form_targets),
            Err(e) => {
                tracing::error!(template, error = %e, "page could not be rendered");
                html(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "<!doctype html><title>Error</title><p>Internal error.</p>".into(),
                    &[],
                )
            }
        }
    }
}

impl Pages {
    fn render_string(
        &self,
        template: &str,
        context: impl Serialize,
    ) -> std::result::Result<String, minijinja::Error> {
        self.env.get_template(template)?.render(context)
    }
}

/// An HTML response with the headers every page carries: a Content-Security-Policy that
/// allows no script, no framing and forms only to this server (and the origins given), and
/// no caching, sniffing or referrer.
pub(crate) fn html(status: StatusCode, body: String, form_targets: &[String]) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    security_headers(headers, form_targets);
    response
}

/// The security headers of an HTML response (and of the redirects that end a form).
pub(crate) fn security_headers(headers: &mut HeaderMap, form_targets: &[String]) {
    let mut form_action = String::from("'self'");
    for target in form_targets {
        // Origins and schemes only: nothing here comes from a request without being
        // checked against a client's registration first.
        if target
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\'' | b'"'))
        {
            form_action.push(' ');
            form_action.push_str(target);
        }
    }
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_action}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
}

/// `GET /oauth/static/tessera.css`.
pub(crate) async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// What a page says about one scope.
#[derive(Debug, Serialize)]
pub(crate) struct ScopeLine {
    pub name: String,
    pub description: String,
}

/// The consent page's words for a scope.
pub(crate) fn describe_scope(scope: &str) -> ScopeLine {
    let description = match scope {
        "openid" => "know who you are (your user id)",
        "profile" => "see your user name and full name",
        "email" => "see your email address",
        "offline_access" => "stay signed in and act for you while you are away",
        _ => "access what this permission allows",
    };
    ScopeLine {
        name: scope.to_owned(),
        description: description.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_value_renders_as_nothing() {
        let pages = Pages::new().unwrap();
        let body = pages
            .render_string(
                "login.html",
                serde_json::json!({"client": "app", "username": null, "action": "/oauth/login"}),
            )
            .unwrap();
        assert!(body.contains("required value=\"\" autofocus"), "{body}");
        assert!(!body.to_lowercase().contains("value=\"none\""), "{body}");
    }

    #[test]
    fn every_template_renders_and_escapes() {
        let pages = Pages::new().unwrap();
        let body = pages
            .render_string(
                "login.html",
                serde_json::json!({"client": "<script>alert(1)</script>", "username": "\"><b>"}),
            )
            .unwrap();
        assert!(!body.contains("<script>"), "{body}");
        assert!(body.contains("&lt;script&gt;"), "{body}");
        assert!(!body.contains("\"><b>"), "{body}");
        for field in [
            "name=\"username\"",
            "name=\"password\"",
            "name=\"csrf_token\"",
            "autocomplete=\"current-password\"",
        ] {
            assert!(body.contains(field), "{field}");
        }
        let response = pages.render(
            "login.html",
            serde_json::json!({
                "title": "Sign in",
                "static_base": "/oauth/static",
                "client": "<script>alert(1)</script>",
                "action": "/oauth/login",
                "csrf_token": "c",
                "request": "r",
                "username": "\"><b>",
                "error": null,
            }),
            StatusCode::OK,
            &["https://app.example".into()],
        );
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(
            csp.contains("form-action 'self' https://app.example;"),
            "{csp}"
        );
        assert!(
            !csp.contains("script-src"),
            "no script source at all: {csp}"
        );
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
        for name in [
            "error.html",
            "consent.html",
            "logout.html",
            "signed_out.html",
        ] {
            let r = pages.render(name, serde_json::json!({}), StatusCode::OK, &[]);
            assert_eq!(r.status(), StatusCode::OK, "{name}");
        }
    }

    #[test]
    fn a_form_target_cannot_inject_a_directive() {
        let mut headers = HeaderMap::new();
        security_headers(&mut headers, &["https://a.example; script-src *".into()]);
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(!csp.contains("script-src"), "{csp}");
    }
}
