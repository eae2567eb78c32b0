# Shared by scripts/test.sh and loadtests/*.sh (sourced): messages, and installing the tools
# they need on a fresh Debian machine. Each ensure_* is quick when the tool is already there.

APT_UPDATED=0
# rotel's debug output (which the telemetry tests read) is not a stable interface: pin it.
ROTEL_VERSION="0.0.1a15"
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

# Sets ROTEL_AGENT. A virtualenv of our own: Debian's python3 refuses pip installs (PEP 668),
# and the pinned version must not fight whatever else is installed.
ensure_rotel() {
    local py="$TOOLS_VENV/bin/python"
    if [[ ! -x "$py" ]]; then
        python3 -m venv "$TOOLS_VENV" 2>/dev/null || {
            apt_install python3-venv
            python3 -m venv "$TOOLS_VENV"
        }
    fi
    if [[ "$("$py" -c 'import importlib.metadata as m; print(m.version("rotel"))' 2>/dev/null)" != "$ROTEL_VERSION" ]]; then
        step "pip install rotel==$ROTEL_VERSION"
        "$py" -m pip install -q "rotel==$ROTEL_VERSION" >&2 || die "pip install rotel failed"
    fi
    export ROTEL_AGENT
    ROTEL_AGENT="$("$py" -c 'import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))')"
    # The wheel installs the collector without its executable bit.
    chmod +x "$ROTEL_AGENT"
    "$ROTEL_AGENT" --version >&2
}

ensure_wrk() {
    command -v wrk >/dev/null 2>&1 || apt_install wrk
    command -v curl >/dev/null 2>&1 || apt_install curl
}
