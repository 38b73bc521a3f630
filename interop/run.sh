#!/usr/bin/env bash
# Live cross-library round trip between Tessera, PyJWT and Node's `jose`, for every
# algorithm (RS/PS 256/384/512, ES256/384/512, EdDSA, HS256/384/512):
#
#   (a) PyJWT and jose make fresh keys and tokens (gen_pyjwt.py, gen_jose.mjs), and
#       `tessera jwt verify` checks each one with the JWKS, the PEM and the JWK (HS*: the
#       JWK only), and refuses each one with its payload changed;
#   (b) `tessera jwk generate` + `tessera jwt sign` make a token per algorithm, and PyJWT
#       and jose verify each one (verify_pyjwt.py, verify_jose.mjs) with the public JWKS
#       from `tessera jwk public`, the JWK, and the PEM from `tessera jwk to-pem --public`;
#   (c) as a control, PyJWT and jose verify each other's tokens, so that a failure in (a)
#       or (b) can be pinned on one side.
#
# Installs what it needs locally: a venv at interop/.venv (PyJWT[crypto], from
# requirements.txt) and interop/node_modules (`npm ci`). Needs python3 with pip,
# node 20+ with npm, and cargo. Prints one line per check and ends with
# `N passed, M failed`; exits 1 if any check failed. KEEP=1 keeps the work directory.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

