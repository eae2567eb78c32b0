// The workload: a tenant's insured is quoted, bound, activated, paid for and claimed on, with a
// photo of the loss uploaded and downloaded; the policy is read back (cache hits) and the
// active-policies list read, as a portal would.
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { nextBaseUrl } from './config.js';
import { kongHeaders, pickTenant } from './kong.js';
import { newTrace } from './trace.js';

// Reads of a policy after its activation that did not show it active (a stale cache), of all
// such write-then-read pairs.
const staleReads = new Counter('stale_reads');
const readPairs = new Counter('read_after_write');

// A PNG's signature and header: the service knows a file's type by its bytes.
const PHOTO = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]).buffer;

/** The response if 2xx, else null (with a warning naming its trace). A JSON body is sent as
 * JSON; an object of k6 `http.file`s and strings as multipart/form-data. */
function send(method, path, name, tenant, body, multipart = false) {
  const trace = newTrace();
  const params = {
    headers: { ...kongHeaders(tenant), traceparent: trace.traceparent },
    tags: { name },
  };
  let payload = null;
  if (body !== undefined && multipart) {
    payload = body;
  } else if (body !== undefined) {
    params.headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = http.request(method, `${nextBaseUrl()}${path}`, payload, params);
  const ok = check(res, { [`${name} is 2xx`]: (r) => r.status >= 200 && r.status < 300 });
  if (!ok) {
    console.warn(`${name} answered ${res.status} (tenant ${tenant}, trace_id ${trace.traceId}): ${res.body}`);
  }
  return ok ? res : null;
}

function call(method, path, name, tenant, body) {
  const res = send(method, path, name, tenant, body);
  return res ? res.json() : null;
}

function day(offset) {
  const d = new Date(Date.now() + offset * 86400000);
  return d.toISOString().slice(0, 10);
}

/** One customer's journey; `reads` policy reads per policy made (the read-heavy share). */
export function journey(reads = 3) {
  const tenant = pickTenant();
  const email = `k6-${__VU}-${__ITER}-${Math.floor(Math.random() * 1e9)}@example.com`;
  const insured = call('POST', '/v1/insureds', 'POST /v1/insureds', tenant, { full_name: 'Kay Six', email });
  if (!insured) return;
  const quote = call('POST', '/v1/quotes', 'POST /v1/quotes', tenant, {
    insured_id: insured.id,
    product: 'auto',
    currency: 'EUR',
    effective_date: day(0),
    expiry_date: day(364),
    coverages: [{ code: 'liability', limit_minor: 100000000, deductible_minor: 50000, premium_minor: 45000 }],
  });
  if (!quote) return;
  // With a partner behind CAMEL_URL (RATING=1): the synchronous partner call.
  if (__ENV.RATING === '1') {
    call('POST', `/v1/quotes/${quote.id}/rate`, 'POST /v1/quotes/{id}/rate', tenant);
  }
  const policy = call('POST', `/v1/quotes/${quote.id}/bind`, 'POST /v1/quotes/{id}/bind', tenant, {});
  if (!policy) return;
  const activated = call('POST', `/v1/policies/${policy.id}/activate`, 'POST /v1/policies/{id}/activate', tenant);
  call('POST', '/v1/payments', 'POST /v1/payments', tenant, {
    policy_id: policy.id, amount_minor: 45000, currency: 'EUR', method: 'card',
  });
  staleReads.add(0); // a sample, so the threshold holds a series even before the first pair
  for (let i = 0; i < reads; i++) {
    const read = call('GET', `/v1/policies/${policy.id}`, 'GET /v1/policies/{id}', tenant);
    if (activated && read) {
      readPairs.add(1);
      if (read.status !== 'active') {
        staleReads.add(1);
        console.warn(`stale read: policy ${policy.id} is ${read.status} after its activation (tenant ${tenant})`);
      }
    }
  }
  const claim = call('POST', '/v1/claims', 'POST /v1/claims', tenant, {
    policy_id: policy.id, incident_date: day(0), description: 'Hail on the roof', amount_claimed_minor: 50000,
  });
  if (claim) {
    const form = { type: 'claim_photo', file: http.file(PHOTO, 'roof.png', 'image/png') };
    const photo = send('POST', `/v1/claims/${claim.id}/documents`, 'POST /v1/claims/{id}/documents', tenant, form, true);
    if (photo) {
      send('GET', `/v1/documents/${photo.json().id}/content`, 'GET /v1/documents/{id}/content', tenant);
    }
  }
  call('GET', '/v1/policies/active', 'GET /v1/policies/active', tenant);
  call('GET', '/v1/policies/search?q=kay%20six', 'GET /v1/policies/search', tenant);
}

/** handleSummary for every script: the JSON summary in SUMMARY (or NAME-summary.json here),
 * and a few lines on stdout. */
export function summary(name) {
  return (data) => {
    const path = __ENV.SUMMARY || `${name}-summary.json`;
    const m = data.metrics;
    const d = m.http_req_duration ? m.http_req_duration.values : {};
    const failed = m.http_req_failed ? m.http_req_failed.values.rate : 0;
    const dropped = m.dropped_iterations ? m.dropped_iterations.values.count : 0;
    const stale = m.stale_reads ? m.stale_reads.values.count : 0;
    const pairs = m.read_after_write ? m.read_after_write.values.count : 0;
    const crossed = Object.entries(data.metrics)
      .flatMap(([metric, v]) => Object.entries(v.thresholds || {}).filter(([, t]) => !t.ok).map(([t]) => `${metric}: ${t}`));
    const lines = [
      `${name}: ${m.http_reqs ? m.http_reqs.values.count : 0} requests, ${(failed * 100).toFixed(3)}% failed, ` +
        `p95 ${(d['p(95)'] || 0).toFixed(1)} ms, p99 ${(d['p(99)'] || 0).toFixed(1)} ms, ${dropped} iterations dropped, ` +
        `${stale} stale reads of ${pairs} read after a write`,
      crossed.length ? `thresholds crossed: ${crossed.join('; ')}` : 'every threshold held',
    ];
    return { [path]: JSON.stringify(data, null, 2), stdout: lines.join('\n') + '\n' };
  };
}
