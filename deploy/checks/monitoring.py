#!/usr/bin/env python3
"""The monitoring a cluster gets (deploy/check.sh passes the rendering of
deploy/kustomize/monitoring, then the service's renderings): what no schema can say.

- the PrometheusRule holds exactly the groups of dashboards/alerts/policy-service.rules.yml,
  the file promtool tests and prove.sh's Prometheus loads;
- every dashboard in dashboards/grafana/ is in a ConfigMap the Grafana sidecar picks up
  (`grafana_dashboard: "1"`), byte for byte, each small enough for `kubectl apply`;
- in each service rendering, the ServiceMonitor makes every Service it selects the job
  dashboards/slo.json names (its jobLabel), through a port that Service has: the job the rules
  and dashboards select.
Prints one line per fault and exits 1 if any.
"""

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# `kubectl apply` keeps the object in an annotation of at most 256 KiB.
MAX_CONFIGMAP = 200 * 1024


def load(path):
    return [d for d in yaml.safe_load_all(Path(path).read_text()) if d]


def check_monitoring(docs, faults):
    rules = yaml.safe_load((ROOT / "dashboards/alerts/policy-service.rules.yml").read_text())
    shipped = [d for d in docs if d["kind"] == "PrometheusRule"]
    if len(shipped) != 1 or shipped[0]["spec"]["groups"] != rules["groups"]:
        faults.append("monitoring: the PrometheusRule is not policy-service.rules.yml's groups")
    maps = {}
    for cm in docs:
        if cm["kind"] == "ConfigMap" and cm["metadata"].get("labels", {}).get("grafana_dashboard") == "1":
            maps.update(cm.get("data", {}))
            size = sum(len(v.encode()) for v in cm.get("data", {}).values())
            if size > MAX_CONFIGMAP:
                faults.append(f"monitoring: ConfigMap {cm['metadata']['name']} holds {size} bytes")
    for board in sorted((ROOT / "dashboards/grafana").glob("*.json")):
        if maps.get(board.name) != board.read_text():
            faults.append(f"monitoring: dashboards/grafana/{board.name} is in no sidecar ConfigMap as it is")


def check_service(name, docs, job, faults):
    services = [d for d in docs if d["kind"] == "Service"]
    for sm in (d for d in docs if d["kind"] == "ServiceMonitor"):
        selector = sm["spec"]["selector"]
        label = sm["spec"].get("jobLabel")
        ports = {e.get("port") for e in sm["spec"]["endpoints"]}
        selected = []
        for svc in services:
            labels = svc["metadata"].get("labels", {})
            if all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and all(
                (labels.get(e["key"]) in e.get("values", [])) == (e["operator"] == "In")
                for e in selector.get("matchExpressions", [])
            ):
                selected.append(svc)
        if not selected:
            faults.append(f"{name}: ServiceMonitor {sm['metadata']['name']} selects no Service")
        for svc in selected:
            where = f"{name}: Service {svc['metadata']['name']}"
            # Without a jobLabel, Prometheus Operator names the job after the Service.
            got = svc["metadata"].get("labels", {}).get(label) if label else svc["metadata"]["name"]
            if got != job:
                faults.append(f"{where} is scraped as job {got}, not {job} (dashboards/slo.json)")
            if not ports & {p.get("name") for p in svc["spec"]["ports"]}:
                faults.append(f"{where} has no port {sorted(ports)}")


def main():
    job = json.loads((ROOT / "dashboards/slo.json").read_text())["job"]
    faults = []
    monitoring, *services = sys.argv[1:]
    check_monitoring(load(monitoring), faults)
    for path in services:
        check_service(Path(path).stem, load(path), job, faults)
    if faults:
        print("\n".join(faults), file=sys.stderr)
        sys.exit(1)
    print(f"monitoring: rules and dashboards shipped as they are tested; {len(services)} renderings scraped as job {job}")


if __name__ == "__main__":
    main()
