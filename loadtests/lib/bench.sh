# shellcheck shell=bash
# What the benchmark scripts share (sourced after scripts/tools.sh): a work folder and the
# processes started into it, stopped and removed when the script ends; the service's environment
# on MariaDB (databases ${NAMES}_*, dropped at the end) or SQLite (DB=sqlite); Kong's headers;
# starting a server; policies to read; wrk's rate. PROFILE=debug runs the debug build. Nothing from the caller's environment
# or a developer's .env reaches a service: each runs under `env -i` from the work folder.

DB="${DB:-mariadb}"
WORK="$(mktemp -d)"
PIDS=()
NAMES="bench_$(date +%s)_$RANDOM"
BIN="$CARGO_TARGET_DIR/${PROFILE:-release}/policy-service"
ALL_CPUS="0-$(($(nproc) - 1))"

bench_cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ "$DB" == mariadb ]]; then drop_databases_like "$NAMES"; fi
    rm -rf "$WORK"
}
trap bench_cleanup EXIT

SERVICE_ENV=(PATH="$PATH" HOME="$HOME" HOST=127.0.0.1 DATA_DIR="$WORK/data" APP_ENV=production
    DEMO_TENANT=false RUST_LOG=warn OTEL_TRACES_SAMPLER=always_off SHUTDOWN_DRAIN_SECS=0
    APP_KEY="bench-key-$RANDOM$RANDOM$RANDOM$RANDOM$RANDOM$RANDOM"
    BROADCAST_APP_SECRET="bench-secret-$RANDOM$RANDOM$RANDOM$RANDOM$RANDOM")
if [[ "$DB" == mariadb ]]; then
    SERVICE_ENV+=(DATABASE_URL=mysql://root@127.0.0.1:3306 LANDLORD_DATABASE="${NAMES}_landlord"
        TENANT_DATABASE_PREFIX="${NAMES}_t_")
fi
HEADERS=(-H "X-Consumer-ID: bench" -H "X-Authenticated-Userid: bench" -H "X-Consumer-Custom-ID: bench")

# Runs the service's CLI (tenants, migrate) in the bench's environment, plus VAR=value words.
bench_cli() { # [VAR=value…] command…
    local vars=()
    while [[ "${1:-}" == *=* ]]; do vars+=("$1"); shift; done
    (cd "$WORK" && env -i "${SERVICE_ENV[@]}" "${vars[@]}" "$BIN" "$@")
}

# Starts `serve` (or COMMAND) on PORT, pinned to SERVICE_CPUS, with more VAR=value words; waits
# for readiness (a worker: liveness). Its PID is in LAST_PID and PIDS.
bench_start() { # port [VAR=value…] [command]
    local port="$1" vars=() command=serve
    shift
    while [[ "${1:-}" == *=* ]]; do vars+=("$1"); shift; done
    [[ -n "${1:-}" ]] && command="$1"
    (cd "$WORK" && exec taskset -c "${SERVICE_CPUS:-$ALL_CPUS}" env -i "${SERVICE_ENV[@]}" PORT="$port" \
        "${vars[@]}" "$BIN" "$command" >/dev/null 2>>"$WORK/service.err") &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    if [[ "$command" == serve ]]; then
        wait_for "http://127.0.0.1:$port/health/ready"
    else
        wait_for "http://127.0.0.1:$port/health/live"
    fi
}

json_field() { # field < json
    python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"
}

post() { # base path body
    curl -sf "${HEADERS[@]}" -H 'content-type: application/json' "$1$2" -d "$3"
}

# Sum of a metric family's samples on BASE's /metrics (0 when absent).
metric_sum() { # base name
    curl -sf "$1/metrics" | awk -v n="$2" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }'
}

# COUNT policies bound (and activated: ACTIVE=1) through BASE, CONCURRENCY at a time; prints
# their ids (loadtests/lib/seed.py).
seed_policies() { # base count
    python3 "$(dirname "${BASH_SOURCE[0]}")/seed.py" "$1" "$2"
}

# P5: database loads (cache loads, summed over the replicas on PORTs) for 200 concurrent GETs of
# a policy just bound through the first, spread over the replicas in turn, as TENANT.
cold_loads() { # tenant port…
    local tenant="$1" policy before=0 after=0 port
    shift
    policy="$(TENANT="$tenant" seed_policies "http://127.0.0.1:$1" 1)"
    for port in "$@"; do
        before=$((before + $(metric_sum "http://127.0.0.1:$port" cache_load_duration_seconds_count)))
    done
    python3 - "$tenant" "$policy" "$@" <<'EOF'
import sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
tenant, policy, ports = sys.argv[1], sys.argv[2], sys.argv[3:]
headers = {"X-Consumer-ID": tenant, "X-Authenticated-Userid": tenant, "X-Consumer-Custom-ID": tenant}
def get(i):
    url = f"http://127.0.0.1:{ports[i % len(ports)]}/v1/policies/{policy}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
        return r.status
with ThreadPoolExecutor(200) as pool:
    statuses = list(pool.map(get, range(200)))
assert statuses == [200] * 200, statuses
EOF
    for port in "$@"; do
        after=$((after + $(metric_sum "http://127.0.0.1:$port" cache_load_duration_seconds_count)))
    done
    echo $((after - before))
}

# Requests per second of a DURATION-long wrk run on URL (after a second's warm-up), wrk pinned to
# OTHER_CPUS; any non-2xx or socket error ends the bench.
wrk_rate() { # url
    taskset -c "${OTHER_CPUS:-$ALL_CPUS}" wrk -t1 -c"${CONNECTIONS:-8}" -d1s "${HEADERS[@]}" "$1" >/dev/null
    taskset -c "${OTHER_CPUS:-$ALL_CPUS}" wrk -t1 -c"${CONNECTIONS:-8}" -d"${DURATION:-5}s" "${HEADERS[@]}" "$1" \
        >"$WORK/wrk.out"
    if grep -Eq 'Non-2xx|Socket errors' "$WORK/wrk.out"; then
        cat "$WORK/wrk.out" >&2
        die "errors under load"
    fi
    awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.out" | grep . || die "wrk printed no rate"
}
