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
 */
import type { RolloutSpec } from '../core/config/schema.ts'
import { type WindowStats, judge } from '../core/judge/judge.ts'
import type { Decision, RolloutState } from '../core/rollout/machine.ts'
import { decide, decideWithoutData, evidenceOf, nextWindow } from '../core/rollout/decide.ts'
import { coordinator } from './client.ts'
import type { SeriesPoint } from './coordinator.ts'
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
    return new SqlApiSource({ accountId: env.AE_ACCOUNT_ID, token: env.AE_API_TOKEN, dataset, ...(env.AE_SQL_ENDPOINT ? { endpoint: env.AE_SQL_ENDPOINT } : {}) })
  }
  return null
}

export interface TickReport {
  rollout: string
  decision: string
  applied: boolean
  reason: string
}

interface Plan {
  decision: Decision
  patch: Pick<RolloutState, 'evidence' | 'windowEnd'>
  point?: SeriesPoint
}

/** Reads, judges and decides for one rollout. Without numbers, the window is not consumed. */
async function plan(spec: RolloutSpec, state: RolloutState, range: TimeRange, source: MetricsSource | null, now: number): Promise<Plan> {
  const keep = { evidence: state.evidence, windowEnd: state.windowEnd }
  if (!source) return { decision: decideWithoutData(state, spec, 'no metrics source is configured (see "Metrics source" in the README)', now), patch: keep }
  let window: MetricsWindow
  try {
    window = await source.window(spec.id, range)
  } catch (err) {
    return { decision: decideWithoutData(state, spec, `the metrics query failed: ${err instanceof Error ? err.message : String(err)}`, now), patch: keep }
  }
  // The split is only comparable with the weight once the new weight has reached the edge, and not in sampled data.
  const settled = window.start >= (state.stepStartedAt ?? 0) + spec.analysis.settleSeconds * 1000 && !window.sampled
  const verdict = judge(evidenceOf(state).judge, window, spec.judge, { weight: state.weight, weightSettled: settled })
  const { decision, evidence } = decide(state, spec, verdict, window, now)
  const stepChanges = decision.kind === 'advance' || decision.kind === 'promote'
  const cohort = (c: WindowStats['stable']) => ({ requests: c.requests, errors: c.errors, p95: c.latencyMs?.p95 ?? null })
  return {
    decision,
    patch: { evidence, windowEnd: stepChanges ? now : window.end },
    point: { at: window.end, weight: state.weight, stable: cohort(window.stable), canary: cohort(window.canary) },
  }
}

export async function runController(env: ControlEnv, now: number, source = metricsSourceFor(env)): Promise<TickReport[]> {
  const c = coordinator(env)
  const reports: TickReport[] = []
  for (const { spec, state } of await c.progressing()) {
    const range = nextWindow(state, spec, now)
    if (!range) continue
    const { decision, patch, point } = await plan(spec, state, range, source, now)
    const r = await c.decide(spec.id, decision, { revision: state.revision, windowEnd: state.windowEnd }, patch, point)
    reports.push({ rollout: spec.id, decision: decision.kind, applied: r.ok && r.value.applied, reason: decision.reason })
  }
  return reports
}
