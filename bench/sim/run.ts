/**
 * @module
 * One simulated rollout: the real state machine, controller decision and
 * judge, ticked once a minute against synthetic traffic, exactly as
 * `runController` wires them (src/control/controller.ts): the window from
 * `nextWindow` (ingestion lag included), judge, `decide`, then `applyDecision`
 * with the controller's patch (`windowEnd` jumps to `now` when the step
 * changes, so every window is judged against one weight). The Sluice judge
 * also reads the window's 4xx and, with `rum.enabled`, its beacons
 * (signals.ts), judged by `judgeSignals` and folded in by `withSignals` as
 * the controller's `plan()` does, each vital read over its span from the
 * signals' `vitalsSince` (the source's `vitalStarts`). In a shadow step the
 * tick is the controller's `shadowPlan()`: the error test on the paired
 * answers to mirrored requests (shadow.ts), `judgeShadow` on their
 * differences, then `decideShadow`. Queries never fail here, so
 * `decideWithoutData` is reached only through the decisions themselves (a
 * window without requests).
 */
import { type JudgeState, type Verdict, type WindowStats, initialJudgeState, judge } from '../../src/core/judge/judge.ts'
import { judgeRings } from '../../src/core/judge/rings.ts'
import { type SignalsOutcome, judgeSignals, withSignals } from '../../src/core/judge/signals.ts'
import { vitalStarts } from '../../src/control/metrics/sql.ts'
import { initialThresholdState, thresholdJudge, type ThresholdState } from '../../src/core/judge/threshold.ts'
import type { RolloutSpec } from '../../src/core/config/schema.ts'
import { type RingsJudged, type TickOutcome, decide, evidenceOf, nextWindow, trafficSince } from '../../src/core/rollout/decide.ts'
import { type DecisionKind, type Phase, type RolloutState, applyCommand, applyDecision, initialState } from '../../src/core/rollout/machine.ts'
import type { StepWeights } from '../../src/core/rollout/rings.ts'
import { decideShadow, inShadowStep, judgePaired, pairedContext, pairedWindow } from '../../src/core/shadow/decide.ts'
import { judgeShadow } from '../../src/core/shadow/judge.ts'
import { type Exposure, NO_WEIGHTS, type StaleWeights, appliedWeights, expose, ringWindows, trafficOf } from './rings.ts'
import { type Scenario, rolloutSpecOf } from './scenario.ts'
import { type ShadowMinute, shadowMinute, shadowWindow, unread } from './shadow.ts'
import { windowSignals } from './signals.ts'
import { type MinuteTraffic, windowCohorts } from './traffic.ts'

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
  /** A scenario with rings: the same exposure per ring, by name (`everyone-else` for visitors in no ring). */
  rings?: Record<string, Exposure>
  /**
   * A schedule that starts with a shadow step: the decision that ended it (`advance`, `pause`, `gate`) and the minute of
   * its tick; null when time ran out in it.
   */
  shadow?: { left: DecisionKind; minute: number } | null
  /** Only with `trace`: every minute's traffic and every tick, and with a shadow step every minute's comparisons. */
  traffic?: MinuteTraffic[]
  ticks?: TickTrace[]
  comparisons?: (ShadowMinute | undefined)[]
}

/** What a run needs that does not change from seed to seed. */
export interface Prepared {
  scenario: Scenario
  spec: RolloutSpec
}

export const prepare = (scenario: Scenario): Prepared => ({ scenario, spec: rolloutSpecOf(scenario) })

const STOP: ReadonlySet<Phase> = new Set(['promoted', 'rolled-back', 'paused', 'awaiting-approval'])

const weightsChanged = (a: StepWeights, b: StepWeights) =>
  a.global !== b.global || Object.keys({ ...a.rings, ...b.rings }).some((r) => a.rings[r] !== b.rings[r])

