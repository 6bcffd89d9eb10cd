import { test, beforeEach, afterEach, mock } from 'node:test'
import assert from 'node:assert/strict'
import { createQueue, CLAIM_WAIT, LEASE } from '../../build/unit/queue.js'
import { memStore } from '../../build/unit/store.js'

const OPTS = { flushAt: 5, flushInterval: 2000, maxBytes: 32000, maxQueue: 100 }
const ev = (i, pad = '') => ({ type: 'track', event: 'e' + i, messageId: 'm' + i, pad })
const ids = (batches) => batches.flatMap(([, evs]) => evs.map((e) => e.messageId))

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: 1_000_000 }))
afterEach(() => mock.timers.reset())

test('a batch is sealed when it holds flushAt events', () => {
  const q = createQueue(memStore(), 'tab', OPTS)
  for (let i = 0; i < 4; i++) assert.equal(q.add(ev(i)), false)
  assert.deepEqual(q.due(), [], 'the open batch is not sent yet')
  assert.equal(q.add(ev(4)), true)
  const due = q.due()
  assert.equal(due.length, 1)
  assert.deepEqual(ids(due), ['m0', 'm1', 'm2', 'm3', 'm4'])
})

test('a batch is sealed when it is flushInterval old', () => {
  const q = createQueue(memStore(), 'tab', OPTS)
  q.add(ev(1))
  q.seal()
  assert.deepEqual(q.due(), [])
  mock.timers.tick(2000)
  q.seal()
  assert.deepEqual(ids(q.due()), ['m1'])
})

test('a batch never grows past maxBytes', () => {
  const q = createQueue(memStore(), 'tab', { ...OPTS, flushAt: 100, maxBytes: 1000 })
  const pad = 'x'.repeat(250) // ~300 bytes per event
  let sealed = 0
  for (let i = 0; i < 9; i++) sealed += q.add(ev(i, pad))
  q.seal(true)
  const due = q.due()
  assert.equal(sealed, 2)
  assert.deepEqual(due.map(([, evs]) => evs.length), [3, 3, 3])
  for (const [, , m] of due) assert.ok(m.b <= 1000)
})

test('done removes a batch; a retry waits for its delay and counts the attempt', () => {
  const st = memStore()
  const q = createQueue(st, 'tab', OPTS)
  for (let i = 0; i < 5; i++) q.add(ev(i))
  let [[id, , m]] = q.due()
  q.take(id, m)
  assert.deepEqual(q.due(), [], 'in flight: not handed out twice')
  q.done(id, 3000, true)
  assert.deepEqual(q.due(), [])
  mock.timers.tick(2999)
  assert.deepEqual(q.due(), [])
  mock.timers.tick(1)
  ;[[id, , m]] = q.due()
  assert.equal(m.a, 1)
  assert.equal(m.w, 1)
  q.take(id, m)
  q.done(id, 0)
  assert.deepEqual(q.due(), [])
  assert.deepEqual(st.keys(), [], 'nothing left in storage')
})

test('wake makes batches that failed on the network due at once', () => {
  const q = createQueue(memStore(), 'tab', OPTS)
  for (let i = 0; i < 10; i++) q.add(ev(i))
  const [[a, , ma], [b, , mb]] = q.due()
  q.take(a, ma)
  q.take(b, mb)
  q.done(a, 50000, true) // offline
  q.done(b, 50000, false) // 503 with Retry-After: stays put
  q.wake()
  assert.deepEqual(q.due().map(([id]) => id), [a])
})

test('the queue is bounded: the oldest events are dropped first and counted', () => {
  const q = createQueue(memStore(), 'tab', { ...OPTS, maxQueue: 12 })
  for (let i = 0; i < 30; i++) q.add(ev(i))
  q.seal(true)
  const kept = ids(q.due())
  assert.equal(kept.length, 12)
  assert.deepEqual(kept, Array.from({ length: 12 }, (_, i) => 'm' + (i + 18)))
  assert.deepEqual(q.stats(), { queued: 12, dropped: 18 })
})

