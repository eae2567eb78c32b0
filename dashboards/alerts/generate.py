#!/usr/bin/env python3
"""Writes policy-service.rules.yml (and the same as a PrometheusRule, prometheusrule.yaml) from
../slo.json: the SLO recording rules, the multi-window multi-burn-rate alerts (the Google SRE
workbook's windows, as Sloth makes them) and the service's other alerts. The SLO targets live in slo.json only; CI checks the committed rules
are this script's output (python3 generate.py --check).

Every long window's error ratio is the average of the recorded 5m ratio over that window, so
Prometheus evaluates one raw-rate expression per SLO and every window is cheap.

Every selector names the service's job (slo.json), and every aggregation keeps `namespace` and
`job`: two deployments scraped by one Prometheus (staging and production, say) are recorded and
alerted on apart, and every alert carries the deployment it is about.
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


# The labels that say which deployment a series is from (Prometheus Operator sets both).
IDENTITY = "namespace, job"


def sel(metric, extra=""):
    """`metric` of this service's job only, with `extra` matchers."""
    return f'{metric}{{job="{SLO["job"]}"' + (f", {extra}" if extra else "") + "}"


def eq(label, value):
    return f'{label}="{value}"'


PARTNERS = 'breaker=~"partner:.*"'


def by(*labels):
    """A `by` clause that keeps the deployment's identity."""
    return f"by ({', '.join([IDENTITY, *labels])})"


def requests(extra=""):
    matchers = f'route=~"{SLO["routes"]}"' + (f", {extra}" if extra else "")
    return f"sum {by()} (rate({sel('http_server_request_duration_seconds_count', matchers)}[5m]))"


def slo_sel(record, slo):
    return sel(record, f'slo="{slo}"')


def ratio_query(slo, window):
    """An annotation's query for the alerting deployment's own error ratio."""
    return (
        f'{{{{ with printf "slo:sli_error:ratio_rate{window}{{slo=\\"{slo}\\", '
        f'namespace=\\"%s\\", job=\\"%s\\"}}" $labels.namespace $labels.job | query }}}}'
    )


