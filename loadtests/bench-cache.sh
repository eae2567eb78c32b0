#!/usr/bin/env bash
# What the two-tier cache buys and costs, as ratios measured side by side in one run:
#   1. L1-hit GET /v1/policies/{id} req/s ÷ GET /health/live (a bare route) on the same server
#      (goal >= 0.6);
#   2. L2-hit p50 ÷ a raw Redis GET p50 from the same client and connection (goal <= 1.3);
#   3. database loads for 200 concurrent requests on one cold policy, spread over two replicas
#      sharing Redis (goal 1);
#   4. GET /v1/policies/active req/s cached ÷ uncached (goal >= 5).
#
#   bash loadtests/bench-cache.sh            # ROUNDS=3 DURATION=5 CONNECTIONS=8 DB=mariadb
#
# Release build, MariaDB at 127.0.0.1:3306 as in production (databases bench_<random>_*, dropped
# at the end; DB=sqlite for files under a temporary folder), a Redis server of its own on a free
# loopback port, wrk. The rates alternate round after round, so drift on a busy machine hits
# both sides alike; ratios are of the medians. Everything it starts stops when it ends.
set -euo pipefail
shopt -s inherit_errexit

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-8}"
DB="${DB:-mariadb}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
split_cpus
ensure_wrk

step "cargo build --release"
cargo build --release --locked --bin policy-service --example bench_l2 >&2
BIN="$CARGO_TARGET_DIR/release/policy-service"
BENCH_L2="$CARGO_TARGET_DIR/release/examples/bench_l2"

WORK="$(mktemp -d)"
PIDS=()
NAMES="bench_$(date +%s)_$RANDOM"
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [[ "$DB" == mariadb ]]; then drop_databases_like "$NAMES"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

bench_redis "$WORK"
REDIS="redis://127.0.0.1:$REDIS_PORT"

SERVICE_ENV=(PATH="$PATH" HOME="$HOME" HOST=127.0.0.1 DATA_DIR="$WORK/data" APP_ENV=production
    DEMO_TENANT=false RUST_LOG=warn OTEL_TRACES_SAMPLER=always_off SHUTDOWN_DRAIN_SECS=0)
if [[ "$DB" == mariadb ]]; then
    SERVICE_ENV+=(DATABASE_URL=mysql://root@127.0.0.1:3306 LANDLORD_DATABASE="${NAMES}_landlord"
        TENANT_DATABASE_PREFIX="${NAMES}_t_")
fi
HEADERS=(-H "X-Consumer-ID: bench" -H "X-Authenticated-Userid: bench" -H "X-Consumer-Custom-ID: bench")
(cd "$WORK" && env -i "${SERVICE_ENV[@]}" "$BIN" tenants create bench --name "Bench Insurance" >/dev/null)

serve() { # port, then more VAR=value
    local port="$1"
    shift
    (cd "$WORK" && exec taskset -c "$SERVICE_CPUS" env -i "${SERVICE_ENV[@]}" PORT="$port" "$@" \
        "$BIN" serve >/dev/null 2>>"$WORK/service.err") &
    PIDS+=($!)
    wait_for "http://127.0.0.1:$port/health/ready"
}

L1_PORT="$(free_port)"  # L1 only: the embedded default
OFF_PORT="$(free_port)" # no cache at all
R1_PORT="$(free_port)"  # two replicas on Redis
R2_PORT="$(free_port)"
serve "$L1_PORT"
serve "$OFF_PORT" CACHE_L1_MAX_BYTES=0
serve "$R1_PORT" REDIS_URL="$REDIS"
serve "$R2_PORT" REDIS_URL="$REDIS"

json_field() { # field < json
    python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"
}

post() { # base path body
    curl -sf "${HEADERS[@]}" -H 'content-type: application/json' "$1$2" -d "$3"
}

bound_policy() { # base: prints a new bound policy's id
    local today next_year insured quote
    today="$(date -u +%F)"
    next_year="$(date -u -d '+1 year -1 day' +%F)"
    insured="$(post "$1" /v1/insureds '{"full_name":"Bench Mark","email":"b'"$RANDOM$RANDOM"'@example.com"}' | json_field id)"
    quote="$(post "$1" /v1/quotes '{"insured_id":"'"$insured"'","product":"auto","currency":"EUR",
      "effective_date":"'"$today"'","expiry_date":"'"$next_year"'",
      "coverages":[{"code":"liability","limit_minor":100000000,"deductible_minor":50000,"premium_minor":45000}]}' \
        | json_field id)"
    post "$1" "/v1/quotes/$quote/bind" '{}' | json_field id
}

