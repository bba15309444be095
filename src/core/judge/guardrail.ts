/**
 * @module
 * The absolute guardrail: the canary's failure rate in one window (per request,
 * each client's failures counted once; see units.ts), whatever its history, when its exact lower
 * confidence bound is above `judge.maxCanaryErrorRate` and stable is clearly
 * below the limit (otherwise the site is failing, and the relative error test
 * is the one to judge).
 */
import { type Finding, type Numbers, pct } from './numbers.ts'
import type { JudgeConfig } from './schema.ts'
import type { WindowStats } from './state.ts'
import { binomialCdf, binomialSf, clopperPearsonLower } from './stats.ts'
import { guardUnits } from './units.ts'

export function guardrail(w: WindowStats, cfg: JudgeConfig, numbers: Numbers): Finding {
  const stable = guardUnits(w.stable, cfg.errorUnit)
  const canary = guardUnits(w.canary, cfg.errorUnit)
  const limit = cfg.maxCanaryErrorRate
  numbers.guardrailLimit = limit
  if (canary.n < cfg.guardrailMinRequests) return { alarm: null, notes: [] }
  const pValue = binomialSf(canary.failed, canary.n, limit)
  numbers.guardrailPValue = pValue
  if (pValue >= cfg.alpha) return { alarm: null, notes: [] }
  const lower = clopperPearsonLower(canary.failed, canary.n, cfg.alpha)
  numbers.canaryErrorRateLower = lower
  const canaryRate = canary.failed / canary.n
  const stableRate = stable.n >= cfg.guardrailMinRequests ? stable.failed / stable.n : null
  // Unless stable is significantly below the limit, the site may be failing, not the canary: stand aside and let the
  // relative test judge. (Comparing stable's observed rate with the limit would let an incident at the limit through
  // whenever stable happened to dip below it: measured 3.9 % false rollbacks in a 5 % incident, 0.3 % this way.)
  if (stableRate !== null && binomialCdf(stable.failed, stable.n, limit) >= cfg.alpha) {
    const both = `canary at ${pct(canaryRate)} but stable, at ${pct(stableRate)}, is not clearly below the ${pct(limit)} limit`
    return { alarm: null, notes: [`guardrail not applied: ${both} (site-wide incident?)`] }
  }
  const of = cfg.errorUnit === 'request' ? '' : ' failing clients per request'
  const observed = `${pct(canaryRate)} (${canary.failed}/${canary.n}${of}, ${pct(1 - cfg.alpha)} lower bound ${pct(lower)})`
  return { alarm: `canary error rate ${observed} exceeds the ${pct(limit)} guardrail`, notes: [] }
}
