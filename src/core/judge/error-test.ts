/**
 * @module
 * The error test: a mixture sequential probability ratio test on the canary's
 * share of failures, conditioned on each window's total failures and its split
 * of units (see `judge` for the statistics, `units.ts` for what a unit is).
 */
import { type Finding, type Numbers, fix } from './numbers.ts'
import type { JudgeConfig } from './schema.ts'
import { type JudgeState, type ThetaEvidence, type WindowStats, unitTotals } from './state.ts'
import { logWeightedSumExp, windowLogLR } from './stats.ts'
import { type Units, describeUnits, testUnits } from './units.ts'

function mixtureOf(evidence: readonly ThetaEvidence[], cfg: Pick<JudgeConfig, 'mixture'>) {
  const weights = cfg.mixture.weights ?? cfg.mixture.thetas.map(() => 1)
  let total = 0
  for (const w of weights) total += w
  const logs = evidence.map((e) => e.logLR)
  const logMixture = logWeightedSumExp(
    logs,
    weights.map((w) => w / total),
  )
  let best = 0
  for (let i = 1; i < logs.length; i++) if (logs[i]! > logs[best]!) best = i
  return { logMixture, bestTheta: evidence[best]?.theta ?? null, bestLogLR: logs[best] ?? null }
}

/** Every theta's log LR after one window of units. A theta new to the grid starts at 0 (LR 1). */
export function stepThetas(before: readonly ThetaEvidence[], stable: Units, canary: Units, thetas: readonly number[]): ThetaEvidence[] {
  const n = stable.n + canary.n
  // A window where one cohort had no units or nothing failed says nothing about the share (LR = 1).
  const informative = stable.n > 0 && canary.n > 0 && stable.failed + canary.failed > 0
  const pi = n > 0 ? canary.n / n : 0
  return thetas.map((theta) => {
    const prior = before.find((e) => e.theta === theta)?.logLR ?? 0
    return { theta, logLR: informative ? prior + windowLogLR(theta, pi, canary.failed, stable.failed) : prior }
  })
}

/** Updates every theta's log LR with one window. */
export const updateEvidence = (base: JudgeState, w: WindowStats, cfg: JudgeConfig): ThetaEvidence[] =>
  stepThetas(base.evidence, testUnits(w.stable, cfg.errorUnit), testUnits(w.canary, cfg.errorUnit), cfg.mixture.thetas)

/** The mixture's evidence against log(1/alpha), and the sentence that says so. */
export function mixtureTest(evidence: readonly ThetaEvidence[], cfg: Pick<JudgeConfig, 'mixture'>, alpha: number) {
  const m = mixtureOf(evidence, cfg)
  const logThreshold = Math.log(1 / alpha)
  const significant = m.logMixture >= logThreshold
  return { ...m, logThreshold, significant, test: `log mixture LR ${fix(m.logMixture)} ${significant ? '≥' : '<'} log(1/α) = ${fix(logThreshold)}` }
}

/** The window's units added to the running totals. */
export function addUnits(base: JudgeState, w: WindowStats, cfg: JudgeConfig): NonNullable<JudgeState['units']> {
  const before = unitTotals(base)
  const add = (t: { requests: number; errors: number }, c: WindowStats['stable']) => {
    const u = testUnits(c, cfg.errorUnit)
    return { requests: t.requests + u.n, errors: t.errors + u.failed }
  }
  return { stable: add(before.stable, w.stable), canary: add(before.canary, w.canary) }
}

export function errorTest(state: JudgeState, cfg: JudgeConfig, numbers: Numbers): Finding {
  const t = mixtureTest(state.evidence, cfg, cfg.alpha)
  const { stable, canary } = unitTotals(state)
  numbers.logMixtureLR = t.logMixture
  numbers.bestTheta = t.bestTheta
  numbers.bestLogLR = t.bestLogLR
  numbers.canaryErrorShare = stable.errors + canary.errors > 0 ? canary.errors / (stable.errors + canary.errors) : null
  numbers.canaryRequestShare = stable.requests + canary.requests > 0 ? canary.requests / (stable.requests + canary.requests) : null
  const counts = describeUnits(cfg.errorUnit, canary, stable)
  if (!t.significant) return { alarm: null, notes: [`error test: ${t.test} (${counts})`] }
  if (canary.errors < cfg.minErrors) {
    const few = `the canary has only ${canary.errors} of ${cfg.minErrors} errors${cfg.errorUnit === 'request' ? '' : ' (one per client)'} required to act`
    return { alarm: null, notes: [`error test: ${t.test}, but ${few}`] }
  }
  return { alarm: `canary errors are disproportionate: ${t.test}, most likely ${t.bestTheta}x stable's rate (${counts})`, notes: [] }
}
