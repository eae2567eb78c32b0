#!/usr/bin/env python3
"""deploy/kong/kong.yaml against Kong's own schemas, which Debian's decK 1.4 does not apply
offline (its `validate` checks the file's shape and references, and takes any plugin `config`).

The rules are Kong 3.10's, read from its Lua schemas (kong/db/schema/entities/{services,routes,
consumers}.lua, kong/db/schema/typedefs.lua, kong/plugins/<name>/schema.lua) and restated here:
field types, `one_of`, bounds, `required`, header-name and path rules, the plugins' entity
checks and custom validators (rate-limiting's period order, `sync_rate` only with Redis, a
`header_name` for `limit_by: header`), and every record closed, as Kong's are (it refuses an
"unknown field"). A plugin not restated here is a fault: adding one to kong.yaml means adding
its schema below. Kong itself cannot run here (no package installs it); this is the strictest
check that does.

Usage: kong_schema.py KONG_YAML... (each must pass); --must-fail KONG_YAML (must not: the
check is not vacuous). Prints one line per fault.
"""

import re
import sys
from pathlib import Path

import yaml

HEADER = re.compile(r"^[a-zA-Z0-9_-]+$")
# Kong OSS's protocols (kong/constants.lua); ws and wss are Kong Enterprise's only.
PROTOCOLS = ["grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp"]
HTTP_PROTOCOLS = ["grpc", "grpcs", "http", "https"]
TIMEOUT = {"type": "integer", "between": (0, 2**31 - 2)}
TAGS = {"type": "array", "elements": {"type": "string"}}


def strings(**extra):
    return {"type": "array", "elements": {"type": "string", **extra}}


def record(fields, required=(), check=None):
    return {"type": "record", "fields": fields, "required": set(required), "check": check}


def rate_limiting_check(config):
    periods = ["second", "minute", "hour", "day", "month", "year"]
    given = [(p, config[p]) for p in periods if isinstance(config.get(p), (int, float))]
    if not given:
        yield "at least one of second, minute, hour, day, month, year"
    for (lower, v1), (upper, v2) in zip(given, given[1:]):
        if v2 < v1:
            yield f"the limit for {upper} ({v2}) cannot be lower than the limit for {lower} ({v1})"
    policy = config.get("policy", "local")
    if policy != "redis" and config.get("sync_rate", -1) != -1:
        yield "sync_rate can only be used with the redis policy"
    if policy == "redis" and not config.get("redis", {}).get("host"):
        yield "policy redis needs redis.host"
    for limit_by, field in (("header", "header_name"), ("path", "path")):
        if config.get("limit_by") == limit_by and not config.get(field):
            yield f"limit_by {limit_by} needs {field}"


def colon_pairs(what):
    """request-transformer's `name:value` lists."""
    return strings(match=r"^[^:]+:.*$", header_name_before_colon=what == "headers")


TRANSFORM_PAIRS = record({k: colon_pairs(k) for k in ("body", "headers", "querystring")})
PLUGINS = {
    "key-auth": record({
        "key_names": {"type": "array", "elements": {"type": "string", "header": True}},
        "hide_credentials": {"type": "boolean"},
        "anonymous": {"type": "string"},
        "key_in_header": {"type": "boolean"},
        "key_in_query": {"type": "boolean"},
        "key_in_body": {"type": "boolean"},
        "run_on_preflight": {"type": "boolean"},
        "realm": {"type": "string"},
    }),
    "rate-limiting": record({
        **{p: {"type": "number", "gt": 0} for p in ("second", "minute", "hour", "day", "month", "year")},
        "limit_by": {"type": "string", "one_of": ["consumer", "credential", "ip", "service", "header", "path"]},
        "header_name": {"type": "string", "header": True},
        "path": {"type": "string", "starts_with": "/"},
        # `cluster` is refused by a DB-less Kong; kong.yaml keeps to what both modes take.
        "policy": {"type": "string", "one_of": ["local", "cluster", "redis"]},
        "fault_tolerant": {"type": "boolean"},
        "redis": {"type": "record_open"},
        "hide_client_headers": {"type": "boolean"},
        "error_code": {"type": "number", "gt": 0},
        "error_message": {"type": "string"},
        "sync_rate": {"type": "number"},
    }, check=rate_limiting_check),
    "request-transformer": record({
        "http_method": {"type": "string", "match": r"^[A-Z]+$"},
        "remove": record({"body": strings(), "headers": strings(header=True), "querystring": strings()}),
        "rename": TRANSFORM_PAIRS,
        "replace": record({**TRANSFORM_PAIRS["fields"], "uri": {"type": "string"}}),
        "add": TRANSFORM_PAIRS,
        "append": TRANSFORM_PAIRS,
    }),
}
PLUGIN = record({
    "name": {"type": "string", "one_of": sorted(PLUGINS)},
    "config": {"type": "plugin_config"},
    "enabled": {"type": "boolean"},
    "protocols": {"type": "array", "elements": {"type": "string", "one_of": HTTP_PROTOCOLS}},
    "instance_name": {"type": "string"},
    "tags": TAGS,
}, required=["name"])
ROUTE = record({
    "name": {"type": "string"},
    "protocols": {"type": "array", "elements": {"type": "string", "one_of": PROTOCOLS}, "len_min": 1},
    "methods": strings(match=r"^[A-Z]+$"),
    "hosts": strings(),
    "paths": strings(match=r"^(/|~)"),
    "headers": {"type": "record_open"},
    "https_redirect_status_code": {"type": "integer", "one_of": [426, 301, 302, 307, 308]},
    "regex_priority": {"type": "integer"},
    "strip_path": {"type": "boolean"},
    "path_handling": {"type": "string", "one_of": ["v0", "v1"]},
    "preserve_host": {"type": "boolean"},
    "request_buffering": {"type": "boolean"},
    "response_buffering": {"type": "boolean"},
    "snis": strings(),
    "tags": TAGS,
    "plugins": {"type": "array", "elements": PLUGIN},
})
SERVICE = record({
    "name": {"type": "string"},
    "url": {"type": "string", "match": r"^(https?|grpcs?|tcp|tls|udp)://[^/\s]+"},
    "protocol": {"type": "string", "one_of": PROTOCOLS},
    "host": {"type": "string"},
    "port": {"type": "integer", "between": (0, 65535)},
    "path": {"type": "string", "starts_with": "/"},
    "retries": {"type": "integer", "between": (0, 32767)},
    "connect_timeout": TIMEOUT,
    "read_timeout": TIMEOUT,
    "write_timeout": TIMEOUT,
    "tls_verify": {"type": "boolean"},
    "tls_verify_depth": {"type": "integer", "between": (0, 64)},
    "enabled": {"type": "boolean"},
    "tags": TAGS,
    "routes": {"type": "array", "elements": ROUTE},
    "plugins": {"type": "array", "elements": PLUGIN},
})
CONSUMER = record({
    "username": {"type": "string"},
    "custom_id": {"type": "string"},
    "tags": TAGS,
    "keyauth_credentials": {"type": "array", "elements": record(
        {"key": {"type": "string"}, "ttl": {"type": "integer"}, "tags": TAGS})},
    "plugins": {"type": "array", "elements": PLUGIN},
})
FILE = record({
    "_format_version": {"type": "string", "one_of": ["3.0"]},
    "_transform": {"type": "boolean"},
    "services": {"type": "array", "elements": SERVICE},
    "routes": {"type": "array", "elements": ROUTE},
    "consumers": {"type": "array", "elements": CONSUMER},
    "plugins": {"type": "array", "elements": PLUGIN},
}, required=["_format_version"])

