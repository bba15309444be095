/**
 * @module
 * The canary judge: turns one window of per-cohort request/error/latency
 * counts, plus the evidence accumulated so far, into a verdict for the
 * controller (rollback, pause, healthy or hold) with the numbers behind it.
 *
 * Four checks, in order of precedence (one file each):
 *
 * 1. Error test (rollback, error-test.ts). A mixture sequential probability
 *    ratio test on the canary's share of failures, conditioned on each window's
 *    total failures and its split of units: fresh clients by default, so one
 *    client can add at most one failure per release (units.ts). The controller looks every minute, and a repeated
 *    fixed-sample test would roll back healthy canaries most of the time over
 *    an hour (peeking); this test's false-rollback probability is at most
 *    alpha however often it is looked at (Ville's inequality).
 * 2. Absolute guardrail (rollback, guardrail.ts) on the canary's window failure rate.
 * 3. Latency guard (rollback, latency.ts) on a quantile ratio in consecutive windows.
 * 4. Sample-ratio mismatch (pause, sample-ratio.ts): the canary's share of requests does not
 *    match the weight, so bucketing, cookies or metrics are broken and no
 *    comparison can be trusted.
 *
 * Pure and deterministic: no clock, no I/O; the state is plain JSON.
 */
import { addUnits, errorTest, updateEvidence } from './error-test.ts'
import { guardrail } from './guardrail.ts'
import { inputProblem } from './input.ts'
import { latencyGuard } from './latency.ts'
import { type Numbers, emptyNumbers, fillTotals, rate } from './numbers.ts'
import { sampleRatio } from './sample-ratio.ts'
import type { JudgeConfig } from './schema.ts'
import { type JudgeContext, type JudgeState, type Verdict, type VerdictKind, type WindowStats, initialJudgeState, isJudgeState } from './state.ts'

export type { ClientCounts, CohortCounts, CohortTotals, Judge, JudgeContext, JudgeState, ThetaEvidence, Verdict, VerdictKind, WindowStats } from './state.ts'
export { initialJudgeState, isJudgeState } from './state.ts'

/**
 * Judges one window. Never throws: invalid input yields `hold` with the reason
 * and leaves the evidence untouched.
 *
 * Notes on the statistics:
 *
 * - Error test. Given a window's total failures E and the observed split of
 *   units π = canary/(canary + stable) (fresh clients by default, see units.ts;
 *   requests with `errorUnit: "request"`), under H0 (equal failure rates) the
 *   canary's failures are Binomial(E, π) (exactly for Poisson counts; for binomial counts
 *   they are hypergeometric, which is less spread out, so every likelihood
 *   ratio below is still a supermartingale). If the canary's rate is θ times
 *   stable's, each error is the canary's with probability θπ/(θπ + 1 − π).
 *   The product of per-window LRs for a fixed θ > 1 is a nonnegative martingale
 *   under H0 and a supermartingale when the canary is better (its expected
 *   per-error factor is increasing in the canary's true share), and so is any
 *   fixed-weight mixture of them; by Ville's inequality it ever reaches 1/alpha
 *   with probability at most alpha. Conditioning on E is what makes a site-wide
 *   incident harmless (it raises E, not the canary's share) and using each
 *   window's observed split keeps the test valid as the weight steps.
 *   We use a discrete grid of θ rather than a conjugate prior because π changes
 *   from window to window: a Beta prior on the canary's per-error share is only
 *   conjugate while π is fixed, and a prior on θ has no closed form.
 * - Guardrail. Tested per window (the current canary, not its history) with an
 *   exact binomial test at level alpha, i.e. the Clopper-Pearson lower bound
 *   must exceed the limit: with 1 error in 3 requests nothing happens. Unlike
 *   the error test it is not corrected for repeated looks, so a canary sitting
 *   right at the limit will eventually trip it; one well below it never does.
 * - Latency. Quantiles of different windows cannot be merged, so the guard
 *   compares cohorts within a window and needs `consecutive` regressed windows.
 *
 * Precedence: rollback (any of the three) > pause (SRM) > hold > healthy.
 * Rollback beats pause because rolling back is the safe state either way.
 */
