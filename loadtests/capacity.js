// Capacity: the journeys per second the service completes with VUS (16) virtual users looping
// without pause for DURATION (20s). No thresholds: it finds the ceiling that load.js's RATE is
// set against (loadtests/bench-mixed.sh runs load.js at half of it).
//   BASE_URL=… TENANTS=… VUS=16 DURATION=20s k6 run --no-usage-report capacity.js
import { common } from './lib/config.js';
import { journey, summary } from './lib/flow.js';

export const options = {
  ...common,
  scenarios: {
    capacity: {
      executor: 'constant-vus',
      vus: Number(__ENV.VUS || 16),
      duration: __ENV.DURATION || '20s',
    },
  },
};

export default function () {
  journey();
}

export const handleSummary = summary('capacity');
