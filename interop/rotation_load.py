"""Rotation under load: clients keep fetching fresh tokens (client credentials) from
`tessera serve` and calling the example consumer, while the key is rotated with
`tessera key rotate --now` (twice). Every request with a valid token must succeed.

Usage: python rotation_load.py AUTH_URL CONSUMER_URL CLIENT_SECRET SECONDS
Prints `ok`/`FAIL` lines; exits 1 on any failed request.
"""
import base64
import json
import sys
import threading
import time
import urllib.error
import urllib.request

auth, consumer, secret, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
basic = "Basic " + base64.b64encode(f"svc:{secret}".encode()).decode()
stop = time.monotonic() + seconds
results = {"ok": 0, "failed": 0, "kids": set()}
lock = threading.Lock()


def worker():
    while time.monotonic() < stop:
        req = urllib.request.Request(f"{auth}/oauth/token", data=b"grant_type=client_credentials",
                                     headers={"Authorization": basic})
        token = json.load(urllib.request.urlopen(req, timeout=10))["access_token"]
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        for _ in range(5):
            try:
                urllib.request.urlopen(urllib.request.Request(
                    f"{consumer}/api/v1/protected", headers={"Authorization": f"Bearer {token}"}), timeout=10)
                ok = True
            except urllib.error.HTTPError as e:
                ok = False
                print(f"FAIL {e.code} for a token of kid {header['kid']}: {e.read()[:200]!r}")
            with lock:
                results["ok" if ok else "failed"] += 1
                results["kids"].add(header["kid"])


threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{'ok  ' if results['failed'] == 0 else 'FAIL'} rotation under load: "
      f"{results['ok']} requests ok, {results['failed']} failed, {len(results['kids'])} signing keys seen")
sys.exit(1 if results["failed"] or len(results["kids"]) < 2 else 0)
