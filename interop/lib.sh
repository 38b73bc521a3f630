# Shell helpers shared by interop/*.sh and bench/*.sh (source it).

# A port below the ephemeral range (32768+), free right now: a listener there cannot collide
# with the local port of an outgoing connection.
free_port() {
  python3 -c 'import random, socket
for _ in range(500):
    p = random.randint(10000, 30000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break'
}

# Waits up to 10 s for a URL to answer at all.
wait_for() {
  for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done
  echo "no answer from $1" >&2
  exit 1
}

# nginx as a daemon for a script's run: its config must put `pid` at "$WORK/nginx.pid".
start_nginx() { "$(command -v nginx || echo /usr/sbin/nginx)" -e "$WORK/nginx-error.log" -p "$WORK" -c "$1"; }
stop_nginx() { [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; }
