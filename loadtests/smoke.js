// Smoke: a few journeys a second for 20 s; every threshold of the SLO must hold, and a Pusher
// listener per tenant hears the policies being bound. CI runs it.
//   BASE_URL=http://127.0.0.1:8080 TENANTS=acme,globex k6 run --no-usage-report smoke.js
import { TENANTS, common, thresholds } from './lib/config.js';
import { journey, summary } from './lib/flow.js';
import { listen } from './lib/listen.js';

const seconds = parseInt(__ENV.DURATION || '20s', 10);

export const options = {
  ...common,
  scenarios: {
    smoke: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 2),
      timeUnit: '1s',
      duration: __ENV.DURATION || '20s',
      preAllocatedVUs: 4,
      maxVUs: 16,
    },
    listeners: {
      executor: 'per-vu-iterations',
      exec: 'listener',
      vus: TENANTS.length,
      iterations: 1,
      maxDuration: `${seconds + 10}s`,
    },
  },
  thresholds: { ...thresholds(), broadcasts_received: ['count>0'] },
};

export default function () {
  journey();
}

export function listener() {
  listen(seconds + 3);
}

export const handleSummary = summary('smoke');
