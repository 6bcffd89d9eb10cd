import { test } from 'node:test'
import assert from 'node:assert/strict'
import { campaign, touch } from '../../build/unit/session.js'

const MIN = 60000

test('the first event starts session 1', () => {
  const [s, start] = touch(undefined, 1000, 30 * MIN)
  assert.deepEqual(s, { id: 1000, i: 1, t: 1000 })
  assert.equal(start, true)
})

test('activity within 30 minutes continues the session', () => {
  const [s1] = touch(undefined, 0, 30 * MIN)
  const [s2, start] = touch(s1, 29 * MIN, 30 * MIN)
  const [s3, start3] = touch(s2, 58 * MIN, 30 * MIN)
  assert.equal(start, false)
  assert.equal(start3, false)
  assert.equal(s3.id, s1.id)
  assert.equal(s3.i, 1)
  assert.equal(s3.t, 58 * MIN)
})

test('30 minutes of inactivity start the next session with the next index', () => {
  const [s1] = touch(undefined, 0, 30 * MIN)
  const c = { ...s1, c: { source: 'news' } }
  const [s2, start] = touch(c, 30 * MIN + 1, 30 * MIN)
  assert.equal(start, true)
  assert.equal(s2.i, 2)
  assert.equal(s2.id, 30 * MIN + 1)
  assert.equal(s2.c, undefined, 'campaign belongs to the session that it started')
})

test('a clock that went backwards does not keep a session alive forever', () => {
  const [s1] = touch(undefined, 100 * MIN, 30 * MIN)
  const [, start] = touch(s1, 50 * MIN, 30 * MIN)
  assert.equal(start, false)
  const [, broken] = touch({ ...s1, t: NaN }, 50 * MIN, 30 * MIN)
  assert.equal(broken, true)
})

test('utm parameters become context.campaign', () => {
  assert.deepEqual(campaign('?utm_source=news&utm_medium=email&utm_campaign=spring&utm_term=shoes&utm_content=top&x=1'), {
    source: 'news',
    medium: 'email',
    name: 'spring',
    term: 'shoes',
    content: 'top',
  })
  assert.equal(campaign('?q=1'), undefined)
  assert.equal(campaign(''), undefined)
})
