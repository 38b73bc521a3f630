#!/usr/bin/env bash
# The gateway against the proxy people already run, in one run on loopback: nginx (Debian's)
# as a plain reverse proxy with no authentication, `tessera gateway` verifying RS256 on
# every request, and `tessera gateway --token-cache 1000`, all in front of the same upstream
# (nginx answering a fixed 200). ROUNDS rounds (default 3) of `wrk -t1 -c32 -dDURATION`
# (default 6 s) alternate between the three; the summary gives each one's median req/s and
# p99, its ratio to nginx, non-2xx answers, its CPU time per request (from /proc/PID/stat
# around each round: steadier than req/s on a shared machine), the whole machine's CPU time
# per request (from /proc/stat: wrk, proxy, upstream and kernel together) with the ceiling it
# sets on each one's ratio to nginx when the machine is saturated, and the gateways' peak RSS.
# The reference nginx proxy runs as its own instance, apart from the upstream's, as the
# gateway does; SHARED_NGINX=1 runs both in one instance (bench/gateway/nginx.conf), as the
# first runs of this script did, which spares nginx a process hop per request.
# BASELINE=/path/to/an/older/tessera adds that binary's two gateways to the same rounds, for
# a before/after comparison in one run. GATEWAY_FLAGS and BASELINE_FLAGS add flags to each
# pair (BASELINE=target/release/tessera BASELINE_FLAGS="--workers 4" compares settings).
# Usage: bash bench/gateway.sh   (needs wrk and nginx: apt-get install wrk nginx-light)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=interop/lib.sh
. "$ROOT/interop/lib.sh"
DURATION="${DURATION:-6}"
ROUNDS="${ROUNDS:-3}"
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "bench/gateway.sh: $tool is required (apt-get install wrk nginx-light)" >&2; exit 2; }
done
cd "$ROOT"
cargo build --release --locked -p tessera --quiet
TESSERA="${CARGO_TARGET_DIR:-$ROOT/target}/release/tessera"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench-gateway.XXXXXX")"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for pidfile in "$WORK/nginx.pid" "$WORK/upstream/nginx.pid" "$WORK/proxy/nginx.pid"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

AUTH=$(free_port); UPSTREAM=$(free_port); NGINX_PORT=$(free_port); GW=$(free_port); GW_CACHE=$(free_port)
if [ "${SHARED_NGINX:-0}" = 1 ]; then
  sed -e "s|@WORK@|$WORK|g" -e "s|@UPSTREAM@|127.0.0.1:$UPSTREAM|g" -e "s|@PROXY@|127.0.0.1:$NGINX_PORT|g" \
    bench/gateway/nginx.conf >"$WORK/nginx.conf"
  start_nginx "$WORK/nginx.conf"
  TOPOLOGY="nginx proxy and upstream in one instance"
else
  for part in upstream proxy; do
    mkdir -p "$WORK/$part"
    sed -e "s|@DIR@|$WORK/$part|g" -e "s|@UPSTREAM@|127.0.0.1:$UPSTREAM|g" -e "s|@PROXY@|127.0.0.1:$NGINX_PORT|g" \
      "bench/gateway/$part.conf" >"$WORK/$part/nginx.conf"
    "$(command -v nginx || echo /usr/sbin/nginx)" -e "$WORK/$part/nginx-error.log" -p "$WORK/$part" -c "$WORK/$part/nginx.conf"
  done
  TOPOLOGY="nginx proxy and upstream in separate instances"
fi
(cd "$WORK" && TESSERA_LOG=warn exec "$TESSERA" serve --demo --alg RS256 --listen "127.0.0.1:$AUTH" >/dev/null 2>&1) &
PIDS+=($!)
wait_for "http://127.0.0.1:$AUTH/readyz"
JWKS="http://127.0.0.1:$AUTH/.well-known/jwks.json"
TOKEN=$(curl -s -X POST "http://127.0.0.1:$AUTH/api/v1/auth" -H 'Content-Type: application/json' \
  -d '{"userName":"Jane","password":"pass123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["jwt"])')
TESSERA_LOG=warn "$TESSERA" gateway --jwks-url "$JWKS" --upstream "http://127.0.0.1:$UPSTREAM" \
  --listen "127.0.0.1:$GW" ${GATEWAY_FLAGS:-} >/dev/null 2>&1 &
GW_PID=$!; PIDS+=($GW_PID)
TESSERA_LOG=warn "$TESSERA" gateway --jwks-url "$JWKS" --upstream "http://127.0.0.1:$UPSTREAM" \
  --listen "127.0.0.1:$GW_CACHE" --token-cache 1000 ${GATEWAY_FLAGS:-} >/dev/null 2>&1 &
GW_CACHE_PID=$!; PIDS+=($GW_CACHE_PID)
CONTESTANTS=("nginx:$NGINX_PORT" "gateway:$GW" "gateway-cache:$GW_CACHE")
# The processes whose CPU time each contestant's rounds are charged: nginx's proxy workers
# (none with SHARED_NGINX, where they also serve the upstream), each gateway.
if [ "${SHARED_NGINX:-0}" = 1 ]; then
  NGINX_PIDS=""
else
  NGINX_PIDS=$(pgrep -P "$(cat "$WORK/proxy/nginx.pid")" | paste -sd,)
