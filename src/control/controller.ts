/**
 * @module
 * The cron controller. Each tick, for every `progressing` rollout: read the
 * next data window, judge it, decide, and hand the decision to the coordinator,
 * which applies it only if nobody changed the rollout meanwhile.
 *
 * Windows: from the end of the last judged window to the last whole minute
 * before `now - lagMinutes` (Analytics Engine ingestion lags, so the newest
 * minute is left out). A failed query consumes no window: the next tick asks
 * for it again. After a step change the next window starts at the step's
 * start, so every window is judged against one weight.
 *
 * Gates (src/core/rollout/gates.ts): an advance, a promotion and a release's
 * first traffic wait for their hooks' go, asked after every other decision of
 * the tick is applied.
 *
 * A shadow step (src/core/shadow/decide.ts) reads the shadow comparisons instead: the error test on the paired
 * answers and the shadow judge on their differences; it may pause, never roll back.
 */
import type { SeriesPoint } from '../contract/index.ts'
import type { RolloutSpec } from '../core/config/schema.ts'
import { type Verdict, type WindowStats, judge } from '../core/judge/judge.ts'
import { judgeRings } from '../core/judge/rings.ts'
import { judgeSignals, withSignals } from '../core/judge/signals.ts'
import type { Decision, RolloutState } from '../core/rollout/machine.ts'
import { type ControllerEvidence, type TickOutcome, decide, decideWithoutData, evidenceOf, nextWindow, trafficSince } from '../core/rollout/decide.ts'
import { type GateEvent, awaitingPreRollout, gateOf, gated, preRolloutGo } from '../core/rollout/gates.ts'
import { decideShadow, inShadowStep, judgePaired, pairedWindow } from '../core/shadow/decide.ts'
import { judgeShadow } from '../core/shadow/judge.ts'
import { coordinator } from './client.ts'
import { callGate, hookPayload } from './hooks.ts'
import { BindingSource } from './metrics/binding.ts'
import { localMetrics } from './metrics/local.ts'
import type { MetricsSource, MetricsWindow, TimeRange } from './metrics/source.ts'
import { SqlApiSource } from './metrics/sql-api.ts'

/** The settings that choose the metrics source (declared in `src/env.d.ts` and `wrangler.control.toml`). */
export type ControllerEnv = Pick<ControlEnv, 'SLUICE_LOCAL_METRICS' | 'ANALYTICS_SQL' | 'AE_ACCOUNT_ID' | 'AE_API_TOKEN' | 'AE_DATASET' | 'AE_SQL_ENDPOINT'>

export const DEFAULT_DATASET = 'sluice_requests'

/** The metrics source this deployment is configured for, or null (the controller then holds). */
export function metricsSourceFor(env: ControllerEnv): MetricsSource | null {
  const dataset = env.AE_DATASET || DEFAULT_DATASET
  if (env.SLUICE_LOCAL_METRICS === '1') return localMetrics
  if (env.ANALYTICS_SQL) return new BindingSource(env.ANALYTICS_SQL, dataset)
  if (env.AE_ACCOUNT_ID && env.AE_API_TOKEN) {
    return new SqlApiSource({
      accountId: env.AE_ACCOUNT_ID,
      token: env.AE_API_TOKEN,
      dataset,
      ...(env.AE_SQL_ENDPOINT ? { endpoint: env.AE_SQL_ENDPOINT } : {}),
    })
  }
  return null
}

export interface TickReport {
  rollout: string
  decision: string
  applied: boolean
  reason: string
}

type Row = { spec: RolloutSpec; state: RolloutState }

interface Plan {
  decision: Decision
  patch: Pick<RolloutState, 'evidence' | 'windowEnd'>
  point?: SeriesPoint
  /** A gate the decision must pass first, with the window end to keep if it holds. */
  gate?: { event: GateEvent; go: TickOutcome; stay: ControllerEvidence; heldWindowEnd: number | null; numbers: unknown }
}

const cohort = (c: WindowStats['stable'], pv?: WindowStats['stable']) => ({
  requests: c.requests,
  errors: c.errors,
  p95: c.latencyMs?.p95 ?? null,
  ...(pv ? { pageViews: pv.requests, pageViewErrors: pv.errors } : {}),
})

