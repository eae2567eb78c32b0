#!/usr/bin/env bash
# The one test command: bash scripts/test.sh [extra test-runner args...]
#
# Works on a fresh Debian 12 machine (run as root): installs and starts
# MariaDB and Redis if they are not already reachable, then runs fmt, build,
# the whole test suite and the contract checks (schemathesis, a generated
# TypeScript client, an OpenAPI linter). Safe to re-run; services already up
# are reused.
set -euo pipefail

MARIADB_WAIT_SECS=60
REDIS_WAIT_SECS=30

# shellcheck source=scripts/tools.sh
. "$(dirname "${BASH_SOURCE[0]}")/tools.sh"

mariadb_tcp_ok() {
    mariadb -h127.0.0.1 -P3306 -uroot -e 'select 1' >/dev/null 2>&1
}

# Socket access as OS root works on a fresh install (unix_socket auth), so this
# tells us the server is up even before root can log in over TCP.
mariadb_socket_ok() {
    mariadb -uroot -e 'select 1' >/dev/null 2>&1
}

ensure_mariadb() {
    step "checking MariaDB at 127.0.0.1:3306"
    if mariadb_tcp_ok; then
        return 0
    fi

    if ! command -v mariadbd >/dev/null 2>&1 && [[ ! -x /usr/sbin/mariadbd ]]; then
        apt_install mariadb-server mariadb-client
    fi
    # /usr/sbin is not always on root's PATH in minimal containers.
    PATH="$PATH:/usr/sbin"

    # Neither the apt install nor start-stop-daemon starts the server on a
    # stock Debian container (no init system), so launch it directly.
    if ! mariadb_socket_ok; then
        step "starting mariadbd (log: /tmp/mariadbd.log)"
        mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
        (mariadbd --user=mysql >/tmp/mariadbd.log 2>&1 &)

        local i
        for ((i = 0; i < MARIADB_WAIT_SECS; i++)); do
            mariadb_socket_ok && break
            sleep 1
        done
        if ! mariadb_socket_ok; then
            tail -n 20 /tmp/mariadbd.log >&2 || true
            die "MariaDB did not come up within ${MARIADB_WAIT_SECS}s (see /tmp/mariadbd.log)"
        fi
    fi

    # Tests connect over TCP as root with no password; keep unix_socket so
    # local admin access keeps working.
    step "allowing passwordless root login over TCP"
    mariadb -uroot -e "ALTER USER root@localhost IDENTIFIED VIA mysql_native_password USING PASSWORD('') OR unix_socket" \
        || die "could not reconfigure MariaDB root user"

    mariadb_tcp_ok || die "MariaDB is running but 'mariadb -h127.0.0.1 -uroot' still fails (is it bound to 127.0.0.1:3306?)"
}

