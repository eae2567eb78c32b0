#!/usr/bin/env bash
# What the two-tier cache buys and costs, as ratios measured side by side in one run:
#   P1. L1-hit GET /v1/policies/{id} req/s ÷ GET /health/live (a bare route) on the same server
#       (goal >= 0.6);
#   P3. L2-hit p50 ÷ a raw Redis GET p50 from the same client and connection (goal <= 1.3);
#   P4. SQL statements for GET /v1/policies/active, uncached, page size 1 and 100 (equal, <= 4);
#   P5. database loads for 200 concurrent requests on one cold policy, spread over three replicas
#       sharing Redis (goal 1);
#   and GET /v1/policies/active req/s cached ÷ uncached (goal >= 5).
# Each prints as a row of the README's performance table.
#
#   bash loadtests/bench-cache.sh            # ROUNDS=3 DURATION=5 CONNECTIONS=8 DB=mariadb
#
# Release build, MariaDB at 127.0.0.1:3306 as in production (DB=sqlite for files), a Redis
# server of its own on a free loopback port, wrk (loadtests/lib/bench.sh). The rates alternate
# round after round, so drift on a busy machine hits both sides alike; ratios are of the
# medians. Everything it starts stops when it ends.
set -euo pipefail
shopt -s inherit_errexit

ROUNDS="${ROUNDS:-3}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
split_cpus
ensure_wrk

step "cargo build --release"
cargo build --release --locked --bin policy-service --example bench_l2 >&2
BENCH_L2="$CARGO_TARGET_DIR/release/examples/bench_l2"
# shellcheck source=loadtests/lib/bench.sh
. loadtests/lib/bench.sh

bench_redis "$WORK"
REDIS="redis://127.0.0.1:$REDIS_PORT"
bench_cli tenants create bench --name "Bench Insurance" >/dev/null

# Background recounts and sweeps would add statements of their own to P4's count.
QUIET=(METRICS_STATUS_REFRESH_MS=3600000 METRICS_STATUS_RECOUNT_SECS=3600 OUTBOX_SWEEP_SECS=3600
    EXPIRY_SWEEP_SECS=3600 DOCUMENTS_SWEEP_SECS=3600)
L1_PORT="$(free_port)"  # L1 only: the embedded default
OFF_PORT="$(free_port)" # no cache at all
REPLICAS=("$(free_port)" "$(free_port)" "$(free_port)") # three replicas on the Redis
bench_start "$L1_PORT"
bench_start "$OFF_PORT" CACHE_L1_MAX_BYTES=0 "${QUIET[@]}"
for port in "${REPLICAS[@]}"; do bench_start "$port" REDIS_URL="$REDIS"; done

L1="http://127.0.0.1:$L1_PORT"
OFF="http://127.0.0.1:$OFF_PORT"
step "100 active policies to list"
policy="$(ACTIVE=1 seed_policies "$L1" 100 | tail -n 1)"

BARE=() HIT=() CACHED=() UNCACHED=()
for ((round = 1; round <= ROUNDS; round++)); do
    BARE+=("$(wrk_rate "$L1/health/live")")
    HIT+=("$(wrk_rate "$L1/v1/policies/$policy")")
    CACHED+=("$(wrk_rate "$L1/v1/policies/active")")
    UNCACHED+=("$(wrk_rate "$OFF/v1/policies/active")")
    step "round $round: bare ${BARE[-1]}, L1 hit ${HIT[-1]}, active cached ${CACHED[-1]}, uncached ${UNCACHED[-1]} req/s"
done

step "statements for the active-policies page, page size 1 and 100"
statements() { # limit: statements one uncached request ran (the fewest of three tries)
    local i n before fewest=""
    for ((i = 0; i < 3; i++)); do
        before="$(metric_sum "$OFF" db_statements_total)"
        curl -sf "${HEADERS[@]}" -o "$WORK/page.json" "$OFF/v1/policies/active?limit=$1"
        n=$(($(metric_sum "$OFF" db_statements_total) - before))
        [[ -z "$fewest" || "$n" -lt "$fewest" ]] && fewest="$n"
    done
    python3 -c 'import json, sys; n = len(json.load(open(sys.argv[1]))["items"]); assert n == int(sys.argv[2]), n' \
        "$WORK/page.json" "$1" || die "the page of $1 did not hold $1 items"
    echo "$fewest"
}
S1="$(statements 1)"
S100="$(statements 100)"

step "200 concurrent requests on a cold policy, over three replicas"
COLD=()
for ((round = 1; round <= ROUNDS; round++)); do COLD+=("$(cold_loads bench "${REPLICAS[@]}")"); done

step "L2 hit against a raw Redis GET"
l2="$(taskset -c "$OTHER_CPUS" "$BENCH_L2" "$REDIS" 5000 2>/dev/null)"

python3 - "${BARE[*]}" "${HIT[*]}" "${CACHED[*]}" "${UNCACHED[*]}" "${COLD[*]}" "$l2" "$S1" "$S100" <<'EOF'
import re, statistics, sys
bare, hit, cached, uncached = ([float(x) for x in a.split()] for a in sys.argv[1:5])
cold = [int(x) for x in sys.argv[5].split()]
m = statistics.median
ok = lambda held: "holds" if held else "MISSED"
r1 = m(hit) / m(bare)
print(f"| P1 | L1-hit GET /v1/policies/{{id}} req/s ÷ GET /health/live | {m(hit):,.0f} ÷ {m(bare):,.0f} = {r1:.2f} | ≥ 0.6 | {ok(r1 >= 0.6)} |")
ratio = re.search(r"ratio ([0-9.]+)", sys.argv[6])
r3 = float(ratio.group(1)) if ratio else float("inf")
print(f"| P3 | L2-hit p50 ÷ raw Redis GET p50 | {sys.argv[6].split(' (goal')[0]} | ≤ 1.3 | {ok(r3 <= 1.3)} |")
s1, s100 = int(sys.argv[7]), int(sys.argv[8])
print(f"| P4 | SQL statements, GET /v1/policies/active uncached, page size 1 vs 100 | {s1} vs {s100} | equal, ≤ 4 | {ok(s1 == s100 <= 4)} |")
print(f"| P5 | DB loads for 200 concurrent cold misses on one key over 3 replicas | {', '.join(map(str, cold))} | 1 | {ok(set(cold) == {1})} |")
r = m(cached) / m(uncached)
print(f"| C1 | GET /v1/policies/active req/s cached ÷ uncached | {m(cached):,.0f} ÷ {m(uncached):,.0f} = {r:.1f} | ≥ 5 | {ok(r >= 5)} |")
EOF
