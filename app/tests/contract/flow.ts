// A client generated from the committed app/openapi.json (openapi-generator, typescript-fetch)
// calls every operation of the document (run.sh checks that from the service's own request
// metric): the probes; insured → quote (rated by the partner) → bind (with an Idempotency-Key,
// then replayed) → update → activate → pay → claim → claim review → documents up (multipart)
// and down (bytes) → the channel signature (a form) and the event stream → active policies →
// cancel → a refused payment and a refused expiry, read as typed problems; every record read
// back and listed. Compiled with `tsc --strict`, run under Node by run.sh; any mismatch between
// the document and the server fails it.
import { writeFileSync } from "node:fs";

import {
    BroadcastingApi,
    ClaimStatus,
    ClaimsApi,
    Configuration,
    CreateQuote,
    Currency,
    DocumentType,
    DocumentsApi,
    HealthApi,
    HealthStatus,
    InsuredsApi,
    PaymentMethod,
    PaymentsApi,
    PoliciesApi,
    PolicyStatus,
    Problem,
    ProblemFromJSON,
    Product,
    QuotesApi,
    ResponseError,
} from "./generated";

function check(ok: boolean, what: string): void {
    if (!ok) throw new Error(`contract broken: ${what}`);
}

/** `call` must be refused with `status` and the problem `code`; returns the typed problem. */
async function refused(call: () => Promise<unknown>, status: number, code: string): Promise<Problem> {
    try {
        await call();
    } catch (e) {
        if (!(e instanceof ResponseError)) throw e;
        check(e.response.headers.get("content-type") === "application/problem+json", "problems are problem+json");
        const problem = ProblemFromJSON(await e.response.json());
        const got = problem.code ?? problem.type.split("/").pop();
        check(problem.status === status && got === code, `expected ${status} ${code}, got ${problem.status} ${got}`);
        return problem;
    }
    throw new Error(`contract broken: expected ${status} ${code}, got a success`);
}

const PDF = new TextEncoder().encode("%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n");

function daysFromToday(days: number): Date {
    const d = new Date();
    d.setUTCHours(0, 0, 0, 0);
    d.setUTCDate(d.getUTCDate() + days);
    return d;
}

