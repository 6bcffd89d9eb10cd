//! The tracker: public API, identity, consent, automatic page views and the send loop.
import { verdict } from './backoff'
import { pageContext } from './context'
import { createQueue, type Queue } from './queue'
import { campaign, touch, type SessionRec } from './session'
import { memStore, webStore, type Store } from './store'
import { beacon, body, post } from './transport'
import type { Consent, Options, Props, Tracker } from './types'
import { iso, now, parse, uuid } from './util'

const AID = 'cg_aid'
const UID = 'cg_uid'
const SES = 'cg_s'
const OPT = 'cg_optout'

type Settings = Required<Omit<Options, 'cookieDomain'>> & Pick<Options, 'cookieDomain'>

/** A tracker bound to the global window. `host` is the default gateway origin. */
export function createTracker(host = ''): Tracker {
  let o: Settings | undefined
  let ls: Store | undefined // localStorage: holds the opt-out flag whatever the consent
  let st: Store = memStore() // where ids and the session live under the current consent
  let q: Queue | undefined // exists only while consent is granted
  let state: Consent = 'pending'
  let held: object[] = [] // events buffered while consent is pending
  let aid = ''
  let uid: string | undefined
  let cur: string | undefined // URL of the current page view
  let ref = '' // referrer of the current page view
  let url = ''
  let rejected = 0
  let ticks = 0
  const me = uuid() // this tab, as a queue lease owner
  const pre: [string, unknown[]][] = [] // calls made before init

  function cookie(v?: string, age = 31536000): string | undefined {
    if (v == null) return (document.cookie.match(/(?:^|; )cg_aid=([^;]*)/) || [])[1]
    document.cookie =
      AID + '=' + v + '; max-age=' + age + '; path=/; samesite=lax' +
      (o!.cookieDomain ? '; domain=' + o!.cookieDomain : '') +
      (location.protocol == 'https:' ? '; secure' : '')
  }

  function saveIds() {
    if (state != 'granted') return
    st.set(AID, aid)
    if (!o!.cookieless) cookie(aid)
  }

  /** Move to a consent state: granted persists ids and sends; pending buffers; denied drops and wipes. */
  function setup(next: Consent) {
    const prev = st
    state = next
    if (next == 'granted') {
      st = (o!.cookieless ? webStore(() => sessionStorage) : ls) || memStore()
      const known = (!o!.cookieless && cookie()) || st.get(AID)
      if (known) held.forEach((e: any) => (e.anonymousId = known))
      aid = known || aid || uuid()
      uid = st.get(UID) || uid
      if (uid) st.set(UID, uid)
      if (!st.get(SES) && prev.get(SES)) st.set(SES, prev.get(SES))
      saveIds()
      if (!q) {
        q = createQueue(st, me, o!)
        q.adopt()
      }
      held.forEach((e) => q!.add(e))
      held = []
      flush()
      return
    }
    if (next == 'denied') {
      held = []
      q && q.clear()
      for (const k of [AID, UID, SES]) st.del(k)
      cookie('', 0)
    }
    q = undefined
    st = memStore()
    aid = aid || uuid()
  }

  function send(type: string, fields: Props) {
    if (!o || state == 'denied') return
    const t = now()
    const [s, start] = touch(st.get(SES) as SessionRec | undefined, t, o.sessionTimeout)
    s.c = campaign(location.search) || s.c
    st.set(SES, s)
    const e = {
      type,
      messageId: uuid(),
      anonymousId: aid,
      userId: uid,
      timestamp: iso(t),
      context: { ...pageContext(ref), campaign: s.c, session: { id: s.id, index: s.i, start } },
      ...fields,
    }
    if (q) q.add(e) && flush()
    else if (held.length < o.maxQueue) held.push(e)
  }

  /** Send what is due; `force` also seals the batch still collecting events. */
  function flush(force?: boolean) {
    const qq = q
    if (!qq) return
    qq.seal(force)
    if (navigator.onLine === false) return
    for (const [id, evs, m] of qq.due()) {
      qq.take(id, m)
      post(url, body(evs, o!.writeKey), o!.gzip).then(([status, ra, res]) => {
        if (res && res.ok)
          res.json().then(
            (j) => (rejected += (j && j.rejected && j.rejected.length) || 0),
            () => 0,
          )
        qq.done(id, verdict(status, ra, m.a, o!.retryBase, o!.retryMax, Math.random(), now()), !status)
      })
    }
  }

  /** Page hidden or going away: beacon every fresh batch; failing ones wait in storage for the next page. */
  function hide(e: Event) {
    if (!q || (e.type != 'pagehide' && document.visibilityState != 'hidden')) return
    q.seal(true)
    if (navigator.onLine !== false)
      for (const [id, evs, m] of q.due()) if (!m.a && beacon(url, body(evs, o!.writeKey))) q.done(id, 0)
    if (e.type == 'pagehide') q.release()
  }

  const key = (u?: string) => (u && !o!.hash ? u.split('#')[0] : u)

  /** History changed: a page view unless the URL is the one already viewed. */
  function nav() {
    if (key(location.href) != key(cur)) api.page()
  }

  function click(e: Event) {
    const t = e.target as Element
    if (!t || !t.closest) return
    const link = o!.clicks && (t.closest('a[href]') as HTMLAnchorElement | null)
    // links within the site are page views already: only outbound ones are clicks worth a track
    const el = t.closest('[data-cg-event]') || (link && link.host != location.host && link)
    if (el)
      api.track(el.getAttribute('data-cg-event') || 'Link Clicked', {
        text: (el.textContent || '').trim().slice(0, 100),
        href: (el as HTMLAnchorElement).href,
        ...parse(el.getAttribute('data-cg-props')),
      })
  }

  const impl: Tracker = {
    init(opts) {
      if (o || typeof document == 'undefined') return
      o = {
        host,
        path: '/v1/batch',
        consent: 'granted',
        cookieless: false,
        autoPage: true,
        spa: true,
        hash: false,
        clicks: false,
        flushAt: 20,
        flushInterval: 2000,
        maxBytes: 32000,
        maxQueue: 1000,
        sessionTimeout: 1800000,
        gzip: true,
        retryBase: 1000,
        retryMax: 60000,
        ...opts,
      }
      url = (o.host || host).replace(/\/$/, '') + o.path
      ls = webStore(() => localStorage)
      ref = document.referrer
      setup(ls && ls.get(OPT) ? 'denied' : o.consent)
      document.addEventListener('visibilitychange', hide)
      addEventListener('pagehide', hide)
      addEventListener('online', () => {
        q && q.wake()
        flush()
      })
      document.addEventListener('click', click, true)
      if (o.spa) {
        for (const m of ['pushState', 'replaceState'] as const) {
          const f = history[m]
          history[m] = function (this: History, ...a: Parameters<History['pushState']>) {
            f.apply(this, a)
            setTimeout(nav, 0) // after the router has set the title
          }
        }
        addEventListener('popstate', nav)
        if (o.hash) addEventListener('hashchange', nav)
      }
      setInterval(() => {
        if (!q) return
        q.renew()
        if (!(++ticks % 5)) q.adopt()
        flush()
      }, 1000)
      if (o.autoPage) api.page()
      pre.splice(0).forEach(([k, a]) => (api as any)[k](...a))
    },

    track(event, properties) {
      send('track', { event, properties })
    },

    page(name, properties) {
      if (typeof name == 'object') (properties = name), (name = undefined)
      const l = location
      if (cur != null && cur != l.href) ref = cur
      cur = l.href
      send('page', {
        name,
        properties: { url: l.href, path: l.pathname, search: l.search, title: document.title, referrer: ref, ...properties },
      })
    },

    identify(id, traits) {
      if (typeof id == 'object') (traits = id), (id = undefined)
      if (id != null) st.set(UID, (uid = '' + id))
      send('identify', { traits })
    },

    reset() {
      uid = undefined
      st.del(UID)
      st.del(SES)
      aid = uuid()
      saveIds()
    },

    optOut() {
      ls && ls.set(OPT, 1)
      setup('denied')
    },

    optIn() {
      ls && ls.del(OPT)
      setup('granted')
    },

    consent(s) {
      if (!(ls && ls.get(OPT))) setup(s)
    },

    flush() {
      flush(true)
    },

    stats() {
      const s = q ? q.stats() : { queued: 0, dropped: 0 }
      return { queued: s.queued + held.length, dropped: s.dropped, rejected }
    },
  }

  // Before init, calls are remembered and replayed by init.
  const api = {} as Tracker
  for (const k in impl)
    (api as any)[k] = (...a: unknown[]) =>
      o || k == 'init' ? (impl as any)[k](...a) : pre.length < 100 && void pre.push([k, a])
  return api
}
