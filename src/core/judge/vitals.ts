/**
 * @module
 * The Web Vitals guard: each vital's p75, canary against stable over one
 * span, a regression only when the ratio and the margin are both exceeded, and
 * only after `consecutive` regressed spans. A span is the windows since the
 * vital was last compared: it grows until both cohorts have `minPageViews`
 * page views with the vital (at most MAX_SPAN_MS), is compared, and the next
 * one begins, so spans never overlap (quantiles cannot be merged, so each is
 * read whole from the metrics). A vital needs `minPageViews` per cohort within
 * an hour to be compared at all.
 */
import { type Numbers, finiteOrNull, fix } from './numbers.ts'
import type { RumJudge } from './schema.ts'
import { VITALS, type Vital, vitalRating as rating } from './vital-rating.ts'

export interface VitalSummary {
  /** The 75th percentile of the vital over the window's page views that reported it. */
  p75: number
  /** …how many did. */
  n: number
}

export type VitalsSummary = Partial<Record<Vital, VitalSummary>>
export type VitalStreaks = Record<Vital, number>

export const noStreaks = (): VitalStreaks => ({ lcp: 0, inp: 0, cls: 0 })

/**
 * The longest span. A vital without enough page views in an hour is not compared: the span ends undecided and counts
 * towards the wait for compared spans, so a quiet rollout waits hours at most, never for ever.
 */
export const MAX_SPAN_MS = 60 * 60_000

const UNIT: Record<Vital, string> = { lcp: ' ms', inp: ' ms', cls: '' }
const show = (v: Vital, x: number) => (v === 'cls' ? fix(x, 3) : fix(x, 0)) + UNIT[v]

export interface VitalsResult {
  alarm: string | null
  notes: string[]
  streaks: VitalStreaks
  /** A regression seen but not yet confirmed. */
  pending: boolean
  /** The vitals compared in this span (their next span begins after this window). */
  judged: Vital[]
}

export function vitalsGuard(
  prev: VitalStreaks,
  stable: VitalsSummary | undefined,
  canary: VitalsSummary | undefined,
  cfg: RumJudge['vitals'],
  numbers: Numbers,
): VitalsResult {
  const streaks = { ...prev }
  const notes: string[] = []
  const alarms: string[] = []
  const judgedVitals: Vital[] = []
  if (!cfg.enabled) return { alarm: null, notes, streaks: noStreaks(), pending: false, judged: judgedVitals }
  for (const v of VITALS) {
    const s = stable?.[v]
    const c = canary?.[v]
    numbers[`${v}Stable`] = s?.p75 ?? null
    numbers[`${v}Canary`] = c?.p75 ?? null
    let judged = false
    let note: string
    if (!s || !c || s.n < cfg.minPageViews || c.n < cfg.minPageViews) {
      // Too few page views for a p75 to mean anything: neither confirm nor clear a streak.
      note = `${v.toUpperCase()} not compared yet: its span needs ${cfg.minPageViews} page views with it per cohort (stable ${s?.n ?? 0}, canary ${c?.n ?? 0})`
    } else {
      judged = true
      judgedVitals.push(v)
      const limit = cfg[v]
      const ratio = s.p75 > 0 ? c.p75 / s.p75 : c.p75 > 0 ? Infinity : 1
      const delta = c.p75 - s.p75
      numbers[`${v}Ratio`] = finiteOrNull(ratio)
      const regressed = ratio > limit.maxRatio && delta > limit.minDelta
      streaks[v] = regressed ? streaks[v] + 1 : 0
      const shape = `${Number.isFinite(ratio) ? `${fix(ratio)}x` : 'stable 0'}, ${delta >= 0 ? '+' : '−'}${show(v, Math.abs(delta))}`
      note = `${v.toUpperCase()} p75: canary ${show(v, c.p75)} (${rating(v, c.p75)}) vs stable ${show(v, s.p75)} (${rating(v, s.p75)}), ${shape}`
      if (regressed) note += `, regressed ${streaks[v]} of ${cfg.consecutive} spans in a row`
    }
    numbers[`${v}Streak`] = streaks[v]
    // A confirmed regression stays confirmed until a judged window clears it, as for latency.
    if (streaks[v] >= cfg.consecutive)
      alarms.push(judged ? `Web Vitals regressed: ${note}` : `Web Vitals regressed: ${v.toUpperCase()} in ${streaks[v]} spans in a row`)
    else notes.push(note)
  }
  const pending = VITALS.some((v) => streaks[v] > 0)
  return { alarm: alarms.length ? alarms.join('; ') : null, notes, streaks, pending, judged: judgedVitals }
}
