/**
 * @module
 * The simulator's shadow traffic (issue 13): while the edge mirrors a share
 * of visitors (a shadow step's `shadow`), each minute some of stable's
 * requests are also sent to the canary and the two answers compared, as the
 * edge does, and a window's minutes are summed into the ShadowWindow a
 * metrics source returns (src/core/shadow/window.ts) for the shadow judge.
 *
 * Per minute: Binomial(stable's requests, mirrored share × `safeShare`)
 * mirrored requests (per request, not per session: the shadow judge counts
 * requests), spread over the routes by weight (multinomial); on each route,
 * Binomial(`noiseSampleRate`) of them ask stable a second time. Each answer
 * fails at its cohort's error rate of the minute (an incident's included), and
 * `status` differs when exactly one of the two answers failed. Each modelled
 * field differs, independently per request and field, canary against stable
 * with probability `canary` and stable against stable with probability
 * `noise`. A field that differs in both at the same rate is noise; one that
 * differs only in the canary is a regression. The budgets (in-flight cap,
 * timeout, body size) are not modelled: every safe request of a mirrored
 * visitor is compared. With rings, the scenario's own error rates apply (a
 * shadow step mirrors everyone alike).
 *
 * Its dice come from streams of their own (purposes 9 and 10), so a scenario
 * without a shadow step draws exactly what it drew before this module.
 */
import type { Random } from '../../lib/random.ts'
import type { CohortCounts } from '../../src/core/judge/state.ts'
import type { ShadowRouteCounts, ShadowWindow } from '../../src/core/shadow/window.ts'
import { DEFAULT_LATENCY, type Scenario, type ShadowModel } from './scenario.ts'
import { type MinuteTraffic, errorRatesAt, latencyQuantiles, streamFor } from './traffic.ts'

const SHADOW = 9
const SHADOW_LATENCY = 10

/** One minute's comparisons, by route: the counts a source sums over a window. */
export type ShadowMinute = Record<string, ShadowRouteCounts>

const emptyRoute = (): ShadowRouteCounts => ({ compared: 0, noiseSampled: 0, canaryErrors: 0, stableErrors: 0, fields: {} })

/** One route's comparisons of `n` mirrored requests. */
function routeMinute(
  rng: Random,
  n: number,
  noiseRate: number,
  rates: { stable: number; canary: number },
  fields: ShadowModel['routes'][number]['fields'],
): ShadowRouteCounts {
  const sampled = rng.binomial(n, noiseRate)
  const stableErrors = rng.binomial(n, rates.stable)
  // Each answer fails on its own: the canary fails on requests stable answered and on those it failed alike.
  const bothFailed = rng.binomial(stableErrors, rates.canary)
  const onlyCanary = rng.binomial(n - stableErrors, rates.canary)
  const statusCanary = stableErrors - bothFailed + onlyCanary
  // Two stable answers differ in status when exactly one of them failed.
  const statusNoise = rng.binomial(sampled, 2 * rates.stable * (1 - rates.stable))
  const out: ShadowRouteCounts = { compared: n, noiseSampled: sampled, stableErrors, canaryErrors: bothFailed + onlyCanary, fields: {} }
  if (statusCanary + statusNoise > 0) out.fields.status = { kind: 'value', canary: statusCanary, noise: statusNoise }
  for (const f of fields) {
    const canary = rng.binomial(n, f.canary ?? f.noise)
    const noise = rng.binomial(sampled, f.noise)
    // A source only sees the fields some point listed.
    if (canary + noise > 0) out.fields[f.field] = { kind: f.kind, canary, noise }
  }
  return out
}

/**
 * The comparisons of `t`'s minute at `sharePercent`, the edge's mirrored share averaged over the minute; undefined
 * when nothing was mirrored.
 */
export function shadowMinute(s: Scenario, seed: number, t: MinuteTraffic, sharePercent: number): ShadowMinute | undefined {
  if (sharePercent <= 0) return undefined
  const { noiseSampleRate, safeShare, routes } = s.shadow
  const rng = streamFor(seed, SHADOW, t.minute)
  // Every visitor is on stable during a shadow step; mirrored visitors are a bucket range of them.
  let left = rng.binomial(t.stable.requests, Math.min(1, (sharePercent / 100) * safeShare))
  let weightLeft = routes.reduce((sum, r) => sum + r.weight, 0)
  const rates = errorRatesAt(s, t.minute)
  const out: ShadowMinute = {}
  for (const r of routes) {
    // The multinomial as a chain of binomials, as rings.ts splits requests between rings.
    const n = weightLeft > r.weight ? rng.binomial(left, r.weight / weightLeft) : left
    left -= n
    weightLeft -= r.weight
    out[r.route] = routeMinute(rng, n, noiseSampleRate, rates, r.fields)
  }
  return out
}

function addRoute(into: ShadowRouteCounts, r: ShadowRouteCounts): void {
  into.compared += r.compared
  into.noiseSampled += r.noiseSampled
  into.canaryErrors += r.canaryErrors
  into.stableErrors += r.stableErrors
  for (const [name, f] of Object.entries(r.fields)) {
    const had = into.fields[name]
    into.fields[name] = had ? { kind: had.kind, canary: had.canary + f.canary, noise: had.noise + f.noise } : { ...f }
  }
}

/**
 * A window's comparisons as the metrics source returns them: the routes' counts summed over its minutes, and
 * stable's and the canary's answers as cohorts, with latency quantiles drawn per window (as windowCohorts does).
 */
export function shadowWindow(s: Scenario, seed: number, minutes: readonly (ShadowMinute | undefined)[], startMinute: number): ShadowWindow {
  const routes: Record<string, ShadowRouteCounts> = {}
  for (const m of minutes) {
    for (const [name, r] of Object.entries(m ?? {})) addRoute((routes[name] ??= emptyRoute()), r)
  }
  const all = Object.values(routes)
  const sum = (pick: (r: ShadowRouteCounts) => number) => all.reduce((n, r) => n + pick(r), 0)
  // Both cohorts answered every compared request.
  const requests = sum((r) => r.compared)
  const rng = streamFor(seed, SHADOW_LATENCY, startMinute)
  const stableLatency = s.stable.latencyMs ?? DEFAULT_LATENCY
  const cohort = (errors: number, l: { median: number; p95: number }): CohortCounts =>
    requests > 0 ? { requests, errors, latencyMs: latencyQuantiles(rng, requests, l.median, l.p95) } : { requests, errors }
  const stableErrors = sum((r) => r.stableErrors)
  const canaryErrors = sum((r) => r.canaryErrors)
  return { stable: cohort(stableErrors, stableLatency), canary: cohort(canaryErrors, s.canary.latencyMs ?? stableLatency), routes }
}

/** The comparisons as Flagger's mirroring keeps them (the threshold baseline): the answers counted, their differences never read. */
export const unread = (w: ShadowWindow): ShadowWindow => ({
  ...w,
  routes: Object.fromEntries(Object.entries(w.routes).map(([name, r]) => [name, { ...r, fields: {} }])),
})
