// Soak: a moderate constant arrival rate for hours, to find leaks (memory, connections,
// pools, cache entries): watch the Process and Database dashboards while it runs.
//   BASE_URL=… TENANTS=… RATE=10 DURATION=4h k6 run --no-usage-report soak.js
// The test command runs a few seconds of it so it cannot rot (dashboards/prove.sh).
import { common, thresholds } from './lib/config.js';
import { journey, summary } from './lib/flow.js';

export const options = {
  ...common,
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 10),
      timeUnit: '1s',
      duration: __ENV.DURATION || '4h',
      preAllocatedVUs: 50,
      maxVUs: 400,
    },
  },
  thresholds: thresholds(),
};

export default function () {
  journey(5);
}

export const handleSummary = summary('soak');
