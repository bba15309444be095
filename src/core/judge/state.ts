/**
 * @module
 * The judge's data: one window's counts in, the evidence it keeps between
 * windows, and the verdict out. Plain JSON throughout, so the controller can
 * store the state and the simulator can replay it.
 */
import { isCount, isFiniteNumber, isRecord, isWindowLedger } from './input.ts'

export interface CohortCounts {
  requests: number
  errors: number
  latencyMs?: { p50?: number; p95?: number; p99?: number }
  /** The same traffic counted by client (src/core/cohort/client.ts): the unit of the error test and the guardrail. */
  clients?: ClientCounts
}

/**
 * A window's clients. "Fresh" clients had no failure earlier in the release: they are the ones at risk of a
 * first failure, so each client adds at most one failure to the error test's evidence in a whole release.
 */
export interface ClientCounts {
  /** Clients with a request in the window. */
  seen: number
  /** …of which at least one request failed in the window. */
  failing: number
  /** Clients with a request in the window and no failure before it in this release. */
  fresh: number
  /** Fresh clients that failed in the window: their first failure of the release. */
  firstFailures: number
  /** Requests, each client's counted up to SRM_CLIENT_CAP: the sample-ratio check's count (units.ts). */
  cappedRequests: number
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
  /** False when the window mixes audiences of different weights (src/core/judge/rings.ts): no split to check. */
  checkSplit?: boolean
}

/** Cumulative counts of one cohort over all accepted windows: units at risk (`requests`) and their failures (`errors`). */
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
  /** Requests and errors. */
  stable: CohortTotals
  canary: CohortTotals
  /**
   * The error test's units (judge.errorUnit): fresh clients and first failures, summed over windows, or requests
   * and errors again. Absent in states stored before units existed; read as zero.
   */
  units?: { stable: CohortTotals; canary: CohortTotals }
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

const zero = (): CohortTotals => ({ requests: 0, errors: 0 })

export function initialJudgeState(): JudgeState {
  return {
    version: 1,
    windows: 0,
    rejected: 0,
    lastEnd: null,
    stable: zero(),
    canary: zero(),
    units: { stable: zero(), canary: zero() },
    evidence: [],
    latencyStreak: 0,
  }
}

/** The state's unit totals, zero for a state stored before they existed. */
export const unitTotals = (s: JudgeState) => s.units ?? { stable: zero(), canary: zero() }

function isTotals(v: unknown): v is CohortTotals {
  return isRecord(v) && isCount(v.requests) && isCount(v.errors) && v.errors <= v.requests
}

/** Validates state read back from storage; anything else is treated as no state. */
export function isJudgeState(v: unknown): v is JudgeState {
  return (
    isWindowLedger(v) &&
    isTotals(v.stable) &&
    isTotals(v.canary) &&
    (v.units === undefined || (isRecord(v.units) && isTotals(v.units.stable) && isTotals(v.units.canary))) &&
    Array.isArray(v.evidence) &&
    v.evidence.every((e) => isRecord(e) && isFiniteNumber(e.theta) && e.theta > 1 && isFiniteNumber(e.logLR)) &&
    isCount(v.latencyStreak)
  )
}
