#!/usr/bin/env python3
"""A small web application that signs its users in through Tessera (OpenID Connect).

It is written to be read: one file, the Python standard library plus `requests` (HTTP) and
PyJWT (the ID token's signature and claims), and every step of the authorization code flow
with PKCE spelled out where it happens. See docs/oidc.md for the walkthrough.

    python3 rp.py --issuer http://127.0.0.1:8080 --client-id demo-app \
        --client-secret "$SECRET" --listen 127.0.0.1:8000

The client must be registered with the redirect URI http://HOST:PORT/callback and the
post-logout redirect URI http://HOST:PORT/ (the address given to --listen).

What it checks on the way back, in order: the `state` it sent (CSRF on the callback), the
`iss` parameter (RFC 9207, mix-up attacks), the code exchanged with the PKCE verifier and the
client secret, then the ID token: signature by a key of the issuer's JWKS with the algorithm
the discovery document announces, `iss`, `aud`, `exp`, `iat`, and the `nonce` it sent.
"""

import argparse
import base64
import hashlib
import html
import http.server
import secrets
import sys
import urllib.parse

import jwt
import requests

SCOPE = "openid profile email"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--issuer", required=True, help="Tessera's issuer URL (its `issuer` setting)")
    p.add_argument("--client-id", required=True)
    p.add_argument("--client-secret", required=True)
    p.add_argument("--listen", default="127.0.0.1:8000", help="HOST:PORT (default %(default)s)")
    return p.parse_args()


class Provider:
    """What the application learns from the issuer's discovery document, once, at start."""

    def __init__(self, issuer):
        url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        meta = requests.get(url, timeout=5).json()
        if meta["issuer"] != issuer:
            sys.exit(f"the discovery document names issuer {meta['issuer']!r}, not {issuer!r}")
        self.issuer = issuer
        self.authorization_endpoint = meta["authorization_endpoint"]
        self.token_endpoint = meta["token_endpoint"]
        self.userinfo_endpoint = meta["userinfo_endpoint"]
        self.end_session_endpoint = meta["end_session_endpoint"]
        self.id_token_algorithms = meta["id_token_signing_alg_values_supported"]
        # PyJWKClient fetches the JWKS and picks the key by the token's `kid`; it never
        # follows a URL found in a token.
        self.keys = jwt.PyJWKClient(meta["jwks_uri"], cache_keys=True)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class App:
    def __init__(self, args):
        self.provider = Provider(args.issuer)
        self.client_id = args.client_id
        self.client_secret = args.client_secret
        self.base = f"http://{args.listen}"
        self.redirect_uri = f"{self.base}/callback"
        # Sessions in memory, keyed by a random cookie: enough for a sample.
        self.sessions = {}

    # -------------------------------------------------------------------- the flow

    def start_sign_in(self, session):
        """Step 1: send the browser to the authorization endpoint."""
        verifier = b64url(secrets.token_bytes(32))
        session["pending"] = {
            "state": b64url(secrets.token_bytes(16)),
            "nonce": b64url(secrets.token_bytes(16)),
            "verifier": verifier,
        }
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": SCOPE,
            "state": session["pending"]["state"],
            "nonce": session["pending"]["nonce"],
            "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
        return self.provider.authorization_endpoint + "?" + urllib.parse.urlencode(query)

    def finish_sign_in(self, session, params):
        """Step 2: the browser is back with a code (or an error). Returns an error or None."""
        pending = session.pop("pending", None)
        if pending is None or not secrets.compare_digest(params.get("state", ""), pending["state"]):
            return "the state does not match a sign-in this browser started"
        if params.get("iss") != self.provider.issuer:
            return "the response does not come from the expected issuer"
        if "error" in params:
            return f"the issuer answered {params['error']}: {params.get('error_description', '')}"
        response = requests.post(
            self.provider.token_endpoint,
            data={
                "grant_type": "authorization_code",
                "code": params.get("code", ""),
                "redirect_uri": self.redirect_uri,
                "code_verifier": pending["verifier"],
            },
            auth=(self.client_id, self.client_secret),
            timeout=5,
        )
        if response.status_code != 200:
            return f"the token endpoint answered {response.status_code}: {response.text[:200]}"
        tokens = response.json()
        id_token = tokens["id_token"]
        key = self.provider.keys.get_signing_key_from_jwt(id_token)
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=self.provider.id_token_algorithms,
            audience=self.client_id,
            issuer=self.provider.issuer,
            options={"require": ["exp", "iat", "sub", "nonce"]},
        )
        if not secrets.compare_digest(claims["nonce"], pending["nonce"]):
            return "the ID token's nonce is not the one this sign-in sent"
        userinfo = requests.get(
            self.provider.userinfo_endpoint,
            headers={"authorization": f"Bearer {tokens['access_token']}"},
            timeout=5,
        ).json()
        if userinfo.get("sub") != claims["sub"]:
            return "UserInfo describes another user than the ID token"
        session["user"] = {"claims": claims, "userinfo": userinfo, "id_token": id_token}
        return None

    def sign_out(self, session):
        """RP-initiated logout: forget the user here, then end the session at the issuer."""
        user = session.pop("user", None)
        if user is None:
            return "/"
        query = {
            "id_token_hint": user["id_token"],
            "post_logout_redirect_uri": self.base + "/",
            "client_id": self.client_id,
        }
        return self.provider.end_session_endpoint + "?" + urllib.parse.urlencode(query)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sample application</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.25rem .75rem;text-align:left}}
