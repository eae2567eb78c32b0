// A client generated from the committed app/openapi.json (openapi-generator, typescript-fetch)
// drives the whole flow: insured → quote → bind (with an Idempotency-Key, then replayed) →
// activate → pay → claim → claim review → active policies → cancel → a refused payment, read
// as a typed problem. Compiled with `tsc --strict`, run under Node by run.sh; any mismatch
// between the document and the server fails it.
import { writeFileSync } from "node:fs";

import {
    ClaimStatus,
    ClaimsApi,
    Configuration,
    CreateQuote,
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
    const insureds = new InsuredsApi(config);
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

    const quote = await quotes.createQuote({
        createQuote: {
            insuredId: insured.id,
            product: Product.Auto,
            currency: "EUR",
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

    const bind = { id: quote.id, idempotencyKey: `bind-${quote.id}`, bindQuote: { notes: "via the generated client" } };
    const first = await policies.bindQuoteRaw(bind);
    check(first.raw.status === 201, "the first bind creates the policy");
    const policy = await first.value();
    const replay = await policies.bindQuoteRaw(bind);
    check(replay.raw.status === 200, "a replayed bind answers 200");
    check((await replay.value()).id === policy.id, "a replayed bind returns the same policy");
    check(policy.status === PolicyStatus.Bound, "a new policy is bound");

    const active = await policies.activatePolicy({ id: policy.id });
    check(active.status === PolicyStatus.Active && active.activatedAt instanceof Date, "activation");

    const payment = await payments.createPayment({
        createPayment: { policyId: policy.id, amountMinor: 50_000, currency: "EUR", method: PaymentMethod.Card },
    });
    check(payment.amountMinor === 50_000, "the payment is recorded");

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

    const page = await policies.listActivePolicies({ limit: 100 });
    const listed = page.items.find((a) => a.policy.id === policy.id);
    check(listed !== undefined, "the policy is listed as active");
    check(listed?.lastPayment?.id === payment.id && listed?.claimsCount === 1, "with its payment and claim");

    const cancelled = await policies.cancelPolicy({ id: policy.id, cancelPolicy: { reason: "sold the car" } });
    check(cancelled.status === PolicyStatus.Cancelled, "the policy is cancelled");

    let problem: Problem | undefined;
    try {
        await payments.createPayment({
            createPayment: { policyId: policy.id, amountMinor: 1_000, currency: "EUR", method: PaymentMethod.Card },
        });
    } catch (e) {
        if (!(e instanceof ResponseError)) throw e;
        check(e.response.headers.get("content-type") === "application/problem+json", "problems are problem+json");
        problem = ProblemFromJSON(await e.response.json());
    }
    check(problem?.status === 409 && problem?.code === "policy_not_payable", "a cancelled policy refuses payments");

    console.log(`typescript client: flow passed (policy ${policy.number}, problem ${problem?.code})`);

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
        currency: "EUR",
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
