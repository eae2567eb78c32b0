#!/usr/bin/env bash
# P8: what the service costs to hold and to start, on the embedded defaults (SQLite, L1 only):
# resident memory once POLICIES (10,000) policies are cached (goal <= 64 MB), and the time from
# exec to the first 200 of /health/ready (goal <= 100 ms), median of five starts, both on an
# empty folder (the first start: landlord and demo tenant migrated) and on its data (a restart).
#
#   bash loadtests/bench-footprint.sh        # POLICIES=10000
#
# Release build; everything under a temporary folder; everything it starts stops when it ends.
set -euo pipefail
shopt -s inherit_errexit

POLICIES="${POLICIES:-10000}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
step "cargo build --release"
cargo build --release --locked --bin policy-service >&2
DB=sqlite
# shellcheck source=loadtests/lib/bench.sh
. loadtests/lib/bench.sh

step "time to ready, zero configuration"
# Nothing but a port: ./data under a folder of its own, as `policy-service serve` on a laptop.
READY="$(python3 - "$BIN" "$WORK/starts" <<'EOF'
import os, socket, statistics, subprocess, sys, time, urllib.request
binary, root = sys.argv[1], sys.argv[2]
def port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
def start(folder):
    p = port()
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "PORT": str(p), "HOST": "127.0.0.1"}
    began = time.perf_counter()
    child = subprocess.Popen([binary, "serve"], cwd=folder, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - began < 10:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{p}/health/ready", timeout=1) as r:
                    if r.status == 200:
                        return (time.perf_counter() - began) * 1000
            except OSError:
                time.sleep(0.002)
        sys.exit("not ready within 10 s")
    finally:
        child.terminate(); child.wait()
first, again = [], []
for i in range(5):
    folder = os.path.join(root, str(i)); os.makedirs(folder)
    first.append(start(folder))
    again.append(start(folder))
m = statistics.median
print(f"{m(first):.0f} {m(again):.0f} {' '.join(f'{x:.0f}' for x in first)} / {' '.join(f'{x:.0f}' for x in again)}")
EOF
)"
read -r FIRST AGAIN _ <<<"$READY"
step "ready after ${READY#* * } ms (first start / restart)"

step "$POLICIES policies, each read once (cached)"
PORT="$(free_port)"
bench_start "$PORT"
SERVICE="$LAST_PID"
BASE="http://127.0.0.1:$PORT"
bench_cli tenants create bench --name "Bench Insurance" >/dev/null
rss() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$SERVICE/status"; }
IDLE="$(rss)"
CONCURRENCY=4 seed_policies "$BASE" "$POLICIES" >"$WORK/policies"
python3 - "$BASE" "$WORK/policies" <<'EOF'
import http.client, sys, urllib.parse
url = urllib.parse.urlsplit(sys.argv[1])
conn = http.client.HTTPConnection(url.hostname, url.port)
headers = {"X-Consumer-ID": "bench", "X-Authenticated-Userid": "bench", "X-Consumer-Custom-ID": "bench"}
for line in open(sys.argv[2]):
    conn.request("GET", f"/v1/policies/{line.strip()}", headers=headers)
    r = conn.getresponse(); r.read()
    assert r.status == 200, r.status
EOF
HELD="$(rss)"
step "RSS idle $IDLE MiB, with $POLICIES policies read $HELD MiB"

python3 - "$HELD" "$IDLE" "$POLICIES" "$FIRST" "$AGAIN" <<'EOF'
import sys
held, idle, n, first, again = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ok = lambda held: "holds" if held else "MISSED"
print(f"| P8 | RSS with {n:,} cached policies (idle) | {held:.1f} MiB ({idle:.1f} MiB) | ≤ 64 MB | {ok(held * 1.048576 <= 64)} |")
print(f"| P8 | time to ready on embedded defaults, first start / restart (median of 5) | {first} ms / {again} ms | ≤ 100 ms | {ok(max(first, again) <= 100)} |")
EOF