redis_ok() {
    [[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" == "PONG" ]]
}

ensure_redis() {
    step "checking Redis at 127.0.0.1:6379"
    # The cache tests also start servers of their own (one to kill, a 3-node cluster).
    if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && redis_ok; then
        return 0
    fi

    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        apt_install redis-server
    fi

    # No persistence: it only holds throwaway test data.
    step "starting redis-server (log: /tmp/redis-server.log)"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --logfile /tmp/redis-server.log

    local i
    for ((i = 0; i < REDIS_WAIT_SECS; i++)); do
        redis_ok && return 0
        sleep 1
    done
    tail -n 20 /tmp/redis-server.log >&2 || true
    die "Redis did not answer PONG within ${REDIS_WAIT_SECS}s (see /tmp/redis-server.log)"
}

# The telemetry tests check our output with the real tools: promtool and a Prometheus server
# (Debian's package; no daemon is started) and rotel, an OpenTelemetry collector shipped in a
# Python wheel. Their paths reach the tests in PROMETHEUS, PROMTOOL and ROTEL_AGENT.
ensure_telemetry_tools() {
    step "checking Prometheus, promtool and rotel"
    ensure_prometheus
    ensure_rotel
}

ensure_rust() {
    step "checking Rust toolchain"
    # Non-login shells (CI, sudo) often miss rustup's PATH entry.
    if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
        # shellcheck source=/dev/null
        . "$HOME/.cargo/env"
    fi
    command -v cargo >/dev/null 2>&1 \
        || die "cargo not found. Install a Rust toolchain with rustup (https://rustup.rs) and re-run; it cannot be downloaded by this script."
    cargo --version
}

# Builds are reused across clones and runs.
setup_cargo_env() {
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
    mkdir -p "$CARGO_TARGET_DIR"
    step "CARGO_TARGET_DIR=$CARGO_TARGET_DIR"
    if [[ "${CI:-}" == "true" ]]; then
        export CARGO_TERM_COLOR=never
    fi
}

# Databases from crashed earlier runs would otherwise pile up forever.
drop_stale_test_databases() {
    step "dropping leftover pstest_* databases"
    local dbs db
    mapfile -t dbs < <(mariadb -N -h127.0.0.1 -uroot -e \
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'pstest\\_%'")
    for db in "${dbs[@]}"; do
        [[ -n "$db" ]] || continue
        echo "    dropping $db"
        mariadb -h127.0.0.1 -uroot -e "DROP DATABASE \`${db//\`/\`\`}\`"
    done
    # Users an OpenBao dev server made for the credentials test outlive a killed run.
    step "dropping leftover v-token-* MariaDB users"
    mariadb -N -h127.0.0.1 -uroot -e "SELECT CONCAT('\\'', user, '\\'@\\'', host, '\\'') FROM mysql.user WHERE user LIKE 'v-token-%'" \
        | while read -r user; do mariadb -h127.0.0.1 -uroot -e "DROP USER $user"; done
    step "dropping leftover pstest:* Redis keys"
    redis-cli -h 127.0.0.1 -p 6379 --scan --pattern 'pstest:*' \
        | xargs -r -n 500 redis-cli -h 127.0.0.1 -p 6379 del >/dev/null
}

run_checks() {
    if cargo fmt --version >/dev/null 2>&1; then
        step "cargo fmt --check"
        cargo fmt --all -- --check
    else
        warn "rustfmt not installed; skipping format check (rustup component add rustfmt)"
    fi

    # The platform half names nothing of the domain's, and no concern imports in a circle.
    step "layers (scripts/check_layers.py)"
    python3 scripts/check_layers.py app/src

    step "cargo build"
    cargo build --workspace --all-targets --locked

    # The workspace's lints (Cargo.toml) and clippy's own, every warning an error.
    if cargo clippy --version >/dev/null 2>&1; then
        step "cargo clippy -D warnings"
        cargo clippy --workspace --all-targets --locked -- -D warnings
    else
        warn "clippy not installed; skipping lints (rustup component add clippy)"
    fi

    # nextest runs tests in parallel processes and reports better, but
    # installing it takes too long to do here, so fall back to cargo test.
    if cargo nextest --version >/dev/null 2>&1; then
        step "cargo nextest run"
        cargo nextest run --workspace --locked --no-fail-fast "$@"
    else
        step "cargo test (cargo-nextest not installed)"
        cargo test --workspace --locked --no-fail-fast --exclude policy-service "$@"
        cargo test -p policy-service --locked --no-fail-fast --lib --bins --example notes --test api "$@" -- --skip signals::
        # Each telemetry test installs process-global telemetry: one process per test.
        local name
        for name in $(cargo test -p policy-service --locked --test api -- signals:: --list --format terse 2>/dev/null | sed -n 's/: test$//p'); do
            cargo test -p policy-service --locked --test api -- --exact "$name"
        done
    fi

    # The document against the server, a linter and a generated client (app/tests/contract).
    step "contract checks"
    bash app/tests/contract/run.sh "$CARGO_TARGET_DIR/debug/policy-service"

    # Kubernetes, Istio and Kong manifests, rendered and checked (no cluster needed).
    step "deployment manifests"
    bash deploy/check.sh

    # The dashboards, rules and k6 smoke against a running instance and a real Prometheus.
    step "dashboards, alerts, load tests"
    bash dashboards/prove.sh "$CARGO_TARGET_DIR/debug/policy-service"

    # Three replicas and two workers on a Redis Cluster, Kafka and MariaDB under a short k6 run:
    # no stale read, one load per cold key, every event and job once, no telemetry dropped.
    step "the cluster, briefly (loadtests/cluster/run.sh)"
    PROFILE=debug RATE=3 DURATION=20s bash loadtests/cluster/run.sh
}

main() {
    cd "$(dirname "$0")/.."

    ensure_rust
    setup_cargo_env
    ensure_mariadb
    ensure_redis
    ensure_telemetry_tools
    ensure_tansu
    ensure_moto
    ensure_s3s_fs
    ensure_openbao
    drop_stale_test_databases

    export TEST_MYSQL_URL="${TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}"
    step "TEST_MYSQL_URL=$TEST_MYSQL_URL"

    run_checks "$@"
    step "all tests passed"
}

# Only run when executed, so the functions can be sourced for debugging.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    main "$@"
fi
