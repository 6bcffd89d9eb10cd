// A spike: steady browser traffic, a sudden jump to SPIKE× the rate for
// 20 s, then back. clickgate may shed the excess with 429/503 (+Retry-After),
// which the checks accept; everything it acknowledged must reach Kafka
// (run noloss.py afterwards; load-tests/run.sh spike does both).
//
//   env: CLICKGATE_URL WRITE_KEY RATE [100] SPIKE [10] DURATION (the steady parts) [20s]
//        BATCH_SIZE [20] RUN_ID SUMMARY_FILE
import http from 'k6/http';
import { URL, RATE, DURATION, BATCH_SIZE, requestPrefix, browserBatch, browserParams, recordResponse, summarise } from './lib/events.js';

const rate = RATE(100);
const spike = rate * parseInt(__ENV.SPIKE || '10', 10);
const steady = DURATION('20s');

// Shed requests are an expected answer under a spike; only other statuses fail.
http.setResponseCallback(http.expectedStatuses(200, 429, 503));

export const options = {
  scenarios: {
    spike: {
      executor: 'ramping-arrival-rate',
      startRate: rate,
      timeUnit: '1s',
      preAllocatedVUs: Math.min(Math.max(50, Math.ceil(spike / 5)), 1000),
      maxVUs: Math.min(Math.max(200, spike), 2000),
      gracefulStop: '20s',
      stages: [
        { target: rate, duration: steady },
        { target: spike, duration: '2s' },
        { target: spike, duration: '20s' },
        { target: rate, duration: '2s' },
        { target: rate, duration: steady },
      ],
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{name:batch}': ['p(99)<2000'],
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
  return summarise('spike', data);
}