/** The plan's gate, when its decision needs one. */
const gateFor = (outcome: TickOutcome, window: MetricsWindow, verdict: Verdict): Pick<Plan, 'gate'> => {
  const event = gateOf(outcome.decision.kind)
  return event ? { gate: { event, go: outcome, stay: outcome.evidence, heldWindowEnd: window.end, numbers: verdict.numbers } } : {}
}

/**
 * A shadow step's tick (src/core/shadow/decide.ts): the error test on the paired answers to mirrored requests, with
 * its own evidence, and the shadow judge on their differences. The 4xx and real-user signals stand aside: the
 * canary has no visitors. A window without comparisons is not consumed, as a failed query.
 */
async function shadowPlan(spec: RolloutSpec, state: RolloutState, range: TimeRange, source: MetricsSource, now: number): Promise<Plan> {
  const keep = { evidence: state.evidence, windowEnd: state.windowEnd }
  let window: MetricsWindow
  try {
    window = await source.window(spec.id, range, { shadow: true })
  } catch (err) {
    return { decision: decideWithoutData(state, spec, `the metrics query failed: ${err instanceof Error ? err.message : String(err)}`, now), patch: keep }
  }
  const shadow = window.shadow
  if (!shadow) return { decision: decideWithoutData(state, spec, `the metrics source (${source.name}) returned no shadow comparisons`, now), patch: keep }
  const evidence0 = evidenceOf(state)
  const paired = pairedWindow(window, shadow)
  const verdict = judgePaired(evidence0.shadowJudge, paired, spec.judge)
  const judged = judgeShadow(evidence0.shadow, shadow, spec.judge.shadow, spec.shadow.ignore, { start: window.start, end: window.end })
  const outcome = decideShadow(state, spec, verdict, paired, shadow, judged, now)
  const stepChanges = outcome.decision.kind === 'advance' || outcome.decision.kind === 'promote'
  return {
    decision: outcome.decision,
    patch: { evidence: outcome.evidence, windowEnd: stepChanges ? now : window.end },
    // The paired answers: stable's and the canary's to the same mirrored requests (the weight is 0).
    point: { at: window.end, weight: state.weight, stable: cohort(shadow.stable), canary: cohort(shadow.canary) },
    ...gateFor(outcome, window, verdict),
  }
}

/** Reads, judges and decides for one rollout. Without numbers, the window is not consumed. */
async function plan(spec: RolloutSpec, state: RolloutState, range: TimeRange, source: MetricsSource | null, now: number): Promise<Plan> {
  const keep = { evidence: state.evidence, windowEnd: state.windowEnd }
  if (!source) return { decision: decideWithoutData(state, spec, 'no metrics source is configured (see "Metrics source" in the README)', now), patch: keep }
  if (inShadowStep(spec, state)) return shadowPlan(spec, state, range, source, now)
  // A rollout that has audiences is judged per ring too (src/core/judge/rings.ts): its windows come per ring.
  const byRing = Object.keys(spec.audiences).length > 0
  let window: MetricsWindow
  try {
    const spans = evidenceOf(state).signals?.vitalsSince
    const vitalsSince = spans && Object.fromEntries(Object.entries(spans).filter((e): e is [string, number] => e[1] !== null))
    window = await source.window(spec.id, range, { byRing, rum: spec.rum.enabled, ...(vitalsSince ? { vitalsSince } : {}) })
  } catch (err) {
    return { decision: decideWithoutData(state, spec, `the metrics query failed: ${err instanceof Error ? err.message : String(err)}`, now), patch: keep }
  }
  // The split is only comparable with the weight once the new weight has reached the edge, and not in sampled data.
  const settled = window.start >= (trafficSince(state) ?? 0) + spec.analysis.settleSeconds * 1000 && !window.sampled
  const evidence0 = evidenceOf(state)
  // Sampled rows undercount the failures of the cohort sampled harder (stable, the larger one) far more than the
  // clients seen, so per-client counts would favour false rollbacks there; the stored rows, counted per request,
  // are a uniform sample of each cohort (see sql.ts). Such a window is judged per request.
  const cfg = window.sampled && spec.judge.errorUnit === 'client' ? { ...spec.judge, errorUnit: 'request' as const } : spec.judge
  // A ring above everyone's weight makes the cohorts differ in audience; the signals' comparisons then stand aside.
  const pooled = Object.values(state.rings ?? {}).some((w) => w > state.weight)
  const signals = judgeSignals(evidence0.signals ?? undefined, window.signals, cfg, { rum: spec.rum.enabled, pooled, start: window.start, end: window.end })
  let outcome: TickOutcome
  let verdict: Verdict
  if (byRing) {
    const weights = { global: state.weight, rings: state.rings ?? {} }
    const r = judgeRings(evidence0.judge, evidence0.rings, window, window.rings ?? {}, cfg, weights, settled)
    verdict = withSignals(r.verdict, signals)
    outcome = decide(state, spec, verdict, window, now, r, signals)
  } else {
    verdict = withSignals(judge(evidence0.judge, window, cfg, { weight: state.weight, weightSettled: settled }), signals)
    outcome = decide(state, spec, verdict, window, now, undefined, signals)
  }
  const { decision, evidence } = outcome
  const stepChanges = decision.kind === 'advance' || decision.kind === 'promote'
  const rum = window.signals?.rum
  return {
    decision,
    patch: { evidence, windowEnd: stepChanges ? now : window.end },
    point: { at: window.end, weight: state.weight, stable: cohort(window.stable, rum?.stable), canary: cohort(window.canary, rum?.canary) },
    ...gateFor(outcome, window, verdict),
  }
}

