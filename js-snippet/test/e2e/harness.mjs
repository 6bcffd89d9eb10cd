// End-to-end harness: a real clickgate producing to a real Kafka, a static site on another loopback
// port (so the tracker's requests are cross-origin, like on a real site), an optional fault-injecting
// proxy in front of the gateway, headless Chromium, and a Kafka consumer that reads the events back.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { createServer, request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { gunzipSync } from 'node:zlib'
import { Kafka, logLevel } from 'kafkajs'
import './lz4.mjs'
import { chromium } from 'playwright-core'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const WRITE_KEY = 'pk_test_browser'
export const BROKERS = process.env.CLICKGATE_TEST_KAFKA || '127.0.0.1:9092'
const BIN = process.env.CLICKGATE_BIN || resolve(ROOT, '../target/debug/clickgate')
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Fail loudly (never skip) when what the e2e tests need is missing. */
export async function preflight() {
  const [host, port] = BROKERS.split(':')
  const up = await new Promise((res) => {
    const s = connect({ host, port: +port, timeout: 3000 }, () => (s.destroy(), res(true)))
    s.on('error', () => res(false))
    s.on('timeout', () => (s.destroy(), res(false)))
  })
  const why = []
  if (!up)
    why.push(
      `no Kafka broker reachable at ${BROKERS}` +
        (process.env.CLICKGATE_TEST_KAFKA ? ' (CLICKGATE_TEST_KAFKA)' : ' (set CLICKGATE_TEST_KAFKA, or start one: scripts/kafka.sh start)'),
    )
  if (!existsSync(BIN)) why.push(`no clickgate binary at ${BIN} (build it with cargo build, or set CLICKGATE_BIN)`)
  if (!existsSync(CHROMIUM)) why.push(`no Chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`)
  if (!existsSync(join(ROOT, 'dist/clickgate.min.js'))) why.push('dist/clickgate.min.js is missing: run npm run build')
  if (why.length) throw new Error('e2e tests cannot run:\n  - ' + why.join('\n  - '))
}

/** Start clickgate on a free port with fresh topics; resolves to { url, topics, stop, logs }. */
export async function startGateway() {
  const run = `e2e-js-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`
  const topics = { raw: `${run}.raw`, events: `${run}.events`, dlq: `${run}.dlq` }
  const dir = mkdtempSync(join(tmpdir(), 'clickgate-js-e2e-'))
  const config = join(dir, 'clickgate.toml')
  writeFileSync(
    config,
    `listen = "127.0.0.1:0"

[kafka]
brokers = "${BROKERS}"
create_topics = true
replication_factor = 1
delivery_timeout = "5s"

[kafka.topics]
raw    = { name = "${topics.raw}", partitions = 1 }
events = { name = "${topics.events}", partitions = 3 }
dlq    = { name = "${topics.dlq}", partitions = 1 }

[[sources]]
name = "web"
kind = "browser"
keys = ["${WRITE_KEY}"]
allowed_origins = ["*"]
`,
  )
  const gw = await spawnGateway(['--config', config, '--listen', '127.0.0.1:0'])
  return {
    ...gw,
    topics,
    /** Stop clickgate and delete this run's topics. */
    async stop() {
      await gw.stop()
      const admin = new Kafka({ brokers: BROKERS.split(','), logLevel: logLevel.NOTHING }).admin()
      await admin.connect()
      await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => {})
      await admin.disconnect()
    },
  }
}

/** `clickgate --dev` (mock Kafka, demo keys) from the repository root, where it finds js-snippet/. */
export function startDevGateway() {
  return spawnGateway(['--dev', '--listen', '127.0.0.1:0'], resolve(ROOT, '..'))
}

async function spawnGateway(args, cwd) {
  // clickgate reads CLICKGATE_<KEY> variables as settings: the test's own (CLICKGATE_BIN,
  // CLICKGATE_TEST_KAFKA) and any from the shell must not leak into it; the arguments say it all.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('CLICKGATE_')))
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env, cwd })
  const logs = []
  child.stderr.on('data', (d) => logs.push(String(d)))
  const addr = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error('clickgate did not log "listening" within 60 s:\n' + logs.join('\n'))), 60000)
    child.on('exit', (code) => rej(new Error(`clickgate exited with ${code}:\n` + logs.join('\n'))))
    createInterface({ input: child.stdout }).on('line', (line) => {
      logs.push(line)
      try {
        const j = JSON.parse(line)
        const a = j.addr || (j.fields && j.fields.addr)
        if (/listening/.test(j.message || (j.fields && j.fields.message) || '') && a) {
          clearTimeout(timer)
          res(a)
        }
      } catch {}
    })
  })
  return {
    url: `http://${addr}`,
    logs,
    stop: () => new Promise((r) => (child.exitCode != null ? r() : (child.once('exit', r), child.kill('SIGTERM')))),
  }
}

/** A site on its own port: serves `pages[path]` (HTML) and the built snippet at /clickgate.min.js. */
export async function startSite(pages) {
  const server = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname
    if (path === '/clickgate.min.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' })
      return res.end(readFileSync(join(ROOT, 'dist/clickgate.min.js')))
    }
    const page = pages[path] || pages['*']
    if (!page) return res.writeHead(404).end()
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
    res.end(page)
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) }
}

