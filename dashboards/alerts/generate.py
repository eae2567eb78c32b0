#!/usr/bin/env python3
"""Writes policy-service.rules.yml from ../slo.json: the SLO recording rules, the
multi-window multi-burn-rate alerts (the Google SRE workbook's windows, as Sloth makes them) and
the service's other alerts. The SLO targets live in slo.json only; CI checks the committed rules
are this script's output (python3 generate.py --check).

Every long window's error ratio is the average of the recorded 5m ratio over that window, so
Prometheus evaluates one raw-rate expression per SLO and every window is cheap.
"""

import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SLO = json.loads((HERE.parent / "slo.json").read_text())
OUT = HERE / "policy-service.rules.yml"

# (long window, short window, burn rate, severity): page on the fast burns, ticket on the slow.
WINDOWS = [
    ("1h", "5m", 14.4, "critical"),
    ("6h", "30m", 6, "critical"),
    ("1d", "2h", 3, "warning"),
    ("3d", "6h", 1, "warning"),
]
SECONDS = {"m": 60, "h": 3600, "d": 86400}
LONG = sorted(
    {w for pair in WINDOWS for w in pair[:2]} - {"5m"},
    key=lambda w: int(w[:-1]) * SECONDS[w[-1]],
)


def block(dumper, text):
    """Multi-line expressions as YAML blocks, as a person would write them."""
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


yaml.SafeDumper.add_representer(str, block)


def runbook(name):
    return SLO["runbook_base"] + name + ".md"


def requests(extra=""):
    matchers = f'route=~"{SLO["routes"]}"' + (f", {extra}" if extra else "")
    return f"sum(rate(http_server_request_duration_seconds_count{{{matchers}}}[5m]))"


def sli_errors(slo):
    """The 5m error ratio of one SLO: failed (5xx) or slow (over the threshold) requests."""
    if slo == "availability":
        bad = requests('status_class="5xx"')
        return f"{bad}\n/\n{requests()}"
    le = SLO["latency"]["threshold_seconds"]
    good = (
        "sum(rate(http_server_request_duration_seconds_bucket"
        f'{{route=~"{SLO["routes"]}", le="{le}"}}[5m]))'
    )
    return f"1 - (\n  {good}\n  /\n  {requests()}\n)"


def slo_rules(slo):
    recorded = [
        {
            "record": "slo:sli_error:ratio_rate5m",
            "expr": sli_errors(slo),
            "labels": {"slo": slo},
        }
    ]
    for window in LONG:
        recorded.append(
            {
                "record": f"slo:sli_error:ratio_rate{window}",
                "expr": f'avg_over_time(slo:sli_error:ratio_rate5m{{slo="{slo}"}}[{window}])',
                "labels": {"slo": slo},
            }
        )
    budget = round(1 - SLO[slo]["objective"], 6)
    recorded.append(
        {"record": "slo:error_budget:ratio", "expr": f"vector({budget})", "labels": {"slo": slo}}
    )
    alerts = []
    name = f"PolicyService{slo.capitalize()}BurnRate"
    for severity in ("critical", "warning"):
        conditions = [
            f'(slo:sli_error:ratio_rate{long}{{slo="{slo}"}} > {rate} * {budget}\n'
            f' and slo:sli_error:ratio_rate{short}{{slo="{slo}"}} > {rate} * {budget})'
            for long, short, rate, sev in WINDOWS
            if sev == severity
        ]
        fast = severity == "critical"
        alerts.append(
            {
                "alert": name + ("Fast" if fast else "Slow"),
                "expr": "\nor\n".join(conditions),
                "for": "2m" if fast else "15m",
                "labels": {"severity": severity, "slo": slo},
                "annotations": {
                    "summary": (
                        f"policy-service is burning its {slo} error budget "
                        + ("fast: it will be gone within days" if fast else "steadily")
                    ),
                    "description": (
                        f"{SLO[slo]['description']}: objective {SLO[slo]['objective']}. "
                        "Error ratio over the last hour: "
                        f'{{{{ with query "slo:sli_error:ratio_rate1h{{slo=\\"{slo}\\"}}" }}}}'
                        "{{ . | first | value | humanizePercentage }}{{ end }}."
                    ),
                    "runbook_url": runbook(f"{slo}-burn-rate"),
                },
            }
        )
    return recorded, alerts


