//! What the browser knows about the page and the device, in the event's `context`.

declare const __VERSION__: string
export const VERSION: string = typeof __VERSION__ == 'string' ? __VERSION__ : 'dev'

/** Page, screen, locale, time zone and library; session and campaign are added by the tracker. */
export function pageContext(referrer: string) {
  const l = location
  let timezone: string | undefined
  try {
    timezone = Intl.DateTimeFormat().resolvedOptions().timeZone
  } catch {}
  return {
    page: { url: l.href, path: l.pathname, search: l.search, title: document.title, referrer },
    screen: { width: screen.width, height: screen.height, density: devicePixelRatio },
    viewport: { width: innerWidth, height: innerHeight },
    locale: navigator.language,
    timezone,
    library: { name: 'clickgate.js', version: VERSION },
  }
}
