import type { Tracker } from './types';
/** A tracker bound to the global window. `host` is the default gateway origin. */
export declare function createTracker(host?: string): Tracker;
