/**
 * @module
 * The canary judge: turns one window of per-cohort request/error/latency
 * counts, plus the evidence accumulated so far, into a verdict for the
 * controller (rollback, pause, healthy or hold) with the numbers behind it.
 *
 * Four checks, in order of precedence:
 *
 * 1. Error test (rollback). A mixture sequential probability ratio test on the
 *    canary's share of errors, conditioned on each window's total errors and
 *    request split. The controller looks every minute, and a repeated
 *    fixed-sample test would roll back healthy canaries most of the time over
 *    an hour (peeking); this test's false-rollback probability is at most
 *    alpha however often it is looked at (Ville's inequality).
 * 2. Absolute guardrail (rollback) on the canary's window error rate.
 * 3. Latency guard (rollback) on a quantile ratio in consecutive windows.
 * 4. Sample-ratio mismatch (pause): the canary's share of requests does not
 *    match the weight, so bucketing, cookies or metrics are broken and no
 *    comparison can be trusted.
 *
 * Pure and deterministic: no clock, no I/O; the state is plain JSON.
 */
import type { JudgeConfig } from './schema.ts'
import { inputProblem, isCount, isFiniteNumber, isRecord, isWindowLedger } from './input.ts'
import { binomialCdf, binomialSf, binomialTestTwoSided, clopperPearsonLower, logWeightedSumExp, windowLogLR } from './stats.ts'

export interface CohortCounts {
  requests: number
  errors: number
  latencyMs?: { p50?: number; p95?: number; p99?: number }
}

/** One new, disjoint window of data (the controller never passes the same minute twice). */
export interface WindowStats {
  start: number
  end: number
  stable: CohortCounts
  canary: CohortCounts
}

/** What the controller knows about the window besides the metrics. */
export interface JudgeContext {
  /** Configured canary percent (0-100) during this window. */
  weight: number
  /**
   * False while the edge may still be serving the previous weight (a weight
   * change takes up to ~70 s to reach every isolate): the sample-ratio check
   * is then skipped. The error test is unaffected, as it uses the observed split.
   */
  weightSettled?: boolean
}

/** Cumulative requests and errors of one cohort over all accepted windows. */
export interface CohortTotals {
  requests: number
  errors: number
}

/** The running log likelihood ratio of one alternative (relative risk theta) of the mixture. */
export interface ThetaEvidence {
  theta: number
  logLR: number
}

/** JSON-serialisable evidence accumulated across windows; stored by the controller between ticks. */
export interface JudgeState {
  version: 1
  /** Windows accepted (including empty ones). */
  windows: number
  /** Windows rejected as invalid or overlapping; they changed nothing else. */
  rejected: number
  /** End of the last accepted window, so a replayed window is refused rather than counted twice. */
  lastEnd: number | null
  stable: CohortTotals
  canary: CohortTotals
  /**
   * Per-theta log LRs, keyed by theta rather than by position so that a changed
   * grid keeps the evidence of the thetas it still has (a new theta starts at
   * LR 1). Re-weighting the mixture after seeing data weakens the alpha
   * guarantee, so change the mixture between rollouts, not during one.
   */
  evidence: ThetaEvidence[]
  /** Consecutive judged windows with a latency regression. */
  latencyStreak: number
}

export type VerdictKind = 'rollback' | 'pause' | 'healthy' | 'hold'

export interface Verdict<S = JudgeState> {
  /** rollback: canary is worse; pause: data looks broken (SRM); healthy: enough data and no alarm; hold: not enough data / bad input. */
  verdict: VerdictKind
  /** Short human-readable sentences with the numbers. */
  reasons: string[]
  /** Everything behind the decision; null where a number was not computed. */
  numbers: Record<string, number | null>
  /** The updated evidence. */
  state: S
}

/** Any judge with this shape can be swapped into the controller or the simulator. */
export type Judge<S, C> = (prev: S, window: WindowStats, cfg: C, ctx: JudgeContext) => Verdict<S>

export function initialJudgeState(): JudgeState {
  return {
    version: 1,
    windows: 0,
    rejected: 0,
    lastEnd: null,
    stable: { requests: 0, errors: 0 },
    canary: { requests: 0, errors: 0 },
    evidence: [],
    latencyStreak: 0,
  }
}

function isTotals(v: unknown): v is CohortTotals {
  return isRecord(v) && isCount(v.requests) && isCount(v.errors) && v.errors <= v.requests
}

