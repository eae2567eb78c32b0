#!/usr/bin/env bash
# What telemetry costs a request, in instructions: the service under callgrind serves the same
# L1-hit read (GET /v1/policies/{id}) FEW and MANY times, with telemetry off and fully on (the
# environments of bench-telemetry.sh: 100% sampling, OTLP to rotel, Loki live, JSON access
# lines at info). Per request = (I(MANY) - I(FEW)) / (MANY - FEW), so start-up and shutdown
# cancel out; telemetry's share = on - off. callgrind counts instructions, not seconds: the
# figures repeat whatever else the machine does (issue 27's goal: <= 25,000).
#
# STORE=mariadb counts the uncached read instead (MariaDB, no L1: the service's share of it; the
# database's is not counted).
#
#   bash loadtests/instructions-telemetry.sh        # FEW=1000 MANY=6000 STORE=sqlite
#   KEEP_PROFILES=/tmp/p bash loadtests/instructions-telemetry.sh   # profiles kept, to annotate
set -euo pipefail
shopt -s inherit_errexit

FEW="${FEW:-1000}"
MANY="${MANY:-6000}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
command -v valgrind >/dev/null 2>&1 || apt_install valgrind
split_cpus
ensure_rotel
# shellcheck source=loadtests/lib/telemetry.sh
READ_STORE="${STORE:-sqlite}"
. loadtests/lib/telemetry.sh
STORE="$READ_STORE"
READ_PATH="/${URLS[$STORE]#http://*/}"
# Under callgrind a start takes tens of seconds.
SERVE_WITHIN=600

reads() { # n: the read n times, one keep-alive connection, every answer a 200
    python3 - "$PORT" "$READ_PATH" "$1" <<'PY'
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
headers = {"X-Consumer-ID": "bench", "X-Authenticated-Userid": "bench", "X-Consumer-Custom-ID": "bench"}
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(n):
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"GET {path}: {r.status}")
PY
}

count() { # mode n: the service's instructions for a start, one warming read, n reads, a stop
    local out="$WORK/callgrind.$1.$2"
    serve "$1" valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no
    reads 1
    reads "$2"
    stop
    # KEEP_PROFILES=dir keeps the profiles, for callgrind_annotate.
    if [[ -n "${KEEP_PROFILES:-}" ]]; then mkdir -p "$KEEP_PROFILES" && cp "$out" "$KEEP_PROFILES/"; fi
    awk '/^(summary|totals):/ { print $2; exit }' "$out" | grep . || die "no total in $out"
}

declare -A I
for mode in off on; do
    for n in "$FEW" "$MANY"; do
        I[$mode.$n]="$(count "$mode" "$n")"
        step "telemetry $mode, $n reads: ${I[$mode.$n]} instructions"
    done
done
python3 - "$STORE" "$FEW" "$MANY" "${I[off.$FEW]}" "${I[off.$MANY]}" "${I[on.$FEW]}" "${I[on.$MANY]}" <<'PY'
import sys
store = sys.argv[1]
few, many, off_few, off_many, on_few, on_many = map(int, sys.argv[2:])
off = (off_many - off_few) / (many - few)
on = (on_many - on_few) / (many - few)
read = "L1 hit" if store == "sqlite" else "uncached, MariaDB"
print(f"GET /v1/policies/{{id}} ({read}): {off:,.0f} instructions a request with telemetry off, {on:,.0f} on")
if store == "sqlite":
    print(f"| P2i | telemetry's instructions per L1-hit request (callgrind, on - off) | {on - off:,.0f} | <= 25,000 | {'holds' if on - off <= 25000 else 'MISSED'} |")
PY
