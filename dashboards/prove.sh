#!/usr/bin/env bash
# Proves the dashboards, the alert rules and the k6 smoke test against the running service:
#   bash dashboards/prove.sh [path/to/policy-service]     (scripts/test.sh runs it in CI)
#
# 1. The generated files are their generators' output (dashboards, rules from slo.json, the
#    kustomization that ships both); checks/check.mjs validates the provisioning files against
#    Grafana's schema and parses every LogQL query with Grafana's LogQL parser.
# 2. promtool checks the rules and runs their unit tests (alerts/tests.yml), in which every
#    alert must fire somewhere and stay silent somewhere.
# 3. A real Prometheus scrapes an instance and a worker (SQLite, the machine's Redis) every
#    second, with the rules loaded, while k6 runs loadtests/smoke.js against the instance over
#    two tenants: every functional threshold must hold (no failed request or check, no stale
#    read, broadcasts heard); latency and dropped iterations are printed, not enforced (on a
#    busy CI machine they measure the machine: the benches measure them).
# 4. Every Prometheus query of every dashboard, its variables substituted, must answer with
#    data (asked again for up to 60 s while scrapes and rule evaluations catch up). It prints
#    how many it checked.
# (Metric names both ways are checked by app/tests/api/signals/dashboards.rs.)
# Everything it starts it stops.
set -euo pipefail
shopt -s inherit_errexit

cd "$(dirname "$0")/.."
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
ensure_prometheus
ensure_k6
BIN="${1:-${CARGO_TARGET_DIR:-$HOME/.cache/policy-service/target}/debug/policy-service}"
[[ -x "$BIN" ]] || die "no policy-service binary at $BIN (cargo build first)"

step "generated files are up to date"
"$TOOLS_PYTHON" dashboards/grafana/generate.py --check
"$TOOLS_PYTHON" dashboards/alerts/generate.py --check

step "Grafana provisioning against its schema, LogQL by Grafana's parser"
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
DASHBOARD_NODE="$(npm_ci_cached dashboards/checks dashboard-node @grafana/lezer-logql)"
cp dashboards/checks/check.mjs dashboards/checks/provisioning.schema.json "$DASHBOARD_NODE/"
node "$DASHBOARD_NODE/check.mjs" "$PWD"

step "promtool check rules, test rules"
"$PROMTOOL" check rules dashboards/alerts/policy-service.rules.yml >&2
(cd dashboards/alerts && "$PROMTOOL" test rules tests.yml >&2)
"$TOOLS_PYTHON" - dashboards/alerts <<'PY'
import sys, yaml
from pathlib import Path

here = Path(sys.argv[1])
rules = yaml.safe_load((here / "policy-service.rules.yml").read_text())
alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
fires, silent = set(), set()
for test in yaml.safe_load((here / "tests.yml").read_text())["tests"]:
    for case in test.get("alert_rule_test", []):
        (fires if case["exp_alerts"] else silent).add(case["alertname"])
missing = [f"{a}: never shown to {what}" for a in sorted(alerts)
           for what, seen in (("fire", fires), ("stay silent", silent)) if a not in seen]
if missing:
    sys.exit("alerts/tests.yml:\n  " + "\n  ".join(missing))
print(f"{len(alerts)} alerts, each shown firing and silent", file=sys.stderr)
PY

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    redis-cli -h 127.0.0.1 -p 6379 --scan --pattern "$PREFIX*" 2>/dev/null \
        | xargs -r redis-cli -h 127.0.0.1 -p 6379 del >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
PREFIX="prove:$$:"
trap cleanup EXIT

PORT="$(free_port)"
WORKER_PORT="$(free_port)"
PROM_PORT="$(free_port)"
PARTNER_PORT="$(free_port)"
# A stand-in for Camel, so the partner calls (rating, policy-bound notices) have an answer.
python3 loadtests/partner.py "$PARTNER_PORT" &
PIDS+=($!)
SERVICE_ENV=(PATH="$PATH" HOME="$HOME" HOST=127.0.0.1 PORT="$PORT" DATA_DIR="$WORK/data"
    DEMO_TENANT=false RUST_LOG=warn REDIS_URL=redis://127.0.0.1:6379 REDIS_PREFIX="$PREFIX"
    QUEUE_PREFIX="${PREFIX}queues:" METRICS_STATUS_REFRESH_MS=500 SHUTDOWN_DRAIN_SECS=0
    CAMEL_URL="http://127.0.0.1:$PARTNER_PORT")
for tenant in acme globex; do
    (cd "$WORK" && env -i "${SERVICE_ENV[@]}" "$BIN" tenants create "$tenant" --name "$tenant" >/dev/null)
