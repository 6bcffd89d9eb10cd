//! Sessions: a new one after the inactivity timeout, numbered per visitor; campaign kept per session.
import type { Campaign } from './types'

/** Stored session record: id (start time), index, last activity, campaign. */
export interface SessionRec {
  id: number
  i: number
  t: number
  c?: Campaign
}

/** Touch the session at time `t`; returns the updated record and whether this event starts a session. */
export function touch(s: SessionRec | undefined, t: number, timeout: number): [SessionRec, boolean] {
  if (!s || !(t - s.t <= timeout)) return [{ id: t, i: (s ? s.i : 0) + 1, t }, true]
  return [{ ...s, t }, false]
}

const UTM: Record<string, keyof Campaign> = {
  utm_source: 'source',
  utm_medium: 'medium',
  utm_campaign: 'name',
  utm_term: 'term',
  utm_content: 'content',
}

/** utm_* parameters of a query string as a campaign, or undefined when there are none. */
export function campaign(search: string): Campaign | undefined {
  let c: Campaign | undefined
  new URLSearchParams(search).forEach((v, k) => {
    if (UTM[k]) (c = c || {})[UTM[k]] = v
  })
  return c
}