export function simulateSeed(p: Prepared, seed: number, judgeKind: JudgeKind, opts: { trace?: boolean } = {}): SeedResult {
  const { scenario: s, spec } = p
  const started = applyCommand(initialState(T0), { name: 'start', release: 'simulated' }, spec.schedule, T0)
  if (!started.ok) throw new Error(`start refused: ${started.detail}`)
  let state: RolloutState = started.state
  let weights = appliedWeights(state, spec.schedule)
  // The baseline's state lives here, not in RolloutState.evidence: evidenceOf only keeps a JudgeState.
  let thresholdState: ThresholdState = initialThresholdState()
  const buffer: MinuteTraffic[] = []
  const ticks: TickTrace[] = []
  const exposure: Exposure = { canaryRequests: 0, canaryErrors: 0 }
  const ringExposure: Record<string, Exposure> = {}
  // The last weight change and the weights before it: the edge keeps the old ones for propagationSeconds.
  let change = { at: T0, from: NO_WEIGHTS, fromShadow: 0 }
  const delayMs = s.propagationSeconds * 1000
  const staleAt = (m: number): StaleWeights | undefined => {
    const left = change.at + delayMs - (T0 + m * MINUTE)
    return left > 0 ? { weights: change.from, fraction: Math.min(1, left / MINUTE) } : undefined
  }
  const traffic = trafficOf(s, seed)
  // A shadow step's comparisons, minute by minute beside `buffer`, at the mirrored share the edge applies (which
  // propagates as the weights do).
  const shadowSteps = spec.schedule[0]!.shadow !== undefined
  const shadowBuffer: (ShadowMinute | undefined)[] = []
  let shadowLeft: SeedResult['shadow'] = null
  const shadowShareAt = (m: number): number => {
    const stale = staleAt(m)
    const now = state.shadowWeight ?? 0
    return stale ? stale.fraction * change.fromShadow + (1 - stale.fraction) * now : now
  }
  const result = (outcome: Outcome, minute: number | null, reason: string | null): SeedResult => ({
    seed,
    outcome,
    minute,
    reason,
    ...exposure,
    ...(s.rings.length > 0 ? { rings: ringExposure } : {}),
    ...(shadowSteps ? { shadow: shadowLeft } : {}),
    ...(opts.trace ? { traffic: buffer, ticks, ...(shadowSteps ? { comparisons: shadowBuffer } : {}) } : {}),
  })

  for (let m = 0; m < s.minutes; m++) {
    const t = traffic(m, weights, staleAt(m), true)
    buffer.push(t)
    if (shadowSteps) shadowBuffer.push(shadowMinute(s, seed, t, shadowShareAt(m)))
    expose(exposure, ringExposure, t)

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
    const minutes = buffer.slice(first, last)
    const window: WindowStats = { start: range.start, end: range.end, ...windowCohorts(s, seed, minutes, first) }
    const inShadow = inShadowStep(spec, state)
    const shadowBefore = state.shadowWeight ?? 0

    const ctx = { weight: weights.global }
    let verdict: Verdict<JudgeState>
    let judged: RingsJudged | undefined
    let signals: SignalsOutcome | undefined
    let outcome: TickOutcome | undefined
    if (inShadow) {
      // As the controller's shadowPlan(): the error test on the paired answers to mirrored requests (per request, on
      // evidence of its own), the shadow judge on their differences; the 4xx and beacons stand aside (no visitors).
      const e = evidenceOf(state)
      let shadow = shadowWindow(s, seed, shadowBuffer.slice(first, last), first)
      const paired = pairedWindow(range, shadow)
      if (judgeKind === 'threshold') {
        // Flagger's mirroring: the canary's answers are checked for errors and latency, then thrown away unread.
        const v = thresholdJudge(thresholdState, paired, s.threshold, pairedContext)
        thresholdState = v.state
        verdict = { ...v, state: e.shadowJudge ?? initialJudgeState() }
        shadow = unread(shadow)
      } else {
        verdict = judgePaired(e.shadowJudge, paired, spec.judge)
      }
      const compared = judgeShadow(e.shadow, shadow, spec.judge.shadow, spec.shadow.ignore, range)
      outcome = decideShadow(state, spec, verdict, paired, shadow, compared, now)
    } else if (judgeKind === 'threshold') {
      // The baseline is Flagger's request checks only: it reads no 4xx and no beacons.
      const v = thresholdJudge(thresholdState, window, s.threshold, ctx)
      thresholdState = v.state
      verdict = { ...v, state: evidenceOf(state).judge }
    } else {
      const e = evidenceOf(state)
      // As the controller's plan(): the signals are judged on their own state, pooled (their comparisons stand aside)
      // while a ring is above everyone's weight, then folded into the server verdict and handed to decide.
      const pooled = Object.values(weights.rings).some((w) => w > weights.global)
      // Each vital over its span, from where its state says it began, as plan() asks the source and vitalStarts reads it.
      const spans = e.signals?.vitalsSince
      const vitalsSince = spans && Object.fromEntries(Object.entries(spans).filter((x): x is [string, number] => x[1] !== null))
      const starts = vitalStarts(range, vitalsSince)
      const spanFirst = { lcp: (starts.lcp - T0) / MINUTE, inp: (starts.inp - T0) / MINUTE, cls: (starts.cls - T0) / MINUTE }
      signals = judgeSignals(e.signals ?? undefined, windowSignals(s, seed, buffer, { first, last }, spanFirst), spec.judge, {
        rum: spec.rum.enabled,
        pooled,
        start: window.start,
        end: window.end,
      })
      if (Object.keys(weights.rings).length > 0) {
        // As the controller must: the split is only comparable with the weights once they have reached the edge.
        const settled = window.start >= (trafficSince(state) ?? 0) + spec.analysis.settleSeconds * 1000
        const out = judgeRings(e.judge, e.rings, window, ringWindows(s, seed, minutes, first, weights, range), spec.judge, weights, settled)
        verdict = withSignals(out.verdict, signals)
        judged = { states: out.states, rings: out.rings }
      } else {
        verdict = withSignals(judge(e.judge, window, spec.judge, ctx), signals)
      }
    }
    const { decision, evidence } = outcome ?? decide(state, spec, verdict, window, now, judged, signals)
    const stepChanges = decision.kind === 'advance' || decision.kind === 'promote'
    const tr = applyDecision(state, decision, spec.schedule, now, { evidence, windowEnd: stepChanges ? now : window.end })
    if (!tr.ok) throw new Error(`decision refused: ${tr.detail}`)
    state = tr.state
    const after = appliedWeights(state, spec.schedule)
    if (weightsChanged(after, weights) || tr.state.shadowWeight !== shadowBefore) change = { at: now, from: weights, fromShadow: shadowBefore }
    weights = after
    if (inShadow && decision.kind !== 'hold') shadowLeft = { left: decision.kind, minute: m + 1 }
    if (opts.trace) {
      ticks.push({ minute: m + 1, window: { startMinute: first, endMinute: last }, decision: decision.kind, weightAfter: state.weight })
    }
    if (STOP.has(state.phase)) {
      if (state.phase === 'rolled-back') {
        // Until the rollback reaches the edge, the canary keeps serving its share.
        for (let k = m + 1; staleAt(k) !== undefined; k++) expose(exposure, ringExposure, traffic(k, NO_WEIGHTS, staleAt(k), false))
      }
      return result(state.phase, m + 1, decision.reason)
    }
  }
  return result(state.phase, null, null)
}

export function simulateSeeds(p: Prepared, seeds: readonly number[], judgeKind: JudgeKind): SeedResult[] {
  return seeds.map((seed) => simulateSeed(p, seed, judgeKind))
}
