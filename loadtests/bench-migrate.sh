#!/usr/bin/env bash
# P7: `policy-service migrate` over TENANTS (100) tenants on MariaDB, every one of them empty,
# ÷ (one tenant's `migrate --tenant` × TENANTS), measured in one run (goal <= 0.2). The one-tenant
# time is the median of three; each run is the whole command, as an operator would time it.
#
#   bash loadtests/bench-migrate.sh          # TENANTS=100, MIGRATE_CONCURRENCY as configured
#
# Release build, MariaDB at 127.0.0.1:3306 (databases bench_<random>_*, dropped at the end).
set -euo pipefail
shopt -s inherit_errexit

TENANTS="${TENANTS:-100}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
step "cargo build --release"
cargo build --release --locked --bin policy-service >&2
DB=mariadb
# shellcheck source=loadtests/lib/bench.sh
. loadtests/lib/bench.sh
if [[ -n "${MIGRATE_CONCURRENCY:-}" ]]; then SERVICE_ENV+=(MIGRATE_CONCURRENCY="$MIGRATE_CONCURRENCY"); fi

step "$TENANTS tenants"
for ((i = 1; i <= TENANTS; i++)); do
    bench_cli tenants create "$(printf 't%03d' "$i")" --name "Tenant $i" >/dev/null
done

# Empties tenants' databases (dropped and made again): each needs every migration again.
empty() { # slug…
    local slug
    for slug in "$@"; do echo "DROP DATABASE \`${NAMES}_t_$slug\`; CREATE DATABASE \`${NAMES}_t_$slug\`;"; done \
        | mariadb -h127.0.0.1 -uroot
}

seconds() { # command…: prints how long it took, in seconds
    local started
    started="$(date +%s.%N)"
    "$@" >"$WORK/migrate.out" || { cat "$WORK/migrate.out" >&2; die "$* failed"; }
    python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$started" "$(date +%s.%N)"
}

ONE=()
for ((round = 1; round <= 3; round++)); do
    empty t001
    ONE+=("$(seconds bench_cli migrate --tenant t001)")
    step "one tenant: ${ONE[-1]} s"
done
all=()
for ((i = 1; i <= TENANTS; i++)); do all+=("$(printf 't%03d' "$i")"); done
empty "${all[@]}"
ALL="$(seconds bench_cli migrate)"
grep -q "migrated $TENANTS tenant(s), 0 failed" "$WORK/migrate.out" || die "$(cat "$WORK/migrate.out")"
step "$TENANTS tenants: $ALL s"

python3 - "${ONE[*]}" "$ALL" "$TENANTS" <<'EOF'
import statistics, sys
one = statistics.median(float(x) for x in sys.argv[1].split())
all_, n = float(sys.argv[2]), int(sys.argv[3])
r = all_ / (one * n)
print(f"| P7 | `migrate` over {n} tenants on MariaDB ÷ one tenant's × {n} | {all_:.2f} s ÷ ({one:.3f} s × {n}) = {r:.2f} | ≤ 0.2 | {'holds' if r <= 0.2 else 'MISSED'} |")
EOF
