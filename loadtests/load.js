// Load: a constant arrival rate (RATE journeys/s, about 10 requests each) for DURATION.
//   BASE_URL=… TENANTS=… RATE=20 DURATION=5m k6 run --no-usage-report load.js
import { common, thresholds } from './lib/config.js';
import { journey, summary } from './lib/flow.js';

export const options = {
  ...common,
  scenarios: {
    load: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 20),
      timeUnit: '1s',
      duration: __ENV.DURATION || '5m',
      preAllocatedVUs: 50,
      maxVUs: 400,
    },
  },
  thresholds: thresholds(),
};

export default function () {
  journey();
}

export const handleSummary = summary('load');
