#!/usr/bin/env bash
# The deployment's checks, no cluster needed (run by scripts/test.sh):
#   1. `kubectl kustomize` renders the base, every overlay and the monitoring (rules, dashboards);
#   2. kubernetes-validate --strict passes on the core kinds of each;
#   3. the Istio and Prometheus Operator resources validate against @kubernetes-models/istio
#      and @kubernetes-models/prometheus-operator, with no unknown key;
#   4. checks/semantics.py: the canary, probes, variables, grace periods and principals agree
#      with the service (and, on a rendering broken on purpose, it says so: not vacuous);
#      checks/monitoring.py: the rules and dashboards shipped are the tested ones, and every
#      Service is scraped as the job they select (a broken rendering must fail here too);
#   5. checks/kong_schema.py: kong.yaml against Kong's own plugin and entity schemas (decK 1.4's
#      offline validate takes any plugin config), and three broken copies must fail; then
#      `deck validate` on deploy/kong/kong.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/tools.sh
. scripts/tools.sh
ensure_deploy_tools

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for overlay in deploy/kustomize/base deploy/kustomize/overlays/* deploy/kustomize/monitoring; do
    name="$(basename "$overlay")"
    step "deploy: $name"
    "$KUBECTL" kustomize "$overlay" >"$work/$name.yaml"
    # Core kinds only: the schemas shipped with kubernetes-validate know no CRD.
    "$TOOLS_PYTHON" - "$work/$name.yaml" >"$work/$name.core.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
core = [d for d in docs if "." not in d["apiVersion"].split("/")[0] or ".k8s.io/" in d["apiVersion"]]
print(yaml.safe_dump_all(core))
PY
    "$KUBERNETES_VALIDATE" --strict --quiet "$work/$name.core.yaml"
    node "$DEPLOY_NODE/models.mjs" <"$work/$name.yaml"
done

step "deploy: semantics"
"$TOOLS_PYTHON" deploy/checks/semantics.py "$work"/base.yaml "$work"/{staging,production,tenant-a,tenant-b}.yaml
sed 's/weight: 90/weight: 80/' "$work/production.yaml" >"$work/broken.yaml"
if "$TOOLS_PYTHON" deploy/checks/semantics.py "$work/broken.yaml" 2>/dev/null; then
    die "semantics.py found nothing wrong with weights of 80 and 10"
fi
sed 's/RATE_LIMIT_PER_HOUR: "50000"/RATE_LIMIT_PER_HOUR: "40000"/' "$work/production.yaml" >"$work/broken.yaml"
if "$TOOLS_PYTHON" deploy/checks/semantics.py "$work/broken.yaml" 2>/dev/null; then
    die "semantics.py found nothing wrong with a rate limit kong.yaml does not set"
fi

step "deploy: monitoring"
renderings=("$work"/{base,staging,production,tenant-a,tenant-b}.yaml)
"$TOOLS_PYTHON" deploy/checks/monitoring.py "$work/monitoring.yaml" "${renderings[@]}"
sed 's#jobLabel: app.kubernetes.io/name#jobLabel: app#' "$work/production.yaml" >"$work/broken.yaml"
if "$TOOLS_PYTHON" deploy/checks/monitoring.py "$work/monitoring.yaml" "$work/broken.yaml" 2>/dev/null; then
    die "monitoring.py found nothing wrong with a ServiceMonitor that names two jobs"
fi

step "deploy: kong.yaml against Kong's plugin and entity schemas"
"$TOOLS_PYTHON" deploy/checks/kong_schema.py deploy/kong/kong.yaml
# Not vacuous: what Kong would refuse, each alone (a WebSocket route protocol Kong OSS lacks, a
# misspelt plugin field, limits out of order).
for broken in 's/protocols: \[https\]$/protocols: [https, wss]/' 's/hide_credentials:/hide_credential:/' \
    's/hour: 50000/hour: 1000/'; do
    sed "$broken" deploy/kong/kong.yaml >"$work/kong-broken.yaml"
    cmp -s deploy/kong/kong.yaml "$work/kong-broken.yaml" && die "kong.yaml no longer has what '$broken' breaks"
    "$TOOLS_PYTHON" deploy/checks/kong_schema.py --must-fail "$work/kong-broken.yaml"
done

step "deploy: deck validate deploy/kong/kong.yaml"
DECK_GATEWAY_SECRET=check DECK_ACME_PORTAL_API_KEY=check DECK_GLOBEX_PORTAL_API_KEY=check \
    deck validate -s deploy/kong/kong.yaml
echo "deploy: every rendering valid"
