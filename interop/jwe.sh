#!/usr/bin/env bash
# JWE interop, both ways, for every (alg, enc) pair Tessera supports, with two independent
# implementations: Python jwcrypto (jwe_jwcrypto.py) and Node `jose` (jwe.mjs).
#
# For each peer: tessera makes a key per key-management algorithm (a `dir` key per content
# encryption) and the peer encrypts to it; tessera decrypts (`tessera jwe decrypt`). The peer
# makes keys of its own and tessera encrypts to them (`tessera jwe encrypt`); the peer
# decrypts. Nested JWTs both ways: the peer signs (ES256) then encrypts and
# `tessera jwt verify --decrypt-key` accepts it; `tessera jwt sign --encrypt-to` and the peer
# decrypts and verifies. Then end to end: `tessera serve --encrypt-access-tokens` issues
# nested access tokens that the example consumer (DECRYPT_KEY, REQUIRE_ENCRYPTION=1) and the
# gateway (--decrypt-key --require-encryption) accept, and jose decrypts and verifies against
# the server's JWKS. Run interop/run.sh first (it installs the venv and npm packages).
# Ends with `N passed, M failed`.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PY="$HERE/.venv/bin/python"
[ -d "$HERE/node_modules/jose" ] && "$PY" -c 'import jwcrypto' 2>/dev/null \
  || { echo "jwe.sh: run interop/run.sh first" >&2; exit 2; }
cd "$ROOT"
# shellcheck source=interop/lib.sh
. "$ROOT/interop/lib.sh"
cargo build --locked -p tessera --quiet
cargo build --locked -p tessera-verifier --example consumer --quiet
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
T="$BIN/tessera"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessera-jwe.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

ALGS=(RSA-OAEP-256 RSA-OAEP ECDH-ES ECDH-ES+A128KW ECDH-ES+A256KW A128KW A256KW dir)
ENCS=(A128GCM A256GCM A128CBC-HS256 A256CBC-HS512)
curve() { case "$1" in ECDH-ES) echo X25519;; ECDH-ES+A128KW) echo P-256;; ECDH-ES+A256KW) echo P-521;; esac; }
bits() { case "$1" in A128GCM) echo 128;; A256CBC-HS512) echo 512;; *) echo 256;; esac; }
name() { if [ "$1" = dir ]; then echo "dir-$2"; else echo "$1"; fi; }

passed=0; failed=0
count() {
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    echo "    $line"
    case "$line" in ok*) passed=$((passed + 1));; *) failed=$((failed + 1));; esac
  done <<< "$1"
}

echo "==> tessera's keys"
for alg in "${ALGS[@]}"; do
  for enc in "${ENCS[@]}"; do
    n=$(name "$alg" "$enc")
    [ -f "$WORK/tessera.$n.jwk" ] && continue
    args=(jwk generate --alg "$alg")
    [ -n "$(curve "$alg")" ] && args+=(--crv "$(curve "$alg")")
    [ "$alg" = dir ] && args+=(--size "$(bits "$enc")")
    "$T" "${args[@]}" > "$WORK/tessera.$n.jwk"
    if grep -q '"kty": "oct"' "$WORK/tessera.$n.jwk"; then
      cp "$WORK/tessera.$n.jwk" "$WORK/tessera.$n.pub.jwk"
    else
      "$T" jwk public "$WORK/tessera.$n.jwk" > "$WORK/tessera.$n.pub.jwk"
    fi
  done
done
"$T" jwk generate --alg ES256 > "$WORK/tessera.sig.jwk"
"$T" jwk public "$WORK/tessera.sig.jwk" > "$WORK/tessera.sig.pub.jwk"

