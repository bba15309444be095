/**
 * @module
 * One simulated rollout: the real state machine, controller decision and
 * judge, ticked once a minute against synthetic traffic, exactly as
 * `runController` wires them (src/control/controller.ts): the window from
 * `nextWindow` (ingestion lag included), judge, `decide`, then `applyDecision`
 * with the controller's patch (`windowEnd` jumps to `now` when the step
 * changes, so every window is judged against one weight). Queries never fail
 * here, so `decideWithoutData` is reached only through `decide` itself (a
 * window without requests).
 */
import { type JudgeState, type Verdict, type WindowStats, judge } from '../../src/core/judge/judge.ts'
import { initialThresholdState, thresholdJudge, type ThresholdState } from '../../src/core/judge/threshold.ts'
import type { RolloutSpec } from '../../src/core/config/schema.ts'
import { decide, evidenceOf, nextWindow } from '../../src/core/rollout/decide.ts'
import {
  type DecisionKind,
  type Phase,
  type RolloutState,
  applyCommand,
  applyDecision,
  initialState,
} from '../../src/core/rollout/machine.ts'
import { clientMinute, newClientPool } from './clients.ts'
import { type Scenario, rolloutSpecOf } from './scenario.ts'
import { type MinuteTraffic, type Stale, minuteTraffic, windowCohorts } from './traffic.ts'

export const JUDGES = ['sluice', 'threshold'] as const
export type JudgeKind = (typeof JUDGES)[number]

const MINUTE = 60_000
/** Simulated time starts on a whole minute, as cron ticks do; the date itself is irrelevant. */
export const T0 = Date.UTC(2025, 0, 6, 9, 0)

/** `promoted`, `rolled-back`, or the phase the rollout was left in (`progressing` when time ran out). */
export type Outcome = Phase

export interface TickTrace {
  /** Minutes since the start: the tick at the end of minute m is at m + 1. */
  minute: number
  window: { startMinute: number; endMinute: number } | null
  decision: DecisionKind | null
  weightAfter: number
}

export interface SeedResult {
  seed: number
  outcome: Outcome
  /** Minute (since the start) of the tick that ended the rollout; null when time ran out. */
  minute: number | null
  reason: string | null
  /** Requests and errors the canary served until the decision took effect at the edge (see propagationSeconds). */
  canaryRequests: number
  canaryErrors: number
  /** Only with `trace`: every minute's traffic and every tick. */
  traffic?: MinuteTraffic[]
  ticks?: TickTrace[]
}

/** What a run needs that does not change from seed to seed. */
export interface Prepared {
  scenario: Scenario
  spec: RolloutSpec
}

export const prepare = (scenario: Scenario): Prepared => ({ scenario, spec: rolloutSpecOf(scenario) })

const STOP: ReadonlySet<Phase> = new Set(['promoted', 'rolled-back', 'paused', 'awaiting-approval'])

export function simulateSeed(p: Prepared, seed: number, judgeKind: JudgeKind, opts: { trace?: boolean } = {}): SeedResult {
  const { scenario: s, spec } = p
  const started = applyCommand(initialState(T0), { name: 'start', release: 'simulated' }, spec.schedule, T0)
  if (!started.ok) throw new Error(`start refused: ${started.detail}`)
  let state: RolloutState = started.state
  // The baseline's state lives here, not in RolloutState.evidence: evidenceOf only keeps a JudgeState.
  let thresholdState: ThresholdState = initialThresholdState()
  const buffer: MinuteTraffic[] = []
  const ticks: TickTrace[] = []
  let canaryRequests = 0
  let canaryErrors = 0
  // The last weight change and the weight before it: the edge keeps the old one for propagationSeconds.
  let change = { at: T0, from: 0 }
  const delayMs = s.propagationSeconds * 1000
  const staleAt = (m: number): Stale | undefined => {
    const left = change.at + delayMs - (T0 + m * MINUTE)
    return left > 0 ? { weight: change.from, fraction: Math.min(1, left / MINUTE) } : undefined
  }

  const pool = newClientPool()
  for (let m = 0; m < s.minutes; m++) {
    const traffic = minuteTraffic(s, seed, m, state.weight, staleAt(m))
    traffic.clients = clientMinute(s, seed, pool, traffic)
    buffer.push(traffic)
    canaryRequests += traffic.canary.requests
    canaryErrors += traffic.canary.errors

    const now = T0 + (m + 1) * MINUTE
    const range = nextWindow(state, spec, now)
    if (!range) {
      if (opts.trace) ticks.push({ minute: m + 1, window: null, decision: null, weightAfter: state.weight })
      continue
    }
    // The query: every buffered minute inside the window. nextWindow never reaches past now - lag, so no
    // minute is read before it is ingested.
    const first = (range.start - T0) / MINUTE
    const last = (range.end - T0) / MINUTE
    const cohorts = windowCohorts(s, seed, buffer.slice(first, last), first)
    const window: WindowStats = { start: range.start, end: range.end, ...cohorts }

    const ctx = { weight: state.weight }
    let verdict: Verdict<JudgeState>
    if (judgeKind === 'sluice') {
      verdict = judge(evidenceOf(state).judge, window, spec.judge, ctx)
    } else {
      const v = thresholdJudge(thresholdState, window, s.threshold, ctx)
      thresholdState = v.state
      verdict = { ...v, state: evidenceOf(state).judge }
    }
    const { decision, evidence } = decide(state, spec, verdict, window, now)
    const stepChanges = decision.kind === 'advance' || decision.kind === 'promote'
    const t = applyDecision(state, decision, spec.schedule, now, { evidence, windowEnd: stepChanges ? now : window.end })
    if (!t.ok) throw new Error(`decision refused: ${t.detail}`)
    if (t.state.weight !== state.weight) change = { at: now, from: state.weight }
    state = t.state
    if (opts.trace) {
      ticks.push({ minute: m + 1, window: { startMinute: first, endMinute: last }, decision: decision.kind, weightAfter: state.weight })
    }
    if (STOP.has(state.phase)) {
      if (state.phase === 'rolled-back') {
        // Until the rollback reaches the edge, the canary keeps serving its share.
        for (let k = m + 1; staleAt(k) !== undefined; k++) {
          const after = minuteTraffic(s, seed, k, 0, staleAt(k))
          canaryRequests += after.canary.requests
          canaryErrors += after.canary.errors
        }
      }
      return {
        seed,
        outcome: state.phase,
        minute: m + 1,
        reason: decision.reason,
        canaryRequests,
        canaryErrors,
        ...(opts.trace ? { traffic: buffer, ticks } : {}),
      }
    }
  }
  const trace = opts.trace ? { traffic: buffer, ticks } : {}
  return { seed, outcome: state.phase, minute: null, reason: null, canaryRequests, canaryErrors, ...trace }
}

export function simulateSeeds(p: Prepared, seeds: readonly number[], judgeKind: JudgeKind): SeedResult[] {
  return seeds.map((seed) => simulateSeed(p, seed, judgeKind))
}
