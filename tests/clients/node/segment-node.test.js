// @segment/analytics-node (the official Segment Node library) sending to clickgate.
// Each test sends through the real library over HTTP, then reads the real broker back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { Analytics } from '@segment/analytics-node';
import { readUntil } from './kafka-reader.js';

function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run these tests through tests/clients/run.sh`);
  return value;
}

const gw = {
  url: requireEnv('CLICKGATE_URL'),
  bootstrap: requireEnv('CLICKGATE_TEST_KAFKA'),
  topicEvents: requireEnv('CLICKGATE_TOPIC_EVENTS'),
  topicRaw: requireEnv('CLICKGATE_TOPIC_RAW'),
  topicDlq: requireEnv('CLICKGATE_TOPIC_DLQ'),
  writeKey: requireEnv('CLICKGATE_SERVER_WRITE_KEY'),
  source: requireEnv('CLICKGATE_SERVER_SOURCE'),
};

const newRunId = () => `node-${randomUUID().slice(0, 12)}`;
const mentions = (runId, record) => JSON.stringify(record.value).includes(runId);

/** A client pointed at clickgate that records every HTTP exchange and delivery error it reports. */
function client(writeKey, settings = {}) {
  const analytics = new Analytics({
    writeKey,
    host: gw.url,
    path: '/v1/batch',
    maxRetries: 2,
    flushInterval: 100,
    httpRequestTimeout: 10_000,
    ...settings,
  });
  const log = { requests: [], responses: [], errors: [] };
  analytics.on('http_request', (req) => log.requests.push(req));
  analytics.on('http_response', (res) => log.responses.push(res));
  analytics.on('error', (err) => log.errors.push(err));
  return { analytics, log };
}

function countBy(items, keyOf) {
  const counts = new Map();
  for (const item of items) counts.set(keyOf(item), (counts.get(keyOf(item)) ?? 0) + 1);
  return counts;
}

function assertAllAccepted(log) {
  assert.deepEqual(log.errors, [], 'the library reported delivery errors');
  assert.ok(log.requests.length > 0, 'the library made no HTTP request');
  assert.equal(log.responses.length, log.requests.length, 'every request must get a response');
  for (const res of log.responses) assert.equal(res.status, 200, `${res.url} answered ${res.status}`);
  const basic = `Basic ${Buffer.from(`${gw.writeKey}:`).toString('base64')}`;
  for (const req of log.requests) {
    assert.equal(new URL(req.url).pathname, '/v1/batch');
    assert.equal(req.headers.Authorization, basic, 'the library authenticates with HTTP Basic');
  }
}

/** messageId -> event as the library sent it (from the request bodies it emitted). */
function sentMessages(log) {
  const events = log.requests.flatMap((req) => JSON.parse(req.body).batch);
  const twice = [...countBy(events, (e) => e.messageId)].filter(([, n]) => n > 1);
  assert.deepEqual(twice, [], 'the library sent a messageId more than once');
  return new Map(events.map((e) => [e.messageId, e]));
}

async function assertEventsOnce(runId, sent) {
  const records = await readUntil({
    bootstrap: gw.bootstrap,
    topic: gw.topicEvents,
    match: (r) => r.value !== null && typeof r.value === 'object' && (sent.has(r.value.messageId) || mentions(runId, r)),
    expected: sent.size,
  });
  const counts = countBy(records, (r) => r.value.messageId);
  assert.deepEqual([...sent.keys()].filter((id) => !counts.has(id)), [], `events missing from ${gw.topicEvents}`);
  assert.deepEqual([...counts.keys()].filter((id) => !sent.has(id)), [], 'unexpected events for this run');
  assert.deepEqual([...counts].filter(([, n]) => n > 1), [], 'events delivered more than once');
  for (const { value: event, headers, key } of records) {
    const original = sent.get(event.messageId);
    assert.equal(event.type, original.type);
    for (const field of ['userId', 'anonymousId', 'event', 'name', 'properties', 'traits']) {
      if (field in original) assert.deepEqual(event[field], original[field], `${field} changed for ${event.messageId}`);
    }
    assert.ok(event.receivedAt, 'receivedAt is set');
    assert.deepEqual(event.context?.library, original.context.library, 'context.library is kept');
    assert.equal(headers.source, gw.source);
    assert.equal(headers.type, original.type);
    assert.equal(key, `${gw.writeKey}:${original.anonymousId ?? original.userId}`);
  }
}

async function assertRawOncePerRequest(runId, log) {
  const records = await readUntil({
    bootstrap: gw.bootstrap,
    topic: gw.topicRaw,
    match: (r) => r.value !== null && typeof r.value === 'object' && mentions(runId, r),
    expected: log.requests.length,
  });
  assert.equal(records.length, log.requests.length, 'one raw record per accepted request');
  const requestIds = new Set(records.map((r) => r.value.requestId));
  assert.equal(requestIds.size, records.length, 'requestIds are unique');
  for (const { value: env } of records) {
    assert.equal(typeof env.body, 'object', 'contract: raw.body is the request body as received, embedded as JSON');
    assert.equal(env.writeKey, gw.writeKey);
    assert.equal(env.source, gw.source);
    assert.equal(env.path, '/v1/batch');
    assert.match(env.contentType ?? '', /application\/json/);
    assert.match(env.userAgent ?? '', /^analytics-node/);
    assert.ok(env.receivedAt && env.clientIp && env.requestId, 'envelope metadata is set');
  }
  const ids = (body) => (typeof body === 'string' ? JSON.parse(body) : body).batch.map((e) => e.messageId).sort().join(',');
  assert.deepEqual(
    records.map((r) => ids(r.value.body)).sort(),
    log.requests.map((req) => ids(req.body)).sort(),
    'each raw body is exactly one request the library sent',
  );
  // "as received": byte for byte what the library sent (embedded verbatim as the envelope's last field).
  const embedded = (text) => text.slice(text.indexOf('"body":') + '"body":'.length, -1);
  assert.deepEqual(
    records.map((r) => embedded(r.text)).sort(),
    log.requests.map((req) => req.body.trim()).sort(),
    'raw bodies are the request bodies as sent',
  );
}

async function assertAbsent(runId, topics) {
  for (const topic of topics) {
    const records = await readUntil({ bootstrap: gw.bootstrap, topic, match: (r) => mentions(runId, r), expected: 0 });
    assert.deepEqual(records.map((r) => r.value), [], `${topic} has records of run ${runId}`);
  }
}

test('track, page and identify from analytics-node arrive exactly once', async () => {
  const runId = newRunId();
  const { analytics, log } = client(gw.writeKey, { flushAt: 3 });
  for (let i = 0; i < 3; i++) {
    analytics.track({ userId: `user-${runId}-${i}`, event: 'Order Completed', properties: { runId, i, total: 9.5 } });
  }
  for (let i = 0; i < 2; i++) {
    analytics.page({ anonymousId: `anon-${runId}-${i}`, name: 'Pricing', properties: { runId, path: `/p/${i}` } });
  }
  for (let i = 0; i < 2; i++) {
    analytics.identify({ userId: `user-${runId}-${i}`, traits: { runId, plan: 'pro', email: `u${i}@example.com` } });
  }
  await analytics.closeAndFlush({ timeout: 20_000 });

  assertAllAccepted(log);
  assert.ok(log.requests.length >= 3, 'flushAt: 3 splits 7 events over at least 3 requests');
  const sent = sentMessages(log);
  assert.deepEqual(
    Object.fromEntries(countBy([...sent.values()], (e) => e.type)),
    { track: 3, page: 2, identify: 2 },
  );
  await assertEventsOnce(runId, sent);
  await assertRawOncePerRequest(runId, log);
  await assertAbsent(runId, [gw.topicDlq]);
});

test('messageIds chosen by the caller are kept', async () => {
  const runId = newRunId();
  const { analytics, log } = client(gw.writeKey, { flushAt: 10 });
  const ids = [0, 1, 2, 3].map((i) => `${runId}-msg-${i}`);
  ids.forEach((messageId, i) => {
    analytics.track({ anonymousId: `anon-${runId}`, event: 'Clicked', properties: { runId, i }, messageId });
  });
  await analytics.closeAndFlush({ timeout: 20_000 });

  assertAllAccepted(log);
  const sent = sentMessages(log);
  assert.deepEqual([...sent.keys()].sort(), [...ids].sort());
  await assertEventsOnce(runId, sent);
  await assertRawOncePerRequest(runId, log);
});

test('an unknown write key is refused with 401 and nothing reaches Kafka', async () => {
  const runId = newRunId();
  const { analytics, log } = client('sk_not_a_real_key', { maxRetries: 0 });
  analytics.track({ userId: `user-${runId}`, event: 'Should Not Arrive', properties: { runId } });
  await analytics.closeAndFlush({ timeout: 20_000 });

  assert.deepEqual(log.responses.map((r) => r.status), [401]);
  assert.equal(log.errors.length, 1, 'the library reports the refused delivery');
  await assertAbsent(runId, [gw.topicEvents, gw.topicRaw, gw.topicDlq]);
});