for peer in jwcrypto jose; do
  if [ "$peer" = jose ]; then run=(node "$HERE/jwe.mjs"); else run=("$PY" "$HERE/jwe_jwcrypto.py"); fi
  echo "==> $peer -> tessera"
  count "$("${run[@]}" make "$WORK" 2>&1 || true)"
  for alg in "${ALGS[@]}"; do
    for enc in "${ENCS[@]}"; do
      n=$(name "$alg" "$enc")
      label="tessera decrypts $peer's $alg $enc"
      if out=$("$T" jwe decrypt --key "$WORK/tessera.$n.jwk" --alg "$alg" "$(cat "$WORK/$peer-to-tessera.$alg.$enc.jwe")" 2>&1) \
        && [ "$out" = "from $peer: $alg $enc" ]; then
        count "ok   $label"
      else
        count "FAIL $label: $out"
      fi
    done
    n=$(name "$alg" A256GCM)
    label="tessera decrypts and verifies $peer's nested $alg token"
    if out=$("$T" jwt verify --key "$WORK/$peer.sig.pub.jwk" --decrypt-key "$WORK/tessera.$n.jwk" \
      "$(cat "$WORK/$peer-nested.$alg.jwe")" 2>&1) && grep -q "\"sub\": \"$peer\"" <<< "$out"; then
      count "ok   $label"
    else
      count "FAIL $label: $out"
    fi
  done
  echo "==> tessera -> $peer"
  for alg in "${ALGS[@]}"; do
    for enc in "${ENCS[@]}"; do
      n=$(name "$alg" "$enc")
      "$T" jwe encrypt --key "$WORK/$peer.$n.pub.jwk" --alg "$alg" --enc "$enc" "from tessera: $alg $enc" \
        > "$WORK/tessera-to-$peer.$alg.$enc.jwe" 2>"$WORK/err" || count "FAIL tessera encrypts to $peer's $alg $enc key: $(cat "$WORK/err")"
    done
    n=$(name "$alg" A256GCM)
    "$T" jwt sign --key "$WORK/tessera.sig.jwk" --claims '{"sub":"tessera"}' \
      --encrypt-to "$WORK/$peer.$n.pub.jwk" --key-alg "$alg" --enc A256GCM \
      > "$WORK/tessera-nested-to-$peer.$alg.jwe" 2>"$WORK/err" || count "FAIL tessera nests to $peer's $alg key: $(cat "$WORK/err")"
  done
  count "$("${run[@]}" check "$WORK" 2>&1 || true)"
done
echo "==> tessera serve --encrypt-access-tokens, the consumer and the gateway"
AUTH=$(free_port); CONSUMER=$(free_port); GW=$(free_port)
export TESSERA_LOG=warn
"$T" jwk generate --alg ECDH-ES+A256KW --crv P-384 > "$WORK/rs.jwk"
(cd "$WORK" && exec "$T" serve --demo --db "sqlite://$WORK/tessera.db" --listen "127.0.0.1:$AUTH" \
  --encrypt-access-tokens "$WORK/rs.jwk" >"$WORK/serve.log" 2>&1) &
PIDS+=($!)
wait_for "http://127.0.0.1:$AUTH/readyz"
PORT="$CONSUMER" JWKS_SERVER="http://127.0.0.1:$AUTH/.well-known/jwks.json" ISSUER="http://127.0.0.1:$AUTH" \
  AUDIENCE=tessera DECRYPT_KEY="$WORK/rs.jwk" REQUIRE_ENCRYPTION=1 "$BIN/examples/consumer" >"$WORK/consumer.log" 2>&1 &
PIDS+=($!)
"$T" gateway --issuer "http://127.0.0.1:$AUTH" --audience tessera --upstream "http://127.0.0.1:$AUTH" \
  --listen "127.0.0.1:$GW" --decrypt-key "$WORK/rs.jwk" --require-encryption >"$WORK/gateway.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$CONSUMER/healthz"
wait_for "http://127.0.0.1:$GW/verify"
TOKEN=$(curl -s "http://127.0.0.1:$AUTH/api/v1/auth" -H 'content-type: application/json' \
  -d '{"userName":"Jane","password":"pass123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["jwt"])')
if [ "$(tr -cd . <<< "$TOKEN" | wc -c)" -eq 4 ]; then count "ok   the login answer's access token is a JWE"; else count "FAIL not a JWE: $TOKEN"; fi
code=$(curl -s -o "$WORK/body" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$CONSUMER/api/v1/protected")
if [ "$code" = 200 ] && grep -q '"sub"' "$WORK/body"; then count "ok   the consumer (DECRYPT_KEY) accepts it"; else count "FAIL consumer: $code $(cat "$WORK/body")"; fi
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$GW/verify")
if [ "$code" = 200 ]; then count "ok   the gateway (--decrypt-key) accepts it"; else count "FAIL gateway: $code"; fi
# The inner token, re-sent bare: refused by both, encryption being required.
INNER=$("$T" jwe decrypt --key "$WORK/rs.jwk" "$TOKEN")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $INNER" "http://127.0.0.1:$CONSUMER/api/v1/protected")
if [ "$code" = 401 ]; then count "ok   the consumer refuses the inner token sent unencrypted"; else count "FAIL consumer took a plain token: $code"; fi
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $INNER" "http://127.0.0.1:$GW/verify")
if [ "$code" = 401 ]; then count "ok   the gateway refuses the inner token sent unencrypted"; else count "FAIL gateway took a plain token: $code"; fi
count "$(cd "$HERE" && node jwe.mjs server "$WORK/rs.jwk" "http://127.0.0.1:$AUTH" "$TOKEN" 2>&1 || true)"
echo "$passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
  for log in serve consumer gateway; do echo "--- $log.log"; tail -20 "$WORK/$log.log"; done
  exit 1
fi
