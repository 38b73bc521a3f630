"""JWE interop peer: Python jwcrypto (see jwe.sh for the file protocol).

  jwe_jwcrypto.py make DIR   keys of our own, and tokens encrypted to tessera's keys
  jwe_jwcrypto.py check DIR  decrypt what tessera encrypted to our keys

Prints `ok   ...` / `FAIL ...` lines.
"""

import json
import sys
import time

from jwcrypto import jwa, jwe, jwk, jws
from jwcrypto.common import json_encode

PEER = "jwcrypto"
ALGS = ["RSA-OAEP-256", "RSA-OAEP", "ECDH-ES", "ECDH-ES+A128KW", "ECDH-ES+A256KW",
        "A128KW", "A256KW", "dir", "PBES2-HS256+A128KW", "PBES2-HS512+A256KW"]
NESTED = [a for a in ALGS if not a.startswith("PBES2")]
# tessera encrypts PBES2 with 600,000 / 210,000 iterations, over jwcrypto's default bound.
jwa.default_max_pbkdf2_iterations = 1_000_000
ENCS = ["A128GCM", "A256GCM", "A128CBC-HS256", "A256CBC-HS512"]
CURVES = {"ECDH-ES": "X25519", "ECDH-ES+A128KW": "P-256", "ECDH-ES+A256KW": "P-521"}
ENC_BITS = {"A128GCM": 128, "A256GCM": 256, "A128CBC-HS256": 256, "A256CBC-HS512": 512}


def key_name(alg, enc):
    return f"dir-{enc}" if alg == "dir" else alg


def generate(alg, enc):
    if alg.startswith("RSA"):
        return jwk.JWK.generate(kty="RSA", size=2048)
    if alg.startswith("ECDH"):
        crv = CURVES[alg]
        return jwk.JWK.generate(kty="OKP" if crv == "X25519" else "EC", crv=crv)
    if alg.startswith("PBES2"):
        return jwk.JWK.generate(kty="oct", size=144)
    if alg == "dir":
        return jwk.JWK.generate(kty="oct", size=ENC_BITS[enc])
    return jwk.JWK.generate(kty="oct", size=128 if alg == "A128KW" else 256)


def read_key(path):
    with open(path) as f:
        return jwk.JWK.from_json(f.read())


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def pairs():
    for alg in ALGS:
        for enc in ENCS:
            yield alg, enc


def make(d):
    made = set()
    for alg, enc in pairs():
        name = key_name(alg, enc)
        if name not in made:
            key = generate(alg, enc)
            write(f"{d}/{PEER}.{name}.jwk", key.export(private_key=True))
            public = key.export(private_key=True) if key["kty"] == "oct" else key.export_public()
            write(f"{d}/{PEER}.{name}.pub.jwk", public)
            made.add(name)
        recipient = read_key(f"{d}/tessera.{name}.pub.jwk")
        token = jwe.JWE(f"from {PEER}: {alg} {enc}".encode(),
                        json_encode({"alg": alg, "enc": enc}))
        token.add_recipient(recipient)
        write(f"{d}/{PEER}-to-tessera.{alg}.{enc}.jwe", token.serialize(compact=True))
    # Nested: signed with our ES256 key, then encrypted (cty JWT).
    signer = jwk.JWK.generate(kty="EC", crv="P-256")
    write(f"{d}/{PEER}.sig.pub.jwk", signer.export_public())
    for alg in NESTED:
        name = key_name(alg, "A256GCM")
        claims = {"sub": PEER, "alg_used": alg, "exp": int(time.time()) + 600}
        signed = jws.JWS(json.dumps(claims).encode())
        signed.add_signature(signer, None, json_encode({"alg": "ES256", "typ": "JWT"}))
        inner = signed.serialize(compact=True)
        token = jwe.JWE(inner.encode(), json_encode({"alg": alg, "enc": "A256GCM", "cty": "JWT"}))
        token.add_recipient(read_key(f"{d}/tessera.{name}.pub.jwk"))
        write(f"{d}/{PEER}-nested.{alg}.jwe", token.serialize(compact=True))
    print(f"ok   {PEER}: made keys and {len(ALGS) * len(ENCS)} tokens for tessera")


def check(d):
    for alg, enc in pairs():
        name = key_name(alg, enc)
        label = f"{PEER} decrypts tessera's {alg} {enc}"
        try:
            with open(f"{d}/tessera-to-{PEER}.{alg}.{enc}.jwe") as f:
                text = f.read().strip()
            token = jwe.JWE()
            token.deserialize(text, key=read_key(f"{d}/{PEER}.{name}.jwk"))
            expected = f"from tessera: {alg} {enc}".encode()
            if token.payload == expected:
                print(f"ok   {label}")
            else:
                print(f"FAIL {label}: plaintext {token.payload!r}")
        except Exception as e:  # noqa: BLE001 - any failure is a failed check
            print(f"FAIL {label}: {type(e).__name__}: {e}")
    signer = read_key(f"{d}/tessera.sig.pub.jwk")
    for alg in NESTED:
        name = key_name(alg, "A256GCM")
        label = f"{PEER} decrypts and verifies tessera's nested {alg} token"
        try:
            with open(f"{d}/tessera-nested-to-{PEER}.{alg}.jwe") as f:
                text = f.read().strip()
            outer = jwe.JWE()
            outer.deserialize(text, key=read_key(f"{d}/{PEER}.{name}.jwk"))
            header = json.loads(outer.objects["protected"])
            inner = jws.JWS()
            inner.deserialize(outer.payload.decode(), key=signer)
            claims = json.loads(inner.payload)
            if header.get("cty") == "JWT" and claims.get("sub") == "tessera":
                print(f"ok   {label}")
            else:
                print(f"FAIL {label}: cty {header.get('cty')!r}, claims {claims!r}")
        except Exception as e:  # noqa: BLE001
            print(f"FAIL {label}: {type(e).__name__}: {e}")


if __name__ == "__main__":
    {"make": make, "check": check}[sys.argv[1]](sys.argv[2])
