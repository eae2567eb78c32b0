#!/usr/bin/env bash
# The run command: bash scripts/run.sh [serve args...]
# Needs no database: the service defaults to SQLite under ./data.
set -euo pipefail
cd "$(dirname "$0")/.."

# Non-login shells often miss rustup's PATH entry.
if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "ERROR: cargo not found. Install a Rust toolchain with rustup (https://rustup.rs) and re-run." >&2
    exit 1
fi

# Same shared target dir as scripts/test.sh, so a test run warms the build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
mkdir -p "$CARGO_TARGET_DIR"

exec cargo run --locked --bin policy-service -- serve "$@"
