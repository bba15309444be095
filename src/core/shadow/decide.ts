/**
 * @module
 * The controller's decision in a shadow step (`schedule[0].shadow`), from the error test's verdict on the paired
 * answers (canary's against stable's, to the same mirrored requests) and the shadow judge's calls. Pure, like
 * src/core/rollout/decide.ts, whose rules for what comes after a step it reuses.
 *
 * A shadow step never rolls back: nobody is served by the canary, so a canary whose errors are significant is
 * paused (and notified) instead (unless an operator's weight, resumed from, gave it visitors there). It pauses on a field that differs above noise; it advances only when baked, with
 * its minimum compared requests, the error test healthy and no field pending; otherwise it holds, and pauses once
 * held `judge.shadow.pauseAfterMinutes` past its bake time (rather than mirror for ever).
 */
import type { RolloutSpec } from '../config/schema.ts'
import { pct } from '../judge/numbers.ts'
import { type JudgeState, type Verdict, type WindowStats, initialJudgeState, judge } from '../judge/judge.ts'
import type { JudgeConfig } from '../judge/schema.ts'
import { type ControllerEvidence, type TickOutcome, decideWithoutData, evidenceOf, windowRecord, onward, trafficSince } from '../rollout/decide.ts'
import type { Decision, RolloutState } from '../rollout/machine.ts'
import type { FieldCall, ShadowJudgement } from './judge.ts'
import type { ShadowWindow } from './window.ts'

/** Whether the rollout's current step is a shadow step. */
export const inShadowStep = (spec: RolloutSpec, state: RolloutState): boolean => state.step >= 0 && spec.schedule[state.step]?.shadow !== undefined

/** The paired answers as the error test's window: stable's are the baseline of the canary's. */
export const pairedWindow = (range: { start: number; end: number }, w: ShadowWindow): WindowStats => ({
  start: range.start,
  end: range.end,
  stable: w.stable,
  canary: w.canary,
})

/**
 * How the error test runs on the paired answers: per request (mirrored requests carry no fresh-client counts),
 * and with no sample-ratio check (the pairing is by construction, not by bucketing): weight 0 and no split to check.
 */
export const pairedContext = { weight: 0, checkSplit: false } as const

/** The error test and latency guard on the paired answers, on the shadow step's own evidence (the controller's and the simulator's one way). */
export const judgePaired = (prev: JudgeState | null, paired: WindowStats, cfg: JudgeConfig): Verdict =>
  judge(prev ?? initialJudgeState(), paired, { ...cfg, errorUnit: 'request' }, pairedContext)

const LIST = 3
/** "missing /name, extra /fullName (canary 100 % vs noise 0 %)" per route, the most differing first, a few of each. */
export function describeFields(calls: readonly FieldCall[]): string {
  const byRoute = new Map<string, FieldCall[]>()
  for (const c of calls) byRoute.set(c.route, [...(byRoute.get(c.route) ?? []), c])
  const more = (n: number, what: string) => (n > 0 ? `, and ${n} more ${what}` : '')
  const routes = [...byRoute].slice(0, LIST).map(([route, fs]) => {
    const top = fs[0]!
    const rates = `canary ${pct(top.canaryRate)} vs noise ${top.noiseRate === null ? 'unknown' : pct(top.noiseRate)}`
    return `${route}: ${fs
      .slice(0, LIST)
      .map((f) => `${f.kind} ${f.field}`)
      .join(', ')}${more(fs.length - LIST, 'fields')} (${rates})`
  })
  return `${routes.join('; ')}${more(byRoute.size - LIST, 'routes')}`
}

const short = (c: FieldCall) => ({ route: c.route, field: c.field, kind: c.kind, canaryRate: c.canaryRate, noiseRate: c.noiseRate })

const minutes = (ms: number) => Math.max(0, Math.ceil(ms / 60_000))

/** Compared and noise-sampled requests in all of the state's routes. */
function totals(j: ShadowJudgement) {
  let compared = 0
  let noiseSampled = 0
  for (const r of Object.values(j.state.routes)) {
    compared += r.compared
    noiseSampled += r.noiseSampled
  }
  return { compared, noiseSampled }
}

/** Compared requests in the window (0 when the shadow judge refused it). */
const windowCompared = (w: ShadowWindow, j: ShadowJudgement) => (j.problem !== null ? 0 : Object.values(w.routes).reduce((n, r) => n + r.compared, 0))

