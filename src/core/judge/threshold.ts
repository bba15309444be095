/**
 * @module
 * A Flagger-style threshold judge, kept as a baseline for the simulator: each
 * window is a check that fails when the canary's success rate is below a fixed
 * minimum, and the rollout rolls back after a budget of failed checks. It
 * ignores stable entirely, which is exactly what the statistical judge fixes:
 * a fixed threshold either sits near the baseline error rate (false rollbacks)
 * or far above it (missed regressions), and a site-wide incident fails it too.
 */
import type { JudgeContext, Verdict, WindowStats } from './judge.ts'
import { inputProblem, isCount, isWindowLedger } from './input.ts'
import type { ThresholdConfig } from './schema.ts'

export interface ThresholdState {
  version: 1
  windows: number
  rejected: number
  lastEnd: number | null
  /** Windows with enough canary requests to be a check. */
  checks: number
  /** Failed checks so far; like Flagger's counter it is not reset by a passing check. */
  failedChecks: number
}

export function initialThresholdState(): ThresholdState {
  return { version: 1, windows: 0, rejected: 0, lastEnd: null, checks: 0, failedChecks: 0 }
}

export function isThresholdState(v: unknown): v is ThresholdState {
  return isWindowLedger(v) && isCount(v.checks) && isCount(v.failedChecks)
}

/**
 * Judges one window the way Flagger's analysis loop does. Unlike Flagger, a
 * window with too few canary requests is not a failed check but no check (Flagger
 * fails a check whose query returns nothing; here that would punish low weights).
 */
export function thresholdJudge(prev: ThresholdState, window: WindowStats, cfg: ThresholdConfig, ctx: JudgeContext): Verdict<ThresholdState> {
  const base = isThresholdState(prev) ? prev : initialThresholdState()
  const numbers: Record<string, number | null> = {
    windowCanaryRequests: null,
    windowCanaryErrors: null,
    canarySuccessRate: null,
    minSuccessRate: cfg.minSuccessRate,
    canaryLatency: null,
    maxLatencyMs: cfg.maxLatencyMs ?? null,
    checks: base.checks,
    failedChecks: base.failedChecks,
    maxFailedChecks: cfg.maxFailedChecks,
  }
  const problem = inputProblem(window, ctx)
  const overlap = problem === null && base.lastEnd !== null && window.start < base.lastEnd
  if (problem !== null || overlap) {
    const why = problem !== null ? `input rejected: ${problem}` : 'window overlaps data already counted; ignored'
    return { verdict: 'hold', reasons: [why], numbers, state: { ...base, rejected: base.rejected + 1 } }
  }

  const c = window.canary
  numbers.windowCanaryRequests = c.requests
  numbers.windowCanaryErrors = c.errors
  const state: ThresholdState = { ...base, windows: base.windows + 1, lastEnd: window.end }
  if (c.requests < cfg.minRequests) {
    return { verdict: 'hold', reasons: [`no check: canary had ${c.requests} of ${cfg.minRequests} requests needed`], numbers, state }
  }

  const successRate = 1 - c.errors / c.requests
  numbers.canarySuccessRate = successRate
  const shown = `canary success rate ${(successRate * 100).toFixed(2)} %`
  const failures: string[] = []
  if (successRate < cfg.minSuccessRate) failures.push(`${shown} < ${(cfg.minSuccessRate * 100).toFixed(2)} %`)
  if (cfg.maxLatencyMs !== undefined) {
    const latency = c.latencyMs?.[cfg.latencyQuantile]
    numbers.canaryLatency = latency ?? null
    if (latency === undefined) failures.push(`canary ${cfg.latencyQuantile} latency is missing`)
    else if (latency > cfg.maxLatencyMs) failures.push(`canary ${cfg.latencyQuantile} ${latency.toFixed(0)} ms > ${cfg.maxLatencyMs} ms`)
  }
  state.checks += 1
  if (failures.length > 0) state.failedChecks += 1
  numbers.checks = state.checks
  numbers.failedChecks = state.failedChecks
  const tally = `${state.failedChecks} of ${cfg.maxFailedChecks} failed checks`
  if (state.failedChecks >= cfg.maxFailedChecks) {
    return { verdict: 'rollback', reasons: [`${tally}: ${failures.join('; ') || 'earlier checks failed'}`], numbers, state }
  }
  if (failures.length > 0) return { verdict: 'hold', reasons: [`check failed (${tally}): ${failures.join('; ')}`], numbers, state }
  return { verdict: 'healthy', reasons: [`check passed: ${shown} (${tally})`], numbers, state }
}
