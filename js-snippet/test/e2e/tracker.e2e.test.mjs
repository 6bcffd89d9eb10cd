// The tracker in headless Chromium against a real clickgate and a real Kafka broker.
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { WRITE_KEY, consume, countIds, launchBrowser, preflight, sitePage, sleep, startGateway, startProxy, startSite } from './harness.mjs'

let gw, site, kafka, browser
const proxies = []
const cleanups = []

// The site's pages: each scenario gets its own path; `host` is filled in per test through a query param.
const INIT = { writeKey: WRITE_KEY, host: '__HOST__' }
const page = (init) => sitePage({ init: { ...INIT, ...init } })

before(async () => {
  await preflight()
  gw = await startGateway()
  kafka = await consume(gw.topics.events)
  browser = await launchBrowser()
  cleanups.push(() => browser.close(), () => kafka.stop(), () => gw.stop())
})

after(async () => {
  for (const p of proxies) await p.close()
  if (site) await site.close()
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

/** A site whose pages send to `proxy`; options per path. */
async function siteFor(proxy, paths) {
  const pages = {}
  for (const [p, init] of Object.entries(paths)) pages[p] = page(init).replace('__HOST__', proxy.url)
  const s = await startSite(pages)
  cleanups.push(() => s.close())
  return s
}

async function newProxy(opts) {
  const p = await startProxy(gw.url, opts)
  proxies.push(p)
  return p
}

const loaded = (p) => p.waitForFunction(() => window.clickgate && !window.clickgate.q && window.clickgate.stats())
const anonymousId = (p) => p.evaluate(() => JSON.parse(localStorage.getItem('cg_aid')))
const queued = (p, n) => p.waitForFunction((n) => window.clickgate.stats().queued >= n, n)
/** Close like a user closing the tab: unload handlers (pagehide) run; resolves once it is gone. */
async function closeTab(p) {
  const closed = new Promise((r) => p.once('close', r))
  await p.close({ runBeforeUnload: true })
  await closed
}
const mine = (aid) => (ms) => ms.filter((m) => m.value.anonymousId === aid)

/** Wait for `n` events of this visitor; on timeout, say where they stopped (proxy, gateway or Kafka). */
async function reached(aid, n, what, proxy) {
  try {
    await kafka.until((ms) => mine(aid)(ms).length >= n, 30000, what)
  } catch (e) {
    if (proxy) e.message += '\nrequests: ' + JSON.stringify(proxy.seen.map((r) => [r.method, r.path, r.mode, r.status, r.ids.length]))
    e.message += '\ngateway log (tail):\n' + gw.logs.slice(-15).join('\n')
    throw e
  }
}

/** Wait for `n` events of this visitor, then a little longer to catch duplicates arriving late. */
async function arrived(aid, n, what, proxy) {
  await reached(aid, n, what, proxy)
  await sleep(2500)
  return mine(aid)(kafka.messages)
}

function assertEachOnce(events) {
  const counts = countIds(events)
  const dupes = [...counts].filter(([, c]) => c > 1)
  assert.deepEqual(dupes, [], 'every messageId arrives exactly once')
}

test('SPA navigations (push, replace, back), two custom events and closing the page: each event once, via beacon', async () => {
  const proxy = await newProxy()
  // a long flush interval keeps everything in the queue until the page closes: it must leave by beacon
  const s = await siteFor(proxy, { '/shop/': { flushInterval: 600000, flushAt: 100 } })
  const ctx = await browser.newContext()
  const p = await ctx.newPage()
  await p.goto(s.url + '/shop/?utm_source=e2e&utm_medium=browser&utm_campaign=launch&utm_content=hero')
  await loaded(p)
  const aid = await anonymousId(p)
  await p.evaluate(() => {
    history.pushState({}, '', '/shop/products')
    document.title = 'Products'
  })
  await queued(p, 2)
  await p.evaluate(() => history.replaceState({}, '', '/shop/products?sort=price'))
  await queued(p, 3)
  await p.evaluate(() => history.replaceState({}, '', '/shop/products?sort=price')) // same URL: no page view
  await p.evaluate(() => history.back())
  await queued(p, 4)
  await p.evaluate(() => {
    clickgate.track('Product Viewed', { sku: 'A1', price: 12.5 })
    clickgate.track('Added to Cart', { sku: 'A1', quantity: 2 })
  })
  assert.equal(proxy.batches().length, 0, 'nothing sent before the page closes')
  await closeTab(p)
  await ctx.close()

  const events = await arrived(aid, 6, 'the SPA page views and custom events', proxy)
  assertEachOnce(events)
  const got = events
    .map((m) => m.value)
    .sort((a, b) => a.timestamp.localeCompare(b.timestamp) || (a.type === 'page' ? -1 : 1))
  assert.deepEqual(
    got.map((e) => [e.type, e.event || null, e.context.page.path + e.context.page.search]),
    [
      ['page', null, '/shop/?utm_source=e2e&utm_medium=browser&utm_campaign=launch&utm_content=hero'],
      ['page', null, '/shop/products'],
      ['page', null, '/shop/products?sort=price'],
      ['page', null, '/shop/?utm_source=e2e&utm_medium=browser&utm_campaign=launch&utm_content=hero'],
      ['track', 'Product Viewed', '/shop/?utm_source=e2e&utm_medium=browser&utm_campaign=launch&utm_content=hero'],
      ['track', 'Added to Cart', '/shop/?utm_source=e2e&utm_medium=browser&utm_campaign=launch&utm_content=hero'],
    ],
  )
  for (const e of got) {
    assert.deepEqual(e.context.campaign, { source: 'e2e', medium: 'browser', name: 'launch', content: 'hero' })
    assert.equal(e.context.session.index, 1)
    assert.equal(e.context.session.id, got[0].context.session.id)
    assert.equal(e.context.library.name, 'clickgate.js')
    assert.equal(e.context.page.url.startsWith(s.url + '/shop/'), true)
  }
  assert.deepEqual(got.map((e) => e.context.session.start), [true, false, false, false, false, false])
  assert.equal(got[1].context.page.title, 'Products')
  assert.equal(got[2].context.page.referrer, s.url + '/shop/products')
  assert.deepEqual(got[4].properties, { sku: 'A1', price: 12.5 })
  for (const m of events) {
    assert.equal(m.key, `${WRITE_KEY}:${aid}`)
    assert.equal(m.headers.type, m.value.type)
  }
  // the batch left as a beacon: a no-cors text/plain POST, never a preflight
  const sent = proxy.batches()
  assert.ok(sent.length >= 1)
  for (const r of sent) {
    assert.equal(r.method, 'POST')
    assert.equal(r.mode, 'no-cors', 'sent by navigator.sendBeacon')
    assert.match(r.contentType, /^text\/plain/)
    assert.equal(r.status, 200)
  }
  assert.equal(proxy.seen.filter((r) => r.method === 'OPTIONS').length, 0)
})

test('the gateway answers 503 for a while: after it recovers every event arrives, none twice', async () => {
  const proxy = await newProxy({ failing: true, retryAfter: 1 })
  const s = await siteFor(proxy, { '/busy/': { flushInterval: 200, flushAt: 2, retryBase: 400, retryMax: 1500 } })
  const ctx = await browser.newContext()
  const p = await ctx.newPage()
  await p.goto(s.url + '/busy/')
  await loaded(p)
  const aid = await anonymousId(p)
  for (let i = 1; i <= 5; i++) {
    await p.evaluate((i) => clickgate.track('Tick', { i }), i)
    await sleep(150)
  }
  const until = Date.now() + 15000
  while (proxy.batches().filter((r) => r.status === 503).length < 6 && Date.now() < until) await sleep(100)
  const failed = proxy.batches().filter((r) => r.status === 503).length
  assert.ok(failed >= 6, `the tracker kept retrying while the gateway was unavailable (${failed} 503s)`)
  proxy.recover()

  const events = await arrived(aid, 6, 'the events held back by the 503s', proxy)
  assertEachOnce(events)
  assert.equal(events.length, 6)
  assert.deepEqual(
    events.filter((m) => m.value.type === 'track').map((m) => m.value.properties.i).sort(),
    [1, 2, 3, 4, 5],
  )
  assert.equal(await p.evaluate(() => clickgate.stats().queued), 0)
  // fetch path: gzipped text/plain bodies, no Content-Encoding header, so no preflight either
  for (const r of proxy.batches()) {
    assert.equal(r.mode, 'cors')
    assert.match(r.contentType, /^text\/plain/)
    assert.equal(r.contentEncoding, undefined)
    assert.equal(r.gzip, true, 'the body is gzipped')
  }
  assert.equal(proxy.seen.filter((r) => r.method === 'OPTIONS').length, 0)
  // each batch waited at least Retry-After (1 s) between attempts
  const attempts = new Map()
  for (const r of proxy.batches()) attempts.set(r.ids[0], [...(attempts.get(r.ids[0]) || []), r.at])
  for (const [, times] of attempts) for (let i = 1; i < times.length; i++) assert.ok(times[i] - times[i - 1] >= 950, `retried after ${times[i] - times[i - 1]} ms`)
  assert.ok([...attempts.values()].some((t) => t.length >= 3), 'some batch was retried more than once')
  await ctx.close()
})

test('offline, then online: events wait and arrive once', async () => {
  const proxy = await newProxy()
  const s = await siteFor(proxy, { '/trip/': { flushInterval: 200 } })
  const ctx = await browser.newContext()
  const p = await ctx.newPage()
  await p.goto(s.url + '/trip/')
  await loaded(p)
  const aid = await anonymousId(p)
  await reached(aid, 1, 'the page view', proxy)
  const before = proxy.batches().length

  await ctx.setOffline(true)
  await p.evaluate(() => {
    clickgate.track('Offline A')
    clickgate.track('Offline B')
    history.pushState({}, '', '/trip/tunnel')
    clickgate.track('Offline C')
  })
  await sleep(3000)
  assert.equal(proxy.batches().length, before, 'nothing reaches the network while offline')
  assert.ok((await p.evaluate(() => clickgate.stats().queued)) >= 4)
  await ctx.setOffline(false)

  const events = await arrived(aid, 5, 'the events tracked offline', proxy)
  assertEachOnce(events)
  assert.deepEqual(events.map((m) => m.value.event || m.value.type).sort(), ['Offline A', 'Offline B', 'Offline C', 'page', 'page'])
  await ctx.close()
})

test('the offline queue survives closing the tab, and two new tabs do not both send it', async () => {
  const proxy = await newProxy()
  const s = await siteFor(proxy, {
    '/tabs/first': { flushInterval: 200, flushAt: 2 },
    '/tabs/other': { flushInterval: 200, flushAt: 2, autoPage: false },
  })
  const ctx = await browser.newContext()
  const first = await ctx.newPage()
  await first.goto(s.url + '/tabs/first')
  await loaded(first)
  const aid = await anonymousId(first)
  await reached(aid, 1, 'the page view', proxy)

  await ctx.setOffline(true)
  await first.evaluate(() => {
    for (let i = 1; i <= 7; i++) clickgate.track('Queued', { i })
  })
  await closeTab(first) // offline: no beacon, the batches stay in localStorage
  const before = proxy.batches().length
  await ctx.setOffline(false)

  const [a, b] = await Promise.all([ctx.newPage(), ctx.newPage()])
  await Promise.all([a.goto(s.url + '/tabs/other'), b.goto(s.url + '/tabs/other')])
  const events = await arrived(aid, 8, 'the queued events', proxy)
  assertEachOnce(events)
  assert.deepEqual(
    events.filter((m) => m.value.event === 'Queued').map((m) => m.value.properties.i).sort(),
    [1, 2, 3, 4, 5, 6, 7],
  )
  assert.ok(proxy.batches().length > before)
  await ctx.close()
})
