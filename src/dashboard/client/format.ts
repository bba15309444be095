/**
 * @module
 * Numbers, percentages, times and durations as the dashboard shows them.
 * One part of the dashboard's browser code: see `index.ts` for the rules it keeps.
 */
import type { CohortPoint } from '../../contract/index.ts'

/** At most `digits` decimals, no trailing zeros; a dash for no number. */
export function num(n: unknown, digits = 2): string {
  return typeof n === 'number' && Number.isFinite(n) ? String(Number(n.toFixed(digits))) : '—'
}

export function pct(n: unknown, digits = 2): string {
  const v = num(n, digits)
  return v === '—' ? v : `${v} %`
}

export function ratio(c: CohortPoint): number | null {
  return c.requests > 0 ? c.errors / c.requests : null
}

/** The share of a cohort's page views that had a JavaScript error; null without page views (or without beacons). */
export function pageViewRatio(c: CohortPoint): number | null {
  return typeof c.pageViews === 'number' && c.pageViews > 0 && typeof c.pageViewErrors === 'number' ? c.pageViewErrors / c.pageViews : null
}

export function pad2(n: number): string {
  return String(n).padStart(2, '0')
}

/** Local wall-clock time: operators read times against their own clock. */
export function clock(ms: number, seconds = false): string {
  const d = new Date(ms)
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}${seconds ? `:${pad2(d.getSeconds())}` : ''}`
}

/** A time from the API, ISO string or ms since epoch, as local `YYYY-MM-DD HH:MM:SS`. */
export function stamp(at: unknown): string {
  const ms = typeof at === 'string' ? Date.parse(at) : at
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—'
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${clock(ms, true)}`
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${pad2(s % 60)}s`
  return `${Math.floor(m / 60)}h ${pad2(m % 60)}m`
}

/** One value of a decision's numbers: 4 significant digits, a dash for null. */
export function show(v: unknown): string {
  if (v === null || v === undefined) return '—'
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)))
  if (typeof v === 'string') return v
  return JSON.stringify(v)
}

/** `{ a: { b: 1 } }` -> `[['a.b', '1']]`, so nested numbers read as one flat list. */
export function flatten(v: unknown, prefix = '', out: [string, string][] = [], depth = 0): [string, string][] {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth < 4) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out, depth + 1)
  } else out.push([prefix || 'value', show(v)])
  return out
}
