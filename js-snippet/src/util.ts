//! Small helpers shared by the modules: ids, clock, JSON.

/** A random (version 4) UUID; getRandomValues works on plain http pages where randomUUID does not. */
export function uuid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16))
  b[6] = (b[6] & 15) | 64
  b[8] = (b[8] & 63) | 128
  let s = ''
  for (let i = 0; i < 16; i++) s += (i > 3 && i < 11 && !(i & 1) ? '-' : '') + (b[i] + 256).toString(16).slice(1)
  return s
}

export const now = (): number => Date.now()

export const iso = (t = now()): string => new Date(t).toISOString()

export function parse(s: string | null | undefined): any {
  try {
    return s == null ? undefined : JSON.parse(s)
  } catch {
    return undefined
  }
}