/** Validates state read back from storage; anything else is treated as no state. */
export function isJudgeState(v: unknown): v is JudgeState {
  return (
    isWindowLedger(v) &&
    isTotals(v.stable) &&
    isTotals(v.canary) &&
    Array.isArray(v.evidence) &&
    v.evidence.every((e) => isRecord(e) && isFiniteNumber(e.theta) && e.theta > 1 && isFiniteNumber(e.logLR)) &&
    isCount(v.latencyStreak)
  )
}

const pct = (x: number) => `${Number((x * 100).toPrecision(3))} %`
const fix = (x: number, d = 2) => x.toFixed(d)
const sci = (x: number) => (x < 1e-3 ? x.toExponential(1) : x.toPrecision(2))
const rate = (e: number, n: number) => (n > 0 ? e / n : null)
const finiteOrNull = (x: number) => (Number.isFinite(x) ? x : null)

/** The keys of `numbers`, always all present so consumers (dashboards, logs) see a fixed shape. */
function emptyNumbers(): Record<string, number | null> {
  return {
    weight: null,
    windows: null,
    windowStableRequests: null,
    windowStableErrors: null,
    windowCanaryRequests: null,
    windowCanaryErrors: null,
    windowStableErrorRate: null,
    windowCanaryErrorRate: null,
    stableRequests: null,
    stableErrors: null,
    canaryRequests: null,
    canaryErrors: null,
    stableErrorRate: null,
    canaryErrorRate: null,
    minRequests: null,
    minErrors: null,
    canaryRequestShare: null,
    canaryErrorShare: null,
    logMixtureLR: null,
    logThreshold: null,
    alpha: null,
    bestTheta: null,
    bestLogLR: null,
    guardrailLimit: null,
    guardrailPValue: null,
    canaryErrorRateLower: null,
    latencyStable: null,
    latencyCanary: null,
    latencyRatio: null,
    latencyDeltaMs: null,
    latencyMaxRatio: null,
    latencyMinDeltaMs: null,
    latencyStreak: null,
    latencyConsecutive: null,
    srmExpectedShare: null,
    srmObservedShare: null,
    srmChiSquare: null,
    srmPValue: null,
    srmAlpha: null,
    srmDeviation: null,
  }
}

function fillTotals(numbers: Record<string, number | null>, s: JudgeState) {
  numbers.windows = s.windows
  numbers.stableRequests = s.stable.requests
  numbers.stableErrors = s.stable.errors
  numbers.canaryRequests = s.canary.requests
  numbers.canaryErrors = s.canary.errors
  numbers.stableErrorRate = rate(s.stable.errors, s.stable.requests)
  numbers.canaryErrorRate = rate(s.canary.errors, s.canary.requests)
}

