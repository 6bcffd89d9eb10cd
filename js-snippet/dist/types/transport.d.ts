/** Give up on a request after this long and retry it (clickgate answers 503 after its delivery timeout). */
export declare const TIMEOUT = 30000;
/** The `POST /v1/batch` body; `sentAt` is stamped per attempt so the gateway can correct clock skew. */
export declare const body: (events: object[], writeKey: string) => string;
/**
 * POST a batch with fetch. The body is a `text/plain` Blob so the request stays "simple" (no CORS
 * preflight); when gzipped it carries no Content-Encoding header either: the gateway recognises
 * the gzip magic bytes. Resolves to [status, Retry-After, response]; status 0 is a network error.
 */
export declare function post(url: string, json: string, gzip: boolean): Promise<[number, string | null, Response?]>;
/** Queue a batch with sendBeacon; true when the browser accepted it. Never gzipped: it must be synchronous. */
export declare function beacon(url: string, json: string): boolean;
