/**
 * @module
 * Builds the diff report (report.ts) from a release's shadow evidence: the same calls the controller acts on
 * (judge.ts `callFields`, with the rollout's current settings and ignore list), so what an operator reads is what
 * paused or advanced the rollout.
 */
import type { RolloutSpec } from '../config/schema.ts'
import type { RolloutState } from '../rollout/machine.ts'
import { type ShadowState, callFields, isShadowState } from './judge.ts'
import type { ReportField, ReportRoute, ShadowReport } from './report.ts'

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

/** The report of `state` (null or invalid: no comparisons yet): routes most compared first, fields most differing first. */
export function shadowReport(state: ShadowState | null | undefined, spec: RolloutSpec, rollout: RolloutState): ShadowReport {
  const s = isShadowState(state) ? state : null
  const calls = s ? callFields(s, spec.judge.shadow, spec.shadow.ignore) : []
  const routes: ReportRoute[] = Object.entries(s?.routes ?? {}).map(([route, r]) => ({
    route,
    compared: r.compared,
    noiseSampled: r.noiseSampled,
    statusMismatches: r.fields.status?.canary ?? 0,
    canaryErrors: r.canaryErrors,
    stableErrors: r.stableErrors,
    // callFields has them in order already: most differing first.
    fields: calls
      .filter((c) => c.route === route)
      .map((c): ReportField => ({
        field: c.field,
        kind: c.kind,
        canary: c.canary,
        canaryRate: c.canaryRate,
        noise: c.noise,
        noiseRate: c.noiseRate,
        verdict: c.verdict,
        example: r.fields[c.field]?.example ?? null,
      })),
  }))
  routes.sort((a, b) => b.compared - a.compared || (a.route < b.route ? -1 : 1))
  const verdict = calls.some((c) => c.verdict === 'differs') ? 'differs' : calls.some((c) => c.verdict === 'pending') ? 'pending' : 'clean'
  return {
    rolloutId: spec.id,
    release: rollout.release,
    shadowWeight: rollout.shadowWeight ?? 0,
    since: iso(s?.since ?? null),
    until: iso(s?.until ?? null),
    compared: routes.reduce((n, r) => n + r.compared, 0),
    noiseSampled: routes.reduce((n, r) => n + r.noiseSampled, 0),
    verdict,
    routes,
  }
}
