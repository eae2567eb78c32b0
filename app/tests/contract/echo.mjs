// laravel-echo and pusher-js, as a front end uses them against Laravel Reverb, pointed at the
// service: join the tenant's private channel through POST /broadcasting/auth (Kong's headers),
// bind a policy, and receive the seed's PolicyBound on it. Run by run.sh.
//   BASE_URL=http://127.0.0.1:8080 TENANT=contract node echo.mjs   (beside a node_modules)
import Echo from 'laravel-echo';
import Pusher from 'pusher-js/node.js';

const base = process.env.BASE_URL;
const tenant = process.env.TENANT;
const url = new URL(base);
const headers = {
  'X-Consumer-ID': `echo-${tenant}`,
  'X-Authenticated-Userid': 'echo',
  'X-Consumer-Custom-ID': tenant,
};

function fail(why) {
  console.error(`echo: ${why}`);
  process.exit(1);
}

async function call(method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { ...headers, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  const json = await response.json();
  if (!response.ok) fail(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function bind() {
  const day = (n) => new Date(Date.now() + n * 86400000).toISOString().slice(0, 10);
  const insured = await call('POST', '/v1/insureds', {
    full_name: 'Echo Listener',
    email: `echo-${Date.now()}@example.org`,
  });
  const quote = await call('POST', '/v1/quotes', {
    insured_id: insured.id,
    product: 'auto',
    currency: 'EUR',
    effective_date: day(0),
    expiry_date: day(364),
    coverages: [
      { code: 'liability', limit_minor: 100000000, deductible_minor: 50000, premium_minor: 45000 },
    ],
  });
  return call('POST', `/v1/quotes/${quote.id}/bind`, {});
}

const echo = new Echo({
  broadcaster: 'pusher',
  Pusher,
  key: 'policy-service',
  cluster: 'mt1',
  wsHost: url.hostname,
  wsPort: Number(url.port),
  forceTLS: false,
  enabledTransports: ['ws'],
  authEndpoint: `${base}/broadcasting/auth`,
  auth: { headers },
});

const timer = setTimeout(() => fail('no PolicyBound within 10 s'), 10000);
let policy;
echo
  .private(`tenant.${tenant}`)
  .error((e) => fail(`subscription refused: ${JSON.stringify(e)}`))
  .subscribed(async () => {
    policy = await bind();
  })
  .listen('.PolicyBound', (e) => {
    if (!policy || e.policy_id !== policy.id) return;
    for (const [k, v] of Object.entries({ policy_number: policy.number, status: 'bound' })) {
      if (e[k] !== v) fail(`${k}: ${e[k]} (wanted ${v})`);
    }
    if (Number.isNaN(Date.parse(e.timestamp))) fail(`timestamp: ${e.timestamp}`);
    clearTimeout(timer);
    console.log(`echo: PolicyBound ${e.policy_number} received on private-tenant.${tenant}`);
    echo.disconnect();
    process.exit(0);
  });
