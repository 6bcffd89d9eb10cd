import { test } from 'node:test'
import assert from 'node:assert/strict'
import { backoff, retryAfter, verdict } from '../../build/unit/backoff.js'

test('Retry-After is read as seconds or as an HTTP date', () => {
  const t = Date.parse('2025-01-01T00:00:00Z')
  assert.equal(retryAfter('3', t), 3000)
  assert.equal(retryAfter('0', t), 0)
  assert.equal(retryAfter('Wed, 01 Jan 2025 00:00:10 GMT', t), 10000)
  assert.equal(retryAfter('Tue, 31 Dec 2024 00:00:10 GMT', t), 0, 'a date in the past asks for no wait')
  assert.equal(retryAfter(null, t), 0)
  assert.equal(retryAfter('soon', t), 0)
})

test('backoff doubles per attempt, stays within [d/2, d] and is capped', () => {
  for (const rnd of [0, 0.5, 0.999]) {
    for (let a = 0; a < 12; a++) {
      const d = Math.min(60000, 1000 * 2 ** a)
      const v = backoff(a, 1000, 60000, rnd)
      assert.ok(v >= d / 2 && v <= d, `attempt ${a}: ${v} outside [${d / 2}, ${d}]`)
    }
  }
  assert.equal(backoff(30, 1000, 60000, 1), 60000)
})

test('jitter spreads clients retrying at the same attempt', () => {
  const a = backoff(3, 1000, 60000, 0.1)
  const b = backoff(3, 1000, 60000, 0.9)
  assert.ok(b - a >= 3000)
})

test('2xx and 4xx other than 429 are final; network errors, 429 and 5xx are retried', () => {
  const t = Date.now()
  for (const s of [200, 202, 204, 400, 401, 403, 404, 413, 415, 422]) assert.equal(verdict(s, null, 0, 1000, 60000, 0.5, t), 0, `status ${s}`)
  for (const s of [0, 429, 500, 502, 503, 504]) assert.ok(verdict(s, null, 0, 1000, 60000, 0.5, t) > 0, `status ${s}`)
})

test('a retry never comes sooner than Retry-After', () => {
  const t = Date.now()
  assert.ok(verdict(503, '7', 0, 1000, 60000, 0, t) >= 7000)
  assert.ok(verdict(429, '120', 0, 1000, 60000, 1, t) >= 120000, 'Retry-After above the cap is still honoured')
  assert.ok(verdict(503, '1', 5, 1000, 60000, 0, t) >= 16000, 'the backoff wins when it is longer')
})
