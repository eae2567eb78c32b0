#!/usr/bin/env bash
# Broadcast fan-out at scale: SOCKETS (1,000) Pusher sockets split over two `serve` instances
# sharing Redis, each on the tenant's private channel, while BINDS (20) policies are bound
# through the first; a worker relays the outbox. Prints how many of the SOCKETS × BINDS
# broadcasts arrived (all must) and p50/p99 from sending the bind to each socket's receipt
# (app/examples/bench_fanout.rs).
#
#   bash loadtests/bench-fanout.sh           # SOCKETS=1000 BINDS=20 DB=mariadb
#
# Release build; MariaDB at 127.0.0.1:3306 (databases bench_<random>_*, dropped at the end;
# DB=sqlite for files under a temporary folder); a Redis server of its own on a free loopback
# port. Everything it starts stops when it ends.
set -euo pipefail
shopt -s inherit_errexit

SOCKETS="${SOCKETS:-1000}"
BINDS="${BINDS:-20}"
DB="${DB:-mariadb}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
# Two thousand sockets (both ends) and their connections.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

step "cargo build --release"
cargo build --release --locked --bin policy-service --example bench_fanout >&2
BIN="$CARGO_TARGET_DIR/release/policy-service"
BENCH="$CARGO_TARGET_DIR/release/examples/bench_fanout"

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

SERVICE_ENV=(PATH="$PATH" HOME="$HOME" HOST=127.0.0.1 DATA_DIR="$WORK/data" APP_ENV=production
    DEMO_TENANT=false RUST_LOG=warn OTEL_TRACES_SAMPLER=always_off SHUTDOWN_DRAIN_SECS=0
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT" EVENT_PUBLISHER=none
    BROADCAST_APP_SECRET="bench-secret-$RANDOM$RANDOM" WORKER_POLL_MS=100)
if [[ "$DB" == mariadb ]]; then
    SERVICE_ENV+=(DATABASE_URL=mysql://root@127.0.0.1:3306 LANDLORD_DATABASE="${NAMES}_landlord"
        TENANT_DATABASE_PREFIX="${NAMES}_t_")
fi
(cd "$WORK" && env -i "${SERVICE_ENV[@]}" "$BIN" tenants create bench --name "Bench Insurance" >/dev/null)

start() { # port, command
    (cd "$WORK" && exec env -i "${SERVICE_ENV[@]}" PORT="$1" "$BIN" "$2" >/dev/null 2>>"$WORK/service.err") &
    PIDS+=($!)
}
A="$(free_port)"
B="$(free_port)"
W="$(free_port)"
start "$A" serve
start "$B" serve
start "$W" worker
wait_for "http://127.0.0.1:$A/health/ready"
wait_for "http://127.0.0.1:$B/health/ready"
wait_for "http://127.0.0.1:$W/health/live"

step "bench: $SOCKETS sockets over 2 instances, $BINDS binds"
"$BENCH" bench "$SOCKETS" "$BINDS" "http://127.0.0.1:$A" "http://127.0.0.1:$B" || {
    tail -n 20 "$WORK/service.err" >&2
    die "fan-out failed"
}
