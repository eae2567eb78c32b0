#!/usr/bin/env bash
# P6: the mixed k6 workload (lib/flow.js: writes, an upload and download, cached reads, the
# active list, a search) at half the journey rate the service can sustain, measured in the same
# run: capacity.js finds the ceiling with VUS looping users, then load.js holds RATE = half of it
# for DURATION. Prints p99 and failed requests (goal: p99 <= 25 ms, 0 failed).
#
#   bash loadtests/bench-mixed.sh            # VUS=16 DURATION=30s
#
# As in production: MariaDB (databases bench_<random>_*, dropped at the end), a Redis server of
# its own (cache L2, the queue), one `serve` and one `worker` pinned to half the cores, k6 to the
# other half. Release build; everything it starts stops when it ends.
set -euo pipefail
shopt -s inherit_errexit

VUS="${VUS:-16}"
DURATION="${DURATION:-30s}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
split_cpus
ensure_k6
step "cargo build --release"
cargo build --release --locked --bin policy-service >&2
# shellcheck source=loadtests/lib/bench.sh
. loadtests/lib/bench.sh

bench_redis "$WORK"
SERVICE_ENV+=(REDIS_URL="redis://127.0.0.1:$REDIS_PORT" RUST_LOG=info)
bench_cli tenants create bench --name "Bench Insurance" >/dev/null
bench_cli tenants create bench-two --name "Bench Two" >/dev/null
PORT="$(free_port)"
bench_start "$PORT"
bench_start "$(free_port)" worker

k6() { # script [VAR=value…]: runs it pinned to OTHER_CPUS, its summary in $WORK/<script>.json
    local script="$1"
    shift
    (cd loadtests && env "$@" BASE_URL="http://127.0.0.1:$PORT" TENANTS=bench,bench-two \
        SUMMARY="$WORK/$script.json" taskset -c "$OTHER_CPUS" "$K6" run --no-usage-report -q "$script" >&2) \
        || true # a crossed threshold is reported below, not fatal
}
step "capacity: $VUS users looping for 20 s"
k6 capacity.js VUS="$VUS" DURATION=20s
MAX="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["metrics"]["iterations"]["values"]["rate"])' \
    "$WORK/capacity.js.json")"
RATE="$(python3 -c 'import sys; print(max(1, round(float(sys.argv[1]) / 2)))' "$MAX")"
step "load: $RATE journeys/s (half of $MAX) for $DURATION"
k6 load.js RATE="$RATE" DURATION="$DURATION"

python3 - "$WORK/load.js.json" "$MAX" "$RATE" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
p99 = m["http_req_duration"]["values"]["p(99)"]
failed = m["http_req_failed"]["values"].get("passes", 0)
requests = m["http_reqs"]["values"]["count"]
dropped = m.get("dropped_iterations", {}).get("values", {}).get("count", 0)
held = p99 <= 25 and failed == 0 and dropped == 0
# Where the tail is: each endpoint's p99 (the thresholds keep one series per endpoint).
for name, metric in sorted(m.items(), key=lambda kv: -kv[1]["values"].get("p(99)", 0)):
    if name.startswith("http_req_duration{name:"):
        print(f"  {name[23:-1]}: p50 {metric['values']['med']:.1f} ms, p99 {metric['values']['p(99)']:.1f} ms", file=sys.stderr)
print(f"| P6 | mixed k6 workload at 50% of max ({sys.argv[3]} of {float(sys.argv[2]):.0f} journeys/s): p99, failed | "
      f"p99 {p99:.1f} ms, {failed} failed of {requests:,} requests, {dropped} dropped | ≤ 25 ms, 0 | {'holds' if held else 'MISSED'} |")
EOF
