//! Wire format and the two ways out: fetch (keepalive, gzip) and sendBeacon.
import { iso } from './util'

/** Give up on a request after this long and retry it (clickgate answers 503 after its delivery timeout). */
export const TIMEOUT = 30000

/** The `POST /v1/batch` body; `sentAt` is stamped per attempt so the gateway can correct clock skew. */
export const body = (events: object[], writeKey: string): string => JSON.stringify({ batch: events, sentAt: iso(), writeKey })

/**
 * POST a batch with fetch. The body is a `text/plain` Blob so the request stays "simple" (no CORS
 * preflight); when gzipped it carries no Content-Encoding header either: the gateway recognises
 * the gzip magic bytes. Resolves to [status, Retry-After, response]; status 0 is a network error.
 */
export async function post(url: string, json: string, gzip: boolean): Promise<[number, string | null, Response?]> {
  try {
    let data: Blob = new Blob([json])
    if (gzip && typeof CompressionStream == 'function')
      data = await new Response(data.stream().pipeThrough(new CompressionStream('gzip'))).blob()
    const res = await fetch(url, {
      method: 'POST',
      body: new Blob([data], { type: 'text/plain' }),
      // keepalive lets the request outlive the page, but only for bodies under 64 KB
      keepalive: data.size < 60000,
      // a gateway that never answers must not hold the batch forever (the lease is renewed meanwhile)
      signal: AbortSignal.timeout && AbortSignal.timeout(TIMEOUT),
    })
    return [res.status, res.headers.get('Retry-After'), res]
  } catch {
    return [0, null]
  }
}

/** Queue a batch with sendBeacon; true when the browser accepted it. Never gzipped: it must be synchronous. */
export function beacon(url: string, json: string): boolean {
  try {
    return navigator.sendBeacon(url, new Blob([json], { type: 'text/plain' }))
  } catch {
    return false
  }
}
