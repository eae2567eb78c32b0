"""Binds COUNT policies through the API of BASE (one insured, a quote each), CONCURRENCY (8) at a
time over keep-alive connections, and prints their ids, one a line. ACTIVE=1 activates each;
TENANT (bench) is the Kong consumer's custom_id. Any answer but 2xx ends it with the answer.

    python3 loadtests/lib/seed.py http://127.0.0.1:8080 1000
"""

import datetime
import http.client
import json
import os
import sys
import threading
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor

BASE, COUNT = sys.argv[1], int(sys.argv[2])
TENANT = os.environ.get("TENANT", "bench")
ACTIVE = os.environ.get("ACTIVE") == "1"
CONCURRENCY = int(os.environ.get("CONCURRENCY", "8"))
HEADERS = {
    "X-Consumer-ID": TENANT,
    "X-Authenticated-Userid": TENANT,
    "X-Consumer-Custom-ID": TENANT,
    "Content-Type": "application/json",
}
HEADERS_NO_BODY = {k: v for k, v in HEADERS.items() if k != "Content-Type"}
local = threading.local()


def send(path, body=None):
    if not hasattr(local, "conn"):
        url = urllib.parse.urlsplit(BASE)
        local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    payload = None if body is None else json.dumps(body)
    local.conn.request("POST", path, payload, HEADERS if body is not None else HEADERS_NO_BODY)
    response = local.conn.getresponse()
    text = response.read()
    if not 200 <= response.status < 300:
        sys.exit(f"POST {path}: {response.status} {text[:300]!r}")
    return json.loads(text) if text else None


today = datetime.date.today()
QUOTE = {
    "product": "auto",
    "currency": "EUR",
    "effective_date": today.isoformat(),
    "expiry_date": (today + datetime.timedelta(days=364)).isoformat(),
    "coverages": [
        {"code": "liability", "limit_minor": 100000000, "deductible_minor": 50000, "premium_minor": 45000}
    ],
}
insured = send("/v1/insureds", {"full_name": "Bench Mark", "email": f"seed-{uuid.uuid4()}@example.com"})["id"]


def policy(_):
    quote = send("/v1/quotes", {**QUOTE, "insured_id": insured})["id"]
    bound = send(f"/v1/quotes/{quote}/bind", {})["id"]
    if ACTIVE:
        send(f"/v1/policies/{bound}/activate")
    return bound


with ThreadPoolExecutor(CONCURRENCY) as pool:
    for policy_id in pool.map(policy, range(COUNT)):
        print(policy_id)