/** One tick's decision in a shadow step. `window` is the paired window the verdict judged, `shadow` its comparisons. */
export function decideShadow(
  state: RolloutState,
  spec: RolloutSpec,
  verdict: Verdict,
  window: WindowStats,
  shadowWindow: ShadowWindow,
  judged: ShadowJudgement,
  now: number,
): TickOutcome {
  const prev = evidenceOf(state)
  const compared = windowCompared(shadowWindow, judged)
  const paired = window.stable.requests + window.canary.requests
  const evidence: ControllerEvidence = {
    ...prev,
    shadowJudge: verdict.state,
    shadow: judged.state,
    stepCanaryRequests: prev.stepCanaryRequests + compared,
    lastDataAt: compared > 0 || paired > 0 ? window.end : prev.lastDataAt,
    since: prev.since ?? window.start,
    confirmedAt: prev.confirmedAt ?? window.start,
  }
  const step = spec.schedule[state.step]!
  const bakeEnd = (trafficSince(state) ?? now) + step.bakeMinutes * 60_000
  const all = totals(judged)
  const data = {
    ...windowRecord(window, verdict),
    step: {
      index: state.step,
      weight: 0,
      shadow: step.shadow ?? 0,
      canaryRequests: evidence.stepCanaryRequests,
      minRequests: step.minRequests,
      bakeMinutesLeft: minutes(bakeEnd - now),
    },
    shadow: {
      compared: all.compared,
      noiseSampled: all.noiseSampled,
      differs: judged.differs.slice(0, 10).map(short),
      pending: judged.pending.slice(0, 10).map(short),
      ...(judged.problem !== null ? { problem: judged.problem } : {}),
    },
  }
  const out = (kind: Decision['kind'], reason: string): TickOutcome => ({ decision: { kind, reason, data }, evidence })
  const because = verdict.reasons.join('; ')

  if (verdict.verdict === 'rollback') {
    return out('pause', `shadow step: the canary's answers to mirrored requests fail: ${because}; paused, not rolled back: no visitor was served by it`)
  }
  if (verdict.verdict === 'pause') return out('pause', `shadow step: ${because}`)
  if (judged.differs.length > 0) return out('pause', `shadow: ${describeFields(judged.differs)}`)
  if (compared === 0 && paired === 0) {
    const d = decideWithoutData(state, spec, 'the window had no compared requests', now)
    if (d.kind === 'pause') return out('pause', d.reason)
  }
  const held = holdReason(state, spec, verdict, judged, evidence.stepCanaryRequests, bakeEnd, now)
  if (held === null) {
    const on = onward(spec, state, 'in the shadow step', `in the shadow step (${all.compared} compared, no field above noise)`)
    return out(on.kind, on.reason)
  }
  // Waiting for an operator's approval is no reason to give up; anything else is, after long enough.
  const over = Math.floor((now - bakeEnd) / 60_000)
  if (state.phase !== 'awaiting-approval' && over >= spec.judge.shadow.pauseAfterMinutes) {
    return out('pause', `shadow step held ${over} min past its bake time (judge.shadow.pauseAfterMinutes ${spec.judge.shadow.pauseAfterMinutes}): ${held}`)
  }
  return out('hold', held)
}

/** Why the shadow step cannot be left yet, or null when it can. */
function holdReason(
  state: RolloutState,
  spec: RolloutSpec,
  verdict: Verdict,
  judged: ShadowJudgement,
  stepCompared: number,
  bakeEnd: number,
  now: number,
): string | null {
  const step = spec.schedule[state.step]!
  if (verdict.verdict === 'hold') return `shadow step: ${verdict.reasons.join('; ') || 'not enough data yet'}`
  // A window whose comparisons were refused was not looked at: leaving the step on it would skip its differences.
  if (judged.problem !== null) return `shadow: this window's comparisons were refused (${judged.problem})`
  if (state.phase === 'awaiting-approval') return 'healthy; waiting for an operator to approve the next step'
  if (bakeEnd > now) return `healthy; shadow step baking, ${minutes(bakeEnd - now)} min left mirroring ${step.shadow} %`
  if (stepCompared < step.minRequests) return `healthy; waiting for ${step.minRequests} compared requests in the shadow step (${stepCompared} so far)`
  if (judged.pending.length > 0) return `shadow: not yet told from noise: ${describeFields(judged.pending)}`
  return null
}
