// One request at a constant arrival rate: RATE (200) per second for DURATION (10s), GET PATH on
// BASE_URL as TENANT, for latency under a fault (loadtests/fault-receivers.sh). Fails nothing;
// the caller reads p99 and failures from the summary (SUMMARY).
//   BASE_URL=… TENANT=bench PATH_=/v1/policies/… RATE=200 k6 run --no-usage-report steady.js
import http from 'k6/http';
import { common } from './lib/config.js';
import { kongHeaders } from './lib/kong.js';
import { summary } from './lib/flow.js';

export const options = {
  ...common,
  scenarios: {
    steady: {
      executor: 'constant-arrival-rate',
      rate: Number(__ENV.RATE || 200),
      timeUnit: '1s',
      duration: __ENV.DURATION || '10s',
      preAllocatedVUs: 20,
      maxVUs: 200,
    },
  },
};

const url = `${(__ENV.BASE_URL || 'http://127.0.0.1:8080').replace(/\/$/, '')}${__ENV.PATH_ || '/health/live'}`;
const params = { headers: kongHeaders(__ENV.TENANT || 'bench'), tags: { name: 'steady' } };

export default function () {
  http.get(url, params);
}

export const handleSummary = summary('steady');