.error{{color:#a00}}</style></head>
<body><h1>Sample application</h1>{body}</body></html>"""


def render(body):
    return PAGE.format(body=body).encode()


def claims_table(claims):
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in sorted(claims.items())
    )
    return f"<table>{rows}</table>"


def handler_for(app):
    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 10  # a silent client is cut off

        def session(self):
            cookies = {}
            for part in self.headers.get("cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                cookies[name] = value
            sid = cookies.get("rp_session")
            if sid not in app.sessions:
                sid = secrets.token_urlsafe(24)
                app.sessions[sid] = {}
                self.new_cookie = sid
            else:
                self.new_cookie = None
            return app.sessions[sid]

        def send(self, status, body=b"", location=None):
            self.send_response(status)
            if self.new_cookie:
                self.send_header(
                    "set-cookie", f"rp_session={self.new_cookie}; Path=/; HttpOnly; SameSite=Lax"
                )
            if location:
                self.send_header("location", location)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("cache-control", "no-store")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            session = self.session()
            url = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(url.query))
            if url.path == "/":
                user = session.get("user")
                if user is None:
                    body = '<p id="status">You are not signed in.</p><p><a href="/login">Sign in with Tessera</a></p>'
                else:
                    name = user["userinfo"].get("name") or user["claims"]["sub"]
                    body = (
                        f'<p id="status">Signed in as <strong>{html.escape(name)}</strong>.</p>'
                        '<form method="post" action="/logout"><button>Sign out</button></form>'
                        f"<h2>ID token claims</h2>{claims_table(user['claims'])}"
                        f"<h2>UserInfo</h2>{claims_table(user['userinfo'])}"
                    )
                self.send(200, render(body))
            elif url.path == "/login":
                self.send(303, location=app.start_sign_in(session))
            elif url.path == "/callback":
                try:
                    error = app.finish_sign_in(session, params)
                except (jwt.PyJWTError, requests.RequestException, KeyError, ValueError) as e:
                    error = f"the sign-in could not be checked: {e}"
                if error:
                    self.send(400, render(f'<p class="error" id="status">{html.escape(error)}</p><p><a href="/">Back</a></p>'))
                else:
                    self.send(303, location="/")
            else:
                self.send(404, render("<p>Not found.</p>"))

        def do_POST(self):
            session = self.session()
            if self.path == "/logout":
                self.send(303, location=app.sign_out(session))
            else:
                self.send(404, render("<p>Not found.</p>"))

        def log_message(self, fmt, *args):
            # Only the method and path: a query string can carry a code.
            sys.stderr.write(f"{self.command} {urllib.parse.urlsplit(self.path).path}\n")

    return Handler


def main():
    args = parse_args()
    host, _, port = args.listen.rpartition(":")
    app = App(args)
    server = http.server.ThreadingHTTPServer((host, int(port)), handler_for(app))
    print(f"sample application on {app.base}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
