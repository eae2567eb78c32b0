#!/usr/bin/env bash
# Where an uncached read's time goes: the service's, MariaDB's and the load generator's CPU per
# GET /v1/policies/{id} (MariaDB, no L1: one SELECT a read), with telemetry off and fully on,
# and the bound the three put on this machine's request rate (its cores ÷ their CPU per
# request). CPU is read from /proc (the service, mariadbd) and from wrk's own rusage, over a
# DURATION-long run at CONNECTIONS; the environments are bench-telemetry.sh's (lib/telemetry.sh).
#
#   bash loadtests/profile-uncached.sh        # DURATION=10 CONNECTIONS=8
#
# The service's instructions per uncached read: STORE=mariadb bash loadtests/instructions-telemetry.sh
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
STORE=mariadb
for mode in off on; do
    serve "$mode"
    taskset -c "$OTHER_CPUS" wrk -t1 -c"$CONNECTIONS" -d2s "${HEADERS[@]}" "${URLS[mariadb]}" >/dev/null
    python3 - "$mode" "$SERVICE_PID" "$MARIADB_PID" "$OTHER_CPUS" "$CONNECTIONS" "$DURATION" \
        "${URLS[mariadb]}" "${HEADERS[@]}" <<'PY'
import os, re, resource, subprocess, sys
mode, service, mariadb, cpus, connections, duration, url, *headers = sys.argv[1:]
tick = os.sysconf("SC_CLK_TCK")
def cpu(pid):  # seconds of user + system time
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick
def children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
before = (cpu(service), cpu(mariadb), children())
out = subprocess.run(["taskset", "-c", cpus, "wrk", "-t1", f"-c{connections}", f"-d{duration}s", *headers, url],
                     check=True, capture_output=True, text=True).stdout
after = (cpu(service), cpu(mariadb), children())
if re.search(r"Non-2xx|Socket errors", out):
    sys.exit(out)
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
requests = rate * float(duration)
us = [(a - b) / requests * 1e6 for a, b in zip(after, before)]
total = sum(us)
print(f"| uncached read, telemetry {mode} | {rate:,.0f} req/s | service {us[0]:.1f} µs | MariaDB {us[1]:.1f} µs | wrk {us[2]:.1f} µs | "
      f"sum {total:.1f} µs: {os.cpu_count()} cores bound the rate at {os.cpu_count() / total * 1e6:,.0f} req/s |")
PY
    stop
done
