// What every script shares: where the service is, which tenants to spread over, and the
// thresholds, derived from the one SLO file (dashboards/slo.json) the alert rules come from.
const slo = JSON.parse(open('../../dashboards/slo.json'));

// One URL, or several comma-separated (replicas, no balancer): each request takes the next in
// turn, so a write and the read after it land on different replicas.
export const BASE_URLS = (__ENV.BASE_URL || 'http://127.0.0.1:8080')
  .split(',').map((u) => u.trim().replace(/\/$/, '')).filter(Boolean);
let turn = 0;
/** The URL for this VU's next request. */
export function nextBaseUrl() {
  turn = (turn + 1) % BASE_URLS.length;
  return BASE_URLS[turn];
}
export const TENANTS = (__ENV.TENANTS || 'demo').split(',').map((t) => t.trim()).filter(Boolean);

// Failed requests at most: what the availability objective allows (0.1% for 99.9%).
const errorRate = Number((1 - slo.availability.objective).toFixed(6));
// The latency objective's threshold is every endpoint's p99; p95 is the load tests' own.
const p99 = slo.latency.threshold_seconds * 1000;
const p95 = slo.k6.p95_ms;

// The endpoints the workload calls, by the name tag each request carries (the route template,
// as the service's own metrics name it).
export const ENDPOINTS = [
  'POST /v1/insureds',
  'POST /v1/quotes',
  'POST /v1/quotes/{id}/bind',
  'POST /v1/policies/{id}/activate',
  'POST /v1/payments',
  'POST /v1/claims',
  'POST /v1/claims/{id}/documents',
  'GET /v1/documents/{id}/content',
  'GET /v1/policies/{id}',
  'GET /v1/policies/active',
  'GET /v1/policies/search',
  // The rating partner's call, when the journey makes it (RATING=1, with CAMEL_URL set).
  ...(__ENV.RATING === '1' ? ['POST /v1/quotes/{id}/rate'] : []),
];

/** Thresholds for a scenario: overall, and per endpoint (p95, p99, failed requests). */
export function thresholds({ arrivalRate = true } = {}) {
  const t = {
    http_req_failed: [`rate<=${errorRate}`],
    http_req_duration: [`p(95)<${p95}`, `p(99)<${p99}`],
    checks: [`rate>=${1 - errorRate}`],
  };
  for (const name of ENDPOINTS) {
    t[`http_req_duration{name:${name}}`] = [`p(95)<${p95}`, `p(99)<${p99}`];
    t[`http_req_failed{name:${name}}`] = [`rate<=${errorRate}`];
  }
  // A read that did not see the write before it (on another replica, with several URLs).
  t.stale_reads = ['count==0'];
  if (arrivalRate) {
    // An iteration the arrival rate wanted but no VU was free to run: the service fell behind.
    t.dropped_iterations = ['count==0'];
  }
  return t;
}

/** Options every script shares: the percentiles the thresholds and the summary use. */
export const common = {
  summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(90)', 'p(95)', 'p(99)'],
};
