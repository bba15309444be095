/**
 * @module
 * Structured logs that cannot flood: each event logs at most once a minute per
 * isolate, however many requests hit the same fault. Both workers log this way.
 */
const WINDOW_MS = 60_000
const lastLogged = new Map<string, number>()

export function logOnce(event: string, fields: Record<string, unknown>, now = Date.now()): void {
  const last = lastLogged.get(event)
  if (last !== undefined && now - last < WINDOW_MS) return
  lastLogged.set(event, now)
  console.error(JSON.stringify({ level: 'error', component: 'sluice', event, ...fields }))
}
