#!/usr/bin/env bash
# Tokens from `tessera serve` verified, unchanged, by the consumers people run today:
# PyJWT's PyJWKClient, Node jose's createRemoteJWKSet, and the seed's Node consumer
# (jsonwebtoken + jwks-rsa, algorithms: ['RS256']). For RS256, ES256 and EdDSA servers,
# each token is fetched with the seed's curl call (password login) and by client
# credentials. Run interop/run.sh first (it installs PyJWT and the npm packages).
# Ends with `N passed, M failed`.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
# shellcheck source=interop/lib.sh
. "$ROOT/interop/lib.sh"
PY="$HERE/.venv/bin/python"
[ -x "$PY" ] && [ -d "$HERE/node_modules/jwks-rsa" ] || { echo "server.sh: run interop/run.sh first" >&2; exit 2; }
cd "$ROOT"
cargo build --locked -p tessera --quiet
TESSERA="${CARGO_TARGET_DIR:-$ROOT/target}/debug/tessera"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessera-server-interop.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

passed=0; failed=0
count() { # counts the check lines of "$1" (in this shell, not a pipe's subshell)
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    echo "    $line"
    case "$line" in ok*) passed=$((passed + 1));; FAIL*) failed=$((failed + 1));; esac
  done <<< "$1"
}

for alg in RS256 ES256 EdDSA; do
  port=$(free_port)
  dir="$WORK/$alg"; mkdir -p "$dir"
  issuer="http://127.0.0.1:$port"
  (cd "$dir" && TESSERA_LOG=warn exec "$TESSERA" serve --demo --alg "$alg" --listen "127.0.0.1:$port" >"$dir/log" 2>&1) &
  PIDS+=($!)
  wait_for "http://127.0.0.1:$port/readyz"
  echo "==> tessera serve --alg $alg on $issuer"
  token=$(curl -sf -X POST "http://127.0.0.1:$port/api/v1/auth" -H 'Content-Type: application/json' \
    -d '{"userName":"Jane","password":"pass123"}' | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["jwt"])')
  secret=$(cd "$dir" && "$TESSERA" client add svc --scope "orders:read" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
  client_token=$(curl -sf -u "svc:$secret" -d grant_type=client_credentials "http://127.0.0.1:$port/oauth/token" \
    | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  jwks="$issuer/.well-known/jwks.json"
  seed=""; [ "$alg" = RS256 ] && seed="--seed"
  for t in "$token" "$client_token"; do
    count "$("$PY" "$HERE/server_consumers.py" "$jwks" "$issuer" tessera "$alg" "$t" || true)"
    count "$(node "$HERE/server_consumers.mjs" "$jwks" "$issuer" tessera "$alg" "$t" $seed || true)"
  done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
