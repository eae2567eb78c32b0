#!/usr/bin/env bash
# The service as its users run it, on one machine: 3 `serve` replicas and 2 `worker`s on MariaDB,
# a 3-node Redis Cluster (cache L2, backplane, queues), a Kafka-protocol broker (tansu, 3
# partitions a topic), an OTLP collector (rotel) and a Loki stand-in (app/examples/loki_sink.rs)
# receiving every span (100% sampling) and log line, and the Camel stand-in (loadtests/partner.py).
# k6 runs the mixed workload (load.js) over the three URLs in turn: each request goes to the next
# replica, so every write and the read after it land on different replicas. Then it checks, and
# prints (loadtests/cluster/check.py):
#   - stale reads: 0 (every read after an activation, on another replica, saw it active);
#   - database loads for 200 concurrent requests on one cold policy over the 3 replicas: 1;
#   - the outboxes against the broker: every event on it exactly once by event id, none unknown;
#   - jobs: every bound policy's partner notice sent exactly once, no failed job, queues empty;
#   - telemetry: the log lines received by the Loki stand-in, none refused; none dropped by any
#     process (on the debug build, on a busy CI machine, what they drop is only printed);
#   - k6: failed requests 0, and its thresholds.
# Everything it starts (tracked by PID) stops when it ends, and its databases are dropped.
#
#   bash loadtests/cluster/run.sh            # RATE=6 journeys/s for DURATION=60s, 3 tenants
#   PROFILE=debug RATE=3 DURATION=20s bash loadtests/cluster/run.sh   # the test command's run
#
# Release build (PROFILE=debug: the debug build); MariaDB at 127.0.0.1:3306; every other server
# on a free loopback port. Waits for servers and for the drain are generous (a busy machine), and
# fail with a message when they run out.
set -euo pipefail
shopt -s inherit_errexit

RATE="${RATE:-6}"
DURATION="${DURATION:-60s}"
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
ensure_k6
ensure_tansu
ensure_rotel
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
PROFILE="${PROFILE:-release}"
step "cargo build ($PROFILE)"
cargo build --profile "${PROFILE/debug/dev}" --locked --bin policy-service --example loki_sink --example kafka_events >&2
EXAMPLES="$CARGO_TARGET_DIR/$PROFILE/examples"
DB=mariadb
# shellcheck source=loadtests/lib/bench.sh
. loadtests/lib/bench.sh
# Pusher sockets, connections, three replicas' pools.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
TENANTS=(acme globex initech)

step "a 3-node Redis Cluster"
# A cluster node also listens on its port + 10000 (the cluster bus): both must be free ports.
cluster_port() {
    python3 -c 'import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    if port < 55000:
        try:
            socket.socket().bind(("127.0.0.1", port + 10000)); print(port); break
        except OSError:
            pass'
}
NODES=()
for i in 1 2 3; do
    port="$(cluster_port)"
    mkdir -p "$WORK/redis-$i"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/redis-$i" \
        --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
        >"$WORK/redis-$i/log" 2>&1 &
    PIDS+=($!)
    NODES+=("$port")
done
# Retries COMMAND… every half second until it succeeds, for at most SECONDS; false if it never
# did.
retry() { # seconds command…
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.5
    done
}
for port in "${NODES[@]}"; do
    retry 60 redis-cli -p "$port" ping >/dev/null 2>&1 \
        || die "the Redis node on $port did not start: $(tail -n 5 "$WORK"/redis-*/log)"
done
redis-cli --cluster create "${NODES[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >"$WORK/cluster-create.log" 2>&1 \
    || die "redis-cli --cluster create: $(cat "$WORK/cluster-create.log")"
cluster_ok() { redis-cli -p "${NODES[0]}" cluster info | grep -q 'cluster_state:ok'; }
retry 60 cluster_ok || die "the Redis Cluster did not reach cluster_state:ok in 60 s"
# Whether HOST accepts a connection on PORT.
listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; } # host port
REDIS_URL="$(printf 'redis://127.0.0.1:%s,' "${NODES[@]}")"

step "tansu, rotel, the Loki stand-in, the Camel stand-in"
KAFKA="127.0.0.1:$(free_port)"
"$TANSU" broker --listener-url "tcp://$KAFKA" --advertised-listener-url "tcp://$KAFKA" \
    --storage-engine memory://tansu/ >"$WORK/tansu.log" 2>&1 &
PIDS+=($!)
retry 60 listening "${KAFKA%:*}" "${KAFKA##*:}" || die "tansu did not listen on $KAFKA: $(tail -n 5 "$WORK/tansu.log")"
TOPICS=(insurance.policy insurance.payment insurance.claim)
for topic in "${TOPICS[@]}"; do
    "$TANSU" topic create "$topic" --broker "tcp://$KAFKA" --partitions 3 >&2
done
LOKI_PORT="$(free_port)"
"$EXAMPLES/loki_sink" "127.0.0.1:$LOKI_PORT" >"$WORK/sink.log" 2>&1 &
PIDS+=($!)
OTLP_PORT="$(free_port)"
"$ROTEL_AGENT" start --otlp-grpc-endpoint "127.0.0.1:$(free_port)" --otlp-http-endpoint "127.0.0.1:$OTLP_PORT" \
    --exporter blackhole --pid-file "$WORK/rotel.pid" --log-file "$WORK/rotel-agent.log" >"$WORK/rotel.log" 2>&1 &
