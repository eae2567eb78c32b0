// pusher-js in headless Chromium (Debian's, driven by playwright-core): a page of the service's
// origin joins the tenant's private channel (the browser's own XHR to /broadcasting/auth, with
// Kong's headers) and receives the seed's PolicyBound. Run by run.sh.
//   BASE_URL=http://127.0.0.1:8080 TENANT=contract node browser.mjs   (beside a node_modules)
import { chromium } from 'playwright-core';

import { bind, kongHeaders, wrongPayload } from './bind.mjs';

const base = process.env.BASE_URL;
const tenant = process.env.TENANT;
const headers = kongHeaders(tenant, 'browser');
// Generous: headless Chromium on a machine that may be busy.
const PATIENCE_MS = 60000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
let failure = null;
try {
  const page = await browser.newPage();
  // Same origin as the auth endpoint, as a front end behind the gateway is.
  await page.goto(`${base}/health/live`);
  await page.addScriptTag({ path: 'node_modules/pusher-js/dist/web/pusher.min.js' });
  await page.evaluate(
    ({ port, tenant, headers }) => {
      window.received = [];
      const pusher = new window.Pusher('policy-service', {
        cluster: 'mt1',
        wsHost: location.hostname,
        wsPort: port,
        forceTLS: false,
        enabledTransports: ['ws'],
        channelAuthorization: { endpoint: '/broadcasting/auth', transport: 'ajax', headers },
      });
      const channel = pusher.subscribe(`private-tenant.${tenant}`);
      channel.bind('pusher:subscription_succeeded', () => {
        window.joined = true;
      });
      channel.bind('pusher:subscription_error', (e) => {
        window.refused = JSON.stringify(e);
      });
      channel.bind('PolicyBound', (e) => window.received.push(e));
    },
    { port: Number(new URL(base).port), tenant, headers },
  );
  await page.waitForFunction(() => window.joined || window.refused, null, { timeout: PATIENCE_MS });
  const refused = await page.evaluate(() => window.refused);
  if (refused) throw new Error(`subscription refused: ${refused}`);
  const policy = await bind(base, headers);
  await page.waitForFunction((id) => window.received.some((e) => e.policy_id === id), policy.id, {
    timeout: PATIENCE_MS,
  });
  const event = await page.evaluate((id) => window.received.find((e) => e.policy_id === id), policy.id);
  const wrong = wrongPayload(event, policy);
  if (wrong) throw new Error(wrong);
  console.log(`browser: PolicyBound ${event.policy_number} received by pusher-js in Chromium`);
} catch (e) {
  failure = e;
} finally {
  await browser.close();
}
if (failure) {
  console.error(`browser: ${failure.message}`);
  process.exit(1);
}
