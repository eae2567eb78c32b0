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

step "cargo build --release"
cargo build --release --locked --bin policy-service --example loki_sink >&2
BIN="$CARGO_TARGET_DIR/release/policy-service"
SINK="$CARGO_TARGET_DIR/release/examples/loki_sink"

WORK="$(mktemp -d)"
PIDS=()
SERVICE_PID=""
cleanup() {
    for pid in "${PIDS[@]}" $SERVICE_PID; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

LOKI_PORT="$(free_port)"
OTLP_PORT="$(free_port)"
GRPC_PORT="$(free_port)"
taskset -c "$OTHER_CPUS" "$SINK" "127.0.0.1:$LOKI_PORT" >"$WORK/sink.log" 2>&1 &
PIDS+=($!)
taskset -c "$OTHER_CPUS" "$ROTEL_AGENT" start --otlp-grpc-endpoint "127.0.0.1:$GRPC_PORT" \
    --otlp-http-endpoint "127.0.0.1:$OTLP_PORT" --exporter blackhole \
    --pid-file "$WORK/rotel.pid" --log-file "$WORK/rotel-agent.log" >"$WORK/rotel.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$LOKI_PORT/stats"
for ((i = 0; i < 100; i++)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$OTLP_PORT") 2>/dev/null && break
    sleep 0.1
done

PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
# Only what is set here reaches the service: not the caller's environment, and (run from $WORK)
# not a developer's .env, either of which could switch telemetry on in the "off" runs.
SERVICE_ENV=(PATH="$PATH" HOME="$HOME" HOST=127.0.0.1 PORT="$PORT" DATA_DIR="$WORK/data"
    APP_ENV=production LOG_FORMAT=json DEMO_TENANT=false SHUTDOWN_DRAIN_SECS=0 SHUTDOWN_GRACE_SECS=5)
ON_ENV=(LOKI_URL="http://127.0.0.1:$LOKI_PORT" OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT"
    OTEL_TRACES_SAMPLER=always_on RUST_LOG=info)
OFF_ENV=(OTEL_TRACES_SAMPLER=always_off RUST_LOG=warn)
(cd "$WORK" && env -i "${SERVICE_ENV[@]}" "$BIN" tenants create bench --name "Bench Insurance" >/dev/null)
HEADERS=(-H "X-Consumer-ID: bench" -H "X-Authenticated-Userid: bench" -H "X-Consumer-Custom-ID: bench")

serve() { # off | on
    local mode=("${OFF_ENV[@]}")
    [[ "$1" == on ]] && mode=("${ON_ENV[@]}")
    (cd "$WORK" && exec taskset -c "$SERVICE_CPUS" env -i "${SERVICE_ENV[@]}" "${mode[@]}" "$BIN" serve \
        >/dev/null 2>"$WORK/service.err") &
    SERVICE_PID=$!
    wait_for "$BASE/health/ready"
}

stop() {
    kill -0 "$SERVICE_PID" 2>/dev/null || { tail -n 20 "$WORK/service.err" >&2; die "the service died"; }
    kill -TERM "$SERVICE_PID"
    wait "$SERVICE_PID" || true
    SERVICE_PID=""
}

json_field() { # field < json
    python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"
}

post() { # path body
    curl -sf "${HEADERS[@]}" -H 'content-type: application/json' "$BASE$1" -d "$2"
}

step "one policy to read"
serve off
today="$(date -u +%F)"
next_year="$(date -u -d '+1 year -1 day' +%F)"
insured="$(post /v1/insureds '{"full_name":"Bench Mark","email":"bench@example.com"}' | json_field id)"
quote="$(post /v1/quotes '{"insured_id":"'"$insured"'","product":"auto","currency":"EUR",
  "effective_date":"'"$today"'","expiry_date":"'"$next_year"'",
  "coverages":[{"code":"liability","limit_minor":100000000,"deductible_minor":50000,"premium_minor":45000}]}' \
    | json_field id)"
policy="$(post "/v1/quotes/$quote/bind" '{}' | json_field id)"
curl -sf -X POST "${HEADERS[@]}" "$BASE/v1/policies/$policy/activate" >/dev/null
stop
URL="$BASE/v1/policies/$policy"

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
