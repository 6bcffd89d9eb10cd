// A small stand-in for the browser globals the tracker touches, so its logic runs under node:test.
// It records what would go over the network (fetch, sendBeacon) and lets tests script responses.

export class FakeStorage {
  constructor() {
    this.m = new Map()
  }
  get length() {
    return this.m.size
  }
  key(i) {
    return [...this.m.keys()][i] ?? null
  }
  getItem(k) {
    return this.m.has(k) ? this.m.get(k) : null
  }
  setItem(k, v) {
    this.m.set(k, String(v))
  }
  removeItem(k) {
    this.m.delete(k)
  }
  clear() {
    this.m.clear()
  }
}

const listeners = new Map()
const on = (type, fn) => listeners.set(type, [...(listeners.get(type) || []), fn])

/** Dispatch an event to listeners registered on window or document. */
export function fire(type, props = {}) {
  for (const fn of listeners.get(type) || []) fn({ type, ...props })
}

/**
 * Install fresh browser globals. `respond(request)` returns {status, headers, body} or throws to
 * simulate a network error; default 200 accepting everything.
 */
export function installBrowser({ url = 'https://shop.example/', referrer = '', storage, session, respond } = {}) {
  listeners.clear()
  const requests = []
  const beacons = []
  const loc = new URL(url)
  const g = globalThis
  const nav = { language: 'en-GB', onLine: true, sendBeacon: (u, blob) => (beacons.push({ url: u, blob }), true) }
  const doc = {
    title: 'Home',
    referrer,
    cookie: '',
    visibilityState: 'visible',
    addEventListener: on,
  }
  // document.cookie: keep a tiny jar so reads see writes
  const jar = new Map()
  Object.defineProperty(doc, 'cookie', {
    get: () => [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
    set: (c) => {
      const [kv, ...attrs] = c.split('; ')
      const [k, v] = kv.split('=')
      if (attrs.some((a) => a === 'max-age=0')) jar.delete(k)
      else jar.set(k, v)
    },
  })
  const hist = {
    pushState(_s, _t, u) {
      loc.href = new URL(u, loc.href).href
    },
    replaceState(_s, _t, u) {
      loc.href = new URL(u, loc.href).href
    },
  }
  const define = (k, v) => Object.defineProperty(g, k, { value: v, configurable: true, writable: true })
  define('window', g)
  define('document', doc)
  define('location', loc)
  define('history', hist)
  define('navigator', nav)
  define('screen', { width: 1920, height: 1080 })
  define('devicePixelRatio', 2)
  define('innerWidth', 1280)
  define('innerHeight', 720)
  define('localStorage', storage || new FakeStorage())
  define('sessionStorage', session || new FakeStorage())
  define('addEventListener', on)
  define('fetch', async (u, init) => {
    const raw = Buffer.from(await init.body.arrayBuffer())
    const req = { url: u, init, raw, type: init.body.type }
    requests.push(req)
    const r = respond ? await respond(req) : { status: 200, body: { success: true, accepted: 1, rejected: [] } }
    return new Response(r.body === undefined ? null : JSON.stringify(r.body), { status: r.status, headers: r.headers })
  })
  return { requests, beacons, doc, nav, jar, loc, hist }
}

/** Parse a recorded request body (plain or gzip) into the batch JSON. */
export async function decode(raw) {
  const { gunzipSync } = await import('node:zlib')
  const buf = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw
  return JSON.parse(buf.toString('utf8'))
}

/** Wait (in real time) until `cond()` holds: for work that leaves the event loop, like gzip. */
export async function until(cond, ms = 5000) {
  const end = performance.now() + ms
  while (!cond()) {
    if (performance.now() > end) throw new Error('timed out waiting')
    await new Promise((r) => setImmediate(r))
  }
}

/** Let pending promise chains (fetch mock, response handling) run. */
export const settle = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r))
}
