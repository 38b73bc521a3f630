#!/usr/bin/env bash
# The example consumer (target/debug/examples/consumer) against real issuers:
#   - the seed's own Node auth service (node-jose, RS256; seed_auth.mjs): its tokens are
#     accepted, with `Authorization: Bearer <token>` and with the seed's bare header;
#   - `tessera serve` with RS256, ES256, EdDSA and ML-DSA-65 keys;
# and the attack classes of SPEC section 7 against it: each refused with a 401, never a 5xx.
# Run interop/run.sh first (it installs the npm packages). Ends with `N passed, M failed`.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
# shellcheck source=interop/lib.sh
. "$ROOT/interop/lib.sh"
[ -d "$HERE/node_modules/node-jose" ] || { echo "consumer.sh: run interop/run.sh first" >&2; exit 2; }
cd "$ROOT"
cargo build --locked -p tessera --quiet
cargo build --locked -p tessera-verifier --example consumer --quiet
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessera-consumer.XXXXXX")"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
passed=0; failed=0
check() { # description, expected status, actual status
  if [ "$2" = "$3" ]; then passed=$((passed + 1)); echo "    ok   $1 ($3)"
  else failed=$((failed + 1)); echo "    FAIL $1: expected $2, got $3"; fi
}
status() { curl -s -o "$WORK/body" -w '%{http_code}' "$@"; }
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

start_consumer() { # port, jwks url
  PORT="$1" JWKS_SERVER="$2" "$BIN/examples/consumer" >"$WORK/consumer-$1.log" 2>&1 &
  PIDS+=($!)
  wait_for "http://127.0.0.1:$1/api/v1/protected"
}


echo "==> the seed's Node auth service (node-jose, RS256)"
SEED=$(free_port); C1=$(free_port)
(cd "$HERE" && JWKPORT=$SEED exec node seed_auth.mjs) >"$WORK/seed.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$SEED/.well-known/jwks.json"
start_consumer "$C1" "http://127.0.0.1:$SEED/.well-known/jwks.json"
token=$(curl -s -X POST "http://127.0.0.1:$SEED/api/v1/auth" -H 'Content-Type: application/json' \
  -d '{"userName":"Jane","password":"pass123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["jwt"])')
url="http://127.0.0.1:$C1/api/v1/protected"
check "seed token, Bearer" 200 "$(status -H "Authorization: Bearer $token" "$url")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["user"]["sub"]=="Jane", d' "$WORK/body" \
  && check "claims returned as user" ok ok || check "claims returned as user" ok bad
check "seed token, bare header" 200 "$(status -H "Authorization: $token" "$url")"

# The listener people copy: loopback unless HOST says otherwise, and a client that sends
# one byte of an HTTP/2 preface is cut off (it was held for ever under plain axum::serve).
listening=$(python3 - "$C1" <<'PY'
import socket, sys
port = int(sys.argv[1])
try:
    # Another address of this machine than loopback: the consumer must not answer there.
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.connect(("192.0.2.1", 9))
    ip = probe.getsockname()[0]
    socket.create_connection((ip, port), timeout=2).close()
    print("all" if ip != "127.0.0.1" else "loopback")
except OSError:
    print("loopback")
PY
)
check "consumer binds loopback by default" loopback "$listening"
cut=$(python3 - "$C1" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"P")
s.settimeout(20)
start = time.time()
try:
    s.recv(1)
except OSError:
    pass
print("cut" if time.time() - start < 15 else "held")
PY
)
check "a half-sent HTTP/2 preface is cut off" cut "$cut"

