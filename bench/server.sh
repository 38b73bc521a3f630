#!/usr/bin/env bash
# Load test of `tessera serve` on loopback with wrk (bounded: DURATION seconds per run).
#   JWKS endpoint, client-credentials issuance (RS256 and ES256), password login (argon2id),
#   and the server's peak RSS (VmHWM).
# Usage: bash bench/server.sh   (needs wrk: apt-get install wrk). DURATION=10 by default.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=interop/lib.sh
. "$ROOT/interop/lib.sh"
DURATION="${DURATION:-10}"
command -v wrk >/dev/null || { echo "bench/server.sh: wrk is required (apt-get install wrk)" >&2; exit 2; }
cd "$ROOT"
cargo build --release --locked -p tessera --quiet
TESSERA="${CARGO_TARGET_DIR:-$ROOT/target}/release/tessera"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench.XXXXXX")"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

run() { # name, wrk args...
  local name="$1"; shift
  echo "--- $name"
  echo "\$ wrk $*"
  wrk "$@" | grep -E "Requests/sec|Latency|50%|99%|non-2xx|requests in|Socket errors" || true
}

for alg in RS256 ES256; do
  port=$(free_port)
  dir="$WORK/$alg"; mkdir -p "$dir"
  (cd "$dir" && TESSERA_LOG=warn exec "$TESSERA" serve --demo --alg "$alg" --listen "127.0.0.1:$port") &
  PID=$!
  wait_for "http://127.0.0.1:$port/readyz"
  secret=$(cd "$dir" && "$TESSERA" client add bench --scope "a b" | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
  base="http://127.0.0.1:$port"
  echo "=== tessera serve --alg $alg (pid $PID)"
  if [ "$alg" = RS256 ]; then
    run "JWKS" -t2 -c64 -d"${DURATION}s" --latency "$base/.well-known/jwks.json"
    BODY='{"userName":"Jane","password":"pass123"}' CT=application/json \
      run "password login (argon2id)" -t2 -c8 -d"${DURATION}s" --latency -s bench/post.lua "$base/api/v1/auth"
  fi
  BODY="grant_type=client_credentials" BASIC="$(printf 'bench:%s' "$secret" | base64 -w0)" \
    run "client_credentials $alg" -t2 -c32 -d"${DURATION}s" --latency -s bench/post.lua "$base/oauth/token"
  echo "--- peak RSS: $(grep VmHWM /proc/$PID/status | awk '{print $2 " " $3}')"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
done