function mixtureOf(evidence: readonly ThetaEvidence[], cfg: JudgeConfig) {
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

type Numbers = Record<string, number | null>

/** What one check concluded: an alarm (rollback or pause) and/or notes for the reasons. */
interface Finding {
  alarm: string | null
  notes: string[]
}

/** Updates every theta's log LR with one window. A theta new to the grid starts at 0 (LR 1). */
function updateEvidence(base: JudgeState, w: WindowStats, cfg: JudgeConfig): ThetaEvidence[] {
  const { stable, canary } = w
  const n = stable.requests + canary.requests
  // A window where one cohort had no traffic or nobody erred says nothing about the share (LR = 1).
  const informative = stable.requests > 0 && canary.requests > 0 && stable.errors + canary.errors > 0
  const pi = n > 0 ? canary.requests / n : 0
  return cfg.mixture.thetas.map((theta) => {
    const before = base.evidence.find((e) => e.theta === theta)?.logLR ?? 0
    return { theta, logLR: informative ? before + windowLogLR(theta, pi, canary.errors, stable.errors) : before }
  })
}

function errorTest(state: JudgeState, cfg: JudgeConfig, numbers: Numbers): Finding {
  const { logMixture, bestTheta, bestLogLR } = mixtureOf(state.evidence, cfg)
  const logThreshold = Math.log(1 / cfg.alpha)
  const { stable, canary } = state
  numbers.logMixtureLR = logMixture
  numbers.bestTheta = bestTheta
  numbers.bestLogLR = bestLogLR
  numbers.canaryErrorShare = stable.errors + canary.errors > 0 ? canary.errors / (stable.errors + canary.errors) : null
  numbers.canaryRequestShare = stable.requests + canary.requests > 0 ? canary.requests / (stable.requests + canary.requests) : null
  const counts = `canary ${canary.errors} errors in ${canary.requests} requests, stable ${stable.errors} in ${stable.requests}`
  const test = `log mixture LR ${fix(logMixture)} ${logMixture >= logThreshold ? '≥' : '<'} log(1/α) = ${fix(logThreshold)}`
  if (logMixture < logThreshold) return { alarm: null, notes: [`error test: ${test} (${counts})`] }
  if (canary.errors < cfg.minErrors) {
    const few = `the canary has only ${canary.errors} of ${cfg.minErrors} errors required to act`
    return { alarm: null, notes: [`error test: ${test}, but ${few}`] }
  }
  return { alarm: `canary errors are disproportionate: ${test}, most likely ${bestTheta}x stable's rate (${counts})`, notes: [] }
}

function guardrail(w: WindowStats, cfg: JudgeConfig, numbers: Numbers): Finding {
  const { stable, canary } = w
  const limit = cfg.maxCanaryErrorRate
  numbers.guardrailLimit = limit
  if (canary.requests < cfg.guardrailMinRequests) return { alarm: null, notes: [] }
  const pValue = binomialSf(canary.errors, canary.requests, limit)
  numbers.guardrailPValue = pValue
  if (pValue >= cfg.alpha) return { alarm: null, notes: [] }
  const lower = clopperPearsonLower(canary.errors, canary.requests, cfg.alpha)
  numbers.canaryErrorRateLower = lower
  const canaryRate = canary.errors / canary.requests
  const stableRate = stable.requests >= cfg.guardrailMinRequests ? stable.errors / stable.requests : null
  // Unless stable is significantly below the limit, the site may be failing, not the canary: stand aside and let the
  // relative test judge. (Comparing stable's observed rate with the limit would let an incident at the limit through
  // whenever stable happened to dip below it: measured 3.9 % false rollbacks in a 5 % incident, 0.3 % this way.)
  if (stableRate !== null && binomialCdf(stable.errors, stable.requests, limit) >= cfg.alpha) {
    const both = `canary at ${pct(canaryRate)} but stable, at ${pct(stableRate)}, is not clearly below the ${pct(limit)} limit`
    return { alarm: null, notes: [`guardrail not applied: ${both} (site-wide incident?)`] }
  }
  const observed = `${pct(canaryRate)} (${canary.errors}/${canary.requests}, ${pct(1 - cfg.alpha)} lower bound ${pct(lower)})`
  return { alarm: `canary error rate ${observed} exceeds the ${pct(limit)} guardrail`, notes: [] }
}

interface LatencyResult extends Finding {
  streak: number
  /** Both cohorts had enough requests but a quantile was absent: the canary cannot be called healthy. */
  missing: boolean
}

function latencyGuard(base: JudgeState, w: WindowStats, cfg: JudgeConfig, numbers: Numbers): LatencyResult {
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

function sampleRatio(w: WindowStats, cfg: JudgeConfig, ctx: JudgeContext, numbers: Numbers): Finding {
  const n = w.stable.requests + w.canary.requests
  const expected = ctx.weight / 100
  numbers.srmAlpha = cfg.srmAlpha
  if (!(expected > 0 && expected < 1) || n < cfg.srmMinRequests) return { alarm: null, notes: [] }
  if (ctx.weightSettled === false) return { alarm: null, notes: ['sample ratio not checked: the new weight may still be reaching the edge'] }
  const k = w.canary.requests
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

/**
 * Judges one window. Never throws: invalid input yields `hold` with the reason
 * and leaves the evidence untouched.
 *
 * Notes on the statistics:
 *
 * - Error test. Given a window's total errors E and the observed request split
 *   π = canary/(canary + stable), under H0 (equal error rates) the canary's
 *   errors are Binomial(E, π) (exactly for Poisson counts; for binomial counts
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

  const problem = inputProblem(window, ctx)
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

  const latency = latencyGuard(base, window, cfg, numbers)
  const state: JudgeState = {
    version: 1,
    windows: base.windows + 1,
    rejected: base.rejected,
    lastEnd: window.end,
    stable: { requests: base.stable.requests + stable.requests, errors: base.stable.errors + stable.errors },
    canary: { requests: base.canary.requests + canary.requests, errors: base.canary.errors + canary.errors },
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