# Attack classes, all against the consumer that trusts the seed's JWKS.
IFS=. read -r h p s <<< "$token"
kid=$(python3 -c 'import base64,json,sys; t=sys.argv[1]; t+="="*(-len(t)%4); print(json.loads(base64.urlsafe_b64decode(t))["kid"])' "$h")
now=$(date +%s)
claims=$(printf '{"sub":"admin","exp":%d}' $((now + 600)) | b64url)
none_h=$(printf '{"alg":"none","kid":"%s"}' "$kid" | b64url)
check "no token" 401 "$(status "$url")"
check "garbage" 401 "$(status -H 'Authorization: Bearer not.a.token' "$url")"
check "alg none" 401 "$(status -H "Authorization: Bearer $none_h.$claims." "$url")"
check "tampered payload" 401 "$(status -H "Authorization: Bearer $h.$claims.$s" "$url")"
# HS256 keyed with the RSA public key (PEM form), the classic algorithm confusion.
pem=$(curl -s "http://127.0.0.1:$SEED/.well-known/jwks.json" | python3 -c '
import json,sys
k=json.load(sys.stdin)["keys"][0]; print(json.dumps(k))' > "$WORK/seed.jwk"; "$BIN/tessera" jwk to-pem "$WORK/seed.jwk" --public)
hs_h=$(printf '{"alg":"HS256","kid":"%s"}' "$kid" | b64url)
hs_sig=$(printf '%s' "$hs_h.$claims" | openssl dgst -sha256 -hmac "$pem" -binary | b64url)
check "HS256 with the RSA public key as secret" 401 "$(status -H "Authorization: Bearer $hs_h.$claims.$hs_sig" "$url")"
# A token signed by another key claiming the seed's kid, with its key embedded in the header.
"$BIN/tessera" jwk generate --alg RS256 --kid "$kid" > "$WORK/evil.jwk"
evil=$("$BIN/tessera" jwt sign --key "$WORK/evil.jwk" --claims '{"sub":"admin"}')
check "foreign key with the same kid" 401 "$(status -H "Authorization: Bearer $evil" "$url")"
unknown=$("$BIN/tessera" jwt sign --key "$WORK/evil.jwk" --kid unknown-kid --claims '{"sub":"admin"}')
check "unknown kid" 401 "$(status -H "Authorization: Bearer $unknown" "$url")"
check "1 MB header" 401 "$(status -H "Authorization: Bearer $(head -c 20000 /dev/zero | tr '\0' 'a').$claims.$s" "$url")"
check "WWW-Authenticate on refusal" 1 "$(curl -s -D - -o /dev/null -H 'Authorization: Bearer x.y.z' "$url" | grep -ci 'www-authenticate: Bearer error="invalid_token"')"

for alg in RS256 ES256 EdDSA ML-DSA-65; do
  echo "==> tessera serve --alg $alg"
  A=$(free_port); C=$(free_port)
  mkdir -p "$WORK/$alg"
  (cd "$WORK/$alg" && TESSERA_LOG=warn exec "$BIN/tessera" serve --demo --alg "$alg" --listen "127.0.0.1:$A") &
  PIDS+=($!)
  wait_for "http://127.0.0.1:$A/readyz"
  start_consumer "$C" "http://127.0.0.1:$A/.well-known/jwks.json"
  t=$(curl -s -X POST "http://127.0.0.1:$A/api/v1/auth" -H 'Content-Type: application/json' \
    -d '{"userName":"Jane","password":"pass123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["jwt"])')
  check "$alg token from tessera serve" 200 "$(status -H "Authorization: Bearer $t" "http://127.0.0.1:$C/api/v1/protected")"
  IFS=. read -r th tp ts <<< "$t"
  check "$alg tampered" 401 "$(status -H "Authorization: Bearer $th.$claims.$ts" "http://127.0.0.1:$C/api/v1/protected")"
  if [ "$alg" = RS256 ]; then
    # Rotation under load: `key rotate --now` twice while requests with fresh tokens run.
    secret=$(cd "$WORK/$alg" && "$BIN/tessera" client add svc | python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])')
    python3 "$HERE/rotation_load.py" "http://127.0.0.1:$A" "http://127.0.0.1:$C" "$secret" 9 > "$WORK/rotation.log" 2>&1 &
    load=$!
    sleep 2; (cd "$WORK/$alg" && "$BIN/tessera" key rotate --now >/dev/null)
    sleep 3; (cd "$WORK/$alg" && "$BIN/tessera" key rotate --now >/dev/null)
    if wait "$load"; then r=0; else r=1; fi
    tail -3 "$WORK/rotation.log" | sed 's/^/    /'
    check "rotation under load: no failed request" 0 "$r"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
