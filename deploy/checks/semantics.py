#!/usr/bin/env python3
"""What no schema can say about the rendered manifests (deploy/check.sh passes one YAML file
per overlay): that they agree with the service and with each other. Prints one line per fault
and exits 1 if any.

- the canary: weights sum to 100, the `canary` header route comes first, every subset a route
  names exists in the host's DestinationRule and selects pods of some Deployment;
- probes: paths the service serves (the OpenAPI document's, or the worker's own) on ports its
  container declares;
- environment: every variable a manifest sets is one the service reads (.env.example);
- shutdown: terminationGracePeriodSeconds exceeds SHUTDOWN_DRAIN_SECS + SHUTDOWN_GRACE_SECS;
- who may call: AuthorizationPolicy principals are the namespace's own ServiceAccounts or the
  gateway's and Prometheus's; pods run as the ServiceAccount the policy expects;
- hardening: every container non-root, read-only root filesystem, no privilege escalation,
  every capability dropped;
- Kong: no secret written in kong.yaml, consumers' custom_id are tenant slugs, and the rate
  limits the service counts against (RATE_LIMIT_PER_*) are kong.yaml's.
"""

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# The only callers from outside a namespace: Kong's gateway and Prometheus (their charts' SAs).
EXTERNAL = {"cluster.local/ns/kong/sa/kong-gateway", "cluster.local/ns/monitoring/sa/prometheus"}
# What `policy-service worker` serves on its port (app/src/queue/worker.rs serve_probes).
WORKER_PATHS = {"/health/live", "/metrics"}

faults = []


def fault(where, what):
    faults.append(f"{where}: {what}")


def service_variables():
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=", line)
        if m:
            names.add(m.group(1))
    return names


def served_paths():
    spec = json.loads((ROOT / "app/openapi.json").read_text())
    return {re.sub(r"\{[^}]+\}", "*", p) for p in spec["paths"]}


def pod_specs(docs):
    for d in docs:
        if d["kind"] in ("Deployment", "Job"):
            yield d, d["spec"]["template"]


def check_overlay(name, docs, variables, paths):
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    namespace = {d["metadata"].get("namespace") for d in docs} - {None}
    ns = next(iter(namespace), "default")
    if len(namespace) > 1:
        fault(name, f"more than one namespace: {sorted(namespace)}")
    config = {}
    for cm in by_kind.get("ConfigMap", []):
        config.update(cm.get("data", {}))
        for key in cm.get("data", {}):
            if key not in variables:
                fault(f"{name} ConfigMap {cm['metadata']['name']}", f"{key} is not a variable the service reads")
    accounts = {sa["metadata"]["name"] for sa in by_kind.get("ServiceAccount", [])}
    check_rate_limits(name, config)

    for owner, template in pod_specs(docs):
        where = f"{name} {owner['kind']} {owner['metadata']['name']}"
        spec = template["spec"]
        if spec.get("serviceAccountName") not in accounts:
            fault(where, f"runs as ServiceAccount {spec.get('serviceAccountName')}, which the overlay does not make")
        pod_security = spec.get("securityContext", {})
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            if not (pod_security.get("runAsNonRoot") or sc.get("runAsNonRoot")):
                fault(where, f"{c['name']} may run as root")
            if not sc.get("readOnlyRootFilesystem"):
                fault(where, f"{c['name']} has a writable root filesystem")
            if sc.get("allowPrivilegeEscalation", True):
                fault(where, f"{c['name']} allows privilege escalation")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                fault(where, f"{c['name']} keeps capabilities")
            for e in c.get("env", []):
                if e["name"] not in variables:
                    fault(where, f"sets {e['name']}, which the service does not read")
            ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
            worker = "worker" in c.get("args", [])
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                get = c.get(probe, {}).get("httpGet")
                if not get:
                    continue
                allowed = WORKER_PATHS if worker else paths
                if get["path"] not in allowed:
                    fault(where, f"{probe} {get['path']} is not served by {'the worker' if worker else 'the service'}")
                if get["port"] not in ports and get["port"] not in ports.values():
                    fault(where, f"{probe} port {get['port']} is not a port of {c['name']}")
        if owner["kind"] == "Deployment":
            grace = spec.get("terminationGracePeriodSeconds", 30)
            drain = int(config.get("SHUTDOWN_DRAIN_SECS", 5))
            shutdown = int(config.get("SHUTDOWN_GRACE_SECS", 25))
            needed = shutdown if "worker" in spec["containers"][0].get("args", []) else drain + shutdown
            if grace <= needed:
                fault(where, f"terminationGracePeriodSeconds {grace} is not above {needed} (drain + grace)")

    # The canary.
    subsets = {}
    for dr in by_kind.get("DestinationRule", []):
        subsets[dr["spec"]["host"]] = {s["name"]: s["labels"] for s in dr["spec"].get("subsets", [])}
    pods = [t["metadata"]["labels"] for d, t in pod_specs(docs) if d["kind"] == "Deployment"]
    for vs in by_kind.get("VirtualService", []):
        where = f"{name} VirtualService {vs['metadata']['name']}"
        http = vs["spec"].get("http", [])
        if not http or not any("canary" in m.get("headers", {}) for m in http[0].get("match", [])):
            fault(where, "the first route is not the `canary` header's")
        for i, route in enumerate(http):
            dests = route.get("route", [])
            if len(dests) > 1 and sum(d.get("weight", 0) for d in dests) != 100:
                fault(where, f"route {i}: weights sum to {sum(d.get('weight', 0) for d in dests)}")
            for d in dests:
                host, subset = d["destination"]["host"], d["destination"].get("subset")
                labels = subsets.get(host, {}).get(subset)
                if subset and labels is None:
                    fault(where, f"subset {subset} of {host} is in no DestinationRule")
                elif labels and not any(all(p.get(k) == v for k, v in labels.items()) for p in pods):
                    fault(where, f"subset {subset} selects no pod of any Deployment")

    # Who may call; the gateway reaches every path Kong routes to (the API's reference too).
    for ap in by_kind.get("AuthorizationPolicy", []):
        where = f"{name} AuthorizationPolicy {ap['metadata']['name']}"
        if ap["metadata"]["name"] == "policy-service":
            gateway = {path for rule in ap["spec"].get("rules", [])
                       if any("cluster.local/ns/kong/sa/kong-gateway" in s["source"].get("principals", [])
                              for s in rule.get("from", []))
                       for op in rule.get("to", []) for path in op["operation"].get("paths", [])}
            for path in kong_paths():
                if path not in gateway and f"{path}/*" not in gateway:
                    fault(where, f"Kong routes {path}, which the gateway may not reach")
        for rule in ap["spec"].get("rules", []):
            for source in rule.get("from", []):
                for principal in source["source"].get("principals", []):
                    own = re.fullmatch(rf"cluster\.local/ns/{re.escape(ns)}/sa/([\w-]+)", principal)
                    if own and own.group(1) not in accounts:
                        fault(where, f"{principal} is no ServiceAccount of {ns}")
                    elif not own and principal not in EXTERNAL:
                        fault(where, f"{principal} is neither {ns}'s nor the gateway's or Prometheus's")
    return ns


