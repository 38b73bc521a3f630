#!/usr/bin/env bash
# The example consumer with DPoP-bound tokens against bearer tokens, in one run on loopback:
# `tessera serve` issues a bearer token and two DPoP-bound ones (ES256 and EdDSA client
# keys, client credentials); `tessera jwt dpop-proof --count` makes a fresh proof for every
# request beforehand (each proof is good once); then `wrk -t1 -c32` alternates bearer, DPoP
# ES256 and DPoP EdDSA rounds against the same consumer (its verified-token cache on, as by
# default: the token's signature is checked once, the proof's on every request).
# Usage: bash bench/dpop.sh   (needs wrk). DURATION=5 and ROUNDS=3 by default.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=interop/lib.sh
. "$ROOT/interop/lib.sh"
DURATION="${DURATION:-5}"; ROUNDS="${ROUNDS:-3}"
command -v wrk >/dev/null || { echo "bench/dpop.sh: wrk is required (apt-get install wrk)" >&2; exit 2; }
cd "$ROOT"
cargo build --release --locked -p tessera --quiet
cargo build --release --locked -p tessera-verifier --examples --quiet
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench-dpop.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

AUTH=$(free_port); PORT=$(free_port)
DB="sqlite://$WORK/tessera.db"
(cd "$WORK" && TESSERA_LOG=warn exec "$TARGET/tessera" serve --db "$DB" --alg RS256 --listen "127.0.0.1:$AUTH") &
PIDS+=($!)
wait_for "http://127.0.0.1:$AUTH/readyz"
SECRET=$(cd "$WORK" && "$TARGET/tessera" client add bench --db "$DB" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
token() { # [key file]
  local proof=()
  if [ -n "${1:-}" ]; then
    proof=(-H "DPoP: $("$TARGET/tessera" jwt dpop-proof --key "$1" --method POST --url "http://127.0.0.1:$AUTH/oauth/token")")
  fi
  curl -sf "http://127.0.0.1:$AUTH/oauth/token" "${proof[@]}" -d grant_type=client_credentials \
    -d client_id=bench -d client_secret="$SECRET" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}
BEARER=$(token)
for alg in ES256 EdDSA; do
  "$TARGET/tessera" jwk generate --alg "$alg" > "$WORK/$alg.json"
  token "$WORK/$alg.json" > "$WORK/$alg.token"
done
PORT=$PORT JWKS_SERVER="http://127.0.0.1:$AUTH/.well-known/jwks.json" "$TARGET/examples/consumer" >/dev/null 2>&1 &
CONSUMER_PID=$!; PIDS+=($CONSUMER_PID)
URL="http://127.0.0.1:$PORT/api/v1/protected"
wait_for "$URL"

run() { # name, env for the wrk script
  echo "--- $1"; shift
  echo "\$ wrk -t1 -c32 -d${DURATION}s --latency -s bench/dpop.lua $URL"
  env "$@" wrk -t1 -c32 -d"${DURATION}s" --latency -s bench/dpop.lua "$URL" \
    | grep -E "Requests/sec|50%|99%|non-200|requests in" || true
}
# Enough proofs for the fastest round seen, with room: 60,000 per second of run.
COUNT=$((DURATION * 60000))
for round in $(seq 1 "$ROUNDS"); do
  echo "=== round $round"
  run "bearer token" SCHEME=Bearer TOKEN="$BEARER"
  for alg in ES256 EdDSA; do
    "$TARGET/tessera" jwt dpop-proof --key "$WORK/$alg.json" --url "$URL" \
      --token "$(cat "$WORK/$alg.token")" --count "$COUNT" > "$WORK/proofs"
    run "DPoP, $alg proof" SCHEME=DPoP TOKEN="$(cat "$WORK/$alg.token")" PROOFS="$WORK/proofs"
  done
done
echo "--- peak RSS: consumer $(grep VmHWM /proc/$CONSUMER_PID/status | awk '{print $2 " " $3}')"