/**
 * A proxy in front of the gateway that records every request and can answer 503 (with Retry-After
 * and CORS headers, as an overloaded gateway would) until `recover()`. On its own loopback port,
 * `localhost` rather than 127.0.0.1, so the page and the collector are different sites.
 */
export async function startProxy(target, { failing = false, retryAfter = 1 } = {}) {
  const seen = []
  const state = { failing }
  const server = createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const entry = {
        method: req.method,
        path: req.url,
        mode: req.headers['sec-fetch-mode'],
        contentType: req.headers['content-type'],
        contentEncoding: req.headers['content-encoding'],
        gzip: body[0] === 0x1f && body[1] === 0x8b,
        status: 0,
        at: Date.now(),
        ids: [],
      }
      try {
        entry.ids = JSON.parse(entry.gzip ? gunzipSync(body) : body).batch.map((e) => e.messageId)
      } catch {}
      seen.push(entry)
      if (state.failing) {
        entry.status = 503
        res.writeHead(503, {
          'content-type': 'application/json',
          'retry-after': String(retryAfter),
          'access-control-allow-origin': req.headers.origin || '*',
          'access-control-expose-headers': 'Retry-After',
        })
        return res.end('{"success":false,"error":"unavailable","message":"injected by the e2e proxy"}')
      }
      const up = httpRequest(target + req.url, { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (r) => {
        entry.status = r.statusCode
        res.writeHead(r.statusCode, r.headers)
        r.pipe(res)
      })
      up.on('error', () => ((entry.status = 502), res.writeHead(502).end()))
      up.end(body)
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  return {
    url: `http://localhost:${server.address().port}`,
    seen,
    batches: () => seen.filter((s) => s.path.startsWith('/v1/batch')),
    recover: () => (state.failing = false),
    fail: () => (state.failing = true),
    close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))),
  }
}

/** Consume a topic from the beginning; `messages` fills as records arrive. */
export async function consume(topic) {
  const kafka = new Kafka({ clientId: 'clickgate-js-e2e', brokers: BROKERS.split(','), logLevel: logLevel.NOTHING })
  const consumer = kafka.consumer({ groupId: `${topic}-reader-${Math.random().toString(36).slice(2)}` })
  const messages = []
  const problems = []
  const t0 = Date.now()
  const note = (what) => problems.push(`+${Date.now() - t0} ms consumer ${what}`)
  consumer.on(consumer.events.CRASH, (e) => note(`crashed: ${e.payload.error && e.payload.error.message}`))
  consumer.on(consumer.events.REBALANCING, () => note('rebalancing'))
  consumer.on(consumer.events.GROUP_JOIN, (e) => note(`joined, assigned ${JSON.stringify(e.payload.memberAssignment)}`))
  consumer.on(consumer.events.STOP, () => note('stopped'))
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers = Object.fromEntries(Object.entries(message.headers || {}).map(([k, v]) => [k, String(v)]))
      messages.push({ key: String(message.key), value: JSON.parse(String(message.value)), headers })
    },
  })
  return {
    messages,
    /** Wait until `pred(messages)` holds, or throw with what did arrive. */
    async until(pred, ms = 30000, what = 'events') {
      const end = Date.now() + ms
      while (!pred(messages)) {
        if (Date.now() > end) {
          // is the log ahead of the consumer (a stalled reader) or not (nothing was produced)?
          const admin = kafka.admin()
          const offsets = await admin
            .connect()
            .then(() => admin.fetchTopicOffsets(topic))
            .then((o) => JSON.stringify(o.map((p) => [p.partition, p.high])))
            .catch((e) => String(e))
          await admin.disconnect().catch(() => {})
          problems.push(`high watermarks [partition, high]: ${offsets}`)
          throw new Error(
            `timed out waiting for ${what}; got ${messages.length}: ` +
              JSON.stringify(messages.map((m) => [m.value.type, m.value.event || m.value.name || m.value.context?.page?.path, m.value.messageId])) +
              '\n' + problems.join('\n'),
          )
        }
        await sleep(200)
      }
      return messages
    },
    stop: () => consumer.disconnect(),
  }
}

export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
}

/** The page HTML: the copy-paste loader stub from dist/, pointing at the site's snippet and `host`. */
export function sitePage({ title = 'Shop', init, body = '' }) {
  const stub = readFileSync(join(ROOT, 'dist/loader.min.js'), 'utf8')
    .replace('https://GATEWAY/snippet/clickgate.min.js', '/clickgate.min.js')
    .replace(/clickgate\.init\(\{[^)]*\}\);?/, `clickgate.init(${JSON.stringify(init)});`)
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title><script>${stub}</script></head><body>${body}</body></html>`
}

/** Count how often each messageId arrived. */
export function countIds(messages) {
  const n = new Map()
  for (const m of messages) n.set(m.value.messageId, (n.get(m.value.messageId) || 0) + 1)
  return n
}
