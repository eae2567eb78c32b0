#!/usr/bin/env bash
# The contract checks, run by scripts/test.sh after the Rust suites:
#   1. the committed app/openapi.json passes an OpenAPI linter (Redocly, redocly.yaml);
#   2. a TypeScript client generated from it by openapi-generator (typescript-fetch) type-checks
#      under `tsc --strict` and calls every operation under Node (flow.ts), and so does a Python
#      client from the `python` generator (flow.py, pydantic models): coverage.py reads from
#      the service's own request metric that each of the document's operations was answered,
#      without a 5xx, during each client's run;
#   3. laravel-echo and pusher-js (echo.mjs), as a front end uses them, join the tenant's private
#      channel through /broadcasting/auth and receive PolicyBound over the Pusher protocol; so
#      does pusher-js in headless Chromium (browser.mjs);
#   4. schemathesis, every check and phase (schemathesis.toml), finds no disagreement between the
#      document and the server.
# 2, 3 and 4 run against one instance on embedded defaults (SQLite in a temporary DATA_DIR)
# with the Kong headers of a tenant made by `policy-service tenants create`.
#
# Usage: bash app/tests/contract/run.sh PATH/TO/policy-service
# ST_SEED sets schemathesis's seed (default: fixed, so CI is repeatable); ST_MAX_EXAMPLES its
# examples per operation.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
# shellcheck source=scripts/tools.sh
. "$root/scripts/tools.sh"

bin="${1:?usage: run.sh PATH/TO/policy-service}"
[[ -x "$bin" ]] || die "no service binary at $bin"

ensure_contract_tools

work="$(mktemp -d)"
pid=""
partner=""
cleanup() {
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    # SIGTERM ends it with 143: not a failure of the checks.
    [[ -n "$partner" ]] && kill "$partner" 2>/dev/null && { wait "$partner" 2>/dev/null || true; }
    rm -rf "$work"
}
trap cleanup EXIT

free() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free)"
# The rating partner behind Camel (loadtests/partner.py), so rateQuote answers as it would.
partner_port="$(free)"
python3 "$root/loadtests/partner.py" "$partner_port" &
partner=$!
export DATA_DIR="$work/data" HOST=127.0.0.1 PORT="$port" RUST_LOG=warn \
    CAMEL_URL="http://127.0.0.1:$partner_port"
base="http://127.0.0.1:$port"

step "contract: starting the service on embedded defaults at $base"
"$bin" tenants create contract --name "Contract checks" >/dev/null
"$bin" serve >"$work/service.log" 2>&1 &
pid=$!
# Up to 60 s: a busy machine starts it slowly (and its readiness may answer 503 meanwhile).
ready_by=$((SECONDS + 60))
until curl -fsS --max-time 5 "$base/health/ready" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/service.log" >&2; die "the service exited"; }
    if ((SECONDS >= ready_by)); then
        tail -n 20 "$work/service.log" >&2
        die "the service did not become ready in 60 s"
    fi
    sleep 0.1
done

step "contract: the served document is the committed one"
curl -fsS "$base/openapi.json" | cmp -s - "$root/app/openapi.json" \
    || die "app/openapi.json differs from what the service serves: regenerate it (README)"

step "contract: redocly lint app/openapi.json"
"$CONTRACT_NODE/node_modules/.bin/redocly" lint --config "$here/redocly.yaml" "$root/app/openapi.json"

step "contract: TypeScript client (openapi-generator typescript-fetch) under tsc --strict and Node"
client="$work/client"
mkdir -p "$client"
"$OPENAPI_GENERATOR" generate -g typescript-fetch -i "$root/app/openapi.json" -o "$client/generated" \
    --additional-properties=supportsES6=true >"$work/generator.log" 2>&1 \
    || { cat "$work/generator.log" >&2; die "openapi-generator failed"; }
cp "$here/flow.ts" "$here/tsconfig.json" "$client/"
ln -s "$CONTRACT_NODE/node_modules" "$client/node_modules"
(cd "$client" && node_modules/.bin/tsc -p tsconfig.json)
python3 "$here/coverage.py" snapshot "$base" "$work/before-ts.json"
(cd "$client" && BASE_URL="$base" TENANT=contract SEED_FILE="$work/seed.json" node out/flow.js)
python3 "$here/coverage.py" check "$base" "$work/before-ts.json" "typescript client"

step "contract: Python client (openapi-generator python) calls every operation"
"$OPENAPI_GENERATOR" generate -g python -i "$root/app/openapi.json" -o "$work/python" \
    --additional-properties=packageName=policy_client >"$work/generator-python.log" 2>&1 \
    || { cat "$work/generator-python.log" >&2; die "openapi-generator (python) failed"; }
# Its own requirements (pydantic, urllib3, python-dateutil): already there with schemathesis's.
"$TOOLS_VENV/bin/python" -m pip install -q -r "$work/python/requirements.txt" >&2
python3 "$here/coverage.py" snapshot "$base" "$work/before-py.json"
BASE_URL="$base" TENANT=contract PYTHONPATH="$work/python" "$TOOLS_VENV/bin/python" "$here/flow.py" \
    || { tail -n 20 "$work/service.log" >&2; die "the Python client's flow failed"; }
python3 "$here/coverage.py" check "$base" "$work/before-py.json" "python client"

step "contract: laravel-echo + pusher-js receive PolicyBound on a private channel"
mkdir -p "$work/echo"
cp "$here/echo.mjs" "$here/browser.mjs" "$here/bind.mjs" "$work/echo/"
ln -s "$CONTRACT_NODE/node_modules" "$work/echo/node_modules"
(cd "$work/echo" && BASE_URL="$base" TENANT=contract node echo.mjs) \
    || { tail -n 20 "$work/service.log" >&2; die "the broadcasting check failed"; }

step "contract: pusher-js in headless Chromium receives PolicyBound"
(cd "$work/echo" && BASE_URL="$base" TENANT=contract node browser.mjs) \
    || { tail -n 20 "$work/service.log" >&2; die "the browser check failed"; }

step "contract: schemathesis"
# schemathesis must reach real records, not only 404s: it must make policies and payments of
# its own, beyond the clients'. Claims, five steps from a create, are counted but not
# required: other phases may cancel every active policy before one is claimed.
count() {
    curl -fsS "${headers[@]}" "$base/v1/$1?limit=100" \
        | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["items"]))'
}
headers=(-H "X-Consumer-ID: contract-checks" -H "X-Authenticated-Userid: schemathesis"
    -H "X-Consumer-Custom-ID: contract")
policies_before="$(count policies)" payments_before="$(count payments)"
(cd "$here" && SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$here" CONTRACT_SEED="$work/seed.json" "$SCHEMATHESIS" --config-file "$here/schemathesis.toml" run "$base/openapi.json" \
    "${headers[@]}" --seed "${ST_SEED:-20261130}" --max-examples "${ST_MAX_EXAMPLES:-100}" \
    --report junit --report-dir "$work/report")

policies="$(count policies)" payments="$(count payments)" claims="$(count claims)"
step "contract: schemathesis left $policies policies, $payments payments, $claims claims (the clients made $policies_before and $payments_before)"
((policies > policies_before && payments > payments_before)) || die "schemathesis reached no real records"
