#!/usr/bin/env bash
# The performance table (README "Performance"): runs each benchmark script, which measures its
# ratios side by side in one run, and prints their rows as one table. A row says `MISSED` where
# its goal was not met; the script then exits 1.
#
#   bash loadtests/bench.sh                  # every part, about 9 minutes on 2 cores
#   bash loadtests/bench.sh cache footprint  # some: cache telemetry mixed migrate footprint
#
# P9 (database round trips for an uncached read) is counted on the wire by a test:
#   cargo nextest run -p policy-service --test api p9 --no-capture
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "$0")/.."
PARTS=("$@")
[[ ${#PARTS[@]} -gt 0 ]] || PARTS=(cache telemetry mixed migrate footprint)
ROWS="$(mktemp)"
trap 'rm -f "$ROWS"' EXIT
for part in "${PARTS[@]}"; do
    [[ -f "loadtests/bench-$part.sh" ]] || { echo "no such part: $part" >&2; exit 2; }
    echo "==> bench-$part.sh" >&2
    bash "loadtests/bench-$part.sh" | tee /dev/stderr | grep '^| [PC][0-9]' >>"$ROWS"
done
echo
echo "| # | measure | figure | goal | |"
echo "|---|---|---|---|---|"
grep '^| P' "$ROWS" | sort -s -k2,2
grep '^| C' "$ROWS" || true
! grep -q 'MISSED' "$ROWS"
