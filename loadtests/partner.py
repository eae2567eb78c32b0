#!/usr/bin/env python3
"""A stand-in for the Camel service, for load tests and dashboards/prove.sh: POST
/camel/{route} with the service's body ({data, format: "json", tenant_id}) answers 200 with a
premium for `rating` and {"accepted": true} for any other route, after DELAY_MS (default 5).
Not a partner simulation: it is there so the service's partner calls, spans and breakers have
something real to talk to. With RECORD set, each accepted call appends a line, `route data.id`,
to that file (the cluster script counts the bound-policy notices). Usage: python3 partner.py PORT
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DELAY = int(os.environ.get("DELAY_MS", "5")) / 1000
RECORD = os.environ.get("RECORD")
recording = threading.Lock()


class Camel(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if not self.path.startswith("/camel/") or body.get("format") != "json" or "tenant_id" not in body:
            self.send_response(400)
            self.end_headers()
            return
        time.sleep(DELAY)
        route = self.path[len("/camel/"):]
        if RECORD:
            data = body.get("data")
            with recording, open(RECORD, "a") as f:
                f.write(f"{route} {data.get('id') if isinstance(data, dict) else '-'}\n")
        answer = {"premium_minor": 45000} if route == "rating" else {"accepted": True}
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Camel).serve_forever()
