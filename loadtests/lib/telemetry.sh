# The telemetry benches' common part (sourced by bench-telemetry.sh, instructions-telemetry.sh
# and profile-reads.sh): the release build, the receivers (rotel with a blackhole exporter,
# the Loki stand-in), the service's environment with telemetry off and fully on, `serve MODE
# [PREFIX...]` and `stop`, and one active policy to read in each store (URL, HEADERS). The store
# is STORE: `sqlite` (the default; the read is an L1 hit) or `mariadb` (MariaDB on
# 127.0.0.1:3306, no L1: every read is the policy's SELECT). Expects scripts/tools.sh sourced,
# split_cpus and ensure_rotel run.

# BENCH_BIN: a service binary built elsewhere (another commit's, to compare), used as it is.
step "cargo build --release"
cargo build --release --locked --bin policy-service --example loki_sink >&2
BIN="${BENCH_BIN:-$CARGO_TARGET_DIR/release/policy-service}"
SINK="$CARGO_TARGET_DIR/release/examples/loki_sink"

WORK="$(mktemp -d)"
PIDS=()
SERVICE_PID=""
cleanup() {
    for pid in "${PIDS[@]}" $SERVICE_PID; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    drop_databases_like "$NAMES"
    rm -rf "$WORK"
}
trap cleanup EXIT
# The MariaDB store's databases: its own names, dropped on the way out.
NAMES="bench_tel_$$"

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
STORE="${STORE:-sqlite}"
store_env() { # the variables of STORE
    if [[ "$STORE" == mariadb ]]; then
        echo DATABASE_URL=mysql://root@127.0.0.1:3306 LANDLORD_DATABASE="${NAMES}_landlord" \
            TENANT_DATABASE_PREFIX="${NAMES}_t_" CACHE_L1_MAX_BYTES=0
    fi
}
HEADERS=(-H "X-Consumer-ID: bench" -H "X-Authenticated-Userid: bench" -H "X-Consumer-Custom-ID: bench")

serve() { # off | on, then what to run it under, if anything (valgrind …)
    local mode=("${OFF_ENV[@]}")
    [[ "$1" == on ]] && mode=("${ON_ENV[@]}")
    shift
    # shellcheck disable=SC2046 # one word per variable
    (cd "$WORK" && exec taskset -c "$SERVICE_CPUS" env -i "${SERVICE_ENV[@]}" $(store_env) "${mode[@]}" "$@" "$BIN" serve \
        >/dev/null 2>"$WORK/service.err") &
    SERVICE_PID=$!
    wait_for "$BASE/health/ready" "${SERVE_WITHIN:-60}"
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

declare -A URLS
for STORE in sqlite mariadb; do
    step "one policy to read ($STORE)"
    # shellcheck disable=SC2046 # one word per variable
    (cd "$WORK" && env -i "${SERVICE_ENV[@]}" $(store_env) "$BIN" tenants create bench --name "Bench Insurance" >/dev/null)
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
    URLS[$STORE]="$BASE/v1/policies/$policy"
done
STORE=sqlite
