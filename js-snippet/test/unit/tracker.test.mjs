import { test, beforeEach, afterEach, mock } from 'node:test'
import assert from 'node:assert/strict'
import { createTracker } from '../../build/unit/tracker.js'
import { decode, fire, installBrowser, settle, until, FakeStorage } from './browser.mjs'

const HOST = 'https://collect.example'
const base = { writeKey: 'pk_test', host: HOST, gzip: false, flushInterval: 1000 }

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: Date.parse('2025-03-01T10:00:00Z') }))
afterEach(() => mock.timers.reset())

/** Run the tracker's 1-second loop n times and let the sends complete. */
async function run(seconds = 2) {
  for (let i = 0; i < seconds; i++) {
    mock.timers.tick(1000)
    await settle()
  }
}

async function sentEvents(requests) {
  const out = []
  for (const r of requests) out.push(...(await decode(r.raw)).batch)
  return out
}

test('init sends a page view with page, campaign, session, device and library context', async () => {
  const b = installBrowser({ url: 'https://shop.example/landing?utm_source=news&utm_campaign=spring', referrer: 'https://search.example/' })
  const t = createTracker()
  t.init(base)
  await run(2)
  assert.equal(b.requests.length, 1)
  const req = b.requests[0]
  assert.equal(req.url, HOST + '/v1/batch')
  assert.equal(req.type, 'text/plain', 'a simple request: no CORS preflight')
  assert.equal(new Headers(req.init.headers).get('content-encoding'), null)
  assert.equal(req.init.keepalive, true)
  assert.ok(req.init.signal instanceof AbortSignal, 'a request that never ends is given up and retried')
  const body = await decode(req.raw)
  assert.equal(body.writeKey, 'pk_test')
  assert.equal(body.sentAt, '2025-03-01T10:00:01.000Z')
  const [e] = body.batch
  assert.equal(e.type, 'page')
  assert.match(e.messageId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  assert.match(e.anonymousId, /^[0-9a-f-]{36}$/)
  assert.equal(e.timestamp, '2025-03-01T10:00:00.000Z')
  assert.deepEqual(e.context.page, {
    url: 'https://shop.example/landing?utm_source=news&utm_campaign=spring',
    path: '/landing',
    search: '?utm_source=news&utm_campaign=spring',
    title: 'Home',
    referrer: 'https://search.example/',
  })
  assert.deepEqual(e.context.campaign, { source: 'news', name: 'spring' })
  assert.deepEqual(e.context.session, { id: Date.parse('2025-03-01T10:00:00Z'), index: 1, start: true })
  assert.deepEqual(e.context.screen, { width: 1920, height: 1080, density: 2 })
  assert.deepEqual(e.context.viewport, { width: 1280, height: 720 })
  assert.equal(e.context.locale, 'en-GB')
  assert.equal(typeof e.context.timezone, 'string')
  assert.deepEqual(e.context.library, { name: 'clickgate.js', version: '0.1.0' })
  assert.equal(e.properties.path, '/landing')
})

test('SPA navigations send one page view per new URL, with the previous URL as referrer', async () => {
  const b = installBrowser({ url: 'https://shop.example/?utm_source=ad' })
  const t = createTracker()
  t.init(base)
  const nav = async (fn) => {
    fn()
    mock.timers.tick(0)
  }
  await nav(() => history.pushState({}, '', '/products'))
  await nav(() => history.pushState({}, '', '/products')) // same URL: no page view
  await nav(() => history.replaceState({}, '', '/products#reviews')) // hash only: no page view
  await nav(() => history.replaceState({}, '', '/products?page=2'))
  await nav(() => {
    location.href = 'https://shop.example/products'
    fire('popstate')
  })
  t.track('Added', { sku: 'A1' })
  await run(2)
  const evs = await sentEvents(b.requests)
  assert.deepEqual(
    evs.map((e) => [e.type, e.context.page.path + e.context.page.search, e.context.page.referrer]),
    [
      ['page', '/?utm_source=ad', ''],
      ['page', '/products', 'https://shop.example/?utm_source=ad'],
      ['page', '/products?page=2', 'https://shop.example/products'],
      ['page', '/products', 'https://shop.example/products?page=2'],
      ['track', '/products', 'https://shop.example/products?page=2'],
    ],
  )
  for (const e of evs) assert.deepEqual(e.context.campaign, { source: 'ad' }, 'the campaign stays with the session')
  assert.equal(new Set(evs.map((e) => e.context.session.id)).size, 1)
  assert.deepEqual(evs.map((e) => e.context.session.start), [true, false, false, false, false])
  assert.equal(new Set(evs.map((e) => e.messageId)).size, evs.length)
})

test('gzip: the body is gzipped, typed text/plain, with no Content-Encoding header', async () => {
  const b = installBrowser()
  const t = createTracker()
  t.init({ ...base, gzip: true })
  t.track('Clicked')
  t.flush()
  await until(() => b.requests.length)
  await settle()
  const req = b.requests[0]
  assert.equal(req.raw[0], 0x1f)
  assert.equal(req.raw[1], 0x8b)
  assert.equal(req.type, 'text/plain')
  assert.equal(req.init.headers, undefined)
  const body = await decode(req.raw)
  assert.deepEqual(body.batch.map((e) => e.event || e.type), ['page', 'Clicked'])
})

test('503 with Retry-After: retried no sooner than asked, then delivered once', async () => {
  let fail = 2
  const b = installBrowser({
    respond: () => (fail-- > 0 ? { status: 503, headers: { 'Retry-After': '5' }, body: { success: false } } : { status: 200, body: { success: true, accepted: 1, rejected: [] } }),
  })
  const t = createTracker()
  t.init(base)
  t.flush()
  await settle()
  assert.equal(b.requests.length, 1)
  await run(4)
  assert.equal(b.requests.length, 1, 'waits for Retry-After')
  await run(2)
  assert.equal(b.requests.length, 2)
  await run(6)
  assert.equal(b.requests.length, 3)
  await run(30)
  assert.equal(b.requests.length, 3, 'delivered: nothing more to send')
  const ids = (await sentEvents(b.requests)).map((e) => e.messageId)
  assert.equal(new Set(ids).size, 1, 'the same event each time')
  assert.equal(t.stats().queued, 0)
})

test('network errors and 429 are retried with growing delays', async () => {
  const at = []
  let n = 0
  installBrowser({
    respond: () => {
      at.push(Date.now())
      if (++n <= 2) throw new TypeError('Failed to fetch')
      if (n <= 4) return { status: 429, body: {} }
      return { status: 200, body: { success: true, accepted: 1, rejected: [] } }
    },
  })
  const t = createTracker()
  t.init({ ...base, retryBase: 1000 })
  t.flush()
  await settle()
  await run(60)
  assert.equal(at.length, 5)
  const gaps = at.slice(1).map((x, i) => x - at[i])
  gaps.forEach((g, i) => assert.ok(g >= 1000 * 2 ** i / 2, `gap ${i} = ${g}`))
  assert.equal(t.stats().queued, 0)
})

test('4xx other than 429 are never retried', async () => {
  for (const status of [400, 401, 403, 413]) {
    const b = installBrowser({ respond: () => ({ status, body: { success: false } }) })
    const t = createTracker()
    t.init(base)
    t.flush()
    await settle()
    await run(120)
    assert.equal(b.requests.length, 1, `status ${status}`)
    assert.equal(t.stats().queued, 0)
  }
})

test('events the gateway rejected are final and counted', async () => {
  const b = installBrowser({ respond: () => ({ status: 200, body: { success: true, accepted: 1, rejected: [{ index: 1, reason: 'invalid' }] } }) })
  const t = createTracker()
  t.init(base)
  t.track('x')
  t.flush()
  await settle()
  await run(60)
  assert.equal(b.requests.length, 1)
  assert.equal(t.stats().rejected, 1)
})

test('page hide: fresh batches leave by sendBeacon; failing ones stay queued for the next page', async () => {
  const storage = new FakeStorage()
  const b = installBrowser({ storage, respond: () => ({ status: 503, headers: { 'Retry-After': '30' }, body: {} }) })
  const t = createTracker()
  t.init(base)
  t.flush() // the page view fails with 503 and waits
  await settle()
  t.track('Checkout')
  b.doc.visibilityState = 'hidden'
  fire('visibilitychange')
  fire('pagehide')
  assert.equal(b.beacons.length, 1)
  assert.equal(b.beacons[0].url, HOST + '/v1/batch')
  assert.equal(b.beacons[0].blob.type, 'text/plain')
  const beaconed = await decode(Buffer.from(await b.beacons[0].blob.arrayBuffer()))
  assert.deepEqual(beaconed.batch.map((e) => e.event), ['Checkout'])
  assert.equal(beaconed.writeKey, 'pk_test')

  // the next page (same storage) sends the batch that failed, and only that one
  const b2 = installBrowser({ storage })
  const t2 = createTracker()
  t2.init({ ...base, autoPage: false })
  await run(25)
  assert.equal(b2.requests.length, 0, 'Retry-After still holds on the next page')
  await run(10)
  const evs = await sentEvents(b2.requests)
  assert.deepEqual(evs.map((e) => e.type), ['page'])
})

test('offline: nothing is sent until the browser is back online', async () => {
  const b = installBrowser()
  const t = createTracker()
  b.nav.onLine = false
  t.init(base)
  t.track('a')
  await run(10)
  fire('visibilitychange') // still visible: no beacon either
  assert.equal(b.requests.length, 0)
  assert.equal(b.beacons.length, 0)
  b.nav.onLine = true
  fire('online')
  await settle()
  assert.equal((await sentEvents(b.requests)).length, 2)
})

test('the offline queue survives a reload', async () => {
  const storage = new FakeStorage()
  const b = installBrowser({ storage })
  b.nav.onLine = false
  const t = createTracker()
  t.init(base)
  t.track('while offline')
  fire('pagehide')
  assert.equal(b.beacons.length, 0)
  const b2 = installBrowser({ storage })
  createTracker().init({ ...base, autoPage: false })
  await run(2)
  const evs = await sentEvents(b2.requests)
  assert.deepEqual(evs.map((e) => e.event || e.type), ['page', 'while offline'])
})

test('consent pending buffers in memory and stores nothing; granted sends the buffer', async () => {
  const b = installBrowser()
  const t = createTracker()
  t.init({ ...base, consent: 'pending' })
  t.track('before consent')
  await run(5)
  assert.equal(b.requests.length, 0)
  assert.equal(localStorage.length, 0)
  assert.equal(document.cookie, '')
  assert.equal(t.stats().queued, 2)
  t.consent('granted')
  await run(2)
  const evs = await sentEvents(b.requests)
  assert.deepEqual(evs.map((e) => e.event || e.type), ['page', 'before consent'])
  assert.ok(localStorage.getItem('cg_aid'))
  assert.equal(evs[0].anonymousId, JSON.parse(localStorage.getItem('cg_aid')))
  assert.match(document.cookie, /cg_aid=/)
})

test('granting consent keeps the visitor id already stored', async () => {
  const storage = new FakeStorage()
  storage.setItem('cg_aid', JSON.stringify('known-visitor'))
  const b = installBrowser({ storage })
  const t = createTracker()
  t.init({ ...base, consent: 'pending' })
  t.consent('granted')
  await run(2)
  const evs = await sentEvents(b.requests)
  assert.equal(evs[0].anonymousId, 'known-visitor')
})

test('consent denied drops buffered events and wipes what was stored', async () => {
  const b = installBrowser()
  const t = createTracker()
  b.nav.onLine = false
  t.init(base)
  t.identify('u1')
  assert.ok(localStorage.length > 0)
  t.consent('denied')
  t.track('after denial')
  b.nav.onLine = true
  fire('online')
  await run(5)
  assert.equal(b.requests.length, 0)
  assert.equal(localStorage.length, 0)
  assert.equal(document.cookie, '')
})

test('optOut persists across page loads until optIn', async () => {
  const storage = new FakeStorage()
  installBrowser({ storage })
  createTracker().init(base)
  window.clickgate = undefined
  const t1 = createTracker()
  t1.init(base)
  t1.optOut()
  const b = installBrowser({ storage })
  const t = createTracker()
  t.init(base)
  t.consent('granted') // a consent banner cannot override the visitor's opt-out
  t.track('x')
  await run(5)
  assert.equal(b.requests.length, 0)
  t.optIn()
  t.track('y')
  await run(2)
  assert.deepEqual((await sentEvents(b.requests)).map((e) => e.event), ['y'])
})

test('cookieless mode sets no cookie and keeps nothing in localStorage', async () => {
  const b = installBrowser()
  const t = createTracker()
  t.init({ ...base, cookieless: true })
  t.track('x')
  await run(2)
  assert.equal(document.cookie, '')
  assert.equal(localStorage.length, 0)
  assert.ok(sessionStorage.getItem('cg_aid'))
  assert.equal((await sentEvents(b.requests)).length, 2)
})

test('the anonymous id is kept in a cookie and localStorage; identify adds userId; reset starts over', async () => {
  const storage = new FakeStorage()
  const b = installBrowser({ storage })
  const t = createTracker()
  t.init(base)
  const aid = JSON.parse(localStorage.getItem('cg_aid'))
  assert.match(document.cookie, new RegExp('cg_aid=' + aid))
  t.identify('user-7', { plan: 'pro' })
  t.track('after identify')
  t.reset()
  t.track('after reset')
  t.flush()
  await settle()
  const evs = await sentEvents(b.requests)
  assert.deepEqual(
    evs.map((e) => [e.type, e.userId, e.anonymousId === aid]),
    [
      ['page', undefined, true],
      ['identify', 'user-7', true],
      ['track', 'user-7', true],
      ['track', undefined, false],
    ],
  )
  assert.deepEqual(evs[1].traits, { plan: 'pro' })
  assert.equal(evs[3].context.session.start, true, 'reset starts a new session')

  // the next page load reads the id back; the cookie wins over localStorage
  const cookieId = b.jar.get('cg_aid')
  assert.equal(cookieId, evs[3].anonymousId)
  const b2 = installBrowser({ storage })
  document.cookie = `cg_aid=${cookieId}`
  localStorage.setItem('cg_aid', JSON.stringify('other'))
  createTracker().init(base)
  await run(2)
  const [next] = await sentEvents(b2.requests)
  assert.equal(next.anonymousId, cookieId)
})

test('a new session starts after 30 minutes without events', async () => {
  const b = installBrowser()
  const t = createTracker()
  t.init(base)
  mock.timers.tick(29 * 60000)
  t.track('still here')
  mock.timers.tick(31 * 60000)
  t.track('back again')
  t.flush()
  await settle()
  const s = (await sentEvents(b.requests)).map((e) => e.context.session)
  assert.deepEqual(s.map((x) => [x.index, x.start]), [[1, true], [1, false], [2, true]])
})

test('calls made before init are replayed by init', async () => {
  const b = installBrowser()
  const t = createTracker()
  t.track('early')
  assert.equal(b.requests.length, 0)
  t.init(base)
  t.flush()
  await settle()
  assert.deepEqual((await sentEvents(b.requests)).map((e) => e.event || e.type), ['page', 'early'])
})

test('elements marked with data-cg-event are tracked on click; outbound links only with clicks: true', async () => {
  const el = (attrs, text) => ({
    textContent: text,
    href: attrs.href,
    host: attrs.href && new URL(attrs.href).host,
    getAttribute: (k) => attrs[k] ?? null,
    closest(sel) {
      if (sel === '[data-cg-event]') return attrs['data-cg-event'] ? this : null
      return attrs.href ? this : null
    },
  })
  const clicks = [
    el({ 'data-cg-event': 'Signup Clicked', 'data-cg-props': '{"plan":"pro"}' }, ' Sign up '),
    el({ href: 'https://shop.example/about' }, 'About'),
    el({ href: 'https://partner.example/offer' }, 'Partner offer'),
  ]
  const tracked = async (opts) => {
    const b = installBrowser()
    const t = createTracker()
    t.init({ ...base, ...opts })
    for (const target of clicks) fire('click', { target })
    t.flush()
    await settle()
    return (await sentEvents(b.requests)).filter((e) => e.type === 'track').map((e) => [e.event, e.properties])
  }
  assert.deepEqual(await tracked({}), [['Signup Clicked', { text: 'Sign up', plan: 'pro' }]])
  assert.deepEqual(await tracked({ clicks: true }), [
    ['Signup Clicked', { text: 'Sign up', plan: 'pro' }],
    ['Link Clicked', { text: 'Partner offer', href: 'https://partner.example/offer' }],
  ])
})
