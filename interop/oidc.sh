#!/usr/bin/env bash
# The OpenID Connect provider of `tessera serve` with real relying parties and a real
# browser: openid-client (Node, v6), Authlib (Python), and Debian's headless Chromium driven
# by playwright-core. Run interop/run.sh first (it installs the Python and npm packages).
# Installs nothing itself but needs /usr/bin/chromium (`apt-get install chromium`); set
# SCREENSHOTS=DIR to keep screenshots of the sign-in pages. Ends with `N passed, M failed`.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
# shellcheck source=interop/lib.sh
. "$ROOT/interop/lib.sh"
PY="$HERE/.venv/bin/python"
[ -x "$PY" ] && [ -d "$HERE/node_modules/openid-client" ] || { echo "oidc.sh: run interop/run.sh first" >&2; exit 2; }
cd "$ROOT"
cargo build --locked -p tessera --quiet
TESSERA="${CARGO_TARGET_DIR:-$ROOT/target}/debug/tessera"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessera-oidc.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

PORT=$(free_port); RP=$(free_port); APP=$(free_port)
ISSUER="http://127.0.0.1:$PORT"
(cd "$WORK" && TESSERA_LOG=warn exec "$TESSERA" serve --demo --alg ES256 --listen "127.0.0.1:$PORT") >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
wait_for "$ISSUER/readyz"
client_secret() { python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])'; }
NODE_SECRET=$(cd "$WORK" && "$TESSERA" client add node-rp \
  --redirect-uri "http://127.0.0.1:$RP/cb" --post-logout-redirect-uri "http://127.0.0.1:$RP/bye" | client_secret)
"$TESSERA" jwk generate --alg RSA-OAEP-256 > "$WORK/rp-enc.jwk"
"$TESSERA" jwk public "$WORK/rp-enc.jwk" > "$WORK/rp-enc.pub.jwk"
ENC_SECRET=$(cd "$WORK" && "$TESSERA" client add node-rp-enc --redirect-uri "http://127.0.0.1:$RP/enc" \
  --encryption-key "$WORK/rp-enc.pub.jwk" | client_secret)
(cd "$WORK" && "$TESSERA" client add node-spa --public --redirect-uri "http://127.0.0.1/spa" >/dev/null)
PY_SECRET=$(cd "$WORK" && "$TESSERA" client add py-rp --redirect-uri "http://127.0.0.1:$RP/py" | client_secret)
(cd "$WORK" && "$TESSERA" client add browser-app --public --redirect-uri "http://127.0.0.1:$APP/callback" >/dev/null)
# The walkthrough of docs/oidc.md: a user with a name and an email, and the sample application.
SAMPLE=$(free_port)
echo 'correct horse battery staple' | (cd "$WORK" && "$TESSERA" user add ada --role read \
  --email ada@example.com --name 'Ada Lovelace' --password-stdin)
SAMPLE_SECRET=$(cd "$WORK" && "$TESSERA" client add sample-app --redirect-uri "http://127.0.0.1:$SAMPLE/callback" \
  --post-logout-redirect-uri "http://127.0.0.1:$SAMPLE/" | client_secret)
"$PY" "$ROOT/examples/oidc-rp/rp.py" --issuer "$ISSUER" --client-id sample-app \
  --client-secret "$SAMPLE_SECRET" --listen "127.0.0.1:$SAMPLE" >"$WORK/sample.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$SAMPLE/"

status=0
echo "==> openid-client (Node) against $ISSUER"
(cd "$HERE" && node oidc_openid_client.mjs "$ISSUER" node-rp "$NODE_SECRET" "http://127.0.0.1:$RP/cb" \
  "http://127.0.0.1:$RP/bye" node-spa "http://127.0.0.1:$(free_port)/spa" \
  node-rp-enc "$ENC_SECRET" "http://127.0.0.1:$RP/enc" "$WORK/rp-enc.jwk") || status=1
echo "==> Authlib (Python) against $ISSUER"
"$PY" "$HERE/oidc_authlib.py" "$ISSUER" py-rp "$PY_SECRET" "http://127.0.0.1:$RP/py" || status=1
echo "==> headless Chromium against $ISSUER"
(cd "$HERE" && EXAMPLE_APP="http://127.0.0.1:$SAMPLE/" node oidc_browser.mjs "$ISSUER" browser-app "$APP") || status=1
if [ "$status" != 0 ]; then
  echo "--- server log"; tail -n 40 "$WORK/serve.log"
  echo "--- sample application log"; tail -n 20 "$WORK/sample.log"
fi
exit "$status"
