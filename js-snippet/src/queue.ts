//! The persistent send queue: batches in storage, leased to one tab at a time.
//!
//! Each batch is two keys: `cg_m.<id>` (small meta record: owner tab, lease expiry, next attempt,
//! attempts, event count) and `cg_e.<id>` (the events). A tab only sends batches whose meta names it
//! as owner; it renews its leases while alive and releases them on pagehide. Batches whose lease has
//! expired (a closed or crashed tab) are adopted by another tab with write-then-verify, so two live
//! tabs never send the same batch.
import type { Store } from './store'
import { now, uuid } from './util'

export interface Meta {
  /** owner tab */
  o: string
  /** lease expiry (ms) */
  l: number
  /** not before (ms): next attempt */
  n: number
  /** attempts made */
  a: number
  /** created (ms) */
  t: number
  /** events in the batch */
  c: number
  /** bytes of the events */
  b: number
  /** last failure was a network error (retry at once when the browser comes online) */
  w?: number
}

export interface QueueOptions {
  flushAt: number
  flushInterval: number
  maxBytes: number
  maxQueue: number
}

export const LEASE = 20000
export const CLAIM_WAIT = 300
const M = 'cg_m.'
const E = 'cg_e.'

export type Queue = ReturnType<typeof createQueue>

export function createQueue(st: Store, me: string, o: QueueOptions) {
  const mine = new Set<string>()
  const busy = new Set<string>()
  let open: string | undefined
  let dropped = 0

  const meta = (id: string): Meta | undefined => st.get(M + id)
  const put = (id: string, m: Meta) => {
    m.o = me
    m.l = now() + LEASE
    st.set(M + id, m)
  }
  const del = (id: string) => {
    st.del(M + id)
    st.del(E + id)
    mine.delete(id)
    busy.delete(id)
    if (id == open) open = undefined
  }
  /** The meta if this tab still owns the batch; forgets it otherwise. */
  const own = (id: string): Meta | undefined => {
    const m = meta(id)
    if (m && m.o == me) return m
    mine.delete(id)
    if (id == open) open = undefined
  }
  const all = () =>
    st
      .keys()
      .filter((k) => k.startsWith(M))
      .map((k) => k.slice(M.length))

  /** Drop the oldest events of this tab's idle batches until at most `max` events are stored. */
  function trim(max: number) {
    const list = all()
      .map((id) => [id, meta(id)] as [string, Meta])
      .filter((x) => x[1])
      .sort((x, y) => x[1].t - y[1].t)
    let n = list.reduce((s, x) => s + x[1].c, 0)
    for (const [id, m] of list) {
      if (n <= max) break
      if (m.o != me || busy.has(id)) continue
      const k = Math.min(m.c, n - max)
      n -= k
      dropped += k
      if (k == m.c) del(id)
      else {
        st.set(E + id, (st.get(E + id) || []).slice(k))
        m.c -= k
        put(id, m)
      }
    }
  }

  return {
    /** Append an event to the open batch; true when a batch was sealed and should be sent soon. */
    add(ev: object): boolean {
      const size = new Blob([JSON.stringify(ev)]).size
      trim(o.maxQueue - 1)
      let m = open && own(open)
      let sealed = false
      if (!m || m.b + size > o.maxBytes) {
        sealed = !!m
        mine.add((open = uuid()))
        m = { o: me, l: 0, n: 0, a: 0, t: now(), c: 0, b: 0 }
      }
      const evs = m.c ? st.get(E + open!) || [] : []
      evs.push(ev)
      m.c = evs.length
      m.b += size
      st.set(E + open!, evs)
      put(open!, m)
      if (m.c >= o.flushAt) {
        open = undefined
        sealed = true
      }
      return sealed
    },

    /** Seal the open batch when it is old enough (or always, with `force`). */
    seal(force?: boolean) {
      const m = open && own(open)
      if (m && (force || now() - m.t >= o.flushInterval)) open = undefined
    },

    /** Batches this tab may send now, oldest first: [id, events, meta]. */
    due(): [string, object[], Meta][] {
      const out: [string, object[], Meta][] = []
      for (const id of mine) {
        if (id == open || busy.has(id)) continue
        const m = own(id)
        if (m && m.n <= now()) out.push([id, st.get(E + id) || [], m])
      }
      return out
    },

    /** Mark a batch as in flight and renew its lease so no other tab adopts it meanwhile. */
    take(id: string, m: Meta) {
      busy.add(id)
      put(id, m)
    },

    /** A send finished: delay 0 removes the batch, otherwise it is retried after `delay` ms. */
    done(id: string, delay: number, net?: boolean) {
      busy.delete(id)
      if (delay <= 0) return del(id)
      const m = own(id)
      if (!m) return
      m.a++
      m.n = now() + delay
      m.w = net ? 1 : 0
      put(id, m)
    },

    /** Renew the leases that are half used up. */
    renew() {
      for (const id of mine) {
        const m = own(id)
        if (m && m.l - now() < LEASE / 2) put(id, m)
      }
    },

    /** Claim batches whose lease expired; they become ours if our claim is still there a moment later. */
    adopt() {
      const claimed: string[] = []
      for (const id of all()) {
        const m = !mine.has(id) && meta(id)
        if (m && m.l < now()) {
          put(id, m)
          claimed.push(id)
        }
      }
      if (claimed.length)
        setTimeout(() => {
          for (const id of claimed) if (meta(id)?.o == me) mine.add(id)
        }, CLAIM_WAIT)
    },

    /** Give up the leases of idle batches (page going away) so the next page adopts them at once. */
    release() {
      open = undefined
      for (const id of mine) {
        const m = !busy.has(id) && own(id)
        if (m) st.set(M + id, { ...m, l: 0 })
      }
    },

    /** Back online: retry batches that failed on the network now. */
    wake() {
      for (const id of mine) {
        const m = own(id)
        if (m && m.w) put(id, { ...m, n: 0 })
      }
    },

    /** Drop every batch this tab can see (consent denied). */
    clear() {
      for (const id of all()) del(id)
    },

    stats() {
      return { queued: all().reduce((s, id) => s + (meta(id)?.c || 0), 0), dropped }
    },
  }
}
