//! ESM entry for bundlers: one shared tracker; `createTracker` for more. Safe to import during SSR.
import { createTracker } from './tracker'

export { createTracker }
export { VERSION } from './context'
export type { Campaign, Consent, Options, Props, Session, Stats, TrackedEvent, Tracker } from './types'

const tracker = createTracker()

export const { init, track, page, identify, reset, optOut, optIn, consent, flush, stats } = tracker
export default tracker
