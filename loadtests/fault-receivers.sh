#!/usr/bin/env bash
# R5: the telemetry receivers down or slow. One `serve` ships every span (100% sampling) over OTLP
# to a collector (rotel) and every log line to a Loki stand-in (app/examples/loki_sink.rs), while
# k6 holds RATE (300) GET /v1/policies/{id} a second (steady.js). Round after round, the receivers
# are healthy, then down (killed: connections refused), then slow (a tarpit that accepts and
# never answers: loadtests/lib/tarpit.py), DURATION (10s) each, without restarting the service.
# Prints each phase's p99, failed requests and spans and log lines dropped, and the verdict:
# p99 with the receivers down or slow within noise of healthy (at most the slowest healthy
# round's p99 × 1.25 + 1 ms), no request failed, and the drops counted.
#
#   bash loadtests/fault-receivers.sh        # ROUNDS=3 RATE=300 DURATION=10s
#
# Release build, SQLite under a temporary folder; the service pinned to half the cores, k6 and the
# receivers to the other half. Everything it starts stops when it ends.
set -euo pipefail
shopt -s inherit_errexit

ROUNDS="${ROUNDS:-3}"
RATE="${RATE:-300}"
DURATION="${DURATION:-10s}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
split_cpus
ensure_k6
ensure_rotel
step "cargo build --release"
cargo build --release --locked --bin policy-service --example loki_sink >&2
SINK="$CARGO_TARGET_DIR/release/examples/loki_sink"
DB=sqlite
# shellcheck source=loadtests/lib/bench.sh
. loadtests/lib/bench.sh

LOKI_PORT="$(free_port)"
OTLP_PORT="$(free_port)"
RECEIVERS=()
receivers() { # healthy | down | slow
    local pid
    for pid in "${RECEIVERS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    RECEIVERS=()
    case "$1" in
    healthy)
        taskset -c "$OTHER_CPUS" "$SINK" "127.0.0.1:$LOKI_PORT" >>"$WORK/sink.log" 2>&1 &
        RECEIVERS+=($!)
        taskset -c "$OTHER_CPUS" "$ROTEL_AGENT" start --otlp-grpc-endpoint "127.0.0.1:$(free_port)" \
            --otlp-http-endpoint "127.0.0.1:$OTLP_PORT" --exporter blackhole --pid-file "$WORK/rotel.pid" \
            --log-file "$WORK/rotel-agent.log" >>"$WORK/rotel.log" 2>&1 &
        RECEIVERS+=($!)
        wait_for "http://127.0.0.1:$LOKI_PORT/stats"
        for ((i = 0; i < 100; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$OTLP_PORT") 2>/dev/null && break; sleep 0.1; done
        ;;
    slow)
        taskset -c "$OTHER_CPUS" python3 loadtests/lib/tarpit.py "$LOKI_PORT" "$OTLP_PORT" >>"$WORK/tarpit.log" 2>&1 &
        RECEIVERS+=($!)
        for ((i = 0; i < 100; i++)); do (exec 3<>"/dev/tcp/127.0.0.1/$OTLP_PORT") 2>/dev/null && break; sleep 0.1; done
        ;;
    esac
    PIDS+=("${RECEIVERS[@]}")
}

receivers healthy
PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
bench_cli tenants create bench --name "Bench Insurance" >/dev/null
bench_start "$PORT" LOKI_URL="http://127.0.0.1:$LOKI_PORT" OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT" \
    OTEL_TRACES_SAMPLER=always_on RUST_LOG=info LOG_FORMAT=json
policy="$(seed_policies "$BASE" 1)"

dropped() { # signal
    curl -sf "$BASE/metrics" | awk -v s="$1" 'index($1, "telemetry_dropped_total{") == 1 && index($1, "signal=\"" s "\"") { n += $2 } END { print n + 0 }'
}
: >"$WORK/phases"
for ((round = 1; round <= ROUNDS; round++)); do
    for phase in healthy down slow; do
        receivers "$phase"
        spans="$(dropped spans)" logs="$(dropped logs)"
        (cd loadtests && BASE_URL="$BASE" TENANT=bench PATH_="/v1/policies/$policy" RATE="$RATE" DURATION="$DURATION" \
            SUMMARY="$WORK/steady.json" taskset -c "$OTHER_CPUS" "$K6" run --no-usage-report -q steady.js >/dev/null)
        kill -0 "$LAST_PID" 2>/dev/null || { tail -n 20 "$WORK/service.err" >&2; die "the service died"; }
        read -r p99 failed < <(python3 -c 'import json, sys; m = json.load(open(sys.argv[1]))["metrics"]
print(m["http_req_duration"]["values"]["p(99)"], m["http_req_failed"]["values"].get("passes", 0))' "$WORK/steady.json")
        echo "$phase $p99 $failed $(($(dropped spans) - spans)) $(($(dropped logs) - logs))" >>"$WORK/phases"
        step "round $round, receivers $phase: p99 $p99 ms, $failed failed, dropped: $(tail -n 1 "$WORK/phases" | cut -d' ' -f4-) (spans, logs)"
    done
done
receivers healthy

python3 - "$WORK/phases" "$RATE" <<'EOF'
import collections, statistics, sys
phases = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, p99, failed, spans, logs = line.split()
    phases[name].append((float(p99), int(failed), int(spans), int(logs)))
healthy = phases["healthy"]
bound = max(p for p, *_ in healthy) * 1.25 + 1
held = True
for name in ("healthy", "down", "slow"):
    runs = phases[name]
    p99 = statistics.median(p for p, *_ in runs)
    failed = sum(r[1] for r in runs)
    spans, logs = sum(r[2] for r in runs), sum(r[3] for r in runs)
    ok = failed == 0 and (name == "healthy" or (p99 <= bound and spans > 0 and logs > 0))
    held &= ok
    print(f"receivers {name:7}: p99 {p99:.2f} ms (runs {', '.join(f'{p:.2f}' for p, *_ in runs)}), {failed} failed, dropped {spans:,} spans and {logs:,} log lines")
print(f"| R5 | Loki and OTLP receivers down (refused) or slow (never answer), GET /v1/policies/{{id}} at {sys.argv[2]}/s | "
      f"p99 healthy {statistics.median(p for p, *_ in healthy):.2f} ms, down {statistics.median(p for p, *_ in phases['down']):.2f} ms, "
      f"slow {statistics.median(p for p, *_ in phases['slow']):.2f} ms (bound {bound:.2f}); drops counted | {'holds' if held else 'MISSED'} |")
sys.exit(0 if held else 1)
EOF
