// laravel-echo and pusher-js, as a front end uses them against Laravel Reverb, pointed at the
// service: join the tenant's private channel through POST /broadcasting/auth (Kong's headers),
// bind a policy, and receive the seed's PolicyBound on it. Run by run.sh.
//   BASE_URL=http://127.0.0.1:8080 TENANT=contract node echo.mjs   (beside a node_modules)
import Echo from 'laravel-echo';
import Pusher from 'pusher-js/node.js';

import { bind, kongHeaders, wrongPayload } from './bind.mjs';

const base = process.env.BASE_URL;
const tenant = process.env.TENANT;
const url = new URL(base);
const headers = kongHeaders(tenant, 'echo');

function fail(why) {
  console.error(`echo: ${why}`);
  process.exit(1);
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

// Generous: connecting, authorizing, subscribing, four HTTP calls and the relay, on a machine
// that may be busy.
const PATIENCE_MS = 60000;
const timer = setTimeout(() => fail(`no PolicyBound within ${PATIENCE_MS / 1000} s`), PATIENCE_MS);
let policy;
echo
  .private(`tenant.${tenant}`)
  .error((e) => fail(`subscription refused: ${JSON.stringify(e)}`))
  .subscribed(async () => {
    policy = await bind(base, headers).catch((e) => fail(e.message));
  })
  .listen('.PolicyBound', (e) => {
    if (!policy || e.policy_id !== policy.id) return;
    const wrong = wrongPayload(e, policy);
    if (wrong) fail(wrong);
    clearTimeout(timer);
    console.log(`echo: PolicyBound ${e.policy_number} received on private-tenant.${tenant}`);
    echo.disconnect();
    process.exit(0);
  });