test('batches in flight are not trimmed', () => {
  const q = createQueue(memStore(), 'tab', { ...OPTS, maxQueue: 6 })
  for (let i = 0; i < 5; i++) q.add(ev(i))
  const [[id, , m]] = q.due()
  q.take(id, m)
  for (let i = 5; i < 10; i++) q.add(ev(i))
  q.seal(true)
  q.done(id, 0)
  assert.deepEqual(ids(q.due()), ['m9'])
  assert.equal(q.stats().dropped, 4)
})

test('a reloaded page adopts the batches its previous page released', () => {
  const st = memStore()
  const old = createQueue(st, 'page1', OPTS)
  for (let i = 0; i < 7; i++) old.add(ev(i))
  old.release()
  const q = createQueue(st, 'page2', OPTS)
  q.adopt()
  assert.deepEqual(q.due(), [], 'not ours until the claim is verified')
  mock.timers.tick(CLAIM_WAIT)
  assert.deepEqual(ids(q.due()).sort(), ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6'])
  assert.deepEqual(old.due(), [], 'the old page lost them')
})

test('a live tab keeps its batches: another tab does not adopt leased batches', () => {
  const st = memStore()
  const a = createQueue(st, 'A', OPTS)
  const b = createQueue(st, 'B', OPTS)
  for (let i = 0; i < 10; i++) a.add(ev(i))
  for (let t = 0; t < 60; t++) {
    mock.timers.tick(1000)
    a.renew()
    if (t % 5 === 0) b.adopt()
  }
  assert.equal(b.due().length, 0)
  assert.equal(a.due().length, 2)
})

test('two tabs adopting the same orphans at once never both send a batch', () => {
  const st = memStore()
  const dead = createQueue(st, 'dead', OPTS)
  for (let i = 0; i < 40; i++) dead.add(ev(i)) // 8 batches, then the tab crashes (no release)
  mock.timers.tick(LEASE + 1)
  const b = createQueue(st, 'B', OPTS)
  const c = createQueue(st, 'C', OPTS)
  // interleave: B claims, C claims (overwriting B's claims), then both verify
  b.adopt()
  c.adopt()
  mock.timers.tick(CLAIM_WAIT)
  const fromB = ids(b.due())
  const fromC = ids(c.due())
  assert.equal(fromB.length + fromC.length, 40, 'every event is sent')
  assert.equal(new Set([...fromB, ...fromC]).size, 40, 'no event is sent by both tabs')
})

test('a tab whose lease was taken over stops sending that batch', () => {
  const st = memStore()
  const a = createQueue(st, 'A', OPTS)
  for (let i = 0; i < 5; i++) a.add(ev(i))
  mock.timers.tick(LEASE + 1) // A was frozen in the background: no renewals
  const b = createQueue(st, 'B', OPTS)
  b.adopt()
  mock.timers.tick(CLAIM_WAIT)
  assert.equal(b.due().length, 1)
  assert.equal(a.due().length, 0, 'A checks ownership before sending')
})

test('an event added after a takeover starts a new batch instead of writing into the old one', () => {
  const st = memStore()
  const a = createQueue(st, 'A', { ...OPTS, flushAt: 50 })
  a.add(ev(1))
  mock.timers.tick(LEASE + 1)
  const b = createQueue(st, 'B', OPTS)
  b.adopt()
  mock.timers.tick(CLAIM_WAIT)
  a.add(ev(2))
  a.seal(true)
  assert.deepEqual(ids(b.due()), ['m1'])
  assert.deepEqual(ids(a.due()), ['m2'])
})

test('clear drops everything', () => {
  const st = memStore()
  const q = createQueue(st, 'A', OPTS)
  for (let i = 0; i < 12; i++) q.add(ev(i))
  q.clear()
  assert.deepEqual(st.keys(), [])
  assert.deepEqual(q.due(), [])
})