def sli_errors(slo):
    """The 5m error ratio of one SLO: failed (5xx) or slow (over the threshold) requests."""
    if slo == "availability":
        bad = requests('status_class="5xx"')
        return f"{bad}\n/\n{requests()}"
    le = SLO["latency"]["threshold_seconds"]
    bucket = sel("http_server_request_duration_seconds_bucket", f'route=~"{SLO["routes"]}", le="{le}"')
    good = f"sum {by()} (rate({bucket}[5m]))"
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
                "expr": f"avg_over_time({slo_sel('slo:sli_error:ratio_rate5m', slo)}[{window}])",
                "labels": {"slo": slo},
            }
        )
    budget = round(1 - SLO[slo]["objective"], 6)
    # One budget per deployment (a series for every namespace and job that is scraped), so a
    # burn rate divides by its own deployment's budget.
    recorded.append(
        {
            "record": "slo:error_budget:ratio",
            "expr": f"0 * count {by()} ({sel('up')}) + {budget}",
            "labels": {"slo": slo},
        }
    )
    alerts = []
    name = f"PolicyService{slo.capitalize()}BurnRate"
    for severity in ("critical", "warning"):
        conditions = [
            f"({slo_sel('slo:sli_error:ratio_rate' + long, slo)} > {rate} * {budget}\n"
            f" and {slo_sel('slo:sli_error:ratio_rate' + short, slo)} > {rate} * {budget})"
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
                        + ratio_query(slo, "1h")
                        + "{{ . | first | value | humanizePercentage }}{{ end }}."
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
            # Every target down; a deployment whose targets vanished in the last day (scaled
            # to zero, its ServiceMonitor gone); or none scraped anywhere.
            "expr": (
                f"sum {by()} ({sel('up')}) == 0\n"
                f"or\n"
                f"(sum {by()} (max_over_time({sel('up')}[1d])) unless sum {by()} ({sel('up')}))\n"
                f"or\n"
                f"absent({sel('up')})"
            ),
            "for": "5m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "Prometheus scrapes no policy-service replica",
                "description": (
                    f"No target of job {job} has been up for 5 minutes"
                    "{{ with $labels.namespace }} in namespace {{ . }}{{ end }}."
                ),
                "runbook_url": runbook("target-absent"),
            },
        },
        {
            "alert": "PolicyServiceTenantErrorSpike",
            "expr": (
                f"sum {by('tenant')} (rate({sel('http_server_tenant_requests_total', eq('status_class', '5xx'))}[5m]))\n"
                "/\n"
                f"sum {by('tenant')} (rate({sel('http_server_tenant_requests_total')}[5m]))\n"
                "> 0.05\n"
                "and\n"
                f"sum {by('tenant')} (rate({sel('http_server_tenant_requests_total')}[5m])) > 0.1"
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
            "expr": f"sum {by('signal')} (rate({sel('telemetry_dropped_total')}[10m])) > 0",
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
                f"sum {by('pool')} ({sel('db_pool_connections', eq('state', 'in_use'))})\n"
                "/\n"
                f"sum {by('pool')} ({sel('db_pool_max_connections')})\n"
                "> 0.9\n"
                "or\n"
                # New tenant pools refused for want of budget: the tenant pools' saturation.
                f"label_replace(sum {by()} (rate({sel('db_pool_budget_timeouts_total')}[5m])) > 0,"
                ' "pool", "tenant", "", "")'
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
            "expr": f"max {by()} ({sel('redis_breaker_open')}) == 1",
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
            "expr": f"sum {by('type')} (increase({sel('queue_jobs_total', eq('outcome', 'failed'))}[15m])) > 0",
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
                f"histogram_quantile(0.95, sum {by('le')} (rate({sel('queue_job_wait_seconds_bucket')}[10m])))\n"
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
            "expr": f"max {by()} ({sel('circuit_breaker_state', eq('breaker', 'object_store'))}) >= 1",
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
            "expr": f"max {by('breaker')} ({sel('circuit_breaker_state', PARTNERS)}) >= 1",
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "The {{ $labels.breaker }} route has failed for 5 minutes",
                "description": "Its breaker is open or probing: rating answers 503, bound-policy notices wait in the queue.",
                "runbook_url": runbook("partner-down"),
            },
        },
        {
            "alert": "PolicyServiceConsumerNearRateLimit",
            "expr": (
                f"max {by('consumer', 'window')} ({sel('gateway_rate_limit_usage_ratio')})\n"
                "> 0.9"
            ),
            "for": "5m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Kong consumer {{ $labels.consumer }} is near its {{ $labels.window }} rate limit",
                "description": "It has used {{ $value | humanizePercentage }} of its limit for 5 minutes: Kong answers it 429 next.",
                "runbook_url": runbook("rate-limit"),
            },
        },
        {
            "alert": "PolicyServiceDocumentIntegrity",
            "expr": f"sum {by()} (increase({sel('documents_integrity_failures_total')}[15m])) > 0",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "Stored documents do not match their SHA-256",
                "description": "{{ $value | humanize }} downloads were cut off in 15 minutes: their bytes changed in storage.",
                "runbook_url": runbook("document-integrity"),
            },
        },
    ]


def groups():
    out, alerts = [], []
    for slo in ("availability", "latency"):
        recorded, slo_alerts = slo_rules(slo)
        out.append({"name": f"policy-service-slo-{slo}", "rules": recorded})
        alerts += slo_alerts
    out.append({"name": "policy-service-alerts", "rules": alerts + other_alerts()})
    return out


HEADER = "# Generated by generate.py from ../slo.json: edit those, then run it.\n"


def rules_file():
    return HEADER + yaml.safe_dump({"groups": groups()}, sort_keys=False, width=100)


def prometheus_rule():
    """The same groups as the Prometheus Operator's PrometheusRule (../kustomization.yaml ships
    it). Its labels must match your Prometheus's ruleSelector (kube-prometheus-stack: `release`)."""
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": SLO["service"],
            "labels": {"app.kubernetes.io/name": SLO["service"], "role": "alert-rules"},
        },
        "spec": {"groups": groups()},
    }
    return HEADER + yaml.safe_dump(rule, sort_keys=False, width=100)


if __name__ == "__main__":
    stale = []
    for out, text in ((OUT, rules_file()), (HERE / "prometheusrule.yaml", prometheus_rule())):
        if "--check" in sys.argv:
            if not out.exists() or out.read_text() != text:
                stale.append(out.name)
        else:
            out.write_text(text)
    if stale:
        sys.exit(f"not generate.py's output: {', '.join(stale)}; run python3 {Path(__file__).name}")
