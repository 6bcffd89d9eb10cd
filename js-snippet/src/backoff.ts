//! Retry policy: which responses are retried and how long to wait.

/** Retry-After (seconds or an HTTP date) in milliseconds from `t`; 0 when absent or unparseable. */
export function retryAfter(h: string | null | undefined, t: number): number {
  if (!h) return 0
  const s = +h
  if (s >= 0) return s * 1000
  const d = Date.parse(h)
  return d > t ? d - t : 0
}

/** Exponential backoff with "equal jitter": half the step fixed, half random; never sooner than `min`. */
export function backoff(attempt: number, base: number, cap: number, rnd: number, min = 0): number {
  const d = Math.min(cap, base * 2 ** attempt)
  return Math.max(min, d / 2 + (rnd * d) / 2)
}

/**
 * What to do after a send: 0 = done (2xx, or a 4xx other than 429: never retried),
 * otherwise the delay in ms before the next attempt (network error = status 0, 429, 5xx).
 */
export function verdict(status: number, ra: string | null | undefined, attempt: number, base: number, cap: number, rnd: number, t: number): number {
  if (status && status != 429 && status < 500) return 0
  return backoff(attempt, base, cap, rnd, retryAfter(ra, t))
}
