#!/usr/bin/env bash
# What telemetry costs: the request rate of GET /v1/policies/{id} with telemetry fully on,
# divided by the rate with it off, measured in one run on this machine (goal: >= 0.9).
#
#   bash loadtests/bench-telemetry.sh            # ROUNDS=3 DURATION=10 CONNECTIONS=8
#
# "On" is the production worst case: 100% sampling, spans exported over OTLP to a real collector
# (rotel, blackhole exporter), every log line shipped to a Loki stand-in that decodes Loki's push
# format (app/examples/loki_sink.rs), JSON logs at info. "Off" exports nothing, samples nothing
# and logs warnings only. Both print to /dev/null. The modes alternate, round after round, so
# drift on a busy machine hits both alike; the ratio is of the medians. Release build, SQLite,
# wrk on loopback; everything it starts stops when it ends. The receivers share the machine's
# cores with the service and wrk, so their work counts as telemetry's cost: a pessimistic ratio.
set -euo pipefail
shopt -s inherit_errexit

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-8}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
# The service gets cores of its own; wrk and the receivers share the rest, so their work is not
# billed to telemetry (in production the collector and Loki run elsewhere).
split_cpus
ensure_wrk
ensure_rotel

# shellcheck source=loadtests/lib/telemetry.sh
. loadtests/lib/telemetry.sh

rate() { # prints requests per second of a DURATION-long run, after a short warm-up
    taskset -c "$OTHER_CPUS" wrk -t1 -c"$CONNECTIONS" -d2s "${HEADERS[@]}" "$URL" >/dev/null
    taskset -c "$OTHER_CPUS" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${HEADERS[@]}" "$URL" >"$WORK/wrk.out"
    if grep -Eq 'Non-2xx|Socket errors' "$WORK/wrk.out"; then
        cat "$WORK/wrk.out" >&2
        die "errors under load"
    fi
    awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.out" | grep . || die "wrk printed no rate"
}

OFF=()
ON=()
for ((round = 1; round <= ROUNDS; round++)); do
    serve off
    OFF+=("$(rate)")
    stop
    serve on
    ON+=("$(rate)")
    dropped="$(curl -sf "$BASE/metrics" | awk '/^telemetry_dropped_total/ { s = s " " $0 } END { print s }')"
    stop
    step "round $round: off ${OFF[-1]} req/s, on ${ON[-1]} req/s;${dropped}"
done
sink="$(curl -sf "http://127.0.0.1:$LOKI_PORT/stats")"
python3 -c 'import json, sys; s = json.loads(sys.argv[1]); sys.exit(0 if s["lines"] > 0 and s["refused"] == 0 else 1)' "$sink" \
    || die "the Loki stand-in did not get the logs: $sink"

python3 - "${OFF[*]}" "${ON[*]}" "$sink" <<'EOF'
import statistics, sys
off = [float(x) for x in sys.argv[1].split()]
on = [float(x) for x in sys.argv[2].split()]
print(f"GET /v1/policies/{{id}}: telemetry off {statistics.median(off):.0f} req/s (runs {off})")
print(f"GET /v1/policies/{{id}}: telemetry on  {statistics.median(on):.0f} req/s (runs {on})")
print(f"Loki stand-in received: {sys.argv[3]}")
r = statistics.median(on) / statistics.median(off)
print(f"| P2 | GET /v1/policies/{{id}} req/s, telemetry fully on ÷ off | {statistics.median(on):,.0f} ÷ {statistics.median(off):,.0f} = {r:.2f} | ≥ 0.9 | {'holds' if r >= 0.9 else 'MISSED'} |")
EOF
