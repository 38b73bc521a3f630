#!/usr/bin/env python3
"""Verify JWTs (signed by Tessera, or by anything else) with PyJWT.

Usage: verify_pyjwt.py TOKENFILE [--jwks JWKS_FILE]

TOKENFILE is JSON in the shape the generators write:

    {"iss": ISS, "aud": AUD,
     "tokens": {ALG: {"token": JWT, "jwk": JWK?, "pem": SPKI_PEM?, "claims": {...}?}}}

Every one of the 13 algorithms must be present. Each token is verified (signature, `exp`,
`iat`, `nbf`, `iss`, `aud`) with every key source it has: the JWK Set given with --jwks
(asymmetric algorithms, key found by the header's `kid`), its own `jwk`, and its `pem`.
The header `alg` must be ALG, and every member of `claims` must come back unchanged. A copy
of the token with a different payload must fail with InvalidSignatureError.

Prints one line per check (`ok   ...` or `FAIL ...`) and exits 1 if any check failed.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

import jwt
from jwt import PyJWK, PyJWKSet

ALGS = [
    "RS256", "RS384", "RS512",
    "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512",
    "EdDSA",
    "HS256", "HS384", "HS512",
]  # fmt: skip


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def tampered(token: str) -> str:
    """The same header and signature over a different payload."""
    header, payload, signature = token.split(".")
    claims = json.loads(b64url_decode(payload))
    claims["sub"] = "mallory"
    return ".".join([header, b64url(json.dumps(claims).encode()), signature])


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def run(self, label: str, check) -> None:
        try:
            check()
        except Exception as e:  # noqa: BLE001 - any failure is reported, with its type
            self.failed += 1
            print(f"FAIL {label}: {type(e).__name__}: {e}", flush=True)
        else:
            self.passed += 1
            print(f"ok   {label}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tokenfile", type=Path)
    parser.add_argument("--jwks", type=Path, help="JWK Set for the asymmetric algorithms")
    args = parser.parse_args()

    manifest = json.loads(args.tokenfile.read_text())
    iss, aud, entries = manifest["iss"], manifest["aud"], manifest["tokens"]
    source = manifest.get("source") or manifest.get("generator") or str(args.tokenfile)
    keyset = PyJWKSet.from_json(args.jwks.read_text()) if args.jwks else None
    checks = Checks()

    for alg in ALGS:
        entry = entries.get(alg)
        if entry is None:
            checks.failed += 1
            print(f"FAIL pyjwt {alg}: no token for it in {args.tokenfile}", flush=True)
            continue
        token = entry["token"]
        expected = entry.get("claims", {})

        def verify(key, token=token, alg=alg, expected=expected) -> None:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != alg:
                raise AssertionError(f"header alg is {header.get('alg')!r}, expected {alg}")
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=aud,
                issuer=iss,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
            for name, value in expected.items():
                if claims.get(name) != value:
                    raise AssertionError(f"claim {name!r} is {claims.get(name)!r}, expected {value!r}")

        sources = []
        if keyset is not None and not alg.startswith("HS"):

            def from_set(token=token):
                kid = jwt.get_unverified_header(token).get("kid")
                return keyset[kid].key

            sources.append(("jwks", from_set))
        if "jwk" in entry:
            sources.append(("jwk", lambda entry=entry, alg=alg: PyJWK(entry["jwk"], algorithm=alg).key))
        if "pem" in entry:
            sources.append(("pem", lambda entry=entry: entry["pem"].encode()))
        if not sources:
            checks.failed += 1
            print(f"FAIL pyjwt {alg}: no key for it (give --jwks or a jwk)", flush=True)
            continue

        for name, load in sources:
            checks.run(f"pyjwt verifies {alg:<5} from {source} (key: {name})", lambda load=load: verify(load()))

        def rejects_tampered(load=sources[0][1], token=token, alg=alg) -> None:
            try:
                jwt.decode(tampered(token), load(), algorithms=[alg], audience=aud, issuer=iss)
            except jwt.InvalidSignatureError:
                return
            raise AssertionError("a token with a changed payload verified")

        checks.run(f"pyjwt rejects {alg:<5} from {source} with a changed payload", rejects_tampered)

    print(f"verify_pyjwt: {checks.passed} ok, {checks.failed} failed", file=sys.stderr)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
