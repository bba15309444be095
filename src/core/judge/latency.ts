/**
 * @module
 * The latency guard: one quantile of the two cohorts compared within the same
 * window (quantiles of different windows cannot be merged), a regression only
 * after `consecutive` regressed windows.
 */
import { type Finding, type Numbers, finiteOrNull, fix } from './numbers.ts'
import type { JudgeConfig } from './schema.ts'
import type { JudgeState, WindowStats } from './state.ts'

export interface LatencyResult extends Finding {
  streak: number
  /** Both cohorts had enough requests but a quantile was absent: the canary cannot be called healthy. */
  missing: boolean
}

export function latencyGuard(base: JudgeState, w: WindowStats, cfg: JudgeConfig, numbers: Numbers): LatencyResult {
  const lat = cfg.latency
  let streak = base.latencyStreak
  if (!lat.enabled) return { alarm: null, notes: [], streak: 0, missing: false }
  const { stable, canary } = w
  const q = lat.quantile
  const ls = stable.latencyMs?.[q]
  const lc = canary.latencyMs?.[q]
  numbers.latencyMaxRatio = lat.maxRatio
  numbers.latencyMinDeltaMs = lat.minDeltaMs
  numbers.latencyConsecutive = lat.consecutive
  numbers.latencyStable = ls ?? null
  numbers.latencyCanary = lc ?? null
  let note: string
  let missing = false
  let judged = false
  if (stable.requests < lat.minRequests || canary.requests < lat.minRequests) {
    // Too few requests for a quantile to mean anything: neither confirm nor clear a streak.
    note = `latency not judged: needs ${lat.minRequests} requests per cohort (stable ${stable.requests}, canary ${canary.requests})`
  } else if (ls === undefined || lc === undefined) {
    missing = true
    note = `latency ${q} is missing for ${ls === undefined ? 'stable' : 'canary'} despite enough requests`
  } else {
    judged = true
    const ratio = ls > 0 ? lc / ls : lc > 0 ? Infinity : 1
    const delta = lc - ls
    numbers.latencyRatio = finiteOrNull(ratio)
    numbers.latencyDeltaMs = delta
    const regressed = ratio > lat.maxRatio && delta > lat.minDeltaMs
    streak = regressed ? streak + 1 : 0
    const shape = `${Number.isFinite(ratio) ? `${fix(ratio)}x` : 'stable 0 ms'}, ${delta >= 0 ? '+' : ''}${fix(delta, 0)} ms`
    note = `latency ${q}: canary ${fix(lc, 0)} ms vs stable ${fix(ls, 0)} ms (${shape})`
    if (regressed) note += `, regressed ${streak} of ${lat.consecutive} windows in a row`
  }
  numbers.latencyStreak = streak
  // A confirmed regression stays confirmed until a judged window clears it, like the error evidence.
  if (streak >= lat.consecutive) {
    return { alarm: judged ? note : `latency ${q} regressed in ${streak} judged windows in a row; ${note}`, notes: [], streak, missing }
  }
  return { alarm: null, notes: [note], streak, missing }
}