done
(cd "$WORK" && exec env -i "${SERVICE_ENV[@]}" "$BIN" serve >"$WORK/service.log" 2>&1) &
PIDS+=($!)
wait_for "http://127.0.0.1:$PORT/health/ready"
(cd "$WORK" && exec env -i "${SERVICE_ENV[@]}" PORT="$WORKER_PORT" "$BIN" worker >"$WORK/worker.log" 2>&1) &
PIDS+=($!)
wait_for "http://127.0.0.1:$WORKER_PORT/health/live"

cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/dashboards/alerts/policy-service.rules.yml
scrape_configs:
  - job_name: policy-service
    static_configs:
      - targets: ["127.0.0.1:$PORT", "127.0.0.1:$WORKER_PORT"]
        # What Prometheus Operator adds in a cluster; the dashboards select by both.
        labels:
          namespace: prove
YAML
"$PROMETHEUS" --config.file="$WORK/prometheus.yml" --web.listen-address="127.0.0.1:$PROM_PORT" \
    --storage.tsdb.path="$WORK/tsdb" --enable-feature=exemplar-storage >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
wait_for "http://127.0.0.1:$PROM_PORT/-/ready"

# k6 exits 99 when a threshold is crossed; which ones matter here is decided from its summary:
# latency (p95, p99 per endpoint) and keeping up with the arrival rate (dropped iterations) are
# printed, not enforced: on a busy CI machine they measure the machine, and the benches measure
# the service's. Every other threshold must hold.
k6_run() { # k6_run SCRIPT NAME [VAR=value...]
    local script=$1 name=$2 status=0
    shift 2
    (cd loadtests && env BASE_URL="http://127.0.0.1:$PORT" TENANTS=acme,globex RATING=1 \
        SUMMARY="$WORK/$name.json" "$@" "$K6" run --no-usage-report --quiet "$script") || status=$?
    if [[ "$status" != 0 && "$status" != 99 ]] || [[ ! -s "$WORK/$name.json" ]]; then
        tail -n 20 "$WORK/service.log" >&2
        die "k6 $script did not run to the end (exit $status)"
    fi
    "$TOOLS_PYTHON" - "$WORK/$name.json" <<'PY' || {
import json, sys

metrics = json.load(open(sys.argv[1]))["metrics"]
def timing(metric):
    return metric.startswith("http_req_duration") or metric == "dropped_iterations"
crossed = [(metric, threshold)
           for metric, values in metrics.items()
           for threshold, result in (values.get("thresholds") or {}).items()
           if not result["ok"]]
for metric, threshold in crossed:
    if timing(metric):
        print(f"not enforced here (the benches' to measure): {metric}: {threshold}", file=sys.stderr)
failed = [f"{metric}: {threshold}" for metric, threshold in crossed if not timing(metric)]
if failed:
    sys.exit("thresholds crossed:\n  " + "\n  ".join(failed))
PY
        tail -n 20 "$WORK/service.log" >&2
        die "k6 $script failed its functional thresholds"
    }
}

step "k6 smoke against the instance"
k6_run smoke.js smoke

# The longer profiles, a few seconds each: they run nowhere else, and would rot unrun.
step "k6 stress, spike and soak, in short forms"
k6_run stress.js stress PEAK=4 STEP=2s RAMP=1s
k6_run spike.js spike BASE=1 SPIKE=4 HOLD=2s RAMP=1s
k6_run soak.js soak RATE=2 DURATION=4s

step "every dashboard query answers from Prometheus"
"$TOOLS_PYTHON" - "http://127.0.0.1:$PROM_PORT" dashboards/grafana/*.json <<'PY'
import json, sys, time, urllib.parse, urllib.request

prom, files = sys.argv[1], sys.argv[2:]
subs = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "5m",
        "${tenant}": ".*", "$tenant": ".*", "$level": ".*",
        "$job": "policy-service", "$namespace": "prove"}

def check():
    """Every query once: how many, and those without data."""
    checked, empty = 0, []
    for path in files:
        board = json.load(open(path))
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                if target["datasource"]["type"] != "prometheus":
                    continue
                expr = target["expr"]
                for k, v in subs.items():
                    expr = expr.replace(k, v)
                url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
                checked += 1
                try:
                    answer = json.load(urllib.request.urlopen(url, timeout=10))
                except OSError as e:
                    empty.append(f"{path} / {panel['title']}: {expr} ({e})")
                    continue
                if answer["status"] != "success" or not answer["data"]["result"]:
                    empty.append(f"{path} / {panel['title']}: {expr}")
    return checked, empty

# Scrapes (every second) and rule evaluations lag the last request, more so on a busy machine:
# asked again until every query has data, for at most 60 s.
deadline = time.monotonic() + 60
checked, empty = check()
while empty and time.monotonic() < deadline:
    time.sleep(2)
    checked, empty = check()
if empty:
    sys.exit("no data within 60 s for:\n  " + "\n  ".join(empty))
print(f"{checked} panel queries of {len(files)} dashboards answered with data")
PY