def other_alerts():
    job = SLO["job"]
    return [
        {
            "alert": "PolicyServiceTargetAbsent",
            "expr": f'absent(up{{job="{job}"}} == 1)',
            "for": "5m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "Prometheus scrapes no policy-service replica",
                "description": f"No target of job {job} has been up for 5 minutes.",
                "runbook_url": runbook("target-absent"),
            },
        },
        {
            "alert": "PolicyServiceTenantErrorSpike",
            "expr": (
                'sum by (tenant) (rate(http_server_tenant_requests_total{status_class="5xx"}[5m]))\n'
                "/\n"
                "sum by (tenant) (rate(http_server_tenant_requests_total[5m]))\n"
                "> 0.05\n"
                "and\n"
                "sum by (tenant) (rate(http_server_tenant_requests_total[5m])) > 0.1"
            ),
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Tenant {{ $labels.tenant }} gets 5xx on over 5% of its requests",
                "description": "{{ $value | humanizePercentage }} of its requests failed over 5 minutes.",
                "runbook_url": runbook("tenant-error-spike"),
            },
        },
        {
            "alert": "PolicyServiceTelemetryDropping",
            "expr": "sum by (signal) (rate(telemetry_dropped_total[10m])) > 0",
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "policy-service drops {{ $labels.signal }}",
                "description": "Its export queue has been full or its receiver down for 10 minutes.",
                "runbook_url": runbook("telemetry-dropping"),
            },
        },
        {
            "alert": "PolicyServiceDbPoolSaturated",
            "expr": (
                'sum by (pool) (db_pool_connections{state="in_use"})\n'
                "/\n"
                "sum by (pool) (db_pool_max_connections)\n"
                "> 0.9\n"
                "or\n"
                "sum by (pool) (rate(db_pool_budget_timeouts_total[5m])) > 0"
            ),
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "policy-service's {{ $labels.pool }} connections are nearly all in use",
                "description": "Over 90% in use, or requests refused for want of a connection, for 5 minutes.",
                "runbook_url": runbook("db-pool-saturated"),
            },
        },
        {
            "alert": "PolicyServiceRedisDown",
            "expr": "max(redis_breaker_open) == 1",
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "policy-service has served without Redis for 5 minutes",
                "description": "The breaker is open: reads go to the database, L1 is bypassed.",
                "runbook_url": runbook("redis-down"),
            },
        },
        {
            "alert": "PolicyServiceJobsFailing",
            "expr": 'sum by (type) (increase(queue_jobs_total{outcome="failed"}[15m])) > 0',
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "{{ $labels.type }} jobs are landing in failed_jobs",
                "description": "{{ $value | humanize }} used up their tries in the last 15 minutes.",
                "runbook_url": runbook("jobs-failing"),
            },
        },
        {
            "alert": "PolicyServiceJobsWaiting",
            "expr": (
                "histogram_quantile(0.95, sum by (le) (rate(queue_job_wait_seconds_bucket[10m])))\n"
                "> 60"
            ),
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Jobs wait over a minute to start",
                "description": "p95 from queueing to start: {{ $value | humanizeDuration }} for 10 minutes.",
                "runbook_url": runbook("jobs-waiting"),
            },
        },
        {
            "alert": "PolicyServiceObjectStoreDown",
            "expr": 'max(circuit_breaker_state{breaker="object_store"}) >= 1',
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "policy-service cannot reach its document store",
                "description": "The object store's breaker has been open or probing for 5 minutes: uploads and downloads get 503.",
                "runbook_url": runbook("object-store-down"),
            },
        },
        {
            "alert": "PolicyServicePartnerDown",
            "expr": 'max by (breaker) (circuit_breaker_state{breaker=~"partner:.*"}) >= 1',
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "The {{ $labels.breaker }} route has failed for 5 minutes",
                "description": "Its breaker is open or probing: rating answers 503, bound-policy notices wait in the queue.",
                "runbook_url": runbook("partner-down"),
            },
        },
        {
            "alert": "PolicyServiceDocumentIntegrity",
            "expr": "sum(increase(documents_integrity_failures_total[15m])) > 0",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "Stored documents do not match their SHA-256",
                "description": "{{ $value | humanize }} downloads were cut off in 15 minutes: their bytes changed in storage.",
                "runbook_url": runbook("document-integrity"),
            },
        },
    ]


def document():
    groups = []
    alerts = []
    for slo in ("availability", "latency"):
        recorded, slo_alerts = slo_rules(slo)
        groups.append({"name": f"policy-service-slo-{slo}", "rules": recorded})
        alerts += slo_alerts
    groups.append({"name": "policy-service-alerts", "rules": alerts + other_alerts()})
    header = "# Generated by generate.py from ../slo.json: edit those, then run it.\n"
    return header + yaml.safe_dump({"groups": groups}, sort_keys=False, width=100)


if __name__ == "__main__":
    text = document()
    if "--check" in sys.argv:
        if OUT.read_text() != text:
            sys.exit(f"{OUT.name} is not generate.py's output: run python3 {Path(__file__).name}")
    else:
        OUT.write_text(text)
