#!/usr/bin/env bash
# DPoP (RFC 9449) with a real client library against `tessera serve --dpop-nonce`, the
# example consumer and `tessera gateway`: interop/dpop.mjs (oauth4webapi for the flow, `jose`
# for proofs that each break one rule). Run interop/run.sh first (it installs the npm
# packages). Ends with `N passed, M failed`.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
# shellcheck source=interop/lib.sh
. "$ROOT/interop/lib.sh"
[ -d "$HERE/node_modules/oauth4webapi" ] || { echo "dpop.sh: run interop/run.sh first" >&2; exit 2; }
cd "$ROOT"
cargo build --locked -p tessera --quiet
cargo build --locked -p tessera-verifier --example consumer --quiet
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessera-dpop.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

AUTH=$(free_port); CONSUMER=$(free_port); UPSTREAM=$(free_port); GW=$(free_port)
DB="sqlite://$WORK/tessera.db"
export TESSERA_LOG=warn
(cd "$WORK" && exec "$BIN/tessera" serve --db "$DB" --dpop-nonce --listen "127.0.0.1:$AUTH" >"$WORK/serve.log" 2>&1) &
PIDS+=($!)
python3 "$HERE/proxies/echo_upstream.py" "$UPSTREAM" &
PIDS+=($!)
wait_for "http://127.0.0.1:$AUTH/readyz"
wait_for "http://127.0.0.1:$UPSTREAM/__count"
SECRET=$(cd "$WORK" && "$BIN/tessera" client add svc --scope read --db "$DB" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
PORT="$CONSUMER" JWKS_SERVER="http://127.0.0.1:$AUTH/.well-known/jwks.json" ISSUER="http://127.0.0.1:$AUTH" \
  AUDIENCE=tessera "$BIN/examples/consumer" >"$WORK/consumer.log" 2>&1 &
PIDS+=($!)
"$BIN/tessera" gateway --issuer "http://127.0.0.1:$AUTH" --audience tessera \
  --upstream "http://127.0.0.1:$UPSTREAM" --listen "127.0.0.1:$GW" >"$WORK/gateway.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$CONSUMER/healthz"
wait_for "http://127.0.0.1:$GW/verify"

out=$(cd "$HERE" && ISSUER="http://127.0.0.1:$AUTH" CLIENT_ID=svc CLIENT_SECRET="$SECRET" \
  CONSUMER="http://127.0.0.1:$CONSUMER" GATEWAY="http://127.0.0.1:$GW" \
  COUNT_URL="http://127.0.0.1:$UPSTREAM/__count" node dpop.mjs 2>&1 || true)
passed=$(grep -c '^ok' <<< "$out" || true); failed=$(grep -c '^FAIL' <<< "$out" || true)
sed 's/^/    /' <<< "$out"
if [ "$passed" -eq 0 ] || grep -qv '^\(ok\|FAIL\)' <<< "$out"; then
  failed=$((failed + 1)); echo "    FAIL dpop.mjs did not run to the end"
fi
echo "$passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
  for log in serve consumer gateway; do echo "--- $log.log"; tail -20 "$WORK/$log.log"; done
  exit 1
fi