TYPES = {"string": str, "boolean": bool, "array": list, "record": dict, "record_open": dict}


def check(value, spec, path, faults, plugin=None):
    kind = spec["type"]
    if kind == "plugin_config":
        return check(value, PLUGINS[plugin], path, faults) if plugin in PLUGINS else None
    if kind in ("integer", "number"):
        ok = isinstance(value, int if kind == "integer" else (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, TYPES[kind])
    if not ok:
        return faults.append(f"{path}: expected a {kind}")
    if "one_of" in spec and value not in spec["one_of"]:
        faults.append(f"{path}: expected one of: {', '.join(map(str, spec['one_of']))}")
    if "gt" in spec and not value > spec["gt"]:
        faults.append(f"{path}: value must be greater than {spec['gt']}")
    if "between" in spec and not spec["between"][0] <= value <= spec["between"][1]:
        faults.append(f"{path}: value should be between {spec['between'][0]} and {spec['between'][1]}")
    if "match" in spec and not re.search(spec["match"], value):
        faults.append(f"{path}: invalid value: {value}")
    if "starts_with" in spec and not value.startswith(spec["starts_with"]):
        faults.append(f"{path}: should start with: {spec['starts_with']}")
    if spec.get("header") and not HEADER.match(value):
        faults.append(f"{path}: bad header name '{value}'")
    if spec.get("header_name_before_colon") and not HEADER.match(value.split(":", 1)[0]):
        faults.append(f"{path}: '{value.split(':', 1)[0]}' is not a valid header")
    if kind == "array":
        if len(value) < spec.get("len_min", 0):
            faults.append(f"{path}: length must be at least {spec['len_min']}")
        for i, v in enumerate(value):
            check(v, spec["elements"], f"{path}[{i}]", faults)
    if kind == "record":
        for key in spec["required"] - value.keys():
            faults.append(f"{path}.{key}: required field missing")
        for key, v in value.items():
            if key not in spec["fields"]:
                faults.append(f"{path}.{key}: unknown field")
            else:
                check(v, spec["fields"][key], f"{path}.{key}", faults, value.get("name"))
        for problem in (spec["check"] or (lambda _: []))(value):
            faults.append(f"{path}: {problem}")
    return None


def faults_of(path):
    faults = []
    doc = yaml.safe_load(Path(path).read_text())
    check(doc, FILE, Path(path).name, faults)
    return faults


def main():
    args = sys.argv[1:]
    if args[:1] == ["--must-fail"]:
        if not faults_of(args[1]):
            sys.exit(f"kong_schema.py found nothing wrong with {args[1]}")
        return
    faults = [f for path in args for f in faults_of(path)]
    if faults:
        print("\n".join(faults), file=sys.stderr)
        sys.exit(1)
    print(f"kong: {len(args)} file(s) valid against Kong's plugin and entity schemas")


if __name__ == "__main__":
    main()
