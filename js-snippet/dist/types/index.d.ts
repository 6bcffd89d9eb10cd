import { createTracker } from './tracker';
export { createTracker };
export { VERSION } from './context';
export type { Campaign, Consent, Options, Props, Session, Stats, TrackedEvent, Tracker } from './types';
declare const tracker: import("./types").Tracker;
export declare const init: (options: import("./types").Options) => void, track: (event: string, properties?: import("./types").Props) => void, page: (name?: string | import("./types").Props, properties?: import("./types").Props) => void, identify: (userId?: string | import("./types").Props, traits?: import("./types").Props) => void, reset: () => void, optOut: () => void, optIn: () => void, consent: (state: import("./types").Consent) => void, flush: () => void, stats: () => import("./types").Stats | undefined;
export default tracker;
