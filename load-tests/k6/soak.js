// A soak: moderate browser traffic for a long, bounded time, to catch slow
// leaks (watch clickgate's RSS and /metrics meanwhile) and latency drift.
//
//   env: CLICKGATE_URL WRITE_KEY RATE [100] DURATION [15m] BATCH_SIZE [20] RUN_ID SUMMARY_FILE
import http from 'k6/http';
import { URL, RATE, DURATION, BATCH_SIZE, requestPrefix, browserBatch, browserParams, recordResponse, summarise } from './lib/events.js';

const rate = RATE(100);

export const options = {
  scenarios: {
    soak: {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration: DURATION('15m'),
      preAllocatedVUs: Math.min(Math.max(20, Math.ceil(rate / 10)), 400),
      maxVUs: Math.min(Math.max(100, rate), 1000),
      gracefulStop: '20s',
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.001'],
    'http_req_duration{name:batch}': ['p(99)<100'],
    checks: ['rate>0.999'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export default function () {
  const prefix = requestPrefix();
  const res = http.post(`${URL}/v1/batch`, browserBatch(prefix, BATCH_SIZE), browserParams);
  recordResponse(res, prefix, BATCH_SIZE);
}

export function handleSummary(data) {
  return summarise('soak', data);
}
