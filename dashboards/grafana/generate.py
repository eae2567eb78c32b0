#!/usr/bin/env python3
"""Writes the Grafana dashboards (*.json beside this file) from the short descriptions below,
so every panel follows the same rules: datasources only through the `${prometheus}`, `${loki}`
and `${tempo}` variables (no uid is written down), `exemplar: true` on every latency quantile,
unique panel ids, a `tenant` variable wherever a query has a tenant label, and every series
selected by the `job` and `namespace` variables (`identify` adds them to each selector), so two
deployments scraped by one Prometheus never mix on a panel. CI checks the
committed files are this script's output (python3 generate.py --check) and that every query
answers against a Prometheus that scraped the service (dashboards/prove.sh).

Import: Grafana → Dashboards → New → Import → upload a file, and pick the datasources; or
provision the folder (../provisioning/dashboards.yaml).
"""

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RATE = "$__rate_interval"
V1 = 'route=~"/v1/.*"'
PROM = {"type": "prometheus", "uid": "${prometheus}"}
LOKI = {"type": "loki", "uid": "${loki}"}


# The deployment a dashboard shows: Prometheus Operator's `job` (the Service, or its jobLabel)
# and `namespace` labels. Outside Kubernetes, give the scrape config a `namespace` label.
IDENTITY = 'job="$job", namespace="$namespace"'
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "sum", "min", "max", "avg", "count", "group", "stddev", "stdvar",
            "topk", "bottomk", "quantile", "count_values"}
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\{[^}]*\}|\[[^\]]*\]|[A-Za-z_:][A-Za-z0-9_:]*|\s+|.')