step "20 active policies to list"
L1="http://127.0.0.1:$L1_PORT"
for ((i = 0; i < 20; i++)); do
    policy="$(bound_policy "$L1")"
    curl -sf -X POST "${HEADERS[@]}" "$L1/v1/policies/$policy/activate" >/dev/null
done

rate() { # url: requests per second of a DURATION-long run, after a short warm-up
    taskset -c "$OTHER_CPUS" wrk -t1 -c"$CONNECTIONS" -d1s "${HEADERS[@]}" "$1" >/dev/null
    taskset -c "$OTHER_CPUS" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" "${HEADERS[@]}" "$1" >"$WORK/wrk.out"
    if grep -Eq 'Non-2xx|Socket errors' "$WORK/wrk.out"; then
        cat "$WORK/wrk.out" >&2
        die "errors under load"
    fi
    awk '/^Requests\/sec:/ { print $2 }' "$WORK/wrk.out" | grep . || die "wrk printed no rate"
}

BARE=() HIT=() CACHED=() UNCACHED=()
for ((round = 1; round <= ROUNDS; round++)); do
    BARE+=("$(rate "$L1/health/live")")
    HIT+=("$(rate "$L1/v1/policies/$policy")")
    CACHED+=("$(rate "$L1/v1/policies/active")")
    UNCACHED+=("$(rate "http://127.0.0.1:$OFF_PORT/v1/policies/active")")
    step "round $round: bare ${BARE[-1]}, L1 hit ${HIT[-1]}, active cached ${CACHED[-1]}, uncached ${UNCACHED[-1]} req/s"
done

step "200 concurrent requests on a cold policy, over two replicas"
loads() { # total cache loads of both replicas
    for port in "$R1_PORT" "$R2_PORT"; do
        curl -sf "http://127.0.0.1:$port/metrics" | awk '/^cache_load_duration_seconds_count/ { print $2 }'
    done | awk '{ s += $1 } END { print s + 0 }'
}
COLD=()
for ((round = 1; round <= ROUNDS; round++)); do
    cold="$(bound_policy "http://127.0.0.1:$R1_PORT")"
    before="$(loads)"
    python3 - "$cold" "$R1_PORT" "$R2_PORT" <<'EOF'
import sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
policy, ports = sys.argv[1], sys.argv[2:]
headers = {"X-Consumer-ID": "bench", "X-Authenticated-Userid": "bench", "X-Consumer-Custom-ID": "bench"}
def get(i):
    url = f"http://127.0.0.1:{ports[i % 2]}/v1/policies/{policy}"
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as r:
        return r.status
with ThreadPoolExecutor(200) as pool:
    statuses = list(pool.map(get, range(200)))
assert statuses == [200] * 200, statuses
EOF
    COLD+=("$(($(loads) - before))")
done

step "L2 hit against a raw Redis GET"
l2="$(taskset -c "$OTHER_CPUS" "$BENCH_L2" "$REDIS" 5000 2>/dev/null)"

python3 - "${BARE[*]}" "${HIT[*]}" "${CACHED[*]}" "${UNCACHED[*]}" "${COLD[*]}" "$l2" <<'EOF'
import statistics, sys
bare, hit, cached, uncached = ([float(x) for x in a.split()] for a in sys.argv[1:5])
cold = sys.argv[5].split()
m = statistics.median
print(f"1. L1 hit GET /v1/policies/{{id}} {m(hit):.0f} req/s ÷ GET /health/live {m(bare):.0f} req/s = {m(hit) / m(bare):.2f}  (goal >= 0.6)")
print(f"2. {sys.argv[6]}")
print(f"3. database loads per 200 concurrent cold requests over two replicas: {' '.join(cold)}  (goal 1)")
print(f"4. GET /v1/policies/active cached {m(cached):.0f} req/s ÷ uncached {m(uncached):.0f} req/s = {m(cached) / m(uncached):.1f}  (goal >= 5)")
EOF
