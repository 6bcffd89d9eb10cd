import type { Campaign } from './types';
/** Stored session record: id (start time), index, last activity, campaign. */
export interface SessionRec {
    id: number;
    i: number;
    t: number;
    c?: Campaign;
}
/** Touch the session at time `t`; returns the updated record and whether this event starts a session. */
export declare function touch(s: SessionRec | undefined, t: number, timeout: number): [SessionRec, boolean];
/** utm_* parameters of a query string as a campaign, or undefined when there are none. */
export declare function campaign(search: string): Campaign | undefined;
