"""The cluster run's verdict (loadtests/cluster/run.sh gathers the inputs): prints one row per
check and exits 1 if any fails.

    check.py WORK COLD_LOADS FAILED_JOBS QUEUED DROPPED SINK_JSON K6_EXIT

WORK holds k6.json (k6's summary), outbox.ids (every tenant's outbox), kafka.ids (each message's
event_id as read back from the broker), policies.ids (every policy in the tenants' databases) and
partner.calls (the Camel stand-in's record: `route id` per call).
"""

import collections
import json
import os
import sys

work = sys.argv[1]
cold_loads, failed_jobs, queued, dropped = (int(x) for x in sys.argv[2:6])
sink, k6_exit = json.loads(sys.argv[6]), int(sys.argv[7])
DEBUG = os.environ.get("PROFILE") == "debug"


def lines(name):
    path = os.path.join(work, name)
    return [line.strip() for line in open(path)] if os.path.exists(path) else []


metrics = json.load(open(os.path.join(work, "k6.json")))["metrics"]
value = lambda metric, field: metrics.get(metric, {}).get("values", {}).get(field, 0)
requests, failed = value("http_reqs", "count"), value("http_req_failed", "passes")
p99, pairs, stale = value("http_req_duration", "p(99)"), value("read_after_write", "count"), value("stale_reads", "count")

# k6's thresholds gate the run (its exit code says whether any was crossed, the summary which):
# every one in a release run; in a debug run on a busy machine, latency and keeping up with the
# arrival rate measure the machine, so there only the functional ones are held.
def timing(metric):
    return metric.startswith("http_req_duration") or metric == "dropped_iterations"
crossed = [f"{metric}: {threshold}"
           for metric, values in metrics.items()
           for threshold, result in (values.get("thresholds") or {}).items()
           if not result["ok"] and not (DEBUG and timing(metric))]
thresholds_held = not crossed and (k6_exit in (0, 99) if DEBUG else k6_exit == 0)
if DEBUG and not crossed and k6_exit == 99:
    crossed_note = "held; latency crossed, not held against a debug run"
else:
    crossed_note = "held" if not crossed else "crossed: " + "; ".join(crossed)

outbox = collections.Counter(lines("outbox.ids"))
kafka = collections.Counter(lines("kafka.ids"))
twice = sum(1 for n in kafka.values() if n > 1)
missing = len(set(outbox) - set(kafka))
unknown = len(set(kafka) - set(outbox))

policies = set(lines("policies.ids"))
notices = collections.Counter(line.split(" ", 1)[1] for line in lines("partner.calls") if line.startswith("policy-bound "))
notified_twice = sum(1 for n in notices.values() if n > 1)
not_notified = len(policies - set(notices))

rows = [
    ("requests over 3 replicas", f"{requests:,} requests, {failed} failed, p99 {p99:.1f} ms "
     f"(k6 thresholds {crossed_note})",
     failed == 0 and thresholds_held),
    ("stale reads (write on one replica, read on another)", f"{stale} of {pairs:,}", stale == 0 and pairs > 0),
    ("DB loads, 200 concurrent requests on a cold key over 3 replicas", str(cold_loads), cold_loads == 1),
    ("outbox events on the broker exactly once by event id",
     f"{len(outbox):,} events, {sum(kafka.values()):,} messages: {twice} twice, {missing} missing, {unknown} unknown",
     len(outbox) > 0 and twice == missing == unknown == 0),
    ("jobs done once (bound-policy notices to the partner)",
     f"{len(policies):,} policies, {sum(notices.values()):,} notices: {notified_twice} twice, {not_notified} missing; "
     f"{failed_jobs} failed jobs, {queued} queued",
     len(policies) > 0 and notified_twice == not_notified == failed_jobs == queued == 0),
    # At 100% sampling, what the debug build drops on a busy CI machine measures the machine:
    # held against the release run only.
    ("log lines at the Loki stand-in; telemetry dropped (5 processes)",
     f"{sink.get('lines', 0):,} lines in {sink.get('pushes', 0):,} pushes, {sink.get('refused', 0)} refused; "
     f"{dropped} dropped" + (" (not held against a debug run)" if DEBUG else ""),
     sink.get("lines", 0) > 0 and sink.get("refused", 0) == 0 and (DEBUG or dropped == 0)),
]
print("| check | figure | |")
print("|---|---|---|")
for name, figure, held in rows:
    print(f"| {name} | {figure} | {'holds' if held else 'FAILED'} |")
sys.exit(0 if all(held for _, _, held in rows) else 1)
