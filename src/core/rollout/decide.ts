/**
 * @module
 * The controller's decision for one tick, from the judge's verdict and the
 * schedule: roll back, pause, hold, wait at a gate, advance or promote. Pure,
 * so the cron controller and the simulator run the very same code.
 */
import type { RolloutSpec } from '../config/schema.ts'
import { isRecord } from '../judge/input.ts'
import { type JudgeState, type Verdict, type WindowStats, initialJudgeState, isJudgeState } from '../judge/judge.ts'
import { type RingVerdict, ringLabel } from '../judge/rings.ts'
import { type SignalState, type SignalsOutcome, isSignalState } from '../judge/signals.ts'
import { type ShadowState, isShadowState } from '../shadow/judge.ts'
import type { Decision, RolloutState } from './machine.ts'

/** What the controller keeps between ticks, in `RolloutState.evidence`. */
export interface ControllerEvidence {
  judge: JudgeState
  /** The step these counters belong to; a new step starts them afresh. */
  step: number
  stepCanaryRequests: number
  /** End of the last window that had any traffic, for the no-data pause. */
  lastDataAt: number | null
  /** Start of the release's first judged window: a client that failed since then is no longer fresh. */
  since: number | null
  /**
   * When the canary began to get traffic for this release: when the pre-rollout hooks said go, or the first judged
   * window. Null while a pre-rollout gate waits (src/core/rollout/gates.ts).
   */
  confirmedAt: number | null
  /** Consecutive failed gate-hook calls, counted within one revision: any change of the rollout starts them afresh. */
  hookFailures: { revision: number; count: number } | null
  /** Each audience ring's own evidence (src/core/judge/rings.ts), by ring name ('' for everyone else); {} without rings. */
  rings: Record<string, JudgeState>
  /** The companion signals' evidence (4xx answers, real-user signals; src/core/judge/signals.ts); null before any. */
  signals: SignalState | null
  /** The release's shadow comparisons (src/core/shadow/judge.ts), kept after the shadow step for its report; null before any. */
  shadow: ShadowState | null
  /**
   * The error test of the shadow step (canary's answers to mirrored requests against stable's): its own evidence, as
   * those are not the visitors a later step's test counts (and are judged per request). Null outside one.
   */
  shadowJudge: JudgeState | null
}

export function evidenceOf(state: RolloutState): ControllerEvidence {
  const e = state.evidence as Partial<ControllerEvidence> | null
  const judge = e && isJudgeState(e.judge) ? e.judge : initialJudgeState()
  const sameStep = e?.step === state.step
  return {
    judge,
    step: state.step,
    stepCanaryRequests: sameStep && typeof e?.stepCanaryRequests === 'number' ? e.stepCanaryRequests : 0,
    lastDataAt: typeof e?.lastDataAt === 'number' ? e.lastDataAt : null,
    since: typeof e?.since === 'number' ? e.since : null,
    // Evidence from before gates existed has no confirmedAt: that canary has had its traffic all along.
    confirmedAt: e === null ? null : typeof e.confirmedAt === 'number' || e.confirmedAt === null ? e.confirmedAt : 0,
    hookFailures: e?.hookFailures?.revision === state.revision ? e.hookFailures : null,
    rings: isRecord(e?.rings) ? Object.fromEntries(Object.entries(e.rings).filter((r): r is [string, JudgeState] => isJudgeState(r[1]))) : {},
    signals: isSignalState(e?.signals) ? e.signals : null,
    shadow: isShadowState(e?.shadow) ? e.shadow : null,
    shadowJudge: isJudgeState(e?.shadowJudge) ? e.shadowJudge : null,
  }
}

/** Since when the current step has had its traffic: its start, or later if a pre-rollout gate held it back. */
export const trafficSince = (state: RolloutState): number | null =>
  state.stepStartedAt === null ? null : Math.max(state.stepStartedAt, evidenceOf(state).confirmedAt ?? 0)

/**
 * The data window for this tick: from where the last one ended to the last
 * window boundary (a whole minute by default) that ingestion lag allows, and
 * where the release's evidence began (`since`, for the error test's fresh
 * clients). Null when there is nothing new.
 */
