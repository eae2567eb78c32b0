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

# Same shared target dir as scripts/test.sh, and the same build: `--all-targets` unifies the
# dependencies' features with the tests' (tokio's test-util, reqwest's multipart), so right
# after a test run nothing is rebuilt. A `cargo run --bin` would build them all again without.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
mkdir -p "$CARGO_TARGET_DIR"

cargo build --workspace --all-targets --locked
exec "$CARGO_TARGET_DIR/debug/policy-service" serve "$@"
