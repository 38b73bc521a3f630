#!/usr/bin/env bash
# ML-DSA (RFC 9964) interop with @noble/post-quantum, an independent implementation, both
# ways (interop/mldsa.mjs): noble's AKP keys and tokens verified (and a tampered one refused)
# by `tessera jwt verify`, noble's seed signing through `tessera jwt sign` for the same
# public key; tessera's keys and tokens verified by noble, which derives the same public key
# from tessera's seed. Run interop/run.sh first (it installs the npm packages).
# Ends with `N passed, M failed`.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
[ -d "$HERE/node_modules/@noble/post-quantum" ] || { echo "mldsa.sh: run interop/run.sh first" >&2; exit 2; }
cd "$ROOT"
cargo build --locked -p tessera --quiet
T="${CARGO_TARGET_DIR:-$ROOT/target}/debug/tessera"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessera-mldsa.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
passed=0; failed=0
count() {
  while IFS= read -r line; do
    [ -n "$line" ] || continue
    echo "    $line"
    case "$line" in ok*) passed=$((passed + 1));; FAIL*) failed=$((failed + 1));; *) failed=$((failed + 1));; esac
  done <<< "$1"
}
check() { # name, command...
  local name="$1"; shift
  if "$@" >"$WORK/out" 2>&1; then count "ok   $name"; else count "FAIL $name: $(tail -1 "$WORK/out")"; fi
}

echo "==> noble -> tessera"
count "$(cd "$HERE" && node mldsa.mjs make "$WORK" 2>&1 || true)"
for alg in ML-DSA-44 ML-DSA-65 ML-DSA-87; do
  check "$alg: tessera verifies noble's token" "$T" jwt verify --key "$WORK/$alg.pub.jwk" --alg "$alg" "$(cat "$WORK/$alg.jwt")"
  # The same token claiming another subject: well-formed, so only the signature can say no.
  tampered=$(python3 -c 'import base64, json, sys
h, p, s = sys.argv[1].split(".")
claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
claims["sub"] = "mallory"
p = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
print(h + "." + p + "." + s)' "$(cat "$WORK/$alg.jwt")")
  if "$T" jwt verify --key "$WORK/$alg.pub.jwk" "$tampered" >"$WORK/out" 2>&1; then
    count "FAIL $alg: a changed payload was accepted"
  elif grep -q "signature verification failed" "$WORK/out"; then
    count "ok   $alg: tessera refuses it with the payload changed (bad signature)"
  else
    count "FAIL $alg: refused for another reason: $(tail -1 "$WORK/out")"
  fi
  check "$alg: tessera signs with noble's seed, for noble's public key" \
    bash -c "\"$T\" jwt verify --key \"$WORK/$alg.pub.jwk\" \"\$(\"$T\" jwt sign --key \"$WORK/$alg.jwk\" --claims '{\"sub\":\"x\"}')\""
  check "$alg: same RFC 9964 thumbprint for noble's private and public JWK" \
    bash -c "[ \"\$(\"$T\" jwk thumbprint \"$WORK/$alg.jwk\")\" = \"\$(\"$T\" jwk thumbprint \"$WORK/$alg.pub.jwk\")\" ]"
done

echo "==> tessera -> noble"
for alg in ML-DSA-44 ML-DSA-65 ML-DSA-87; do
  "$T" jwk generate --alg "$alg" > "$WORK/$alg.tessera.jwk"
  "$T" jwk public "$WORK/$alg.tessera.jwk" > "$WORK/$alg.tessera.pub.jwk"
  "$T" jwt sign --key "$WORK/$alg.tessera.jwk" --claims '{"sub":"tessera"}' > "$WORK/$alg.tessera.jwt"
done
count "$(cd "$HERE" && node mldsa.mjs verify "$WORK" 2>&1 || true)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
