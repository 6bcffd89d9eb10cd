/** Retry-After (seconds or an HTTP date) in milliseconds from `t`; 0 when absent or unparseable. */
export declare function retryAfter(h: string | null | undefined, t: number): number;
/** Exponential backoff with "equal jitter": half the step fixed, half random; never sooner than `min`. */
export declare function backoff(attempt: number, base: number, cap: number, rnd: number, min?: number): number;
/**
 * What to do after a send: 0 = done (2xx, or a 4xx other than 429: never retried),
 * otherwise the delay in ms before the next attempt (network error = status 0, 429, 5xx).
 */
export declare function verdict(status: number, ra: string | null | undefined, attempt: number, base: number, cap: number, rnd: number, t: number): number;
