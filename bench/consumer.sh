#!/usr/bin/env bash
# Resource-server side, back to back in one run on loopback with wrk (bounded):
#   1. the example consumer (target/release/examples/consumer; its verified-token cache on,
#      as by default, and off with TOKEN_CACHE=0) against the seed's Node
#      consumer (express + jsonwebtoken + jwks-rsa, bench/node-consumer, npm-installed here),
#      same token, same JWKS (from `tessera serve --alg RS256`), same `wrk -t1 -c32`;
#   2. both again with 1,000 distinct tokens in rotation;
#   3. the gateway's overhead: `tessera gateway` in front of an upstream, against calling the
#      upstream directly;
#   4. peak RSS (VmHWM) of the consumer and the gateway.
# Usage: bash bench/consumer.sh   (needs wrk and node/npm). DURATION=10 by default.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=interop/lib.sh
. "$ROOT/interop/lib.sh"
DURATION="${DURATION:-10}"
command -v wrk >/dev/null || { echo "bench/consumer.sh: wrk is required (apt-get install wrk)" >&2; exit 2; }
cd "$ROOT"
cargo build --release --locked -p tessera --quiet
cargo build --release --locked -p tessera-verifier --examples --quiet
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
(cd bench/node-consumer && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench-consumer.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
run() { # name, wrk args...
  local name="$1"; shift
  echo "--- $name"
  echo "\$ wrk $*"
  wrk "$@" | grep -E "Requests/sec|Latency|50%|99%|non-200|requests in|Socket errors" || true
}

AUTH=$(free_port); RUSTC_PORT=$(free_port); NODE_PORT=$(free_port); GW_PORT=$(free_port)
NOCACHE_PORT=$(free_port)
(cd "$WORK" && TESSERA_LOG=warn exec "$TARGET/tessera" serve --demo --alg RS256 --listen "127.0.0.1:$AUTH") &
PIDS+=($!)
wait_for "http://127.0.0.1:$AUTH/readyz"
JWKS="http://127.0.0.1:$AUTH/.well-known/jwks.json"
TOKEN=$(curl -s -X POST "http://127.0.0.1:$AUTH/api/v1/auth" -H 'Content-Type: application/json' \
  -d '{"userName":"Jane","password":"pass123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["jwt"])')
secret=$(cd "$WORK" && "$TARGET/tessera" client add bench | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
python3 - "http://127.0.0.1:$AUTH/oauth/token" "$secret" > "$WORK/tokens.txt" <<'PY'
import base64, json, sys, urllib.request
url, secret = sys.argv[1], sys.argv[2]
auth = "Basic " + base64.b64encode(f"bench:{secret}".encode()).decode()
for _ in range(1000):
    req = urllib.request.Request(url, data=b"grant_type=client_credentials", headers={"Authorization": auth})
    print(json.load(urllib.request.urlopen(req))["access_token"])
PY
echo "1000 distinct RS256 tokens in $WORK/tokens.txt"

PORT=$RUSTC_PORT JWKS_SERVER=$JWKS "$TARGET/examples/consumer" >/dev/null 2>&1 &
RUST_PID=$!; PIDS+=($RUST_PID)
# The same consumer with its verified-token cache off: every request checks a signature.
PORT=$NOCACHE_PORT TOKEN_CACHE=0 JWKS_SERVER=$JWKS "$TARGET/examples/consumer" >/dev/null 2>&1 &
PIDS+=($!)
PORT=$NODE_PORT JWKS_SERVER=$JWKS node bench/node-consumer/consumer.js >/dev/null 2>&1 &
NODE_PID=$!; PIDS+=($NODE_PID)
wait_for "http://127.0.0.1:$RUSTC_PORT/api/v1/protected"
wait_for "http://127.0.0.1:$NODE_PORT/api/v1/protected"
wait_for "http://127.0.0.1:$NOCACHE_PORT/api/v1/protected"

for who in "rust:$RUSTC_PORT" "rust-nocache:$NOCACHE_PORT" "node:$NODE_PORT"; do
  name=${who%%:*}; port=${who##*:}
  TOKEN=$TOKEN run "$name consumer, one token" -t1 -c32 -d"${DURATION}s" --latency -s bench/tokens.lua "http://127.0.0.1:$port/api/v1/protected"
done
for who in "rust:$RUSTC_PORT" "rust-nocache:$NOCACHE_PORT" "node:$NODE_PORT"; do
  name=${who%%:*}; port=${who##*:}
  TOKENS="$WORK/tokens.txt" run "$name consumer, 1,000 tokens" -t1 -c32 -d"${DURATION}s" --latency -s bench/tokens.lua "http://127.0.0.1:$port/api/v1/protected"
done
echo "--- peak RSS: rust consumer $(grep VmHWM /proc/$RUST_PID/status | awk '{print $2 " " $3}'), node consumer $(grep VmHWM /proc/$NODE_PID/status | awk '{print $2 " " $3}')"

# Gateway overhead: the upstream is the auth server's /healthz (cheap, always 200).
TESSERA_LOG=warn "$TARGET/tessera" gateway --jwks-url "$JWKS" --upstream "http://127.0.0.1:$AUTH" \
  --listen "127.0.0.1:$GW_PORT" >/dev/null 2>&1 &
GW_PID=$!; PIDS+=($GW_PID)
wait_for "http://127.0.0.1:$GW_PORT/healthz"
TOKEN=$TOKEN run "upstream directly" -t1 -c32 -d"${DURATION}s" --latency -s bench/tokens.lua "http://127.0.0.1:$AUTH/healthz"
TOKEN=$TOKEN run "through the gateway" -t1 -c32 -d"${DURATION}s" --latency -s bench/tokens.lua "http://127.0.0.1:$GW_PORT/healthz"
echo "--- peak RSS: gateway $(grep VmHWM /proc/$GW_PID/status | awk '{print $2 " " $3}')"
