#!/usr/bin/env python3
"""Generate a key and a signed JWT per algorithm with PyJWT (+ cryptography).

Usage: gen_pyjwt.py [OUTDIR] [--split]

Writes OUTDIR/fixtures.json (default: jose/tests/data/interop/pyjwt) of the form

    {"source": "pyjwt", "generator": "...", "iss": ISS, "aud": AUD,
     "tokens": {ALG: {"jwk": PUBLIC_JWK, "pem": SPKI_PEM, "token": JWT, "claims": {...}}}}

where the JWK is the public key with `kid`, `alg` and `use` (for HS* the `oct` JWK, which
is the secret itself), `pem` is present for the asymmetric algorithms only, and `claims` is
exactly the payload that was signed. OUTDIR/jwks.json is the JWK Set of the asymmetric
public keys. With --split, also OUTDIR/split/ALG.jwk, ALG.pem and ALG.jwt, one file each,
for `tessera jwt verify --key`.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path

import cryptography
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm

ALGS = [
    "RS256", "RS384", "RS512",
    "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512",
    "EdDSA",
    "HS256", "HS384", "HS512",
]  # fmt: skip

ISS = "https://issuer.pyjwt.example"
AUD = "tessera-interop"
EXP = 4102444800  # 2100-01-01T00:00:00Z
CURVES = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
HMAC_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "jose/tests/data/interop/pyjwt"


def make_key(alg: str):
    """Returns (signing key, public JWK dict, public PEM or None)."""
    if alg.startswith("HS"):
        secret = secrets.token_bytes(HMAC_BYTES[alg])
        return secret, HMACAlgorithm.to_jwk(secret, as_dict=True), None
    if alg[:2] in ("RS", "PS"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    elif alg.startswith("ES"):
        private = ec.generate_private_key(CURVES[alg])
        jwk = ECAlgorithm.to_jwk(private.public_key(), as_dict=True)
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
        jwk = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    else:
        raise ValueError(f"unknown algorithm {alg}")
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, jwk, pem.decode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", nargs="?", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--split", action="store_true", help="also write split/ALG.{jwk,pem,jwt}")
    args = parser.parse_args()

    now = int(time.time())
    tokens = {}
    public_keys = []
    for alg in ALGS:
        key, jwk, pem = make_key(alg)
        kid = f"pyjwt-{alg.lower()}-{secrets.token_hex(4)}"
        jwk.update({"kid": kid, "alg": alg, "use": "sig"})
        claims = {
            "iss": ISS,
            "sub": f"pyjwt:{alg}",
            "aud": AUD,
            "iat": now,
            "nbf": now,
            "exp": EXP,
            "jti": secrets.token_hex(8),
            "name": "Zoë Ångström 日本",
            "scope": "read write",
            "roles": ["reader", "writer"],
            "ctx": {"tenant": 42, "flags": [True, False, None]},
        }
        token = jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})
        entry = {"jwk": jwk, "token": token, "claims": claims}
        if pem is not None:
            entry["pem"] = pem
            public_keys.append(jwk)
        tokens[alg] = entry

    out = {
        "source": "pyjwt",
        "generator": f"PyJWT {jwt.__version__}, cryptography {cryptography.__version__}",
        "iss": ISS,
        "aud": AUD,
        "tokens": tokens,
    }
    args.outdir.mkdir(parents=True, exist_ok=True)
    (args.outdir / "fixtures.json").write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    (args.outdir / "jwks.json").write_text(json.dumps({"keys": public_keys}, indent=2) + "\n")
    if args.split:
        split = args.outdir / "split"
        split.mkdir(exist_ok=True)
        for alg, entry in tokens.items():
            (split / f"{alg}.jwk").write_text(json.dumps(entry["jwk"], indent=2) + "\n")
            (split / f"{alg}.jwt").write_text(entry["token"] + "\n")
            if "pem" in entry:
                (split / f"{alg}.pem").write_text(entry["pem"])
    print(f"gen_pyjwt: {len(tokens)} tokens ({out['generator']}) -> {args.outdir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
