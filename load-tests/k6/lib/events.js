// Shared parts of the k6 scenarios: settings from the environment, realistic
// Segment events, and the record of acknowledged message ids.
//
// Acknowledged ids: k6 can write files only from handleSummary, which cannot
// see what the VUs saw. So every 2xx is logged as one line
//   ACK <prefix> <n>     ids <prefix>-0 .. <prefix>-(n-1) were accepted
//   ACK <id>             one accepted id (when the server rejected some)
// and the runner sends k6's log to a file (`--log-output=file=acked.log
// --log-format=raw`). Message ids are deterministic,
//   <RUN_ID>-<scenario>-<vu>-<iteration>-<index>,
// so a line names a whole request, and the summary's `events_acked` counter
// lets noloss.py prove the log is complete (the counts must agree).
import exec from 'k6/execution';
import encoding from 'k6/encoding';
import { check } from 'k6';
import { Counter } from 'k6/metrics';

export const URL = (__ENV.CLICKGATE_URL || 'http://127.0.0.1:8080').replace(/\/$/, '');
export const WRITE_KEY = __ENV.WRITE_KEY || 'pk_test_browser';
export const SERVER_KEY = __ENV.SERVER_KEY || 'sk_test_server';
export const RUN_ID = __ENV.RUN_ID || `k6${Date.now().toString(36)}`;
export const BATCH_SIZE = parseInt(__ENV.BATCH_SIZE || '20', 10);
export const RATE = (fallback) => parseInt(__ENV.RATE || `${fallback}`, 10);
export const DURATION = (fallback) => __ENV.DURATION || fallback;
export const SUMMARY = (name) => __ENV.SUMMARY_FILE || `load-tests/results/${name}-summary.json`;

if (!/^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$/.test(URL)) {
  // The scenarios generate heavy traffic: they only ever target loopback.
  throw new Error(`CLICKGATE_URL must be a loopback URL, got ${URL}`);
}

export const eventsSent = new Counter('events_sent');
export const eventsAcked = new Counter('events_acked');
export const shed = new Counter('requests_shed');

const PAGES = [
  ['/', 'Home | Example'],
  ['/pricing', 'Pricing | Example'],
  ['/blog/2026/11/kafka-at-the-edge', 'Kafka at the edge: ingesting clickstreams without losing a click | Example Blog'],
  ['/docs/getting-started', 'Getting started | Example Docs'],
  ['/products/analytics/features', 'Features | Example Analytics'],
  ['/signup', 'Sign up | Example'],
];
const REFERRERS = ['https://www.google.com/', 'https://news.ycombinator.com/item?id=41234567', '', 'https://www.linkedin.com/feed/'];
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
];
const CAMPAIGNS = [
  { name: 'black-friday-2026', source: 'newsletter', medium: 'email', content: 'hero-button' },
  { name: 'brand', source: 'google', medium: 'cpc', term: 'clickstream gateway' },
  null,
  null,
];
const LINKS = [
  { href: 'https://example.com/pricing', text: 'See pricing', id: 'nav-pricing', classes: 'btn btn-primary' },
  { href: 'https://github.com/example/clickgate', text: 'Star us on GitHub', id: '', classes: 'link external' },
  { href: '/docs/getting-started', text: 'Read the docs', id: 'cta-docs', classes: 'cta' },
];
const CUSTOM = [
  ['Product Viewed', { product_id: 'sku-48213', name: 'Analytics Pro (annual)', category: 'plans', price: 499.0, currency: 'EUR' }],
  ['Signup Started', { plan: 'team', seats: 5, trial: true, form_variant: 'b' }],
  ['Video Played', { video_id: 'intro-2026', position: 0, length: 184, quality: '1080p', autoplay: false }],
];

const pick = (a) => a[Math.floor(Math.random() * a.length)];

/** One visitor per VU: the same anonymous id, agent and campaign throughout. */
let visitor = null;
function currentVisitor() {
  if (visitor === null) {
    const hex = (n) => Array.from({ length: n }, () => Math.floor(Math.random() * 16).toString(16)).join('');
    visitor = {
      anonymousId: `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`,
      userAgent: pick(AGENTS),
      campaign: pick(CAMPAIGNS),
      locale: pick(['en-US', 'de-DE', 'fr-FR', 'en-GB']),
      screen: pick([{ width: 1920, height: 1080 }, { width: 390, height: 844 }, { width: 1440, height: 900 }]),
      sessionId: Date.now(),
    };
  }
  return visitor;
}

/** The id prefix of this iteration; event i gets `${prefix}-${i}`. */
export function requestPrefix() {
  return `${RUN_ID}-${exec.scenario.name}-${exec.vu.idInTest}-${exec.vu.iterationInInstance}`;
}

