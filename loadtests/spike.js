// Spike: a steady BASE journeys/s, a sudden jump to SPIKE for a minute, and back; the service
// must absorb it without errors (pools, connection cap, cache single flight).
//   BASE_URL=… TENANTS=… BASE=10 SPIKE=150 k6 run --no-usage-report spike.js
import { common, thresholds } from './lib/config.js';
import { journey, summary } from './lib/flow.js';

const base = Number(__ENV.BASE || 10);
const spike = Number(__ENV.SPIKE || 150);

export const options = {
  ...common,
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: base,
      timeUnit: '1s',
      preAllocatedVUs: 100,
      maxVUs: 2000,
      stages: [
        { target: base, duration: '1m' },
        { target: spike, duration: '10s' },
        { target: spike, duration: '1m' },
        { target: base, duration: '10s' },
        { target: base, duration: '1m' },
      ],
    },
  },
  thresholds: thresholds(),
};

export default function () {
  journey();
}

export const handleSummary = summary('spike');
