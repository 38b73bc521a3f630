#!/usr/bin/env bash
# The gateway's proxy recipes in docs/gateway.md, run for real against `tessera serve`:
# `tessera gateway` itself, nginx `auth_request` and Caddy `forward_auth` (both from Debian)
# asking the gateway's /verify, all in front of one echoing upstream. Each front must let a
# valid token through with the token's own identity headers (forged ones replaced), and
# answer a bad signature or a missing token with 401 without reaching the upstream.
# Usage: bash interop/proxies.sh   (installs nginx and caddy with apt-get when missing).
# Ends with `N passed, M failed`.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
# shellcheck source=interop/lib.sh
. "$ROOT/interop/lib.sh"
if ! command -v nginx >/dev/null || ! command -v caddy >/dev/null; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq >/dev/null || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx-light caddy >/dev/null
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
cd "$ROOT"
cargo build --locked -p tessera --quiet
TESSERA="${CARGO_TARGET_DIR:-$ROOT/target}/debug/tessera"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessera-proxies.XXXXXX")"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  stop_nginx
  rm -rf "$WORK"
}
trap cleanup EXIT

AUTH=$(free_port); UPSTREAM=$(free_port); GW=$(free_port); NGINX_PORT=$(free_port); CADDY_PORT=$(free_port)
(cd "$WORK" && TESSERA_LOG=warn exec "$TESSERA" serve --demo --listen "127.0.0.1:$AUTH" >"$WORK/serve.log" 2>&1) &
PIDS+=($!)
python3 "$HERE/proxies/echo_upstream.py" "$UPSTREAM" &
PIDS+=($!)
wait_for "http://127.0.0.1:$AUTH/readyz"
wait_for "http://127.0.0.1:$UPSTREAM/__count"

TESSERA_LOG=warn "$TESSERA" gateway --issuer "http://127.0.0.1:$AUTH" --audience tessera \
  --upstream "http://127.0.0.1:$UPSTREAM" --listen "127.0.0.1:$GW" >"$WORK/gateway.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$GW/verify"

fill() { # template -> output, with the placeholders replaced
  sed -e "s|@WORK@|$WORK|g" -e "s|@LISTEN@|127.0.0.1:$2|g" -e "s|@GATEWAY@|127.0.0.1:$GW|g" \
    -e "s|@UPSTREAM@|127.0.0.1:$UPSTREAM|g" "$1" >"$3"
}
fill "$HERE/proxies/nginx.conf" "$NGINX_PORT" "$WORK/nginx.conf"
start_nginx "$WORK/nginx.conf"
fill "$HERE/proxies/Caddyfile" "$CADDY_PORT" "$WORK/Caddyfile"
XDG_DATA_HOME="$WORK/caddy-data" XDG_CONFIG_HOME="$WORK/caddy-config" \
  caddy run --adapter caddyfile --config "$WORK/Caddyfile" >"$WORK/caddy.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$NGINX_PORT/"
wait_for "http://127.0.0.1:$CADDY_PORT/"

TOKEN=$(curl -sf -X POST "http://127.0.0.1:$AUTH/api/v1/auth" -H 'Content-Type: application/json' \
  -d '{"userName":"Jane","password":"pass123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["jwt"])')

passed=0; failed=0
count() {
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    echo "    $line"
    case "$line" in ok*) passed=$((passed + 1));; FAIL*) failed=$((failed + 1));; esac
  done <<< "$1"
}
COUNT_URL="http://127.0.0.1:$UPSTREAM/__count"
echo "==> tessera gateway (direct)"
count "$(python3 "$HERE/proxies/check.py" gateway "http://127.0.0.1:$GW" "$COUNT_URL" "$TOKEN" --direct 2>&1 || true)"
echo "==> nginx $("$NGINX" -v 2>&1 | sed 's|.*/||') auth_request -> /verify"
count "$(python3 "$HERE/proxies/check.py" nginx "http://127.0.0.1:$NGINX_PORT" "$COUNT_URL" "$TOKEN" 2>&1 || true)"
echo "==> caddy $(caddy version | cut -d' ' -f1) forward_auth -> /verify"
count "$(python3 "$HERE/proxies/check.py" caddy "http://127.0.0.1:$CADDY_PORT" "$COUNT_URL" "$TOKEN" --every-tessera-name 2>&1 || true)"
echo "$passed passed, $failed failed"
if [ "$failed" -ne 0 ]; then
  for log in serve gateway caddy nginx-error; do echo "--- $log.log"; tail -20 "$WORK/$log.log" 2>/dev/null || true; done
fi
[ "$failed" -eq 0 ]