PIDS+=($!)
CAMEL_PORT="$(free_port)"
RECORD="$WORK/partner.calls" python3 loadtests/partner.py "$CAMEL_PORT" >"$WORK/partner.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$LOKI_PORT/stats"
retry 60 listening 127.0.0.1 "$OTLP_PORT" || die "rotel did not listen on $OTLP_PORT: $(tail -n 5 "$WORK/rotel.log")"

# The checks count database loads and stale reads, which a Redis call timed out by a busy machine
# (not by Redis) would change: a patient Redis timeout (250 ms by default), unless given.
SERVICE_ENV+=(REDIS_TIMEOUT_MS="${REDIS_TIMEOUT_MS:-2000}")
SERVICE_ENV+=(REDIS_URL="${REDIS_URL%,}" REDIS_CLUSTER=true EVENT_PUBLISHER=kafka KAFKA_BROKERS="$KAFKA"
    LOKI_URL="http://127.0.0.1:$LOKI_PORT" OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT"
    OTEL_TRACES_SAMPLER=always_on RUST_LOG=info LOG_FORMAT=json CAMEL_URL="http://127.0.0.1:$CAMEL_PORT")
for tenant in "${TENANTS[@]}"; do bench_cli tenants create "$tenant" --name "${tenant^} Insurance" >/dev/null; done

step "3 serve replicas, 2 workers"
SERVE=() WORKERS=()
for i in 1 2 3; do SERVE+=("$(free_port)"); bench_start "${SERVE[-1]}"; done
for i in 1 2; do WORKERS+=("$(free_port)"); bench_start "${WORKERS[-1]}" worker; done
URLS="$(printf 'http://127.0.0.1:%s,' "${SERVE[@]}")"
URLS="${URLS%,}"

step "k6: load.js at $RATE journeys/s for $DURATION over the 3 replicas"
(cd loadtests && BASE_URL="$URLS" TENANTS="$(IFS=,; echo "${TENANTS[*]}")" RATE="$RATE" DURATION="$DURATION" \
    SUMMARY="$WORK/k6.json" "$K6" run --no-usage-report -q load.js >&2) || K6_EXIT=$?

step "200 concurrent requests on a cold policy over the 3 replicas"
COLD_LOADS="$(cold_loads acme "${SERVE[@]}")"

step "waiting for the outboxes and the queues to drain"
sql() { mariadb -h127.0.0.1 -uroot -N -e "$1"; }
tenant_sql() { # query: its rows from every tenant's database
    local tenant
    for tenant in "${TENANTS[@]}"; do sql "USE \`${NAMES}_t_$tenant\`; $1"; done
}
queued() {
    local port
    for port in "${WORKERS[@]}"; do
        curl -sf "http://127.0.0.1:$port/metrics" | awk '/^queue_jobs\{/ { s += $2 } END { print s + 0 }'
    done | awk '{ s += $1 } END { print s + 0 }'
}
drained() {
    unsent="$(tenant_sql 'SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL' | awk '{ s += $1 } END { print s + 0 }')"
    notices="$(grep -c '^policy-bound ' "$WORK/partner.calls" || true)"
    policies="$(tenant_sql 'SELECT COUNT(*) FROM policies' | awk '{ s += $1 } END { print s + 0 }')"
    [[ "$unsent" == 0 && "$notices" -ge "$policies" && "$(queued)" == 0 ]]
}
# Not fatal when it runs out: the verdict below then shows what was left.
retry 180 drained \
    || warn "not drained after 180 s: $unsent events unsent, $notices notices for $policies policies, $(queued) queued"
# The workers recount their queues every 5 s, and telemetry leaves in batches: a recount after
# the drain first, then the queues read until they show empty (a busy machine recounts late).
sleep 6
queues_empty() { [[ "$(queued)" == 0 ]]; }
retry 60 queues_empty || warn "the workers still count $(queued) queued jobs"
tenant_sql 'SELECT id FROM outbox' >"$WORK/outbox.ids"
tenant_sql 'SELECT id FROM policies' >"$WORK/policies.ids"
FAILED_JOBS="$(sql "SELECT COUNT(*) FROM \`${NAMES}_landlord\`.failed_jobs")"
QUEUED="$(queued)"
# Read until nothing arrived for 30 s: a busy broker may be slow to answer the first fetch.
"$EXAMPLES/kafka_events" "$KAFKA" "$(IFS=,; echo "${TOPICS[*]}")" 30 >"$WORK/kafka.ids"

step "telemetry: the drop counters"
DROPPED=0
for port in "${SERVE[@]}" "${WORKERS[@]}"; do
    DROPPED=$((DROPPED + $(metric_sum "http://127.0.0.1:$port" telemetry_dropped_total)))
done
SINK="$(curl -sf "http://127.0.0.1:$LOKI_PORT/stats")"

python3 loadtests/cluster/check.py "$WORK" "$COLD_LOADS" "$FAILED_JOBS" "$QUEUED" "$DROPPED" "$SINK" "${K6_EXIT:-0}"
