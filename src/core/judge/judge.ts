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
import { inputProblem, isCount, isFiniteNumber, isRecord } from './input.ts'
import { binomialSf, binomialTestTwoSided, clopperPearsonLower, logWeightedSumExp, windowLogLR } from './stats.ts'

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
   * Per-theta log LRs. Keyed by theta rather than by position so that changing
   * the grid keeps the evidence of unchanged thetas; a new theta starts at 0 (LR 1),
   * which keeps the mixture a supermartingale.
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
    isRecord(v) &&
    v.version === 1 &&
    isCount(v.windows) &&
    isCount(v.rejected) &&
    (v.lastEnd === null || isFiniteNumber(v.lastEnd)) &&
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
 *   must exceed the limit: with 1 error in 3 requests nothing happens.
 * - Latency. Quantiles of different windows cannot be merged, so the guard
 *   compares cohorts within a window and needs `consecutive` regressed windows.
 */
export function judge(prev: JudgeState, window: WindowStats, cfg: JudgeConfig, ctx: JudgeContext): Verdict {
  const reasons: string[] = []
  const numbers = emptyNumbers()
  let base = prev
  if (!isJudgeState(prev)) {
    reasons.push('the stored judge state was invalid, so the evidence starts afresh')
    base = initialJudgeState()
  }
  numbers.alpha = cfg.alpha
  numbers.logThreshold = Math.log(1 / cfg.alpha)
  numbers.minRequests = cfg.minRequests
  numbers.minErrors = cfg.minErrors

  const problem = inputProblem(window, ctx)
  if (problem !== null) return reject(base, `input rejected: ${problem}; evidence unchanged`, reasons, numbers)
  if (base.lastEnd !== null && window.start < base.lastEnd) {
    return reject(base, `window starting at ${window.start} overlaps data already counted (up to ${base.lastEnd}); ignored`, reasons, numbers)
  }

  const ws = window.stable
  const wc = window.canary
  const n = ws.requests + wc.requests
  const totalErrors = ws.errors + wc.errors
  numbers.weight = ctx.weight
  numbers.windowStableRequests = ws.requests
  numbers.windowStableErrors = ws.errors
  numbers.windowCanaryRequests = wc.requests
  numbers.windowCanaryErrors = wc.errors
  numbers.windowStableErrorRate = rate(ws.errors, ws.requests)
  numbers.windowCanaryErrorRate = rate(wc.errors, wc.requests)

  // --- Error test: update every theta's log LR with this window. ---
  // A window where one cohort had no traffic or nobody erred says nothing about the share (LR = 1).
  const informative = ws.requests > 0 && wc.requests > 0 && totalErrors > 0
  const pi = n > 0 ? wc.requests / n : 0
  const evidence = cfg.mixture.thetas.map((theta) => {
    const before = base.evidence.find((e) => e.theta === theta)?.logLR ?? 0
    return { theta, logLR: informative ? before + windowLogLR(theta, pi, wc.errors, ws.errors) : before }
  })

  // --- Latency guard. ---
  const lat = cfg.latency
  let latencyStreak = base.latencyStreak
  let latencyMissing = false
  let latencyJudged = false
  let latencyNote: string | null = null
  if (lat.enabled) {
    const q = lat.quantile
    numbers.latencyMaxRatio = lat.maxRatio
    numbers.latencyMinDeltaMs = lat.minDeltaMs
    numbers.latencyConsecutive = lat.consecutive
    const ls = ws.latencyMs?.[q]
    const lc = wc.latencyMs?.[q]
    numbers.latencyStable = ls ?? null
    numbers.latencyCanary = lc ?? null
    if (ws.requests < lat.minRequests || wc.requests < lat.minRequests) {
      // Too few requests for a quantile to mean anything: neither confirm nor clear a streak.
      latencyNote = `latency not judged: needs ${lat.minRequests} requests per cohort in the window (stable ${ws.requests}, canary ${wc.requests})`
    } else if (ls === undefined || lc === undefined) {
      latencyMissing = true
      latencyNote = `latency ${q} is missing for ${ls === undefined ? 'stable' : 'canary'} despite enough requests; cannot call the canary healthy`
    } else {
      latencyJudged = true
      const ratio = ls > 0 ? lc / ls : lc > 0 ? Infinity : 1
      const delta = lc - ls
      numbers.latencyRatio = finiteOrNull(ratio)
      numbers.latencyDeltaMs = delta
      const regressed = ratio > lat.maxRatio && delta > lat.minDeltaMs
      latencyStreak = regressed ? latencyStreak + 1 : 0
      latencyNote = `latency ${q}: canary ${fix(lc, 0)} ms vs stable ${fix(ls, 0)} ms (${Number.isFinite(ratio) ? `${fix(ratio)}x` : 'stable 0'}, ${delta >= 0 ? '+' : ''}${fix(delta, 0)} ms)${regressed ? `, regressed ${latencyStreak} of ${lat.consecutive} windows in a row` : ''}`
    }
  }
  numbers.latencyStreak = lat.enabled ? latencyStreak : null

  const state: JudgeState = {
    version: 1,
    windows: base.windows + 1,
    rejected: base.rejected,
    lastEnd: window.end,
    stable: { requests: base.stable.requests + ws.requests, errors: base.stable.errors + ws.errors },
    canary: { requests: base.canary.requests + wc.requests, errors: base.canary.errors + wc.errors },
    evidence,
    latencyStreak,
  }
  fillTotals(numbers, state)

  const rollbacks: string[] = []

  // --- Error test decision. ---
  const { logMixture, bestTheta, bestLogLR } = mixtureOf(evidence, cfg)
  const logThreshold = Math.log(1 / cfg.alpha)
  numbers.logMixtureLR = logMixture
  numbers.bestTheta = bestTheta
  numbers.bestLogLR = bestLogLR
  const totalCumErrors = state.stable.errors + state.canary.errors
  numbers.canaryErrorShare = totalCumErrors > 0 ? state.canary.errors / totalCumErrors : null
  numbers.canaryRequestShare = state.canary.requests + state.stable.requests > 0 ? state.canary.requests / (state.canary.requests + state.stable.requests) : null
  const counts = `canary ${state.canary.errors} errors in ${state.canary.requests} requests, stable ${state.stable.errors} in ${state.stable.requests}`
  if (logMixture >= logThreshold) {
    if (state.canary.errors >= cfg.minErrors) {
      rollbacks.push(
        `canary errors are disproportionate: log mixture LR ${fix(logMixture)} ≥ log(1/α) = ${fix(logThreshold)}, most likely ${bestTheta}x stable's rate (${counts})`,
      )
    } else {
      reasons.push(`error test crossed its threshold but the canary has only ${state.canary.errors} of ${cfg.minErrors} errors required to act`)
    }
  } else {
    reasons.push(`error test: log mixture LR ${fix(logMixture)} < log(1/α) = ${fix(logThreshold)} (${counts})`)
  }

  // --- Absolute guardrail on this window. ---
  const limit = cfg.maxCanaryErrorRate
  numbers.guardrailLimit = limit
  if (wc.requests >= cfg.guardrailMinRequests) {
    const pValue = binomialSf(wc.errors, wc.requests, limit)
    numbers.guardrailPValue = pValue
    const canaryRate = wc.errors / wc.requests
    if (pValue < cfg.alpha) {
      const lower = clopperPearsonLower(wc.errors, wc.requests, cfg.alpha)
      numbers.canaryErrorRateLower = lower
      const stableRate = ws.requests > 0 ? ws.errors / ws.requests : null
      // Stable over the limit too means the site is failing, not the canary; the relative test still judges the canary.
      if (stableRate !== null && ws.requests >= cfg.guardrailMinRequests && stableRate >= limit) {
        reasons.push(`guardrail not applied: canary at ${pct(canaryRate)} but stable is also at ${pct(stableRate)}, above the ${pct(limit)} limit (site-wide incident)`)
      } else {
        rollbacks.push(
          `canary error rate ${pct(canaryRate)} (${wc.errors}/${wc.requests}, ${pct(1 - cfg.alpha)} lower bound ${pct(lower)}) exceeds the ${pct(limit)} guardrail`,
        )
      }
    }
  }

  // --- Latency decision. ---
  if (lat.enabled && latencyStreak >= lat.consecutive) {
    // A confirmed regression stays confirmed until a judged window clears it, like the error evidence.
    rollbacks.push(latencyJudged ? latencyNote! : `latency ${lat.quantile} regressed in ${latencyStreak} judged windows in a row; ${latencyNote}`)
  } else if (latencyNote !== null) {
    reasons.push(latencyNote)
  }

  // --- Sample-ratio mismatch. ---
  let srm: string | null = null
  const expected = ctx.weight / 100
  numbers.srmAlpha = cfg.srmAlpha
  if (expected > 0 && expected < 1 && n >= cfg.srmMinRequests) {
    const observed = wc.requests / n
    const pValue = binomialTestTwoSided(wc.requests, n, expected)
    const deviation = Math.abs(observed - expected) / Math.min(expected, 1 - expected)
    numbers.srmExpectedShare = expected
    numbers.srmObservedShare = observed
    // Finite-or-null: a denormal weight would make these overflow, and numbers must stay JSON.
    numbers.srmChiSquare = finiteOrNull((wc.requests - n * expected) ** 2 / (n * expected * (1 - expected)))
    numbers.srmPValue = pValue
    numbers.srmDeviation = finiteOrNull(deviation)
    if (pValue < cfg.srmAlpha && deviation > cfg.srmTolerance) {
      srm = `sample ratio mismatch: canary got ${pct(observed)} of ${n} requests but the weight is ${pct(expected)} (p = ${sci(pValue)} < ${sci(cfg.srmAlpha)}); bucketing, cookies or metrics may be broken`
    }
  }

  // --- Verdict, most severe first. ---
  if (rollbacks.length > 0) return { verdict: 'rollback', reasons: [...rollbacks, ...(srm ? [srm] : []), ...reasons], numbers, state }
  if (srm !== null) return { verdict: 'pause', reasons: [srm, ...reasons], numbers, state }
  if (n === 0) return { verdict: 'hold', reasons: ['empty window: no requests in either cohort', ...reasons], numbers, state }
  const short: string[] = []
  if (state.stable.requests < cfg.minRequests) short.push(`stable ${state.stable.requests}`)
  if (state.canary.requests < cfg.minRequests) short.push(`canary ${state.canary.requests}`)
  if (short.length > 0) return { verdict: 'hold', reasons: [`not enough data: ${short.join(', ')} of ${cfg.minRequests} requests needed per cohort`, ...reasons], numbers, state }
  if (latencyMissing) return { verdict: 'hold', reasons, numbers, state }
  if (latencyStreak > 0) return { verdict: 'hold', reasons: ['latency regression pending confirmation', ...reasons], numbers, state }
  return { verdict: 'healthy', reasons: ['enough data and no alarm', ...reasons], numbers, state }
}

function reject(base: JudgeState, why: string, reasons: string[], numbers: Record<string, number | null>): Verdict {
  const state = { ...base, rejected: base.rejected + 1 }
  fillTotals(numbers, state)
  return { verdict: 'hold', reasons: [why, ...reasons], numbers, state }
}
