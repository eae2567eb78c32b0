// The headers Kong adds upstream: the consumer, the user, and the consumer's custom_id, which
// the service takes as the tenant slug. GATEWAY_SECRET, when the service checks one, too.
import { TENANTS } from './config.js';

/** One of the tenants, for this iteration. */
export function pickTenant() {
  return TENANTS[Math.floor(Math.random() * TENANTS.length)];
}

export function kongHeaders(tenant) {
  const headers = {
    'X-Consumer-ID': `k6-${tenant}`,
    'X-Authenticated-Userid': `k6-user-${__VU}`,
    'X-Consumer-Custom-ID': tenant,
  };
  if (__ENV.GATEWAY_SECRET) {
    headers['X-Gateway-Secret'] = __ENV.GATEWAY_SECRET;
  }
  return headers;
}
