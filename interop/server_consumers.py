"""Verifies a token issued by `tessera serve` with PyJWT's PyJWKClient.

Usage: python server_consumers.py JWKS_URL ISSUER AUDIENCE ALG TOKEN
Prints one "ok"/"FAIL" line; exits 1 on failure.
"""
import sys

import jwt

jwks_url, issuer, audience, alg, token = sys.argv[1:6]
try:
    client = jwt.PyJWKClient(jwks_url)
    key = client.get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=[alg], audience=audience, issuer=issuer,
                        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]})
    ok = claims["iss"] == issuer
    print(f"{'ok  ' if ok else 'FAIL'} {alg} PyJWT PyJWKClient")
    sys.exit(0 if ok else 1)
except Exception as e:  # noqa: BLE001 - report any failure as a failed check
    print(f"FAIL {alg} PyJWT PyJWKClient: {e}")
    sys.exit(1)
