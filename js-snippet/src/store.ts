//! Key/value storage behind one small interface: Web Storage when it works, memory otherwise.
import { parse } from './util'

export interface Store {
  get(k: string): any
  set(k: string, v: unknown): void
  del(k: string): void
  keys(): string[]
}

/** A store that lives and dies with the page. Values are copied through JSON like Web Storage does. */
export function memStore(): Store {
  const m: Record<string, string> = {}
  return {
    get: (k) => parse(m[k]),
    set: (k, v) => {
      m[k] = JSON.stringify(v)
    },
    del: (k) => {
      delete m[k]
    },
    keys: () => Object.keys(m),
  }
}

/**
 * Web Storage, or undefined when it is unavailable (blocked, sandboxed). A write that fails
 * (quota, Safari private mode) lands in a memory overlay so the page's events are still sent.
 */
export function webStore(open: () => Storage): Store | undefined {
  try {
    const ws = open()
    ws.length // throws where storage is blocked (sandboxed frames, disabled cookies)
    const mem = memStore()
    return {
      get: (k) => {
        const v = mem.get(k)
        return v !== undefined ? v : parse(ws.getItem(k))
      },
      set: (k, v) => {
        try {
          ws.setItem(k, JSON.stringify(v))
          mem.del(k)
        } catch {
          mem.set(k, v)
        }
      },
      del: (k) => {
        ws.removeItem(k)
        mem.del(k)
      },
      keys: () => {
        const ks = mem.keys()
        for (let i = 0; i < ws.length; i++) ks.push(ws.key(i)!)
        return ks
      },
    }
  } catch {
    return undefined
  }
}