export function nextWindow(state: RolloutState, spec: RolloutSpec, now: number): { start: number; end: number; since: number } | null {
  const start = state.windowEnd ?? state.stepStartedAt
  if (start === null) return null
  const size = spec.analysis.windowSeconds * 1000
  const end = Math.floor((now - spec.analysis.lagMinutes * 60_000) / size) * size
  return end > start ? { start, end, since: Math.min(evidenceOf(state).since ?? start, start) } : null
}

export interface TickOutcome {
  decision: Decision
  evidence: ControllerEvidence
}

const minutes = (ms: number) => Math.max(0, Math.ceil(ms / 60_000))

/** What the rings' judgement adds to a verdict: their evidence, and each ring's verdict for the record. */
export interface RingsJudged {
  states: Record<string, JudgeState>
  rings: Record<string, RingVerdict>
}

/** What every decision records of its window and verdict (the shadow step's too, src/core/shadow/decide.ts). */
export const windowRecord = (window: { start: number; end: number }, verdict: Verdict) => ({
  window: { start: new Date(window.start).toISOString(), end: new Date(window.end).toISOString() },
  verdict: verdict.verdict,
  numbers: verdict.numbers,
})

/**
 * Combines a verdict on `window` (and, for a rollout with rings, each ring's; with `signals`, the companion signals'
 * already folded into `verdict` by `withSignals`) with the schedule into one decision.
 */
export function decide(
  state: RolloutState,
  spec: RolloutSpec,
  verdict: Verdict,
  window: WindowStats,
  now: number,
  judged?: RingsJudged,
  signals?: SignalsOutcome,
): TickOutcome {
  const prev = evidenceOf(state)
  const windowRequests = window.stable.requests + window.canary.requests
  const evidence: ControllerEvidence = {
    judge: verdict.state,
    step: state.step,
    stepCanaryRequests: prev.stepCanaryRequests + (Number.isFinite(window.canary.requests) ? window.canary.requests : 0),
    lastDataAt: windowRequests > 0 ? window.end : prev.lastDataAt,
    since: prev.since ?? window.start,
    // A judged window means the canary has had traffic since at least its start.
    confirmedAt: prev.confirmedAt ?? window.start,
    hookFailures: prev.hookFailures,
    rings: judged?.states ?? prev.rings,
    signals: signals?.state ?? prev.signals,
    shadow: prev.shadow,
    shadowJudge: prev.shadowJudge,
  }
  const step = spec.schedule[state.step]!
  const bakeLeftMs = (trafficSince(state) ?? now) + step.bakeMinutes * 60_000 - now
  const data = {
    ...windowRecord(window, verdict),
    step: {
      index: state.step,
      weight: step.weight,
      canaryRequests: evidence.stepCanaryRequests,
      minRequests: step.minRequests,
      bakeMinutesLeft: minutes(bakeLeftMs),
    },
    ...(judged ? { rings: ringsRecord(judged.rings) } : {}),
    ...signals?.details,
  }
  const because = verdict.reasons.join('; ')
  const out = (kind: Decision['kind'], reason: string): TickOutcome => ({ decision: { kind, reason, data }, evidence })

  switch (verdict.verdict) {
    case 'rollback':
      return out('rollback', because)
    case 'pause':
      return out('pause', because)
    case 'hold': {
      if (windowRequests === 0) {
        const d = decideWithoutData(state, spec, 'the window had no requests', now)
        if (d.kind === 'pause') return out('pause', d.reason)
      }
      const silent = beaconSilence(state, spec, evidence, now)
      if (silent !== null) return out('pause', silent)
      return out('hold', because || 'not enough data yet')
    }
    case 'healthy': {
      if (state.phase === 'awaiting-approval') return out('hold', `healthy; waiting for an operator to approve the next step`)
      if (bakeLeftMs > 0) return out('hold', `healthy; baking, ${minutes(bakeLeftMs)} min left at ${step.weight} %`)
      if (evidence.stepCanaryRequests < step.minRequests) {
        return out('hold', `healthy; waiting for ${step.minRequests} canary requests at this step (${evidence.stepCanaryRequests} so far)`)
      }
      const on = onward(spec, state, `at ${step.weight} %`, `for ${step.bakeMinutes} min at ${step.weight} %`)
      return out(on.kind, on.reason)
    }
  }
}