/**
 * A browser event: about half page views, a third link clicks, the rest
 * custom events, with the context a browser tracker attaches (550–900 bytes).
 */
export function browserEvent(messageId, now) {
  const v = currentVisitor();
  const [path, title] = pick(PAGES);
  const referrer = pick(REFERRERS);
  const page = { path, referrer, search: '', title, url: `https://example.com${path}` };
  const context = {
    library: { name: 'clickgate.js', version: '0.3.1' },
    locale: v.locale,
    page,
    screen: v.screen,
    timezone: 'Europe/Berlin',
    userAgent: v.userAgent,
    sessionId: v.sessionId,
  };
  if (v.campaign) context.campaign = v.campaign;
  const e = { messageId, anonymousId: v.anonymousId, context, timestamp: now };
  const roll = Math.random();
  if (roll < 0.5) {
    Object.assign(e, { type: 'page', name: title, properties: { ...page } });
  } else if (roll < 0.85) {
    Object.assign(e, { type: 'track', event: 'Link Clicked', properties: pick(LINKS) });
  } else {
    const [event, properties] = pick(CUSTOM);
    Object.assign(e, { type: 'track', event, properties });
  }
  return e;
}

/** A `/v1/batch` body as the browser tracker sends it (writeKey in the body). */
export function browserBatch(prefix, n) {
  const now = new Date().toISOString();
  const batch = [];
  for (let i = 0; i < n; i++) batch.push(browserEvent(`${prefix}-${i}`, now));
  return JSON.stringify({ batch, sentAt: now, writeKey: WRITE_KEY });
}

export const browserParams = {
  headers: { 'Content-Type': 'text/plain;charset=UTF-8', Origin: 'https://example.com' },
  tags: { name: 'batch' },
  timeout: '15s',
};

export function serverParams(name) {
  return {
    headers: {
      'Content-Type': 'application/json',
      Authorization: `Basic ${encoding.b64encode(`${SERVER_KEY}:`)}`,
    },
    tags: { name },
    timeout: '15s',
  };
}

/**
 * Checks a response and logs the accepted ids. 429/503 are load shedding:
 * allowed by the checks (the client would retry) but counted.
 */
export function recordResponse(res, prefix, n) {
  eventsSent.add(n);
  const ok = res.status === 200;
  const shedding = res.status === 429 || res.status === 503;
  if (shedding) shed.add(1);
  let body = null;
  if (ok) {
    try {
      body = res.json();
    } catch (_) {
      body = null;
    }
  }
  check(res, {
    'status is 200, or 429/503 with Retry-After': (r) =>
      ok || (shedding && (r.headers['Retry-After'] || '') !== ''),
    'accepted every event': () => !ok || (body !== null && body.accepted === n),
  });
  if (!ok || body === null) return;
  const rejected = new Set((body.rejected || []).map((r) => r.index));
  if (rejected.size === 0) {
    console.log(`ACK ${prefix} ${n}`);
    eventsAcked.add(n);
    return;
  }
  for (let i = 0; i < n; i++) {
    if (!rejected.has(i)) {
      console.log(`ACK ${prefix}-${i}`);
      eventsAcked.add(1);
    }
  }
}

/** handleSummary: the JSON summary to a file and a few lines to stdout. */
export function summarise(name, data) {
  const m = data.metrics;
  const val = (k, f) => (m[k] && m[k].values[f] !== undefined ? m[k].values[f] : 0);
  const lines = [
    `scenario ${name} run ${RUN_ID}`,
    `  requests ${val('http_reqs', 'count')} (${val('http_reqs', 'rate').toFixed(1)}/s), failed ${(100 * val('http_req_failed', 'rate')).toFixed(2)}%, shed ${val('requests_shed', 'count')}`,
    `  latency p50 ${val('http_req_duration', 'med').toFixed(2)} ms, p95 ${val('http_req_duration', 'p(95)').toFixed(2)} ms, p99 ${val('http_req_duration', 'p(99)').toFixed(2)} ms`,
    `  events sent ${val('events_sent', 'count')}, acknowledged ${val('events_acked', 'count')}`,
    `  dropped iterations ${val('dropped_iterations', 'count')}`,
  ];
  for (const [k, v] of Object.entries(m)) {
    if (v.thresholds) {
      for (const [t, r] of Object.entries(v.thresholds)) lines.push(`  threshold ${k} ${t}: ${r.ok ? 'ok' : 'FAILED'}`);
    }
  }
  data.run_id = RUN_ID;
  return { [SUMMARY(name)]: JSON.stringify(data, null, 2), stdout: `${lines.join('\n')}\n` };
}
