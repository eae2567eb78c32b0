// Smoke: a few journeys a second for 20 s; every threshold of the SLO must hold. CI runs it.
//   BASE_URL=http://127.0.0.1:8080 TENANTS=acme,globex k6 run --no-usage-report smoke.js
import { common, thresholds } from './lib/config.js';
import { journey, summary } from './lib/flow.js';

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
  },
  thresholds: thresholds(),
};

export default function () {
  journey();
}

export const handleSummary = summary('smoke');