/** Where a step that is done goes: the next step, unless its gate needs an approval first, or the promotion. */
export function onward(spec: RolloutSpec, state: RolloutState, here: string, done: string): { kind: 'promote' | 'gate' | 'advance'; reason: string } {
  const next = spec.schedule[state.step + 1]
  if (!next) return { kind: 'promote', reason: 'healthy through the last step' }
  if (next.gate) return { kind: 'gate', reason: `healthy ${here}; ${next.weight} % needs an operator's approval` }
  return { kind: next.weight >= 100 ? 'promote' : 'advance', reason: `healthy ${done}; moving to ${next.weight} %` }
}

/**
 * With real-user signals on, a canary whose pages send no beacons can never be called healthy: rather than hold
 * forever, pause (and notify) once that outlasts `noDataPauseMinutes`, naming the likely causes.
 */
function beaconSilence(state: RolloutState, spec: RolloutSpec, evidence: ControllerEvidence, now: number): string | null {
  // minPageViews 0 is an operator's "promote without beacons" (pages that run no JavaScript, the demo's traffic).
  if (!spec.rum.enabled || spec.judge.rum.minPageViews === 0 || state.weight === 0) return null
  // From the canary's last page view, or from when signals were first judged (RUM turned on mid-step counts from then).
  const s = evidence.signals
  const since = s?.lastCanaryPageViewAt ?? Math.max(s?.rumSince ?? 0, trafficSince(state) ?? now)
  const silent = Math.floor((now - since) / 60_000)
  if (silent < spec.analysis.noDataPauseMinutes) return null
  return `no page-view beacons from the canary for ${silent} minutes while it has ${state.weight} % of traffic (real-user signals are on: does the canary's Content-Security-Policy block the script, is rum.sampleRate 0, or does it serve no HTML?)`
}

/**
 * The decision when there are no numbers to judge (no metrics source, or the
 * query failed): hold, never promote and never roll back on missing data; but
 * pause once the silence outlasts `noDataPauseMinutes` while the canary has traffic, or is sent mirrored requests (a
 * shadow step that sees no comparisons would otherwise hold for ever).
 */
export function decideWithoutData(state: RolloutState, spec: RolloutSpec, problem: string, now: number): Decision {
  const silentSince = evidenceOf(state).lastDataAt ?? trafficSince(state) ?? now
  const silentMinutes = Math.floor((now - silentSince) / 60_000)
  const mirrored = state.shadowWeight ?? 0
  if ((state.weight > 0 || mirrored > 0) && silentMinutes >= spec.analysis.noDataPauseMinutes) {
    const has = state.weight > 0 ? `the canary has ${state.weight} % of traffic` : `${mirrored} % of visitors are mirrored to the canary`
    return { kind: 'pause', reason: `no metrics for ${silentMinutes} minutes (${problem}) while ${has}` }
  }
  return { kind: 'hold', reason: `holding: ${problem}` }
}

/** Each ring's verdict and its main numbers, as the history keeps them (a ring's full numbers would repeat the global shape). */
function ringsRecord(rings: Record<string, RingVerdict>) {
  const keys = [
    'windowStableRequests',
    'windowStableErrors',
    'windowCanaryRequests',
    'windowCanaryErrors',
    'canaryUnits',
    'canaryUnitFailures',
    'stableUnits',
    'stableUnitFailures',
    'logMixtureLR',
    'srmPValue',
  ] as const
  return Object.fromEntries(
    Object.entries(rings).map(([name, r]) => [
      name || 'everyone-else',
      {
        label: ringLabel(name),
        weight: r.weight,
        verdict: r.verdict,
        reason: r.reasons[0] ?? '',
        numbers: Object.fromEntries(keys.map((k) => [k, r.numbers[k] ?? null])),
      },
    ]),
  )
}
