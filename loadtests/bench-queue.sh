#!/usr/bin/env bash
# What the Redis queue costs over Redis itself, measured side by side in one run
# (app/examples/bench_queue.rs): jobs/s through push + reserve + ack ÷ a raw LPUSH + LMOVE + LREM
# loop with the same connection and concurrency (goal >= 0.4); the real worker draining jobs
# with a near-no-op handler; and p50/p99 from queueing to the start of a job on an idle worker.
#
#   bash loadtests/bench-queue.sh            # JOBS=20000 CONCURRENCY=8
#
# Release build, a Redis server of its own on a free loopback port, SQLite under a temporary
# folder. The three rates alternate over three rounds; ratios are of the medians. Everything it
# starts stops when it ends.
set -euo pipefail
shopt -s inherit_errexit

JOBS="${JOBS:-20000}"
CONCURRENCY="${CONCURRENCY:-8}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
# shellcheck source=scripts/tools.sh
. scripts/tools.sh

step "cargo build --release --example bench_queue"
cargo build --release --locked --example bench_queue >&2
BENCH="$CARGO_TARGET_DIR/release/examples/bench_queue"

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

bench_redis "$WORK"

step "bench: $JOBS jobs, $CONCURRENCY at a time"
(cd "$WORK" && "$BENCH" "redis://127.0.0.1:$REDIS_PORT" "$JOBS" "$CONCURRENCY")