/** A release waiting for its pre-rollout hooks: no metrics to read (the canary has no traffic), only the gate. */
function preRolloutPlan(state: RolloutState, now: number): Plan {
  const go = preRolloutGo(state, now)
  return {
    decision: go.decision,
    patch: { evidence: go.evidence, windowEnd: now },
    gate: { event: 'pre-rollout', go, stay: evidenceOf(state), heldWindowEnd: state.windowEnd, numbers: null },
  }
}

/** Asks the plan's gate hooks, and turns the plan into what they allow. */
async function passGate({ spec, state }: Row, p: Plan, now: number): Promise<Plan> {
  const g = p.gate!
  // Before its go the edge serves this release's canary nothing, whatever the state's weight says.
  const from = g.event === 'pre-rollout' ? { ...state, weight: 0 } : state
  const to = { weight: g.event === 'confirm-step' ? spec.schedule[state.step + 1]!.weight : g.event === 'confirm-promotion' ? 100 : state.weight }
  const results = await callGate(spec, g.event, hookPayload(g.event, spec, from, to, g.numbers, p.decision.reason))
  const { decision, evidence } = gated(state, spec, g.event, results, g.go, g.stay)
  return { decision, patch: { evidence, windowEnd: results.every((r) => r.ok) ? p.patch.windowEnd : g.heldWindowEnd }, ...(p.point ? { point: p.point } : {}) }
}

export async function runController(env: ControlEnv, now: number, source = metricsSourceFor(env)): Promise<TickReport[]> {
  const c = coordinator(env)
  const apply = async ({ spec, state }: Row, p: Plan): Promise<TickReport> => {
    const r = await c.decide(spec.id, p.decision, { revision: state.revision, windowEnd: state.windowEnd }, p.patch, p.point)
    return { rollout: spec.id, decision: p.decision.kind, applied: r.ok && r.value.applied, reason: p.decision.reason }
  }
  // Every rollout at once, and each decision that needs no hook (rollbacks above all) applied as soon as its own
  // plan is ready: one rollout's slow metrics query then delays no other rollout's decision.
  const gates: [Row, Plan][] = []
  const ungated = (
    await Promise.all(
      (await c.progressing()).map(async (row): Promise<TickReport | null> => {
        const range = awaitingPreRollout(row.spec, row.state) ? null : nextWindow(row.state, row.spec, now)
        const p = awaitingPreRollout(row.spec, row.state) ? preRolloutPlan(row.state, now) : range ? await plan(row.spec, row.state, range, source, now) : null
        if (!p) return null
        if (p.gate) {
          gates.push([row, p])
          return null
        }
        return apply(row, p)
      }),
    )
  ).filter((r) => r !== null)
  // Hooks are called only after every other decision of the tick is applied: a hook that hangs (until its timeout)
  // then holds up only its own rollout, and occupies none of the connections the others need.
  const gatedReports = await Promise.all(gates.map(async ([row, p]) => apply(row, await passGate(row, p, now))))
  return [...ungated, ...gatedReports]
}
