import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import vm from 'node:vm'

const dist = new URL('../../dist/', import.meta.url)
const read = (f) => readFileSync(new URL(f, dist), 'utf8')

/** A bare page for the loader stub: records the script tag it inserts. */
function stubPage() {
  const inserted = []
  const document = {
    createElement: (tag) => ({ tag }),
    head: { appendChild: (el) => inserted.push(el) },
  }
  const window = { document }
  window.window = window
  return { ctx: vm.createContext(window), window, inserted }
}

test('the loader stub inserts one async script and queues calls until it loads', () => {
  const { ctx, window, inserted } = stubPage()
  vm.runInContext(read('loader.min.js'), ctx)
  assert.equal(inserted.length, 1)
  assert.equal(inserted[0].tag, 'script')
  assert.equal(inserted[0].async, 1)
  assert.equal(inserted[0].src, 'https://GATEWAY/snippet/clickgate.min.js')
  vm.runInContext('clickgate.track("Signed Up", {plan: "pro"}); clickgate.page(); clickgate.identify("u1")', ctx)
  assert.deepEqual(
    JSON.parse(JSON.stringify(window.clickgate.q.map(([m, a]) => [m, Array.from(a)]))), // out of the vm's realm
    [
      ['init', [{ writeKey: 'WRITE_KEY', host: 'https://GATEWAY' }]],
      ['track', ['Signed Up', { plan: 'pro' }]],
      ['page', []],
      ['identify', ['u1']],
    ],
  )
})

test('when the script is blocked the stub stays a harmless no-op with a bounded queue', () => {
  const { ctx, window } = stubPage()
  vm.runInContext(read('loader.min.js'), ctx)
  for (const m of ['init', 'track', 'page', 'identify', 'reset', 'optOut', 'optIn', 'consent', 'flush'])
    assert.equal(typeof window.clickgate[m], 'function', m)
  vm.runInContext('for (var i = 0; i < 10000; i++) clickgate.track("x", {i: i})', ctx)
  assert.equal(window.clickgate.q.length, 500)
})

test('pasting the stub twice does not load the script twice', () => {
  const { ctx, inserted } = stubPage()
  vm.runInContext(read('loader.min.js'), ctx)
  vm.runInContext(read('loader.min.js'), ctx)
  assert.equal(inserted.length, 1)
})

test('the budgets hold: IIFE at most 4,096 B min+gzip, loader stub at most 600 B', () => {
  const iife = readFileSync(new URL('clickgate.min.js', dist))
  assert.ok(gzipSync(iife, { level: 9 }).length <= 4096)
  assert.ok(Buffer.byteLength(read('loader.min.js').trim()) <= 600)
  const sizes = JSON.parse(read('sizes.json'))
  assert.equal(sizes.iife.gz, gzipSync(iife, { level: 9 }).length, 'sizes.json matches the built file')
})

test('the ES module imports without a browser (server-side rendering) and does nothing there', async () => {
  const mod = await import(new URL('clickgate.esm.js', dist))
  for (const f of ['init', 'track', 'page', 'identify', 'reset', 'optOut', 'optIn', 'consent', 'flush', 'stats', 'createTracker'])
    assert.equal(typeof mod[f], 'function', f)
  assert.equal(typeof mod.VERSION, 'string')
  mod.init({ writeKey: 'k' })
  mod.track('x')
  assert.equal(mod.stats(), undefined)
})
