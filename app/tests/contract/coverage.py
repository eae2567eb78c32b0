"""Which operations of app/openapi.json a client called, read from the service's own request
metric (`http_server_request_duration_seconds_count`, by method and route template) before and
after it ran, as an operator would read it:

    coverage.py snapshot BASE_URL FILE      keeps the counts in FILE
    coverage.py check BASE_URL FILE NAME    fails unless every operation was answered since,
                                            and not with a 5xx
"""

import json
import re
import sys
import urllib.request
from pathlib import Path

# Greedy: a route template has braces of its own.
SERIES = re.compile(r'^http_server_request_duration_seconds_count\{(.*)\} ([0-9.e+]+)$')
LABEL = re.compile(r'(\w+)="([^"]*)"')
DOCUMENT = Path(__file__).resolve().parents[2] / "openapi.json"


def counts(base):
    text = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        m = SERIES.match(line)
        if m:
            labels = dict(LABEL.findall(m.group(1)))
            out[f"{labels['method']} {labels['route']} {labels['status_class']}"] = float(m.group(2))
    return out


def main():
    command, base, path = sys.argv[1:4]
    if command == "snapshot":
        Path(path).write_text(json.dumps(counts(base)))
        return
    before, after = json.loads(Path(path).read_text()), counts(base)
    answered = {k.rsplit(" ", 1)[0] for k, v in after.items()
                if v > before.get(k, 0) and not k.endswith(" 5xx")}
    failed = {k for k, v in after.items() if v > before.get(k, 0) and k.endswith(" 5xx")}
    spec = json.loads(DOCUMENT.read_text())
    operations = [f"{method.upper()} {route}" for route, item in spec["paths"].items() for method in item
                  if method in ("get", "put", "post", "patch", "delete", "head", "options")]
    missed = [op for op in operations if op not in answered]
    name = sys.argv[4]
    if missed or failed:
        sys.exit(f"{name}: not called (or only answered 5xx): {missed}; 5xx: {sorted(failed)}")
    print(f"{name}: all {len(operations)} operations called, none answered 5xx")


if __name__ == "__main__":
    main()