export function judge(prev: JudgeState, window: WindowStats, cfg: JudgeConfig, ctx: JudgeContext): Verdict {
  const notes: string[] = []
  const numbers = emptyNumbers()
  let base = prev
  if (!isJudgeState(prev)) {
    notes.push('the stored judge state was invalid, so the evidence starts afresh')
    base = initialJudgeState()
  }
  numbers.alpha = cfg.alpha
  numbers.logThreshold = Math.log(1 / cfg.alpha)
  numbers.minRequests = cfg.minRequests
  numbers.minErrors = cfg.minErrors

  const problem = inputProblem(window, ctx, cfg.errorUnit)
  if (problem !== null) return reject(base, `input rejected: ${problem}; evidence unchanged`, notes, numbers)
  if (base.lastEnd !== null && window.start < base.lastEnd) {
    return reject(base, `window starting at ${window.start} overlaps data counted up to ${base.lastEnd}; ignored`, notes, numbers)
  }

  const { stable, canary } = window
  numbers.weight = ctx.weight
  numbers.windowStableRequests = stable.requests
  numbers.windowStableErrors = stable.errors
  numbers.windowCanaryRequests = canary.requests
  numbers.windowCanaryErrors = canary.errors
  numbers.windowStableErrorRate = rate(stable.errors, stable.requests)
  numbers.windowCanaryErrorRate = rate(canary.errors, canary.requests)
  numbers.windowStableClients = stable.clients?.seen ?? null
  numbers.windowStableFailingClients = stable.clients?.failing ?? null
  numbers.windowCanaryClients = canary.clients?.seen ?? null
  numbers.windowCanaryFailingClients = canary.clients?.failing ?? null

  const latency = latencyGuard(base, window, cfg, numbers)
  const state: JudgeState = {
    version: 1,
    windows: base.windows + 1,
    rejected: base.rejected,
    lastEnd: window.end,
    stable: { requests: base.stable.requests + stable.requests, errors: base.stable.errors + stable.errors },
    canary: { requests: base.canary.requests + canary.requests, errors: base.canary.errors + canary.errors },
    units: addUnits(base, window, cfg),
    evidence: updateEvidence(base, window, cfg),
    latencyStreak: latency.streak,
  }
  fillTotals(numbers, state)

  const errors = errorTest(state, cfg, numbers)
  const guard = guardrail(window, cfg, numbers)
  const srm = sampleRatio(window, cfg, ctx, numbers)
  notes.push(...errors.notes, ...guard.notes, ...latency.notes)
  const rollbacks = [errors.alarm, guard.alarm, latency.alarm].filter((r) => r !== null)
  const verdict = (kind: VerdictKind, ...first: string[]): Verdict => ({ verdict: kind, reasons: [...first, ...notes], numbers, state })

  if (rollbacks.length > 0) return verdict('rollback', ...rollbacks, ...(srm.alarm === null ? [] : [srm.alarm]))
  if (srm.alarm !== null) return verdict('pause', srm.alarm)
  if (stable.requests + canary.requests === 0) return verdict('hold', 'empty window: no requests in either cohort')
  const short: string[] = []
  if (state.stable.requests < cfg.minRequests) short.push(`stable ${state.stable.requests}`)
  if (state.canary.requests < cfg.minRequests) short.push(`canary ${state.canary.requests}`)
  if (short.length > 0) return verdict('hold', `not enough data: ${short.join(', ')} of ${cfg.minRequests} requests needed per cohort`)
  if (latency.missing) return verdict('hold', 'cannot call the canary healthy without its latency')
  if (latency.streak > 0) return verdict('hold', 'latency regression pending confirmation')
  return verdict('healthy', 'enough data and no alarm')
}

function reject(base: JudgeState, why: string, notes: string[], numbers: Numbers): Verdict {
  const state = { ...base, rejected: base.rejected + 1 }
  fillTotals(numbers, state)
  return { verdict: 'hold', reasons: [why, ...notes], numbers, state }
}