async function main(): Promise<void> {
    const kong: Record<string, string> = {
        "X-Consumer-ID": "contract-client",
        "X-Authenticated-Userid": "typescript",
        "X-Consumer-Custom-ID": process.env.TENANT ?? "contract",
    };
    const config = new Configuration({
        basePath: process.env.BASE_URL ?? "http://127.0.0.1:8080",
        apiKey: (name: string) => kong[name] ?? "",
    });
    const health = new HealthApi(config);
    check((await health.live()).status === HealthStatus.Ok, "live");
    check((await health.ready()).status === HealthStatus.Ok, "ready");
    const insureds = new InsuredsApi(config);
    const documents = new DocumentsApi(config);
    const broadcasting = new BroadcastingApi(config);
    const quotes = new QuotesApi(config);
    const policies = new PoliciesApi(config);
    const payments = new PaymentsApi(config);
    const claims = new ClaimsApi(config);

    const insured = await insureds.createInsured({
        createInsured: {
            fullName: "Grace Hopper",
            email: `grace.${Date.now()}@example.com`,
            dateOfBirth: new Date(Date.UTC(1906, 11, 9)),
        },
    });
    check(insured.dateOfBirth instanceof Date, "date_of_birth arrives as a Date");
    check(insured.dateOfBirth?.toISOString().slice(0, 10) === "1906-12-09", "date_of_birth round-trips");
    check((await insureds.getInsured({ id: insured.id })).email === insured.email, "the insured is read back");
    check((await insureds.listInsureds({ limit: 100 })).items.some((i) => i.id === insured.id), "the insured is listed");

    const quote = await quotes.createQuote({
        createQuote: {
            insuredId: insured.id,
            product: Product.Auto,
            currency: Currency.Eur,
            effectiveDate: daysFromToday(0),
            expiryDate: daysFromToday(365),
            coverages: [
                { code: "liability", limitMinor: 100_000_000, deductibleMinor: 50_000, premiumMinor: 45_000 },
                { code: "theft", limitMinor: 2_000_000, deductibleMinor: 0, premiumMinor: 5_000 },
            ],
        },
    });
    check(quote.effectiveDate instanceof Date, "effective_date arrives as a Date");
    check(quote.premiumMinor === 50_000, "the premium is the sum of the coverages'");
    check(quote.createdAt instanceof Date, "created_at arrives as a Date");
    check((await quotes.getQuote({ id: quote.id })).premiumMinor === 50_000, "the quote is read back");
    check((await quotes.listQuotes({ limit: 100 })).items.some((q) => q.id === quote.id), "the quote is listed");
    const rating = await quotes.rateQuote({ id: quote.id });
    check(rating.quoteId === quote.id && rating.premiumMinor > 0, "the partner rates the quote");

    const bind = { id: quote.id, idempotencyKey: `bind-${quote.id}`, bindQuote: { notes: "via the generated client" } };
    const first = await policies.bindQuoteRaw(bind);
    check(first.raw.status === 201, "the first bind creates the policy");
    const policy = await first.value();
    const replay = await policies.bindQuoteRaw(bind);
    check(replay.raw.status === 200, "a replayed bind answers 200");
    check((await replay.value()).id === policy.id, "a replayed bind returns the same policy");
    check(policy.status === PolicyStatus.Bound, "a new policy is bound");
    const updated = await policies.updatePolicy({ id: policy.id, updatePolicy: { notes: "garaged at night" } });
    check(updated.notes === "garaged at night", "the notes are updated");
    await refused(() => policies.expirePolicy({ id: policy.id }), 409, "invalid_policy_transition");

    const active = await policies.activatePolicy({ id: policy.id });
    check(active.status === PolicyStatus.Active && active.activatedAt instanceof Date, "activation");
    await refused(() => policies.expirePolicy({ id: policy.id }), 409, "policy_not_due");
    check((await policies.getPolicy({ id: policy.id })).status === PolicyStatus.Active, "the policy is read back");
    const listedActive = await policies.listPolicies({ status: PolicyStatus.Active, limit: 100 });
    check(listedActive.items.some((p) => p.id === policy.id), "the policy is listed by status");
    // The search index follows each change within a moment.
    const searchBy = Date.now() + 30_000;
    while (!(await policies.searchPolicies({ q: "grace hopper", limit: 100 })).items.some((p) => p.id === policy.id)) {
        check(Date.now() < searchBy, "the policy is found by its insured's name");
        await new Promise((r) => setTimeout(r, 200));
    }

    const payment = await payments.createPayment({
        createPayment: { policyId: policy.id, amountMinor: 50_000, currency: Currency.Eur, method: PaymentMethod.Card },
    });
    check(payment.amountMinor === 50_000, "the payment is recorded");
    check((await payments.getPayment({ id: payment.id })).currency === Currency.Eur, "the payment is read back");
    check((await payments.listPayments({ limit: 100 })).items.some((p) => p.id === payment.id), "the payment is listed");

    const claim = await claims.createClaim({
        createClaim: {
            policyId: policy.id,
            incidentDate: daysFromToday(0),
            description: "Rear-ended at a junction",
            amountClaimedMinor: 120_000,
        },
    });
    check(claim.status === ClaimStatus.Open && claim.incidentDate instanceof Date, "the claim is open");
    const reviewed = await claims.changeClaimStatus({ id: claim.id, claimStatusChange: { status: ClaimStatus.InReview } });
    check(reviewed.status === ClaimStatus.InReview, "the claim is in review");
    check((await claims.getClaim({ id: claim.id })).id === claim.id, "the claim is read back");
    check((await claims.listClaims({ limit: 100 })).items.some((c) => c.id === claim.id), "the claim is listed");

    // Documents: a multipart upload each for the policy and the claim, the bytes back, one deleted.
    const schedule = await documents.uploadPolicyDocument({
        id: policy.id, file: new File([PDF], "schedule.pdf"), type: DocumentType.ActivePolicy,
    });
    const report = await documents.uploadClaimDocument({
        id: claim.id, file: new File([PDF], "report.pdf"), type: DocumentType.Other,
    });
    check(schedule.sizeBytes === PDF.length && schedule.contentType === "application/pdf", "stored as sent");
    const bytes = new Uint8Array(await (await documents.downloadDocument({ id: schedule.id })).arrayBuffer());
    check(bytes.length === PDF.length && bytes.every((b, i) => b === PDF[i]), "the bytes come back");
    check((await documents.getDocument({ id: report.id })).claimId === claim.id, "the claim's document");
    const ofPolicy = await documents.listPolicyDocuments({ id: policy.id });
    check(ofPolicy.items.length === 2, "a policy lists its claims' documents too");
    check((await documents.listClaimDocuments({ id: claim.id })).items[0]?.id === report.id, "the claim's own");
    await documents.deleteDocument({ id: report.id });
    await refused(() => documents.getDocument({ id: report.id }), 404, "not-found");

    // Broadcasting: a Pusher channel signature (a form), and the policy's events as a stream.
    const tenant = process.env.TENANT ?? "contract";
    const signed = await broadcasting.authorizeChannel({ channelName: `private-tenant.${tenant}`, socketId: "123.456" });
    check(signed.auth.split(":").length === 2, "a Pusher signature");
    const stream = await broadcasting.streamEventsRaw({ channels: `private-policy.${policy.id}` });
    check((stream.raw.headers.get("content-type") ?? "").startsWith("text/event-stream"), "an event stream");

    const page = await policies.listActivePolicies({ limit: 100 });
    const listed = page.items.find((a) => a.policy.id === policy.id);
    check(listed !== undefined, "the policy is listed as active");
    check(listed?.lastPayment?.id === payment.id && listed?.claimsCount === 1, "with its payment and claim");

    const cancelled = await policies.cancelPolicy({ id: policy.id, cancelPolicy: { reason: "sold the car" } });
    check(cancelled.status === PolicyStatus.Cancelled, "the policy is cancelled");
    // The stream's first event (the policy's own, the cancellation at the latest), then close it.
    const reader = stream.raw.body!.getReader();
    let seen = "";
    while (!seen.includes("data:")) {
        const { value, done } = await reader.read();
        check(!done, "the event stream ended before an event");
        seen += new TextDecoder().decode(value);
    }
    await reader.cancel();

    const problem = await refused(() => payments.createPayment({
        createPayment: { policyId: policy.id, amountMinor: 1_000, currency: Currency.Eur, method: PaymentMethod.Card },
    }), 409, "policy_not_payable");

    console.log(`typescript client: every operation called (policy ${policy.number}, problem ${problem.code})`);

    // Open records for schemathesis to start from (hooks.py): a quote, a bound and two active
    // policies, a claim, so that even operations fuzzed before any create reach real records.
    const open = async (): Promise<string> => {
        const q = await quotes.createQuote({ createQuote: quoteRequest(insured.id) });
        return (await policies.bindQuote({ id: q.id, bindQuote: {} })).id;
    };
    const spare = await quotes.createQuote({ createQuote: quoteRequest(insured.id) });
    const bound = await open();
    const running = [await open(), await open()];
    for (const id of running) await policies.activatePolicy({ id });
    const openClaim = await claims.createClaim({
        createClaim: { policyId: running[0], incidentDate: daysFromToday(0), description: "Hail", amountClaimedMinor: 500 },
    });
    const seed = { insured: [insured.id], quote: [spare.id], bound: [bound], active: running, claim: [openClaim.id] };
    if (process.env.SEED_FILE) writeFileSync(process.env.SEED_FILE, JSON.stringify(seed));
}

function quoteRequest(insuredId: string): CreateQuote {
    return {
        insuredId,
        product: Product.Home,
        currency: Currency.Eur,
        effectiveDate: daysFromToday(0),
        expiryDate: daysFromToday(364),
        coverages: [{ code: "fire", limitMinor: 30_000_000, deductibleMinor: 100_000, premiumMinor: 60_000 }],
    };
}

main().catch(async (e: unknown) => {
    // A refused call shows the problem the server sent, not just its status.
    const detail = e instanceof ResponseError ? `${e.response.url}: ${await e.response.text()}` : e;
    console.error("typescript client:", detail);
    process.exit(1);
});
