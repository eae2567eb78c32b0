#!/usr/bin/env bash
# Where a read's time goes: CPU per GET /v1/policies/{id} of the service, MariaDB, the load
# generator and the two telemetry receivers (rotel, the Loki stand-in), with telemetry off and
# fully on, for the L1 hit (SQLite) and the uncached read (MariaDB, no L1: one SELECT a read).
# It also prints the bound the processes put on this machine's rate (its cores ÷ their CPU per
# request) and the bound on the rate of the load generator's core (wrk and the receivers share
# it: a pessimistic bench, see bench-telemetry.sh). CPU is read from /proc and from wrk's
# rusage over a DURATION-long run at CONNECTIONS; the environments are lib/telemetry.sh's.
#
#   bash loadtests/profile-reads.sh        # DURATION=10 CONNECTIONS=8
#
# The service's instructions per read: [STORE=mariadb] bash loadtests/instructions-telemetry.sh
set -euo pipefail
shopt -s inherit_errexit

DURATION="${DURATION:-10}"
CONNECTIONS="${CONNECTIONS:-8}"
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}"
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
split_cpus
ensure_wrk
ensure_rotel
# shellcheck source=loadtests/lib/telemetry.sh
. loadtests/lib/telemetry.sh

MARIADB_PID="$(pgrep -xo mariadbd || pgrep -xo mysqld)" || die "no mariadbd running"
ROTEL_PID="$(cat "$WORK/rotel.pid" 2>/dev/null || echo "${PIDS[1]}")"
echo "| read | telemetry | req/s | service (in the kernel) | MariaDB | wrk | rotel | Loki stand-in | all: CPU per request, the machine's bound | the load generator's core: its CPU per request, its bound |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for STORE in sqlite mariadb; do
    for mode in off on; do
        serve "$mode"
        taskset -c "$OTHER_CPUS" wrk -t1 -c"$CONNECTIONS" -d2s "${HEADERS[@]}" "${URLS[$STORE]}" >/dev/null
        python3 - "$STORE" "$mode" "$SERVICE_PID" "$MARIADB_PID" "$ROTEL_PID" "${PIDS[0]}" "$OTHER_CPUS" \
            "$CONNECTIONS" "$DURATION" "${URLS[$STORE]}" "${HEADERS[@]}" <<'PY'
import os, re, resource, subprocess, sys
store, mode, service, mariadb, rotel, sink, cpus, connections, duration, url, *headers = sys.argv[1:]
tick = os.sysconf("SC_CLK_TCK")
def times(pid):  # seconds of user and of system time
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) / tick, int(fields[12]) / tick
def cpu(pid):
    return sum(times(pid))
def children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
pids = [service, mariadb, None, rotel, sink]
take = lambda: [children() if p is None else cpu(p) for p in pids]
before, kernel_before = take(), times(service)[1]
out = subprocess.run(["taskset", "-c", cpus, "wrk", "-t1", f"-c{connections}", f"-d{duration}s", *headers, url],
                     check=True, capture_output=True, text=True).stdout
after, kernel_after = take(), times(service)[1]
if re.search(r"Non-2xx|Socket errors", out):
    sys.exit(out)
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
requests = rate * float(duration)
us = [(a - b) / requests * 1e6 for a, b in zip(after, before)]
kernel = (kernel_after - kernel_before) / requests * 1e6
if store == "sqlite":
    us[1] = 0.0  # MariaDB serves other things; the L1 hit never reaches it
total = sum(us)
generator = us[2] + us[3] + us[4]
read = "L1 hit (SQLite)" if store == "sqlite" else "uncached (MariaDB)"
cores = os.cpu_count()
print(f"| {read} | {mode} | {rate:,.0f} | {us[0]:.1f} µs ({kernel:.1f}) | {us[1]:.1f} µs | {us[2]:.1f} µs | {us[3]:.1f} µs | {us[4]:.1f} µs "
      f"| {total:.1f} µs, {cores / total * 1e6:,.0f} req/s | {generator:.1f} µs, {1e6 / generator:,.0f} req/s |")
PY
        stop
    done
done
