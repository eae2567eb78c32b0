// Binds a new policy through the API, as one tenant's Kong consumer; shared by the broadcasting
// checks (echo.mjs, browser.mjs).

export function kongHeaders(tenant, who) {
  return {
    'X-Consumer-ID': `${who}-${tenant}`,
    'X-Authenticated-Userid': who,
    'X-Consumer-Custom-ID': tenant,
  };
}

export async function bind(base, headers) {
  const call = async (path, body) => {
    const response = await fetch(base + path, {
      method: 'POST',
      headers: { ...headers, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const json = await response.json();
    if (!response.ok) throw new Error(`POST ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  const day = (n) => new Date(Date.now() + n * 86400000).toISOString().slice(0, 10);
  const insured = await call('/v1/insureds', {
    full_name: 'Broadcast Listener',
    email: `listener-${Date.now()}-${Math.random().toString(36).slice(2)}@example.org`,
  });
  const quote = await call('/v1/quotes', {
    insured_id: insured.id,
    product: 'auto',
    currency: 'EUR',
    effective_date: day(0),
    expiry_date: day(364),
    coverages: [
      { code: 'liability', limit_minor: 100000000, deductible_minor: 50000, premium_minor: 45000 },
    ],
  });
  return call(`/v1/quotes/${quote.id}/bind`, {});
}

/** The seed's PolicyBound payload for `policy`, or why not. */
export function wrongPayload(e, policy) {
  for (const [k, v] of Object.entries({ policy_id: policy.id, policy_number: policy.number, status: 'bound' })) {
    if (e[k] !== v) return `${k}: ${e[k]} (wanted ${v})`;
  }
  if (Number.isNaN(Date.parse(e.timestamp))) return `timestamp: ${e.timestamp}`;
  return null;
}