def identify(expr):
    """`expr` with the IDENTITY matchers in every series selector. A name is a selector unless
    it is a keyword or an aggregation, a function (followed by "("), or in a grouping's label
    list; quoted
    strings, matchers and ranges are passed over."""
    tokens = TOKEN.findall(expr)
    out, i, labels = [], 0, False
    while i < len(tokens):
        tok = tokens[i]
        nxt = next((t for t in tokens[i + 1:] if not t.isspace()), "")
        if labels:
            labels = tok != ")"
        elif tok in GROUPING:
            labels = nxt == "("
        elif re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", tok) and tok not in KEYWORDS and nxt != "(":
            following = tokens[i + 1] if i + 1 < len(tokens) else ""
            if following.startswith("{"):
                inner = following[1:-1].strip()
                tok += "{" + IDENTITY + (", " + inner if inner else "") + "}"
                i += 1
            else:
                tok += "{" + IDENTITY + "}"
        out.append(tok)
        i += 1
    return "".join(out)


def zero(expr, by):
    """`expr`, or 0 for each group the traffic has: a rare error shows 0, not "No data"."""
    return f"({expr} or sum by ({by}) (rate(http_server_request_duration_seconds_count[{RATE}])) * 0)"


def q(expr, legend="", exemplar=False):
    return {"expr": expr, "legend": legend, "exemplar": exemplar}


def quantiles(metric, by, matchers=""):
    sel = f"{metric}_bucket{{{matchers}}}" if matchers else f"{metric}_bucket"
    return [
        q(
            f"histogram_quantile({p}, sum by (le, {by}) (rate({sel}[{RATE}])))",
            f"p{int(p * 100)} {{{{{by}}}}}",
            exemplar=True,
        )
        for p in (0.5, 0.95, 0.99)
    ]


def panel(title, targets, unit="short", description="", kind="timeseries", width=12):
    return {
        "title": title,
        "targets": targets,
        "unit": unit,
        "description": description,
        "kind": kind,
        "width": width,
    }


def row(title):
    return {"row": title}


TENANT_VAR = {
    "name": "tenant",
    "label": "Tenant",
    "type": "query",
    "datasource": PROM,
    "query": {"query": f"label_values(http_server_tenant_requests_total{{{IDENTITY}}}, tenant)", "refId": "tenant"},
    "definition": f"label_values(http_server_tenant_requests_total{{{IDENTITY}}}, tenant)",
    "includeAll": True,
    "allValue": ".*",
    "multi": True,
    "refresh": 2,
    "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
}

DASHBOARDS = {
    "service-red": (
        "policy-service / Service (RED)",
        "Rate, errors and duration of every /v1 operation, the SLOs of dashboards/slo.json, and the "
        "server's connections. Latency panels carry exemplars: click one to open its trace in Tempo.",
        [
            row("Traffic and errors"),
            panel("Requests by route", [q(f"sum by (route) (rate(http_server_request_duration_seconds_count{{{V1}}}[{RATE}]))", "{{route}}")], "reqps"),
            panel("5xx ratio by route", [q(
                zero(f'sum by (route) (rate(http_server_request_duration_seconds_count{{{V1}, status_class="5xx"}}[{RATE}]))', "route")
                + f" / sum by (route) (rate(http_server_request_duration_seconds_count{{{V1}}}[{RATE}]))", "{{route}}")], "percentunit"),
            panel("Responses by status class", [q(f"sum by (status_class) (rate(http_server_request_duration_seconds_count{{{V1}}}[{RATE}]))", "{{status_class}}")], "reqps"),
            panel("Requests in flight", [q("sum(http_server_active_requests)", "in flight")]),
            row("Duration"),
            panel("Latency by route (p50, p95, p99)", quantiles("http_server_request_duration_seconds", "route", V1), "s", width=24),
            row("SLOs (dashboards/slo.json)"),
            panel("Error ratio, 5m, by SLO", [q("slo:sli_error:ratio_rate5m", "{{slo}}")], "percentunit",
                  "Failed (availability) or slower than the threshold (latency); the budget is slo:error_budget:ratio."),
            panel("Budget burn rate, 1h, by SLO", [q("slo:sli_error:ratio_rate1h / on (slo) slo:error_budget:ratio", "{{slo}}")], "x",
                  "1 spends the budget exactly over 30 days; 14.4 over 1h pages."),
            row("Connections"),
            panel("Open connections", [q("sum(http_server_connections)", "open")]),
            panel("Connections closed by reason", [q(f"sum by (reason) (rate(http_server_connections_closed_total[{RATE}]))", "{{reason}}")], "ops",
                  "header_timeout and idle: clients that left a connection hanging; slow_client: below HTTP_MIN_DATA_RATE while the service waited on it; "
                  "overloaded: past HTTP_MAX_CONNECTIONS, a request that is not a probe, answered 503 (the pod is full: scale out)."),
        ],
    ),
    "tenants": (
        "policy-service / Tenants",
        "Which tenants send the traffic and get the errors, and each one's business: policies bound, "
        "payments, claims, and policies and claims by status. Tenants past METRICS_TENANT_LABELS are `other`.",
        [
            row("Traffic"),
            panel("Top tenants by requests", [q(f'topk(10, sum by (tenant) (rate(http_server_tenant_requests_total{{tenant=~"$tenant"}}[{RATE}])))', "{{tenant}}")], "reqps"),
            panel("Top tenants by 5xx", [q(
                f'topk(10, sum by (tenant) (rate(http_server_tenant_requests_total{{tenant=~"$tenant", status_class="5xx"}}[{RATE}]))'
                f' or sum by (tenant) (rate(http_server_tenant_requests_total{{tenant=~"$tenant"}}[{RATE}])) * 0)', "{{tenant}}")], "reqps"),
            row("Business"),
            panel("Policies bound", [q(f'sum by (tenant) (rate(policies_bound_total{{tenant=~"$tenant"}}[{RATE}]))', "{{tenant}}")], "ops"),
            panel("Payments", [q(f'sum by (tenant) (rate(payments_received_total{{tenant=~"$tenant"}}[{RATE}]))', "{{tenant}}")], "ops"),
            panel("Amount paid (minor units)", [q(f'sum by (tenant, currency) (rate(payments_amount_total{{tenant=~"$tenant"}}[{RATE}]))', "{{tenant}} {{currency}}")], "short"),
            panel("Claims opened", [q(f'sum by (tenant) (rate(claims_opened_total{{tenant=~"$tenant"}}[{RATE}]))', "{{tenant}}")], "ops"),
            panel("Policies by status", [q('max by (tenant, status) (policies_by_status{tenant=~"$tenant"})', "{{tenant}} {{status}}")],
                  description="Every replica reports the same counts: max, never sum."),
            panel("Claims by status", [q('max by (tenant, status) (claims_by_status{tenant=~"$tenant"})', "{{tenant}} {{status}}")]),
            row("Kong consumers"),
            panel("Rate limit used by consumer", [q("max by (consumer, window) (gateway_rate_limit_usage_ratio)", "{{consumer}} {{window}}")], "percentunit",
                  "The share of each consumer's limit (RATE_LIMIT_PER_MINUTE, RATE_LIMIT_PER_HOUR: kong.yaml's) used in the current window, "
                  "counted by the replicas together; at 100% Kong answers 429."),
            panel("Consumers warned near their limit", [q(f"sum by (window) (increase(gateway_rate_limit_warnings_total[{RATE}])) or vector(0)", "{{window}}")], "short",
                  "`API rate limit approaching` log lines (the seed's ApiRateLimiter): once per consumer, window and replica."),
        ],
    ),
    "jobs": (
        "policy-service / Jobs",
        "The tenants' Redis queues and the workers: what waits (ready, delayed for a retry, reserved by a "
        "worker), how long a job waits to start and runs, tries by outcome, failed jobs, and the leases "
        "that keep a running job from being handed out twice.",
        [
            row("Queues"),
            panel("Jobs in the queues by queue and state", [q('sum by (queue, state) (max by (tenant, queue, state) (queue_jobs{tenant=~"$tenant"}))', "{{queue}} {{state}}")],
                  description="Every worker reports the same counts: max per tenant, then summed."),
            panel("Top tenants by jobs ready", [q('topk(10, sum by (tenant) (max by (tenant, queue) (queue_jobs{tenant=~"$tenant", state="ready"})))', "{{tenant}}")]),
            panel("Wait to start (p50, p95, p99)", quantiles("queue_job_wait_seconds", "type"), "s",
                  "From dispatch to the start of the first try."),
            panel("Failed jobs", [q("max(queue_failed_jobs)", "in failed_jobs")], kind="stat",
                  description="`policy-service queue failed list` shows them; `retry` or `forget` each."),
            row("Jobs"),
            panel("Tries by type and outcome", [q(f"sum by (type, outcome) (rate(queue_jobs_total[{RATE}]))", "{{type}} {{outcome}}")], "ops"),
            panel("Dispatched by type", [q(f"sum by (type) (rate(queue_jobs_dispatched_total[{RATE}]))", "{{type}}")], "ops"),
            panel("Try duration (p50, p95, p99)", quantiles("queue_job_duration_seconds", "type"), "s"),
            panel("Jobs failed for good", [q(f'sum by (type) (rate(queue_jobs_total{{outcome=~"failed|dropped"}}[{RATE}])) or vector(0)', "{{type}}")], "ops",
                  "Failed: kept in failed_jobs. Dropped: a relay's (the next sweep does its work)."),
            row("Leases and pushes"),
            panel("Lease renewals by outcome", [q(f"sum by (outcome) (rate(queue_lease_renewals_total[{RATE}])) or vector(0)", "{{outcome}}"),
                                                q(f"sum(rate(queue_leases_lost_total[{RATE}])) or vector(0)", "finished after the lease ended")], "ops",
                  "Lost or finished late: the job may have run twice (its handler is idempotent)."),
            panel("Pushes Redis did not take", [q(f"sum(rate(queue_push_failures_total[{RATE}])) or vector(0)", "failed pushes"),
                                                q("sum(queue_unsent_jobs)", "jobs waiting to be sent"),
                                                q(f"sum(rate(queue_jobs_dropped_total[{RATE}])) or vector(0)", "dropped")], "short"),
        ],
    ),
    "database": (
        "policy-service / Database",
        "The landlord and tenant pools (use against their budget, waits), dynamic credentials, and "
        "the statements run.",
        [
            row("Pools"),
            panel("Connections by pool and state", [q("sum by (pool, state) (db_pool_connections)", "{{pool}} {{state}}"),
                                                    q("sum by (pool) (db_pool_max_connections)", "{{pool}} max")]),
            panel("Pools open", [q("sum by (pool) (db_pools_open)", "{{pool}}")]),
            panel("Acquire wait (p50, p95, p99)", quantiles("db_pool_acquire_duration_seconds", "pool"), "s"),
            panel("Transaction begin wait (p50, p95, p99)", quantiles("db_transaction_begin_duration_seconds", "pool"), "s"),
            panel("Requests refused: no connection, no answer", [q(f"sum(rate(db_pool_budget_timeouts_total[{RATE}]))", "no connection budget (503)"),
                                                                 q(f"sum(rate(db_statement_timeouts_total[{RATE}]))", "statement unanswered in 10 s (503)")], "ops",
                  "A statement past 10 s means the database stalls (a partition, a hung server): its connection is discarded."),
            panel("Dynamic credentials (Vault)", [q(f"sum(increase(database_credentials_issued_total[{RATE}]))", "issued"),
                                                  q(f"sum(increase(database_credentials_renewals_total[{RATE}]))", "renewed"),
                                                  q(f"sum(increase(database_credentials_rotations_total[{RATE}]))", "rotated (pool reconnected)")], "short",
                  "DATABASE_CREDENTIALS=vault: tenant users from Vault leases, renewed before they end and replaced at their max TTL or when revoked."),
            row("Statements"),
            panel("Statements by operation and table", [q(f"sum by (operation, table) (rate(db_statements_total[{RATE}]))", "{{operation}} {{table}}")], "ops", width=24),
        ],
    ),
    "cache": (
        "policy-service / Cache",
        "The two-tier cache: hits by tier, loads, single flight, invalidations and the backplane, "
        "and Redis (calls, errors, the breaker).",
        [
            row("Reads"),
            panel("Hit ratio by tier", [q(f'sum by (tier) (rate(cache_requests_total{{outcome="hit"}}[{RATE}])) / sum by (tier) (rate(cache_requests_total[{RATE}]))', "{{tier}}")], "percentunit"),
            panel("Loads from the database", [q(f"sum(rate(cache_load_duration_seconds_count[{RATE}]))", "loads"),
                                              q(f"sum(rate(cache_load_errors_total[{RATE}]))", "failed"),
                                              q(f"sum(rate(cache_reloads_total[{RATE}]))", "reloads"),
                                              q(f"sum(rate(cache_lease_waits_total[{RATE}]))", "waited for another replica")], "ops"),
            panel("Load duration (p50, p95, p99)", [q(f"histogram_quantile({p}, sum by (le) (rate(cache_load_duration_seconds_bucket[{RATE}])))", f"p{int(p * 100)}", True) for p in (0.5, 0.95, 0.99)], "s"),
            panel("L1 evictions", [q(f"sum(rate(cache_evictions_total[{RATE}]))", "evicted")], "ops"),
            row("Invalidations and the backplane"),
            panel("Invalidations", [q(f"sum(rate(cache_invalidations_total[{RATE}]))", "made here"),
                                    q(f"sum(rate(cache_invalidations_sent_total[{RATE}]))", "published"),
                                    q(f"sum by (outcome) (rate(cache_invalidations_received_total[{RATE}])) or vector(0)", "received {{outcome}}"),
                                    q("sum(cache_invalidations_pending)", "waiting to be resent")], "ops"),
            panel("Backplane", [q("min(cache_backplane_up)", "up (all replicas)"),
                                q(f"sum(increase(cache_backplane_reconnects_total[{RATE}]))", "reconnects"),
                                q(f"sum(increase(cache_backplane_ack_timeouts_total[{RATE}]))", "ack timeouts")]),
            panel("L1 bypassed after a backplane outage", [q(f"sum(rate(cache_l1_bypass_seconds_sum[{RATE}])) or vector(0)", "seconds bypassed / s")], "s"),
            row("Redis"),
            panel("Redis call duration by operation (p50, p95, p99)", quantiles("redis_duration_seconds", "op"), "s", width=24),
            panel("Redis errors and refused calls", [q(f"sum by (op) (rate(redis_errors_total[{RATE}])) or vector(0)", "failed {{op}}"),
                                                     q(f"sum by (op) (rate(redis_rejected_total[{RATE}])) or vector(0)", "refused {{op}}")], "ops"),
            panel("Breaker", [q("max(redis_breaker_open)", "open"),
                              q(f"sum(increase(redis_breaker_trips_total[{RATE}]))", "trips")]),
        ],
    ),
    "events": (
        "policy-service / Events",
        "The transactional outbox and its relay: events published by type, failures, how long an "
        "event waits between its commit and its publish, the oldest one not out yet; and the "
        "broadcasts to laravel-echo / pusher-js sockets.",
        [
            row("Outbox"),
            panel("Events published by type", [q(f'sum by (event_type) (rate(events_published_total{{outcome="published"}}[{RATE}]))', "{{event_type}}")], "ops"),
            panel("Publish failures by type", [q(f'sum by (event_type) (rate(events_published_total{{outcome="failed"}}[{RATE}])) or vector(0)', "{{event_type}}")], "ops",
                  "A failed publish stops the tenant's round (order is kept) and is retried."),
            panel("Commit to publish (p50, p95, p99)", [q(f"histogram_quantile({p}, sum by (le) (rate(events_publish_lag_seconds_bucket[{RATE}])))", f"p{int(p * 100)}", True) for p in (0.5, 0.95, 0.99)], "s"),
            panel("Oldest unsent event", [q("max(outbox_oldest_unsent_seconds)", "age")], "s",
                  "Measured by the sweep (OUTBOX_SWEEP_SECS); above a few sweeps, the publisher is failing."),
            panel("Sent events pruned", [q(f"sum(rate(outbox_pruned_total[{RATE}]))", "pruned")], "ops"),
            row("Broadcasts (Pusher protocol)"),
            panel("Broadcasts sent by event", [q(f"sum by (event) (rate(broadcast_events_total[{RATE}]))", "{{event}}")], "ops",
                  "One per event and channel (tenant.*, policy.*), from the outbox relay."),
            panel("Delivered to sockets", [q(f"sum(rate(broadcast_deliveries_total[{RATE}])) or vector(0)", "delivered")], "ops"),
            panel("Connections and subscriptions", [q("sum by (protocol) (broadcast_connections)", "{{protocol}} connections"),
                                                    q("sum(broadcast_subscriptions)", "subscriptions")]),
            panel("Refused and closed", [q(f"sum by (reason) (rate(broadcast_auth_refusals_total[{RATE}])) or vector(0)", "refused: {{reason}}"),
                                         q(f"sum by (reason) (rate(broadcast_disconnects_total[{RATE}])) or vector(0)", "closed: {{reason}}"),
                                         q(f"sum by (limit) (rate(broadcast_refused_connections_total[{RATE}])) or vector(0)", "at cap: {{limit}}")], "ops",
                  "Refused: another tenant's channel (forbidden), a bad signature, an unknown channel or app key. Closed by the service: too_slow (behind its broadcasts), "
                  "unread (a write that did not go out), too_large (1009), no_pong, refused (ten refusals), flood (frames too fast), shutdown. "
                  "At cap: sockets (BROADCAST_MAX_CONNECTIONS), streams (BROADCAST_MAX_STREAMS), tenant_streams (BROADCAST_MAX_TENANT_STREAMS)."),
            panel("Fan-out lag (p50, p95, p99)", [q(f"histogram_quantile({p}, sum by (le) (rate(broadcast_fanout_lag_seconds_bucket[{RATE}])))", f"p{int(p * 100)}", True) for p in (0.5, 0.95, 0.99)], "s",
                  "From a broadcast's append to its delivery by an instance with subscribers."),
        ],
    ),
    "documents": (
        "policy-service / Documents",
        "Documents of policies and claims in object storage (S3, or the local disk): bytes up and "
        "down, every store call's latency and errors by operation, the store's circuit breaker, "
        "restores of archived documents, downloads cut off by a checksum mismatch, and the "
        "sweep that cleans up after unfinished uploads and deletes.",
        [
            panel("Bytes uploaded and downloaded", [q(f"sum by (direction) (rate(documents_bytes_total[{RATE}])) or vector(0)", "{{direction}}")], "Bps"),
            panel("Uploads and downloads by status", [q(f'sum by (route, method, status_class) (rate(http_server_request_duration_seconds_count{{route=~"/v1/(policies|claims)/.+/documents|/v1/documents/.+/content"}}[{RATE}]))', "{{method}} {{route}} {{status_class}}")], "reqps"),
            panel("Object store call duration by operation (p50, p95, p99)", quantiles("object_store_request_duration_seconds", "operation"), "s", width=24),
            panel("Object store errors", [q(f"sum by (operation, error) (rate(object_store_errors_total[{RATE}])) or vector(0)", "{{operation}} {{error}}")], "ops",
                  "unavailable: no answer, a timeout or a 5xx (counts toward the breaker); refused: the store said no (credentials, a missing bucket); breaker_open: failed fast."),
            panel("Breaker", [q('max by (breaker) (circuit_breaker_state{breaker="object_store"})', "state (0 closed, 1 open, 2 half-open)"),
                              q(f'sum(increase(circuit_breaker_transitions_total{{breaker="object_store", to="open"}}[{RATE}]))', "opened")]),
            panel("Archived, restores, integrity failures, swept", [q(f"sum(increase(documents_archived_total[{RATE}]))", "archived (their policy ended)"),
                                                                   q(f"sum(increase(documents_restores_total[{RATE}]))", "restores started"),
                                                                   q(f"sum(increase(documents_integrity_failures_total[{RATE}]))", "downloads cut off (SHA-256 mismatch)"),
                                                                   q(f"sum(increase(documents_swept_total[{RATE}]))", "unfinished uploads/deletes cleaned")], "short",
                  "Archived: an expired or cancelled policy's private documents moved to GLACIER by a job. A restore is started by the first download of an archived (GLACIER) document. "
                  "An integrity failure means the stored bytes changed: investigate at once.", width=24),
        ],
    ),
    "partners": (
        "policy-service / Partners",
        "Calls to partner routes through Camel (rating, policy-bound notices): rate and outcome, "
        "latency, and each route's circuit breaker (open: calls fail fast with 503 and Retry-After).",
        [
            panel("Partner calls by route and outcome", [q(f"sum by (route, outcome) (rate(partner_requests_total[{RATE}]))", "{{route}} {{outcome}}")], "ops",
                  "failed: a timeout, no connection or a 5xx (counts toward the breaker); refused: a 4xx; breaker_open: failed fast, the partner not called."),
            panel("Partner call duration (p50, p95, p99)", quantiles("partner_request_duration_seconds", "route"), "s"),
            panel("Breakers", [q('max by (breaker) (circuit_breaker_state{breaker=~"partner:.*"}) or vector(0)', "{{breaker}} (0 closed, 1 open, 2 half-open)"),
                               q(f'sum by (breaker) (increase(circuit_breaker_transitions_total{{breaker=~"partner:.*", to="open"}}[{RATE}])) or vector(0)', "{{breaker}} opened")]),
            panel("Partner notices waiting or failed", [q(f'sum by (outcome) (rate(queue_jobs_total{{type="NotifyPartner"}}[{RATE}])) or vector(0)', "{{outcome}}")], "ops",
                  "policy-bound notices are jobs: retried with backoff while the partner is down, then kept in failed jobs."),
        ],
    ),
    "telemetry": (
        "policy-service / Telemetry health",
        "What the service could not ship: spans and log lines dropped because a queue was full or a "
        "receiver down. Anything above 0 means traces or logs are missing.",
        [
            panel("Dropped by signal", [q(f"sum by (signal) (rate(telemetry_dropped_total[{RATE}]))", "{{signal}}")], "ops", width=24),
        ],
    ),
    "process": (
        "policy-service / Process",
        "Each replica's CPU, memory, file descriptors and threads, and which build it runs.",
        [
            panel("CPU", [q(f"sum by (instance) (rate(process_cpu_seconds_total[{RATE}]))", "{{instance}}")], "percentunit"),
            panel("Resident memory", [q("sum by (instance) (process_resident_memory_bytes)", "{{instance}}"),
                                      q("sum by (instance) (process_virtual_memory_bytes)", "virtual {{instance}}"),
                                      q("min by (instance) (process_virtual_memory_max_bytes)", "virtual max {{instance}}")], "bytes"),
            panel("File descriptors", [q("sum by (instance) (process_open_fds)", "open {{instance}}"),
                                       q("sum by (instance) (process_max_fds)", "max {{instance}}")]),
            panel("Threads", [q("sum by (instance) (process_threads)", "{{instance}}")]),
            panel("Uptime", [q("time() - max by (instance) (process_start_time_seconds)", "{{instance}}")], "s"),
            panel("Builds running", [q("count by (version) (build_info)", "{{version}}")], kind="stat"),
        ],
    ),
}

LOGS = (
    "policy-service / Logs",
    "The service's log lines in Loki for the chosen tenants and level; each line's trace_id links "
    "to its trace in Tempo (the Loki datasource's derived field).",
)


def grid(items):
    """Lays panels out 2 to a row (or full width), rows between; ids in order."""
    panels, x, y, next_id = [], 0, 0, 1
    for item in items:
        if "row" in item:
            if x:
                y, x = y + 8, 0
            panels.append({"id": next_id, "type": "row", "title": item["row"], "collapsed": False,
                           "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
            next_id, y = next_id + 1, y + 1
            continue
        w = item["width"]
        if x + w > 24:
            y, x = y + 8, 0
        targets = [
            {"refId": chr(ord("A") + i), "datasource": PROM, "expr": identify(t["expr"]),
             "legendFormat": t["legend"], "exemplar": t["exemplar"], "range": True}
            for i, t in enumerate(item["targets"])
        ]
        panels.append({
            "id": next_id,
            "type": item["kind"],
            "title": item["title"],
            "description": item["description"],
            "datasource": PROM,
            "gridPos": {"h": 8, "w": w, "x": x, "y": y},
            "fieldConfig": {"defaults": {"unit": item["unit"]}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
            "targets": targets,
        })
        next_id, x = next_id + 1, x + w
        if x >= 24:
            y, x = y + 8, 0
    return panels


def query_var(name, label, datasource, query, definition, current):
    """A single-valued variable from a query: one deployment at a time, never a mix."""
    return {"name": name, "label": label, "type": "query", "datasource": datasource,
            "query": query, "definition": definition, "refresh": 2, "includeAll": False,
            "multi": False, "sort": 1, "current": current}


# The service's job is preselected (slo.json's); the namespace is the first there is.
SLO = json.loads((HERE.parent / "slo.json").read_text())
BUILD_INFO_JOB = "label_values(build_info, job)"
BUILD_INFO_NAMESPACE = 'label_values(build_info{job="$job"}, namespace)'
IDENTITY_VARS = [
    query_var("job", "Service (job)", PROM, {"query": BUILD_INFO_JOB, "refId": "job"}, BUILD_INFO_JOB,
              {"selected": True, "text": SLO["job"], "value": SLO["job"]}),
    query_var("namespace", "Namespace", PROM, {"query": BUILD_INFO_NAMESPACE, "refId": "namespace"},
              BUILD_INFO_NAMESPACE, {}),
]


def datasource_var(kind, label):
    return {"name": kind, "label": label, "type": "datasource", "query": kind,
            "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}


def dashboard(uid, title, description, panels, variables):
    return {
        "uid": f"policy-service-{uid}",
        "title": title,
        "description": description,
        "tags": ["policy-service"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "",
        "annotations": {"list": []},
        "links": [{"title": "policy-service", "type": "dashboards", "tags": ["policy-service"], "asDropdown": True}],
        "templating": {"list": variables},
        "panels": panels,
    }


def all_dashboards():
    out = {}
    for uid, (title, description, items) in DASHBOARDS.items():
        uses_tenant = any("$tenant" in t["expr"] for i in items if "targets" in i for t in i["targets"])
        variables = [datasource_var("prometheus", "Prometheus"), *IDENTITY_VARS] + ([TENANT_VAR] if uses_tenant else [])
        out[uid] = dashboard(uid, *((title, description)), grid(items), variables)
    logs_expr = '{app="$app", namespace="$namespace", tenant=~"$tenant", level=~"$level"}'
    logs_panels = [
        {"id": 1, "type": "timeseries", "title": "Log lines by level", "datasource": LOKI,
         "gridPos": {"h": 8, "w": 24, "x": 0, "y": 0},
         "fieldConfig": {"defaults": {"unit": "short"}, "overrides": []}, "options": {},
         "targets": [{"refId": "A", "datasource": LOKI, "expr": f"sum by (level) (count_over_time({logs_expr}[$__interval]))",
                      "legendFormat": "{{level}}"}]},
        {"id": 2, "type": "logs", "title": "Log lines (trace_id links to Tempo)", "datasource": LOKI,
         "gridPos": {"h": 20, "w": 24, "x": 0, "y": 8},
         "options": {"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending", "enableLogDetails": True},
         "targets": [{"refId": "A", "datasource": LOKI, "expr": logs_expr}]},
    ]
    # Loki's stream labels say the deployment: `app` (the service's name) and `namespace`.
    app = query_var("app", "Service (app)", LOKI, {"type": 1, "label": "app", "refId": "app"},
                    "label_values(app)", {"selected": True, "text": SLO["service"], "value": SLO["service"]})
    stream = '{app="$app"}'
    namespace = query_var("namespace", "Namespace", LOKI,
                          {"type": 1, "label": "namespace", "stream": stream, "refId": "namespace"},
                          f"label_values({stream}, namespace)", {})
    stream = '{app="$app", namespace="$namespace"}'
    loki_tenant = dict(TENANT_VAR, datasource=LOKI,
                       query={"type": 1, "label": "tenant", "stream": stream, "refId": "tenant"},
                       definition=f"label_values({stream}, tenant)")
    level = {"name": "level", "label": "Level", "type": "custom", "query": "error,warn,info,debug",
             "includeAll": True, "allValue": ".*", "multi": True,
             "current": {"selected": True, "text": ["All"], "value": ["$__all"]}}
    out["logs"] = dashboard("logs", *LOGS, logs_panels,
                            [datasource_var("loki", "Loki"), datasource_var("tempo", "Tempo"), app, namespace,
                             loki_tenant, level])
    return out


def kustomization(uids):
    """../kustomization.yaml: each dashboard a ConfigMap for the Grafana chart's sidecar (the
    `grafana_dashboard` label; the folder from the `grafana_folder` annotation), and the rules
    as a PrometheusRule. One ConfigMap per dashboard keeps each far below the 256 KiB that
    `kubectl apply` can annotate."""
    lines = [
        "# Generated by grafana/generate.py: the dashboards and the alert rules for a cluster's",
        "# Grafana sidecar and Prometheus Operator (deploy/kustomize/monitoring applies them once).",
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        "resources:",
        "  - alerts/prometheusrule.yaml",
        "generatorOptions:",
        "  disableNameSuffixHash: true",
        "  labels:",
        '    grafana_dashboard: "1"',
        "  annotations:",
        "    grafana_folder: policy-service",
        "configMapGenerator:",
    ]
    for uid in uids:
        lines += [f"  - name: policy-service-dashboard-{uid}", "    files:", f"      - grafana/{uid}.json"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    boards = all_dashboards()
    files = {HERE / f"{uid}.json": json.dumps(board, indent=2, ensure_ascii=False) + "\n"
             for uid, board in boards.items()}
    files[HERE.parent / "kustomization.yaml"] = kustomization(sorted(boards))
    stale = []
    for path, text in files.items():
        if "--check" in sys.argv:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.write_text(text)
    if stale:
        sys.exit(f"not generate.py's output: {', '.join(stale)}; run python3 generate.py")
