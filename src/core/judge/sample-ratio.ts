/**
 * @module
 * The sample-ratio check: the canary's share of requests against the weight
 * (in client mode each client's requests count up to SRM_CLIENT_CAP, so one
 * client flooding a cohort cannot fake a mismatch).
 * A mismatch means bucketing, cookies or metrics are broken, so no comparison
 * can be trusted: pause rather than judge bad data.
 */
import { type Finding, type Numbers, finiteOrNull, pct, sci } from './numbers.ts'
import type { JudgeConfig } from './schema.ts'
import type { JudgeContext, WindowStats } from './state.ts'
import { binomialTestTwoSided } from './stats.ts'
import { splitRequests } from './units.ts'

export function sampleRatio(w: WindowStats, cfg: JudgeConfig, ctx: JudgeContext, numbers: Numbers): Finding {
  const k = splitRequests(w.canary, cfg.errorUnit)
  const n = splitRequests(w.stable, cfg.errorUnit) + k
  const expected = ctx.weight / 100
  numbers.srmAlpha = cfg.srmAlpha
  if (ctx.checkSplit === false || !(expected > 0 && expected < 1) || n < cfg.srmMinRequests) return { alarm: null, notes: [] }
  if (ctx.weightSettled === false) return { alarm: null, notes: ['sample ratio not checked: the new weight may still be reaching the edge'] }
  const observed = k / n
  const pValue = binomialTestTwoSided(k, n, expected)
  const deviation = Math.abs(observed - expected) / Math.min(expected, 1 - expected)
  numbers.srmExpectedShare = expected
  numbers.srmObservedShare = observed
  // Finite-or-null: a denormal weight would make these overflow, and numbers must stay JSON.
  numbers.srmChiSquare = finiteOrNull((k - n * expected) ** 2 / (n * expected * (1 - expected)))
  numbers.srmPValue = pValue
  numbers.srmDeviation = finiteOrNull(deviation)
  if (pValue >= cfg.srmAlpha || deviation <= cfg.srmTolerance) return { alarm: null, notes: [] }
  const significance = `p = ${sci(pValue)} < ${sci(cfg.srmAlpha)}`
  const mismatch = `canary got ${pct(observed)} of ${n} requests but the weight is ${pct(expected)} (${significance})`
  return { alarm: `sample ratio mismatch: ${mismatch}; bucketing, cookies or metrics may be broken`, notes: [] }
}