fi
declare -A CPU_OF=([nginx]="$NGINX_PIDS" [gateway]="$GW_PID" [gateway-cache]="$GW_CACHE_PID")
RSS_OF=("gateway:$GW_PID" "gateway-cache:$GW_CACHE_PID")
if [ -n "${BASELINE:-}" ]; then
  OLD=$(free_port); OLD_CACHE=$(free_port)
  TESSERA_LOG=warn "$BASELINE" gateway --jwks-url "$JWKS" --upstream "http://127.0.0.1:$UPSTREAM" \
    --listen "127.0.0.1:$OLD" ${BASELINE_FLAGS:-} >/dev/null 2>&1 &
  PIDS+=($!); RSS_OF+=("before:$!"); CPU_OF[before]=$!
  TESSERA_LOG=warn "$BASELINE" gateway --jwks-url "$JWKS" --upstream "http://127.0.0.1:$UPSTREAM" \
    --listen "127.0.0.1:$OLD_CACHE" --token-cache 1000 ${BASELINE_FLAGS:-} >/dev/null 2>&1 &
  PIDS+=($!); RSS_OF+=("before-cache:$!"); CPU_OF[before-cache]=$!
  CONTESTANTS+=("before:$OLD" "before-cache:$OLD_CACHE")
fi
wait_for "http://127.0.0.1:$NGINX_PORT/"
for who in "${CONTESTANTS[@]:1}"; do wait_for "http://127.0.0.1:${who##*:}/verify"; done
for who in "${CONTESTANTS[@]}"; do # each answers 200 with the token before timing
  port=${who##*:}
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/x")
  [ "$code" = 200 ] || { echo "bench/gateway.sh: port $port answered $code" >&2; exit 1; }
done

echo "nginx $(nginx -v 2>&1 | sed 's|.*/||'), wrk -t1 -c32 -d${DURATION}s --latency, $ROUNDS rounds, $(nproc) cores, $TOPOLOGY"
# CPU time (user + system, clock ticks) of a comma-separated list of processes.
ticks() {
  local total=0 pid
  for pid in ${1//,/ }; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
# The whole machine's busy and total clock ticks (every process and the kernel: wrk, the
# proxy, the upstream), from /proc/stat's first line.
box() {
  awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit}' /proc/stat
}
for round in $(seq 1 "$ROUNDS"); do
  for who in "${CONTESTANTS[@]}"; do
    name=${who%%:*}; port=${who##*:}
    before=$(ticks "${CPU_OF[$name]}")
    box_before=$(box)
    wrk -t1 -c32 -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/api/x" \
      >"$WORK/wrk.$name.$round"
    read -r busy_after total_after <<<"$(box)"
    read -r busy_before total_before <<<"$box_before"
    echo "$((busy_after - busy_before)) $((total_after - total_before))" >"$WORK/box.$name.$round"
    if [ -n "${CPU_OF[$name]}" ]; then
      echo $(($(ticks "${CPU_OF[$name]}") - before)) >"$WORK/cpu.$name.$round"
    fi
  done
  echo "round $round done"
done
NAMES=$(printf '%s\n' "${CONTESTANTS[@]}" | sed 's/:.*//' | paste -sd,)
python3 - "$WORK" "$ROUNDS" "$NAMES" "$(getconf CLK_TCK)" <<'PY'
import os, re, statistics, sys
work, rounds, names, hz = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), int(sys.argv[4])
def unit(value, suffix):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[suffix]
rows = {}
for name in names:
    rps, p99, bad, cpu, box, idle = [], [], 0, [], [], []
    for r in range(1, rounds + 1):
        text = open(f"{work}/wrk.{name}.{r}").read()
        rps.append(float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)))
        requests = int(re.search(r"(\d+) requests in", text).group(1))
        busy, total = map(int, open(f"{work}/box.{name}.{r}").read().split())
        box.append(busy / hz * 1e6 / requests)
        idle.append(1 - busy / total if total else 0.0)
        if os.path.exists(f"{work}/cpu.{name}.{r}"):
            ticks = int(open(f"{work}/cpu.{name}.{r}").read())
            cpu.append(ticks / hz * 1e6 / requests)
        m = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
        p99.append(unit(m.group(1), m.group(2)))
        m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
        bad += int(m.group(1)) if m else 0
        m = re.search(r"Socket errors: (.*)", text)
        if m:
            print(f"{name} round {r}: socket errors {m.group(1)}")
    rows[name] = (statistics.median(rps), statistics.median(p99), bad, rps,
                  statistics.median(cpu) if cpu else None,
                  statistics.median(box), statistics.median(idle))
base_rps, base_p99, base_cpu, base_box = (rows["nginx"][i] for i in (0, 1, 4, 5))
print("| | req/s (median) | vs nginx | p99 (median) | vs nginx | non-2xx | CPU µs/request | vs nginx | machine µs/request | ceiling | idle | rounds |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for name, (rps, p99, bad, all_rps, cpu, box, idle) in rows.items():
    cpu_text = f"{cpu:.1f}" if cpu else "-"
    cpu_ratio = f"{cpu / base_cpu:.2f}x" if cpu and base_cpu else "-"
    print(f"| {name} | {rps:,.0f} | {rps / base_rps:.2f}x | {p99:.2f} ms | {p99 / base_p99:.2f}x | {bad} "
          f"| {cpu_text} | {cpu_ratio} | {box:.1f} | {base_box / box:.2f}x | {idle:.0%} "
          f"| {', '.join(f'{x:,.0f}' for x in all_rps)} |")
print("machine µs/request: every process's CPU time and the kernel's (wrk, proxy, upstream), "
      "per request; ceiling: nginx's machine µs/request over this one's, the most req/s "
      "relative to nginx that this per-request cost allows on a saturated machine; idle: the "
      "machine's idle share during the rounds.")
PY
for who in "${RSS_OF[@]}"; do
  echo "peak RSS (VmHWM) ${who%%:*}: $(grep VmHWM "/proc/${who##*:}/status" | awk '{print $2 " " $3}')"
done
