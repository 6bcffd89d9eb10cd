//! IIFE entry for `<script async>`: installs `window.clickgate`, replays calls queued by the loader
//! stub, and initialises itself from `data-write-key` / `data-host` on its script tag.
import { createTracker } from './tracker'

const w = window as any
const stub = w.clickgate
if (!stub || stub.q) {
  const script = document.currentScript as HTMLScriptElement | null
  const t = createTracker(script && script.src ? new URL(script.src).origin : '')
  w.clickgate = t
  if (stub) for (const [m, a] of stub.q) (t as any)[m] && (t as any)[m](...a)
  const d = script && script.dataset
  if (d && d.writeKey) t.init({ writeKey: d.writeKey, host: d.host })
}
