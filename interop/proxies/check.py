"""Checks one front (the gateway itself, or nginx / Caddy asking the gateway's /verify)
for interop/proxies.sh. Prints one `ok ...` or `FAIL ...` line per check.

usage: check.py NAME FRONT_URL COUNT_URL TOKEN [--direct | --every-tessera-name]
  --direct               the gateway itself: every forged name, forwarding headers too
  --every-tessera-name   a front that strips any X-Tessera-* / X_Tessera_* name (Caddy's recipe)
"""
import base64
import http.client
import json
import sys
import urllib.parse
import urllib.request

name, front, count_url, token = sys.argv[1:5]
direct = "--direct" in sys.argv[5:]
every_tessera_name = direct or "--every-tessera-name" in sys.argv[5:]
url = urllib.parse.urlsplit(front)


def b64json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


claims = b64json(token.split(".")[1])


def request(headers):
    """GET /api/echo through the front with exactly these headers (names as given)."""
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.putrequest("GET", "/api/echo", skip_host=True, skip_accept_encoding=True)
    for k, v in headers:
        conn.putheader(k, v)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, response.getheader("WWW-Authenticate") or "", body


def upstream_count():
    return json.load(urllib.request.urlopen(count_url, timeout=5))["count"]


def check(ok, what, detail=""):
    print(("ok   " if ok else "FAIL ") + f"{name}: {what}" + (f" ({detail})" if detail and not ok else ""))


forged = [
    ("X-Tessera-Sub", "admin"),
    ("X-Tessera-Role", "admin"),
    ("X-Tessera-Claims", "e30"),
]
if every_tessera_name:
    forged += [("X_Tessera_Sub", "admin"), ("X-Tessera-Extra", "admin")]
if direct:
    forged += [
        ("Forwarded", "for=10.0.0.1;host=admin.example"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("X-Forwarded-Host", "admin.example"),
        ("X-Real-IP", "10.0.0.1"),
        ("X-Original-URL", "/admin"),
        ("X-Rewrite-URL", "/admin"),
        ("X-Forwarded-User", "admin"),
    ]

# 1. A valid token, with forged identity headers: through, with the token's own identity.
status, _, body = request([("Host", url.netloc), ("Authorization", f"Bearer {token}")] + forged)
check(status == 200, "a valid token passes", f"status {status}: {body[:200]!r}")
if status == 200:
    echo = json.loads(body)
    got = {}
    for k, v in echo["headers"]:
        got.setdefault(k, []).append(v)
    check(got.get("x-tessera-sub") == [claims["sub"]], "X-Tessera-Sub is the token's sub, once",
          repr(got.get("x-tessera-sub")))
    expected_role = [claims["role"]] if isinstance(claims.get("role"), str) else None
    check(got.get("x-tessera-role") == expected_role, "X-Tessera-Role is the token's role",
          repr(got.get("x-tessera-role")))
    carried = got.get("x-tessera-claims", [""])
    check(len(carried) == 1 and b64json(carried[0]) == claims, "X-Tessera-Claims carries every claim",
          repr(carried))
    leaked = [(k, v) for k, v in echo["headers"] if "admin" in v or v.startswith("10.0.0.1")]
    check(not leaked, "no forged header reaches the upstream", repr(leaked))
    if direct:
        check(got.get("x-forwarded-for") == ["127.0.0.1"], "X-Forwarded-For is the peer",
              repr(got.get("x-forwarded-for")))
        check(got.get("x-forwarded-host") == [url.netloc], "X-Forwarded-Host is the request's Host",
              repr(got.get("x-forwarded-host")))

# 2. A token whose signature does not verify: 401 invalid_token, the upstream untouched.
head, payload, sig = token.split(".")
bad = ".".join([head, payload, ("A" if sig[0] != "A" else "B") + sig[1:]])
before = upstream_count()
status, challenge, body = request([("Host", url.netloc), ("Authorization", f"Bearer {bad}"), ("X-Tessera-Sub", "admin")])
check(status == 401, "a bad signature is refused with 401", f"status {status}")
check('error="invalid_token"' in challenge, "the 401 says invalid_token", repr(challenge))
check(upstream_count() == before, "a refused request never reaches the upstream")

# 3. No token at all, only forged headers.
before = upstream_count()
status, challenge, _ = request([("Host", url.netloc)] + forged)
check(status == 401 and challenge.startswith("Bearer"), "no token is a 401 with a Bearer challenge",
      f"status {status}, {challenge!r}")
check(upstream_count() == before, "forged headers alone never reach the upstream")
