// Spike: a steady BASE journeys/s, a sudden jump to SPIKE for a minute, and back; the service
// must absorb it without errors (pools, connection cap, cache single flight).
//   BASE_URL=… TENANTS=… BASE=10 SPIKE=150 k6 run --no-usage-report spike.js
// HOLD (1m) and RAMP (10s) shorten it: the test command runs a few seconds of it so it
// cannot rot (dashboards/prove.sh).
import { common, thresholds } from './lib/config.js';
import { journey, summary } from './lib/flow.js';

const base = Number(__ENV.BASE || 10);
const spike = Number(__ENV.SPIKE || 150);
const hold = __ENV.HOLD || '1m';
const ramp = __ENV.RAMP || '10s';

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
        { target: base, duration: hold },
        { target: spike, duration: ramp },
        { target: spike, duration: hold },
        { target: base, duration: ramp },
        { target: base, duration: hold },
      ],
    },
  },
  thresholds: thresholds(),
};

export default function () {
  journey();
}

export const handleSummary = summary('spike');
