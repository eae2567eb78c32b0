// Stress: the arrival rate climbs in steps to PEAK journeys/s, to find where the SLO breaks
// (the thresholds say at which step; dropped iterations mean the service fell behind).
//   BASE_URL=… TENANTS=… PEAK=200 k6 run --no-usage-report stress.js
// STEP (2m) and RAMP (30s) shorten it: the test command runs a few seconds of it so it
// cannot rot (dashboards/prove.sh).
import { common, thresholds } from './lib/config.js';
import { journey, summary } from './lib/flow.js';

const peak = Number(__ENV.PEAK || 200);
const step = __ENV.STEP || '2m';
const ramp = __ENV.RAMP || '30s';

export const options = {
  ...common,
  scenarios: {
    stress: {
      executor: 'ramping-arrival-rate',
      startRate: Math.max(1, Math.round(peak / 10)),
      timeUnit: '1s',
      preAllocatedVUs: 100,
      maxVUs: 2000,
      stages: [0.25, 0.5, 0.75, 1].flatMap((f) => [
        { target: Math.round(peak * f), duration: ramp },
        { target: Math.round(peak * f), duration: step },
      ]).concat([{ target: 0, duration: ramp }]),
    },
  },
  thresholds: thresholds(),
};

export default function () {
  journey();
}

export const handleSummary = summary('stress');
