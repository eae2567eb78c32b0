"""A client in a second language, generated from the committed app/openapi.json by
openapi-generator's `python` generator (pydantic models, urllib3), calls every operation of
the document: the probes, insureds, quotes (rated by the partner), the bind with an
Idempotency-Key, every policy transition, payments, claims, documents up (multipart) and down
(bytes), the channel signature (a form) and the event stream (read until its first event).
Each answer is read as the generated model, so a document that says one thing and a server
that does another fails here; run.sh then checks from the service's own request metrics that
every operation was called. Run by run.sh with the generated package on PYTHONPATH.
"""

import datetime
import os
import struct
import sys
import time
import zlib

import policy_client as pc
from policy_client.exceptions import ApiException

PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def png():
    """A 1x1 grey PNG: a claim photo must be an image, known by its bytes."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))


def check(ok, what):
    if not ok:
        raise AssertionError(f"contract broken: {what}")


def problem(call, status, code):
    """Calls `call`, which must be refused with `status` and a problem whose `code` (or, for
    the generic ones, the last segment of its `type`) is `code`."""
    try:
        call()
    except ApiException as e:
        check(e.status == status, f"expected {status}, got {e.status}: {e.body}")
        check(e.headers.get("content-type") == "application/problem+json", "problems are problem+json")
        body = pc.Problem.from_json(e.body)
        got = body.code or body.type.rsplit("/", 1)[-1]
        check(got == code, f"expected problem {code}, got {got}")
        return body
    raise AssertionError(f"contract broken: expected {status} {code}, got a success")


def main():
    today = datetime.date.today()
    config = pc.Configuration(host=os.environ["BASE_URL"])
    config.api_key = {
        "KongConsumerId": "contract-python",
        "KongAuthenticatedUserid": "python",
        "KongConsumerCustomId": os.environ.get("TENANT", "contract"),
    }
    client = pc.ApiClient(config)
    health, insureds, quotes = pc.HealthApi(client), pc.InsuredsApi(client), pc.QuotesApi(client)
    policies, payments, claims = pc.PoliciesApi(client), pc.PaymentsApi(client), pc.ClaimsApi(client)
    documents, broadcasting = pc.DocumentsApi(client), pc.BroadcastingApi(client)

    check(health.live().status == pc.HealthStatus.OK, "live")
    check(health.ready().status == pc.HealthStatus.OK, "ready")

    insured = insureds.create_insured(pc.CreateInsured(
        full_name="Ada Lovelace", email=f"ada.{time.time_ns()}@example.com",
        date_of_birth=datetime.date(1815, 12, 10)))
    check(insureds.get_insured(insured.id).date_of_birth == datetime.date(1815, 12, 10), "a date round-trips")
    check(any(i.id == insured.id for i in insureds.list_insureds(limit=100).items), "the insured is listed")

    def new_quote():
        return quotes.create_quote(pc.CreateQuote(
            insured_id=insured.id, product=pc.Product.HOME, currency=pc.Currency.EUR,
            effective_date=today, expiry_date=today + datetime.timedelta(days=364),
            coverages=[pc.CoverageInput(code="fire", limit_minor=30_000_000,
                                        deductible_minor=100_000, premium_minor=60_000)]))

    quote = new_quote()
    check(quotes.get_quote(quote.id).premium_minor == 60_000, "the quote's premium")
    check(any(q.id == quote.id for q in quotes.list_quotes(limit=100).items), "the quote is listed")
    rating = quotes.rate_quote(quote.id)
    check(rating.quote_id == quote.id and rating.premium_minor > 0, "the partner rates the quote")

    key = f"bind-{quote.id}"
    policy = policies.bind_quote(quote.id, idempotency_key=key, bind_quote=pc.BindQuote(notes="python"))
    again = policies.bind_quote_with_http_info(quote.id, idempotency_key=key, bind_quote=pc.BindQuote(notes="python"))
    check(again.status_code == 200 and again.data.id == policy.id, "a replayed bind is the same policy")
    check(policy.status == pc.PolicyStatus.BOUND and policy.currency == pc.Currency.EUR, "bound, in euros")
    updated = policies.update_policy(policy.id, pc.UpdatePolicy(notes="covers the lab"))
    check(updated.notes == "covers the lab", "notes updated")
    problem(lambda: policies.expire_policy(policy.id), 409, "invalid_policy_transition")
    active = policies.activate_policy(policy.id)
    check(active.status == pc.PolicyStatus.ACTIVE, "activated")
    problem(lambda: policies.expire_policy(policy.id), 409, "policy_not_due")
    check(policies.get_policy(policy.id).id == policy.id, "read back")
    check(any(p.id == policy.id for p in policies.list_policies(status=pc.PolicyStatus.ACTIVE, limit=100).items),
          "listed among active policies")
    check(any(a.policy.id == policy.id for a in policies.list_active_policies(limit=100).items),
          "listed with its payments and claims")
    # The search index follows each change within a moment.
    deadline = time.monotonic() + 30
    while not any(p.id == policy.id for p in policies.search_policies("ada lovelace", limit=100).items):
        check(time.monotonic() < deadline, "the policy is found by its insured's name")
        time.sleep(0.2)

    payment = payments.create_payment(pc.CreatePayment(
        policy_id=policy.id, amount_minor=60_000, currency=pc.Currency.EUR, method=pc.PaymentMethod.CARD))
    check(payments.get_payment(payment.id).amount_minor == 60_000, "the payment is read back")
    check(any(p.id == payment.id for p in payments.list_payments(limit=100).items), "the payment is listed")

    claim = claims.create_claim(pc.CreateClaim(
        policy_id=policy.id, incident_date=today, description="A burst pipe", amount_claimed_minor=80_000))
    check(claims.get_claim(claim.id).status == pc.ClaimStatus.OPEN, "the claim is open")
    check(any(c.id == claim.id for c in claims.list_claims(limit=100).items), "the claim is listed")
    reviewed = claims.change_claim_status(claim.id, pc.ClaimStatusChange(status=pc.ClaimStatus.IN_REVIEW))
    check(reviewed.status == pc.ClaimStatus.IN_REVIEW, "the claim is in review")

    schedule = documents.upload_policy_document(policy.id, file=("schedule.pdf", PDF), type="active_policy")
    photo = documents.upload_claim_document(claim.id, file=("damage.png", png()), type="claim_photo")
    check(schedule.content_type == "application/pdf" and schedule.size_bytes == len(PDF), "stored as sent")
    check(bytes(documents.download_document(schedule.id)) == PDF, "the bytes come back")
    check(documents.get_document(photo.id).claim_id == claim.id, "the claim's document")
    check({d.id for d in documents.list_policy_documents(policy.id).items} == {schedule.id, photo.id},
          "a policy lists its claims' documents too")
    check([d.id for d in documents.list_claim_documents(claim.id).items] == [photo.id], "the claim's own")
    documents.delete_document(photo.id)
    problem(lambda: documents.get_document(photo.id), 404, "not-found")

    tenant = os.environ.get("TENANT", "contract")
    signed = broadcasting.authorize_channel(channel_name=f"private-tenant.{tenant}", socket_id="123.456")
    check(signed.auth.count(":") == 1, "a Pusher signature")
    # The stream stays open: read its first event (the policy's cancellation, below, or any
    # earlier one replayed), then close it.
    stream = broadcasting.stream_events_without_preload_content(channels=f"private-policy.{policy.id}")
    check(stream.status == 200 and stream.headers.get("content-type", "").startswith("text/event-stream"),
          "an event stream")
    policies.cancel_policy(policy.id, pc.CancelPolicy(reason="moved abroad"))
    seen = b""
    while b"\nevent:" not in b"\n" + seen and b"data:" not in seen:
        chunk = stream.read(256)
        check(chunk, "the stream ended before an event")
        seen += chunk
    stream.release_conn()
    problem(lambda: payments.create_payment(pc.CreatePayment(
        policy_id=policy.id, amount_minor=1_000, currency=pc.Currency.EUR, method=pc.PaymentMethod.CARD)),
        409, "policy_not_payable")
    print(f"python client: every operation called (policy {policy.number})")


if __name__ == "__main__":
    try:
        main()
    except ApiException as e:
        sys.exit(f"python client: {e.status} {e.reason}: {e.body}")
