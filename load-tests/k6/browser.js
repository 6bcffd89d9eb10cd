// Browser-like traffic: batches of page views, clicks and custom events sent
// as text/plain with the write key in the body, at a constant arrival rate.
//
//   k6 run load-tests/k6/browser.js            (RATE requests/s, BATCH_SIZE events each)
//   env: CLICKGATE_URL WRITE_KEY RATE [200] DURATION [30s] BATCH_SIZE [20] RUN_ID SUMMARY_FILE
import http from 'k6/http';
import { URL, RATE, DURATION, BATCH_SIZE, requestPrefix, browserBatch, browserParams, recordResponse, summarise } from './lib/events.js';

const rate = RATE(200);

export const options = {
  scenarios: {
    browser: {
      executor: 'constant-arrival-rate',
      rate,
      timeUnit: '1s',
      duration: DURATION('30s'),
      preAllocatedVUs: Math.min(Math.max(20, Math.ceil(rate / 10)), 400),
      maxVUs: Math.min(Math.max(100, rate), 1000),
      gracefulStop: '20s',
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{name:batch}': ['p(95)<100', 'p(99)<250'],
    checks: ['rate>0.99'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export default function () {
  const prefix = requestPrefix();
  const res = http.post(`${URL}/v1/batch`, browserBatch(prefix, BATCH_SIZE), browserParams);
  recordResponse(res, prefix, BATCH_SIZE);
}

export function handleSummary(data) {
  return summarise('browser', data);
}
