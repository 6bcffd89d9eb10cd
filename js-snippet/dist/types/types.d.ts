/** `pending` buffers events in memory and stores nothing; `denied` drops events and wipes stored data. */
export type Consent = 'pending' | 'granted' | 'denied';
export type Props = Record<string, unknown>;
export interface Options {
    /** Browser write key of a clickgate `browser` source. */
    writeKey: string;
    /** Gateway origin, e.g. `https://collect.example.com`. Default: the origin the script was loaded from (IIFE) or the page's (ESM). */
    host?: string;
    /** Batch endpoint path. Default `/v1/batch`. */
    path?: string;
    /** Initial consent state. Default `granted`. */
    consent?: Consent;
    /** Keep ids and the queue in sessionStorage only; set no cookie. Default false. */
    cookieless?: boolean;
    /** Send a page view when `init` runs. Default true. */
    autoPage?: boolean;
    /** Send page views on pushState, replaceState and popstate. Default true. */
    spa?: boolean;
    /** Count hash changes as navigations (hash routers). Default false. */
    hash?: boolean;
    /** Track clicks on outbound links (`Link Clicked`). Elements with `data-cg-event` are always tracked. Default false. */
    clicks?: boolean;
    /** Events per batch. Default 20. */
    flushAt?: number;
    /** Milliseconds a batch may wait for more events. Default 2000. */
    flushInterval?: number;
    /** Upper bound of one batch body in bytes (beacons must stay below 64 KB). Default 32000. */
    maxBytes?: number;
    /** Events kept in the offline queue; the oldest are dropped (and counted) past this. Default 1000. */
    maxQueue?: number;
    /** Inactivity that ends a session, in milliseconds. Default 30 minutes. */
    sessionTimeout?: number;
    /** Cookie domain for the anonymous id cookie, e.g. `.example.com`. Default: the current host. */
    cookieDomain?: string;
    /** Gzip request bodies with CompressionStream where the browser has it. Default true. */
    gzip?: boolean;
    /** Base delay of the retry backoff in milliseconds. Default 1000. */
    retryBase?: number;
    /** Largest backoff delay in milliseconds (Retry-After may ask for more). Default 60000. */
    retryMax?: number;
}
export interface Session {
    id: number;
    index: number;
    start: boolean;
}
export interface Campaign {
    source?: string;
    medium?: string;
    name?: string;
    term?: string;
    content?: string;
}
/** One event as sent in `batch` to `POST /v1/batch` (Segment-compatible). */
export interface TrackedEvent {
    type: 'track' | 'page' | 'identify';
    messageId: string;
    anonymousId: string;
    userId?: string;
    event?: string;
    name?: string;
    properties?: Props;
    traits?: Props;
    timestamp: string;
    context: {
        page: {
            url: string;
            path: string;
            search: string;
            title: string;
            referrer: string;
        };
        campaign?: Campaign;
        session: Session;
        screen: {
            width: number;
            height: number;
            density: number;
        };
        viewport: {
            width: number;
            height: number;
        };
        locale: string;
        timezone: string;
        library: {
            name: 'clickgate.js';
            version: string;
        };
    };
}
export interface Stats {
    /** Events waiting in this tab's view of the queue (stored batches plus the consent buffer). */
    queued: number;
    /** Events dropped because the queue was full. */
    dropped: number;
    /** Events the gateway rejected (final, never retried). */
    rejected: number;
}
export interface Tracker {
    init(options: Options): void;
    track(event: string, properties?: Props): void;
    page(name?: string | Props, properties?: Props): void;
    identify(userId?: string | Props, traits?: Props): void;
    reset(): void;
    optOut(): void;
    optIn(): void;
    consent(state: Consent): void;
    /** Send everything that is due now (and seal the open batch). */
    flush(): void;
    stats(): Stats | undefined;
}
