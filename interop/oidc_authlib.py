"""The authorization code flow against `tessera serve`, driven by Authlib: its OAuth 2.0
session makes the request (with PKCE), redeems the code, and Authlib's CodeIDToken checks
the ID token (signature from the JWKS, iss, aud, azp, nonce, exp, iat, at_hash).

Usage: python oidc_authlib.py ISSUER CLIENT_ID SECRET REDIRECT_URI
"""

import re
import secrets
import sys
import warnings
from html import unescape
from urllib.parse import urljoin

import requests
from authlib.integrations.requests_client import OAuth2Session

# Authlib 1.6 announces that authlib.jose moves to joserfc in 2.0; its OIDC CodeIDToken
# still uses it, and requirements.txt pins Authlib below 2.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebKey, JsonWebToken
from authlib.oidc.core import CodeIDToken

issuer, client_id, secret, redirect_uri = sys.argv[1:5]
passed = failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print(f"    ok   {name}")
    except Exception as e:  # noqa: BLE001 - report and go on
        failed += 1
        print(f"    FAIL {name}: {e!r}")


def field(html, name):
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    if not m:
        raise AssertionError(f"no field {name}")
    return unescape(m.group(1))


def sign_in(browser, url):
    """Plays the user: the login page, then the consent page; returns the callback URL."""
    response = browser.get(url, allow_redirects=False)
    for _ in range(4):
        if response.status_code in (302, 303):
            return response.headers["location"]
        html = response.text
        action = urljoin(url, unescape(re.search(r'<form[^>]*action="([^"]+)"', html).group(1)))
        if 'name="password"' in html:
            form = {"username": "Jane", "password": "pass123"}
        elif 'value="allow"' in html:
            form = {"decision": "allow"}
        else:
            raise AssertionError(f"unexpected page {response.status_code}: {html[:200]}")
        form.update(csrf_token=field(html, "csrf_token"), request=field(html, "request"))
        response = browser.post(action, data=form, allow_redirects=False)
    raise AssertionError("too many pages")


meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=5).json()
jwks = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=5).json())
state = {}


def flow():
    session = OAuth2Session(
        client_id,
        secret,
        scope="openid profile email",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    verifier = secrets.token_urlsafe(48)
    nonce = secrets.token_urlsafe(16)
    url, oauth_state = session.create_authorization_url(
        meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    callback = sign_in(requests.Session(), url)
    assert f"state={oauth_state}" in callback, callback
    assert "iss=" in callback, "RFC 9207 iss missing"
    token = session.fetch_token(
        meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    claims = JsonWebToken(["RS256"]).decode(
        token["id_token"],
        jwks,
        claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "value": meta["issuer"]}},
        claims_params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]},
    )
    claims.validate()
    assert claims["preferred_username"] == "Jane", dict(claims)
    state["token"] = token
    state["sub"] = claims["sub"]


def userinfo():
    token = state["token"]["access_token"]
    info = requests.get(
        meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {token}"}, timeout=5
    ).json()
    assert info["sub"] == state["sub"], info


def tampered_id_token_refused():
    header, payload, signature = state["token"]["id_token"].split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    try:
        JsonWebToken(["RS256"]).decode(forged, jwks).validate()
    except Exception:  # noqa: BLE001 - any refusal is the point
        return
    raise AssertionError("a forged ID token verified")


check("authlib: sign in, code, tokens, ID token validated (CodeIDToken)", flow)
check("authlib: UserInfo for the same subject", userinfo)
check("authlib: a tampered ID token signature is refused", tampered_id_token_refused)
print(f"{passed} passed, {failed} failed")
sys.exit(0 if failed == 0 else 1)
