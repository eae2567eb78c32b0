"""schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by run.sh).

A schema states each field's rules, not the rules between fields: an expiry after the effective
date, a deductible within its limit, premiums adding up to more than zero, an incident inside
the cover, a claim within the policy's limit. Bodies drawn at random break one of those nearly always, so without help the stateful
phase would almost never create a quote and so never reach a policy, a payment or a claim.

`before_load_schema` adds the links that lead into request bodies (a created insured's id is a
new quote's `insured_id`, an active policy's is a claim's `policy_id`). OAS 3.0 cannot state
them (a link's `requestBody` is a whole body), so the published document leaves them out
(app/src/api/links.rs); schemathesis reads the per-field form.

`after_call` remembers the records the run made (insureds, quotes, bound and active policies,
claims), and the `map_*` hooks hand them out, so that every phase, not only the stateful one,
reaches real records instead of 404s.

`map_body` also repairs those relations. Both act on half of the values (chosen by a checksum,
so a run is repeatable); the other half still tests the refusals and the unknown ids. They only
ever replace a value that is already valid for its own schema with another valid one, so a
request drawn to break the schema (schemathesis's negative cases) stays broken.
"""

import datetime
import json
import os
import re
import zlib

import schemathesis

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONEY_MAX = 10**12


def _date(value):
    if isinstance(value, str) and DATE.match(value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            return None
    return None


def _money(value, floor):
    return isinstance(value, int) and not isinstance(value, bool) and floor <= value <= MONEY_MAX


def _set_date(body, field, day):
    if _date(body.get(field)) is not None:
        body[field] = day.isoformat()


def _repair_quote(body, today):
    _set_date(body, "effective_date", today)
    _set_date(body, "expiry_date", today + datetime.timedelta(days=364))
    _set_date(body, "valid_until", today)
    coverages = body.get("coverages")
    if not isinstance(coverages, list):
        return
    seen = set()
    for i, c in enumerate(coverages):
        if not isinstance(c, dict):
            continue
        if _money(c.get("limit_minor"), 1) and _money(c.get("deductible_minor"), 0):
            c["deductible_minor"] = min(c["deductible_minor"], c["limit_minor"])
        if _money(c.get("premium_minor"), 0) and c["premium_minor"] == 0:
            c["premium_minor"] = 1
        code = c.get("code")
        if isinstance(code, str) and re.fullmatch(r"[a-z0-9_]{2,40}", code):
            if code in seen:
                c["code"] = f"c{i}_{code}"[:40]
            seen.add(c["code"])


# (source operation, its status, target operation, the body field that takes the answer's id)
BODY_LINKS = [
    ("createInsured", "201", "createQuote", "insured_id"),
    ("bindQuote", "201", "createPayment", "policy_id"),
    ("activatePolicy", "200", "createPayment", "policy_id"),
    ("activatePolicy", "200", "createClaim", "policy_id"),
]


@schemathesis.hook
def before_load_schema(context, raw_schema):
    operations = {
        op.get("operationId"): op
        for item in raw_schema.get("paths", {}).values()
        for op in item.values()
        if isinstance(op, dict)
    }
    for source, status, target, field in BODY_LINKS:
        response = operations[source]["responses"][status]
        name = f"{target[0].upper()}{target[1:]}With{field.title().replace('_', '')}"
        response.setdefault("links", {})[name] = {
            "operationId": target,
            "requestBody": {field: "$response.body#/id"},
        }


# Ids of records made, by kind: first those the TypeScript flow left open (run.sh passes them in
# CONTRACT_SEED), then this run's.
MADE = {"insured": [], "quote": [], "bound": [], "active": [], "claim": []}
if os.environ.get("CONTRACT_SEED"):
    with open(os.environ["CONTRACT_SEED"], encoding="utf-8") as seed:
        for kind, ids in json.load(seed).items():
            MADE[kind].extend(ids)
# What a success of each operation makes.
MAKES = {
    ("POST /v1/insureds", 201): "insured",
    ("POST /v1/quotes", 201): "quote",
    ("POST /v1/quotes/{id}/bind", 201): "bound",
    ("POST /v1/policies/{id}/activate", 200): "active",
    ("POST /v1/claims", 201): "claim",
}
# The kind of record each operation's path `id` should name.
TAKES = {
    "POST /v1/quotes/{id}/bind": "quote",
    "GET /v1/quotes/{id}": "quote",
    "POST /v1/policies/{id}/activate": "bound",
    "GET /v1/policies/{id}": "active",
    "PATCH /v1/policies/{id}": "active",
    # Bound ones, so that the active policies stay open for payments and claims.
    "POST /v1/policies/{id}/cancel": "bound",
    "POST /v1/policies/{id}/expire": "bound",
    "GET /v1/insureds/{id}": "insured",
    "GET /v1/claims/{id}": "claim",
    "POST /v1/claims/{id}/status": "claim",
}
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def _half(value):
    return zlib.crc32(json.dumps(value, sort_keys=True, default=str).encode()) % 2 == 0


def _swap_id(container, field, kind):
    """Replaces a well-formed id with one of a record of `kind` this run made."""
    value = container.get(field)
    made = MADE[kind]
    if made and isinstance(value, str) and UUID.match(value):
        container[field] = made[zlib.crc32(value.encode()) % len(made)]


# The currency of each policy seen: a payment must be in its policy's.
CURRENCY = {}


@schemathesis.hook
def after_call(context, case, response):
    label = case.operation.label
    try:
        answer = response.json() if 200 <= response.status_code < 300 else {}
        made = answer.get("id")
    except (ValueError, AttributeError):
        return
    if made and "currency" in answer:
        CURRENCY[made] = answer["currency"]
    kind = MAKES.get((label, response.status_code))
    if kind is not None:
        MADE[kind].append(made)
    # A policy the answer shows cancelled or expired no longer takes claims or payments.
    if answer.get("status") in ("cancelled", "expired") and made in MADE["active"]:
        MADE["active"].remove(made)


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    kind = TAKES.get(getattr(context.operation, "label", ""))
    if kind is not None and isinstance(path_parameters, dict) and _half(path_parameters):
        _swap_id(path_parameters, "id", kind)
    return path_parameters


@schemathesis.hook
def map_body(context, body):
    label = getattr(context.operation, "label", "")
    if not isinstance(body, dict) or not _half(body):
        return body
    today = datetime.datetime.now(datetime.timezone.utc).date()
    if label == "POST /v1/quotes":
        _repair_quote(body, today)
        _swap_id(body, "insured_id", "insured")
    elif label == "POST /v1/payments":
        _swap_id(body, "policy_id", "active")
        currency = body.get("currency")
        # Negative cases give policy_id any JSON type, a list among them: only a string is a key.
        policy_id = body.get("policy_id")
        if isinstance(currency, str) and re.fullmatch(r"[A-Z]{3}", currency):
            body["currency"] = CURRENCY.get(policy_id, "EUR") if isinstance(policy_id, str) else "EUR"
    elif label == "POST /v1/claims":
        _set_date(body, "incident_date", today)
        if _money(body.get("amount_claimed_minor"), 1):
            body["amount_claimed_minor"] = 1
        _swap_id(body, "policy_id", "active")
    elif label == "POST /v1/insureds":
        _set_date(body, "date_of_birth", datetime.date(1990, 1, 1))
    elif label == "PATCH /v1/policies/{id}":
        _set_date(body, "expiry_date", today + datetime.timedelta(days=300))
    return body
