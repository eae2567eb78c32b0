#!/usr/bin/env bash
# What telemetry costs: the request rate of GET /v1/policies/{id} with telemetry fully on,
# divided by the rate with it off, measured in one run on this machine, for the L1-hit read
# (SQLite, P2, goal >= 0.85) and the uncached read (MariaDB, no L1, P2u, goal >= 0.95).
#
#   bash loadtests/bench-telemetry.sh            # ROUNDS=3 DURATION=10 CONNECTIONS=8
#
# "On" is the production worst case: 100% sampling, spans exported over OTLP to a real collector
# (rotel, blackhole exporter), every log line shipped to a Loki stand-in that decodes Loki's push
# format (app/examples/loki_sink.rs), JSON logs at info. "Off" exports nothing, samples nothing
# and logs warnings only. Both print to /dev/null. The modes alternate, round after round, so
# drift on a busy machine hits both alike; the ratio is of the medians. Release build, wrk on
# loopback; everything it starts stops when it ends. The receivers share the machine's
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

rate() { # url: prints requests per second of a DURATION-long run, after a short warm-up
    taskset -c "$OTHER_CPUS" wrk -t1 -c"$CONNECTIONS" -d2s "${HEADERS[@]}" "$1" >/dev/null
    taskset -c "$OTHER_CPUS" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${HEADERS[@]}" "$1" >"$WORK/wrk.out"
    if grep -Eq 'Non-2xx|Socket errors' "$WORK/wrk.out"; then
        cat "$WORK/wrk.out" >&2
        die "errors under load"
    fi
    awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.out" | grep . || die "wrk printed no rate"
}

# The CPU time the hypervisor gave other guests while this VM wanted it (/proc/stat's steal):
# printed at the end, since a noisy host moves rates more than telemetry does.
steal() { awk '/^cpu / { print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
steal_before="$(steal)"
declare -A OFF ON
for ((round = 1; round <= ROUNDS; round++)); do
    for STORE in sqlite mariadb; do
        serve off
        OFF[$STORE]+=" $(rate "${URLS[$STORE]}")"
        stop
        serve on
        ON[$STORE]+=" $(rate "${URLS[$STORE]}")"
        dropped="$(curl -sf "$BASE/metrics" | awk '/^telemetry_dropped_total/ { s = s " " $0 } END { print s }')"
        stop
        step "round $round, $STORE: off ${OFF[$STORE]##* } req/s, on ${ON[$STORE]##* } req/s;${dropped}"
        if grep -Eq '\} [1-9]' <<<"$dropped"; then
            die "telemetry dropped data at the bench's rate"
        fi
    done
done
sink="$(curl -sf "http://127.0.0.1:$LOKI_PORT/stats")"
read -r stolen total <<<"$(steal)"
read -r stolen_before total_before <<<"$steal_before"
step "steal during the rounds: $(awk -v s=$((stolen - stolen_before)) -v t=$((total - total_before)) \
    'BEGIN { printf "%.1f%%", t ? 100 * s / t : 0 }') of the CPU (over 1-2%, another guest moved the rates too)"
python3 -c 'import json, sys; s = json.loads(sys.argv[1]); sys.exit(0 if s["lines"] > 0 and s["refused"] == 0 else 1)' "$sink" \
    || die "the Loki stand-in did not get the logs: $sink"

python3 - "${OFF[sqlite]}" "${ON[sqlite]}" "${OFF[mariadb]}" "${ON[mariadb]}" "$sink" <<'EOF'
import statistics, sys
rows = [("P2", "L1 hit, SQLite", 0.85), ("P2u", "uncached, MariaDB", 0.95)]
for (row, read, goal), off, on in zip(rows, sys.argv[1:4:2], sys.argv[2:5:2]):
    off = [float(x) for x in off.split()]
    on = [float(x) for x in on.split()]
    m_off, m_on = statistics.median(off), statistics.median(on)
    print(f"GET /v1/policies/{{id}} ({read}): telemetry off {m_off:.0f} req/s (runs {off}), on {m_on:.0f} (runs {on})")
    r = m_on / m_off
    print(f"| {row} | GET /v1/policies/{{id}} ({read}) req/s, telemetry fully on ÷ off | {m_on:,.0f} ÷ {m_off:,.0f} = {r:.2f} | ≥ {goal} | {'holds' if r >= goal else 'MISSED'} |")
print(f"Loki stand-in received: {sys.argv[5]}")
EOF
