// Server-side traffic: one event per call, as the Segment server libraries
// send it without batching — HTTP Basic auth with a server key, application/json,
// a mix of /v1/track, /v1/identify and /v1/page.
//
//   k6 run load-tests/k6/server.js
//   env: CLICKGATE_URL SERVER_KEY RATE [500] DURATION [30s] RUN_ID SUMMARY_FILE
import http from 'k6/http';
import { URL, RATE, DURATION, requestPrefix, browserEvent, serverParams, recordResponse, summarise } from './lib/events.js';

const rate = RATE(500);

export const options = {
  scenarios: {
    server: {
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
    'http_req_duration{name:track}': ['p(95)<50', 'p(99)<150'],
    'http_req_duration{name:identify}': ['p(99)<150'],
    checks: ['rate>0.99'],
  },
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(95)', 'p(99)', 'max'],
};

export default function () {
  const prefix = requestPrefix();
  const e = browserEvent(`${prefix}-0`, new Date().toISOString());
  e.userId = `user-${Math.floor(Math.random() * 100000)}`;
  const roll = Math.random();
  let path = 'track';
  if (roll < 0.1) {
    path = 'identify';
    e.type = 'identify';
    e.traits = { email: `${e.userId}@example.com`, plan: 'team', createdAt: '2025-03-01T10:00:00Z' };
    delete e.event;
    delete e.properties;
    delete e.name;
  } else if (roll < 0.3) {
    path = 'page';
    e.type = 'page';
    e.name = e.context.page.title;
    e.properties = { ...e.context.page };
    delete e.event;
  } else if (e.type !== 'track') {
    e.type = 'track';
    e.event = 'Order Completed';
    e.properties = { order_id: `o-${prefix}`, total: 129.9, currency: 'EUR', products: [{ sku: 'sku-48213', quantity: 1 }] };
    delete e.name;
  }
  const res = http.post(`${URL}/v1/${path}`, JSON.stringify(e), serverParams(path));
  recordResponse(res, prefix, 1);
}

export function handleSummary(data) {
  return summarise('server', data);
}
