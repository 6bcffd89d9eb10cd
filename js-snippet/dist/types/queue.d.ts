import type { Store } from './store';
export interface Meta {
    /** owner tab */
    o: string;
    /** lease expiry (ms) */
    l: number;
    /** not before (ms): next attempt */
    n: number;
    /** attempts made */
    a: number;
    /** created (ms) */
    t: number;
    /** events in the batch */
    c: number;
    /** bytes of the events */
    b: number;
    /** last failure was a network error (retry at once when the browser comes online) */
    w?: number;
}
export interface QueueOptions {
    flushAt: number;
    flushInterval: number;
    maxBytes: number;
    maxQueue: number;
}
export declare const LEASE = 20000;
export declare const CLAIM_WAIT = 300;
export type Queue = ReturnType<typeof createQueue>;
export declare function createQueue(st: Store, me: string, o: QueueOptions): {
    /** Append an event to the open batch; true when a batch was sealed and should be sent soon. */
    add(ev: object): boolean;
    /** Seal the open batch when it is old enough (or always, with `force`). */
    seal(force?: boolean): void;
    /** Batches this tab may send now, oldest first: [id, events, meta]. */
    due(): [string, object[], Meta][];
    /** Mark a batch as in flight and renew its lease so no other tab adopts it meanwhile. */
    take(id: string, m: Meta): void;
    /** A send finished: delay 0 removes the batch, otherwise it is retried after `delay` ms. */
    done(id: string, delay: number, net?: boolean): void;
    /** Renew the leases that are half used up. */
    renew(): void;
    /** Claim batches whose lease expired; they become ours if our claim is still there a moment later. */
    adopt(): void;
    /** Give up the leases of idle batches (page going away) so the next page adopts them at once. */
    release(): void;
    /** Back online: retry batches that failed on the network now. */
    wake(): void;
    /** Drop every batch this tab can see (consent denied). */
    clear(): void;
    stats(): {
        queued: number;
        dropped: number;
    };
};