say() { printf '==> %s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 2; }

ALGS=(RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512 EdDSA HS256 HS384 HS512)
AUD="tessera-interop"
EXP=4102444800 # 2100-01-01T00:00:00Z

# ---------------------------------------------------------------------------- tools
for tool in python3 node npm cargo; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

say "python: PyJWT into interop/.venv"
VENV="$HERE/.venv"
PY="$VENV/bin/python"
if ! "$PY" -c 'import sys' 2>/dev/null; then
  rm -rf "$VENV"
  python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
fi
"$PY" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
"$PY" -c 'import jwt, cryptography; print("    PyJWT", jwt.__version__, "/ cryptography", cryptography.__version__)'

say "node: jose into interop/node_modules"
(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
node -e 'const p=require(process.argv[1]); console.log("    jose", p.version, "/ node", process.version)' \
  "$HERE/node_modules/jose/package.json"

say "cargo build --locked -p tessera"
cargo build --locked -p tessera --quiet
TESSERA="${CARGO_TARGET_DIR:-$ROOT/target}/debug/tessera"
[ -x "$TESSERA" ] || die "no binary at $TESSERA"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessera-interop.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then
  say "work directory (kept): $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi

# --------------------------------------------------------------------------- checks
passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'ok   %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n' "$1"; }

# Runs a verifier script, which prints `ok   ...` / `FAIL ...` lines, and counts them. A
# script that fails without saying which check failed counts as one failure.
run_verifier() {
  local label="$1" out rc=0 ok bad
  shift
  out="$("$@" 2>&1)" || rc=$?
  printf '%s\n' "$out" | grep -E '^(ok   |FAIL )' || true
  ok=$(printf '%s\n' "$out" | grep -c '^ok   ' || true)
  bad=$(printf '%s\n' "$out" | grep -c '^FAIL ' || true)
  passed=$((passed + ok))
  failed=$((failed + bad))
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
    fail "$label exited $rc: $(printf '%s' "$out" | tail -n 5 | tr '\n' ' ')"
  elif [ "$rc" -eq 0 ] && [ "$bad" -ne 0 ]; then
    fail "$label reported failures but exited 0"
  elif [ "$((ok + bad))" -eq 0 ]; then
    fail "$label ran no check"
  fi
}

json_get() { "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

b64url() { base64 | tr -d '\n=' | tr '+/' '-_'; }

# The token with another (well-formed) payload, same header and signature.
tamper() {
  local header payload signature forged
  IFS=. read -r header payload signature <<<"$1"
  forged=$(printf '{"iss":"%s","sub":"mallory","aud":"%s","iat":%s,"exp":%s}' \
    "$2" "$AUD" "$(date +%s)" "$EXP" | b64url)
  printf '%s.%s.%s' "$header" "$forged" "$signature"
}

# tessera_accepts LABEL SUB ISS TOKEN VERIFY-ARGS...: exit 0 and the claims printed back.
tessera_accepts() {
  local label="$1" sub="$2" iss="$3" token="$4" out
  shift 4
  if out="$("$TESSERA" jwt verify "$@" --iss "$iss" --aud "$AUD" "$token" 2>&1)" &&
    grep -qF "\"sub\": \"$sub\"" <<<"$out" &&
    grep -qF '"name": "Zoë Ångström 日本"' <<<"$out"; then
    pass "$label"
  else
    fail "$label: $(tr '\n' ' ' <<<"$out")"
  fi
}

# tessera_refuses LABEL ISS TOKEN VERIFY-ARGS...: exit 1 because of the signature.
tessera_refuses() {
  local label="$1" iss="$2" token="$3" out rc=0
  shift 3
  out="$("$TESSERA" jwt verify "$@" --iss "$iss" --aud "$AUD" "$token" 2>&1)" || rc=$?
  if [ "$rc" -eq 1 ] && grep -qF 'signature verification failed' <<<"$out"; then
    pass "$label"
  else
    fail "$label: exit $rc: $(tr '\n' ' ' <<<"$out")"
  fi
}

# ------------------------------------- (a) PyJWT and jose sign, Tessera verifies
verify_with_tessera() {
  local lib="$1" dir="$2" iss alg token split
  iss="$(json_get "$dir/fixtures.json" iss)"
  split="$dir/split"
  for alg in "${ALGS[@]}"; do
    token="$(cat "$split/$alg.jwt")"
    local what="tessera verifies $(printf '%-5s' "$alg") from $lib"
    if [[ "$alg" == HS* ]]; then
      tessera_accepts "$what (key: jwk)" "$lib:$alg" "$iss" "$token" --key "$split/$alg.jwk" --alg "$alg"
    else
      tessera_accepts "$what (key: jwks)" "$lib:$alg" "$iss" "$token" --jwks "$dir/jwks.json" --alg "$alg"
      tessera_accepts "$what (key: jwk)" "$lib:$alg" "$iss" "$token" --key "$split/$alg.jwk" --alg "$alg"
      tessera_accepts "$what (key: pem)" "$lib:$alg" "$iss" "$token" --key "$split/$alg.pem" --alg "$alg"
    fi
    tessera_refuses "tessera rejects $(printf '%-5s' "$alg") from $lib with a changed payload" \
      "$iss" "$(tamper "$token" "$iss")" --key "$split/$alg.jwk"
  done
}

say "(a) PyJWT and jose sign, tessera verifies"
"$PY" "$HERE/gen_pyjwt.py" "$WORK/pyjwt" --split
node "$HERE/gen_jose.mjs" "$WORK/node-jose" --split
verify_with_tessera pyjwt "$WORK/pyjwt"
verify_with_tessera node-jose "$WORK/node-jose"

# ------------------------------------- (b) Tessera signs, PyJWT and jose verify
say "(b) tessera signs, PyJWT and jose verify"
TISS="https://issuer.tessera.example"
T="$WORK/tessera"
mkdir -p "$T"
for alg in "${ALGS[@]}"; do
  claims=$(printf '{"iss":"%s","sub":"tessera:%s","aud":"%s","name":"Zoë Ångström 日本","roles":["reader","writer"],"ctx":{"tenant":42,"flags":[true,false,null]}}' \
    "$TISS" "$alg" "$AUD")
  if "$TESSERA" jwk generate --alg "$alg" >"$T/$alg.jwk" &&
    { [[ "$alg" == HS* ]] || {
      "$TESSERA" jwk public "$T/$alg.jwk" >"$T/$alg.pub.jwk" &&
        "$TESSERA" jwk to-pem --public "$T/$alg.jwk" >"$T/$alg.pem"
    }; } &&
    "$TESSERA" jwt sign --key "$T/$alg.jwk" --exp 1h --claims "$claims" >"$T/$alg.jwt" &&
    printf '%s' "$claims" >"$T/$alg.claims.json"; then
    pass "tessera generates a $(printf '%-5s' "$alg") key and signs a token"
  else
    fail "tessera generates a $(printf '%-5s' "$alg") key and signs a token"
    rm -f "$T/$alg.jwt"
  fi
done

# The published set: every private key in one set, through `tessera jwk public`, which
# must drop the private members and the shared secrets.
"$PY" - "$T" "${ALGS[@]}" >"$T/private.jwks" <<'EOF'
import json, sys
from pathlib import Path
d = Path(sys.argv[1])
keys = [json.loads((d / f"{alg}.jwk").read_text()) for alg in sys.argv[2:] if (d / f"{alg}.jwk").is_file()]
print(json.dumps({"keys": keys}))
EOF
label="tessera jwk public keeps the 10 asymmetric public keys of a 13-key set"
if "$TESSERA" jwk public "$T/private.jwks" >"$T/public.jwks" 2>"$T/public.err" &&
  "$PY" - "$T/public.jwks" <<'EOF'; then
import json, sys
keys = json.load(open(sys.argv[1]))["keys"]
assert len(keys) == 10, f"{len(keys)} keys"
assert all(k["kty"] in ("RSA", "EC", "OKP") for k in keys), "a symmetric key was published"
leaked = [(k["alg"], m) for k in keys for m in ("d", "p", "q", "dp", "dq", "qi", "k") if m in k]
assert not leaked, f"private members published: {leaked}"
EOF
  pass "$label"
else
  fail "$label: $(tr '\n' ' ' <"$T/public.err")"
fi

# The token file for the verifiers: per algorithm the token, its key (public JWK, or the
# oct JWK for HS*), the PEM, and the claims that were asked for.
"$PY" - "$T" "$TISS" "$AUD" "${ALGS[@]}" >"$T/tokens.json" <<'EOF'
import json, sys
from pathlib import Path
d, iss, aud, algs = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
tokens = {}
for alg in algs:
    if not (d / f"{alg}.jwt").is_file():
        continue  # its signing failed (counted above); the verifiers report it missing
    public = d / f"{alg}.pub.jwk"
    entry = {
        "token": (d / f"{alg}.jwt").read_text().strip(),
        "jwk": json.loads((public if public.is_file() else d / f"{alg}.jwk").read_text()),
        "claims": json.loads((d / f"{alg}.claims.json").read_text()),
    }
    if (d / f"{alg}.pem").is_file():
        entry["pem"] = (d / f"{alg}.pem").read_text()
    tokens[alg] = entry
print(json.dumps({"source": "tessera", "iss": iss, "aud": aud, "tokens": tokens}, ensure_ascii=False))
EOF
run_verifier "verify_pyjwt.py (tessera tokens)" "$PY" "$HERE/verify_pyjwt.py" "$T/tokens.json" --jwks "$T/public.jwks"
run_verifier "verify_jose.mjs (tessera tokens)" node "$HERE/verify_jose.mjs" "$T/tokens.json" --jwks "$T/public.jwks"

# ------------------------------------- (c) control: PyJWT and jose verify each other
say "(c) control: PyJWT and jose verify each other's tokens"
run_verifier "verify_jose.mjs (pyjwt tokens)" node "$HERE/verify_jose.mjs" "$WORK/pyjwt/fixtures.json" --jwks "$WORK/pyjwt/jwks.json"
run_verifier "verify_pyjwt.py (jose tokens)" "$PY" "$HERE/verify_pyjwt.py" "$WORK/node-jose/fixtures.json" --jwks "$WORK/node-jose/jwks.json"

printf '%d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
