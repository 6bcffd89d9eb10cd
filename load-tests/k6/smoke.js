// The smoke run in the test command: a few seconds of browser batches and
// server calls at a low rate, strict thresholds, so the load tests cannot rot.
//
//   env: CLICKGATE_URL WRITE_KEY SERVER_KEY RATE [20] DURATION [4s] BATCH_SIZE [20] RUN_ID SUMMARY_FILE
import http from 'k6/http';
import { URL, RATE, DURATION, BATCH_SIZE, requestPrefix, browserBatch, browserEvent, browserParams, serverParams, recordResponse, summarise } from './lib/events.js';

const rate = RATE(20);
const duration = DURATION('4s');

export const options = {
  scenarios: {
    browser: { executor: 'constant-arrival-rate', exec: 'browser', rate, timeUnit: '1s', duration, preAllocatedVUs: 5, maxVUs: 20, gracefulStop: '10s' },
    server: { executor: 'constant-arrival-rate', exec: 'server', rate, timeUnit: '1s', duration, preAllocatedVUs: 5, maxVUs: 20, gracefulStop: '10s' },
  },
  thresholds: {
    http_req_failed: ['rate==0'],
    http_req_duration: ['p(99)<1000'],
    checks: ['rate==1'],
    events_acked: ['count>0'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export function browser() {
  const prefix = requestPrefix();
  const res = http.post(`${URL}/v1/batch`, browserBatch(prefix, BATCH_SIZE), browserParams);
  recordResponse(res, prefix, BATCH_SIZE);
}

export function server() {
  const prefix = requestPrefix();
  const e = browserEvent(`${prefix}-0`, new Date().toISOString());
  e.userId = 'user-smoke';
  e.type = 'track';
  e.event = e.event || 'Smoke Tested';
  const res = http.post(`${URL}/v1/track`, JSON.stringify(e), serverParams('track'));
  recordResponse(res, prefix, 1);
}

export function handleSummary(data) {
  return summarise('smoke', data);
}
