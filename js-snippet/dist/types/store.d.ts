export interface Store {
    get(k: string): any;
    set(k: string, v: unknown): void;
    del(k: string): void;
    keys(): string[];
}
/** A store that lives and dies with the page. Values are copied through JSON like Web Storage does. */
export declare function memStore(): Store;
/**
 * Web Storage, or undefined when it is unavailable (blocked, sandboxed). A write that fails
 * (quota, Safari private mode) lands in a memory overlay so the page's events are still sent.
 */
export declare function webStore(open: () => Storage): Store | undefined;