def kong_paths():
    """Every path a Kong route sends to the service."""
    kong = yaml.safe_load((ROOT / "deploy/kong/kong.yaml").read_text())
    return {p for s in kong.get("services", []) for r in s.get("routes", []) for p in r.get("paths", [])}


def check_rate_limits(name, config):
    """The limits the service counts against are the ones Kong enforces on the API."""
    kong = yaml.safe_load((ROOT / "deploy/kong/kong.yaml").read_text())
    for s in kong.get("services", []):
        if not any(p["name"] == "key-auth" for p in s.get("plugins", [])):
            continue
        limits = [p["config"] for p in s.get("plugins", []) if p["name"] == "rate-limiting"]
        for window, var in (("minute", "RATE_LIMIT_PER_MINUTE"), ("hour", "RATE_LIMIT_PER_HOUR")):
            kongs = limits[0].get(window, 0) if limits else 0
            ours = int(config.get(var, 0))
            if kongs != ours:
                fault(name, f"{var}={ours}, but kong.yaml limits service {s['name']} to {kongs} a {window}")


def check_kong():
    text = (ROOT / "deploy/kong/kong.yaml").read_text()
    kong = yaml.safe_load(text)
    # The API's reference is reachable, keyless and read-only; everything else needs a key.
    for s in kong.get("services", []):
        paths = {p for r in s.get("routes", []) for p in r.get("paths", [])}
        keyed = any(p["name"] == "key-auth" for p in s.get("plugins", []))
        docs = paths & {"/docs", "/openapi.json"}
        if docs and (keyed or paths != {"/docs", "/openapi.json"}):
            fault("kong.yaml", f"service {s['name']}: /docs and /openapi.json go keyless, on their own")
        if docs and any(set(r.get("methods", [])) - {"GET", "HEAD"} or not r.get("methods")
                        for r in s.get("routes", [])):
            fault("kong.yaml", f"service {s['name']}: the API's reference is GET and HEAD only")
        if not docs and not keyed:
            fault("kong.yaml", f"service {s['name']}: routes {sorted(paths)} without key-auth")
    if not {"/docs", "/openapi.json"} <= kong_paths():
        fault("kong.yaml", "no route serves /docs and /openapi.json")
    for consumer in kong.get("consumers", []):
        slug = consumer.get("custom_id", "")
        if not re.fullmatch(r"[a-z][a-z0-9-]{1,39}", slug):
            fault("kong.yaml", f"consumer {consumer.get('username')}: custom_id {slug!r} is not a tenant slug")
        for cred in consumer.get("keyauth_credentials", []):
            if not re.fullmatch(r'\$\{\{ env "DECK_[A-Z0-9_]+" \}\}', str(cred.get("key", ""))):
                fault("kong.yaml", f"consumer {consumer.get('username')}: its key is written in the file")
    added = [h for s in kong.get("services", []) for p in s.get("plugins", [])
             if p["name"] == "request-transformer" for h in p["config"].get("add", {}).get("headers", [])]
    secret = [h for h in added if h.lower().startswith("x-gateway-secret:")]
    if not secret or not re.fullmatch(r'X-Gateway-Secret:\$\{\{ env "DECK_[A-Z_]+" \}\}', secret[0]):
        fault("kong.yaml", "X-Gateway-Secret must be added from a DECK_* environment variable")


def main():
    variables, paths = service_variables(), served_paths()
    namespaces = {}
    for path in sys.argv[1:]:
        name = Path(path).stem
        docs = [d for d in yaml.safe_load_all(Path(path).read_text()) if d]
        ns = check_overlay(name, docs, variables, paths)
        if name != "base" and ns in namespaces.values():
            fault(name, f"shares namespace {ns} with another overlay")
        namespaces[name] = ns
    check_kong()
    if faults:
        print("\n".join(faults), file=sys.stderr)
        sys.exit(1)
    print(f"semantics: {len(namespaces)} renderings and kong.yaml agree with the service")


if __name__ == "__main__":
    main()
