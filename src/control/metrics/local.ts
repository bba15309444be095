/**
 * @module
 * Local metrics for `npm start`. Miniflare's Analytics Engine binding drops
 * every write, so with `SLUICE_LOCAL_METRICS = "1"` the edge worker sends its
 * data points over the CONTROL binding (an RPC call per batch) to the control worker,
 * which keeps them here, in its isolate's memory; the controller, in the same
 * isolate, reads them back with the same arithmetic as the SQL query: counts,
 * errors, exact latency quantiles and clients per cohort, and the shadow step's comparisons grouped as the shadow
 * fields query groups them (src/control/metrics/shadow.ts does the rest for both). A deployed worker never sets
 * the variable, so it pays nothing: no subrequest, no memory.
 */
import { cohortIndex, decodeRequestPoint, decodeRumPoint, decodeShadowPoint, encodeDiffs, rumIndex, shadowIndex } from '../../contract/datapoint.ts'
import type { ClientCounts, CohortCounts, WindowStats } from '../../core/judge/judge.ts'
import type { RumCounts, SignalWindow } from '../../core/judge/signals.ts'
import { SRM_CLIENT_CAP } from '../../core/judge/units.ts'
import type { VitalsSummary } from '../../core/judge/vitals.ts'
import type { Vital } from '../../core/judge/schema.ts'
import type { ShadowWindow } from '../../core/shadow/window.ts'
import { type ShadowGroup, shadowWindow } from './shadow.ts'
import { FINGERPRINT_ROWS, vitalStarts, wholeSeconds } from './sql.ts'
import type { MetricsSource, MetricsWindow, TimeRange, WindowOptions } from './source.ts'

interface Event {
  at: number
  index: string
  latencyMs: number
  error: boolean
  clientError: boolean
  client: string
  ring: string
  rum: string
}

type Beacon = NonNullable<ReturnType<typeof decodeRumPoint>> & { at: number }

/** A shadow point as the fields query reads it: its lists as blobs again ('' for noise unless stable was asked twice). */
interface Comparison {
  at: number
  index: string
  route: string
  diffs: string
  noise: string
  noiseSampled: boolean
  example: string
  stableLatencyMs: number
  canaryLatencyMs: number
  stableError: boolean
  canaryError: boolean
}

/** An hour of events at most; older ones can no longer be asked for. */
const KEEP_MS = 60 * 60_000
const MAX_EVENTS = 500_000
/** A comparison carries an example of a few hundred characters: fewer are kept (some 20 MB at most). */
const MAX_COMPARISONS = 20_000

/** Exact quantile by the nearest-rank method, as quantileExactWeighted with unit weights. */
function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

/** The request query's three latency quantiles of some (at least one) latencies. */
function latencyOf(values: number[]): NonNullable<CohortCounts['latencyMs']> {
  const sorted = values.sort((a, b) => a - b)
  return { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), p99: quantile(sorted, 0.99) }
}

export class LocalMetrics implements MetricsSource {
  readonly name = 'local'
  #events: Event[] = []
  #beacons: Beacon[] = []
  #comparisons: Comparison[] = []
  readonly #now: () => number

  constructor(now: () => number = () => Date.now()) {
    this.#now = now
  }

  /** The `AnalyticsEngineDataset` side: the edge calls this exactly as it calls the real binding. */
  writeDataPoint(p?: AnalyticsEngineDataPoint): void {
    const at = this.#now()
    const beacon = decodeRumPoint(p)
    if (beacon) {
      this.#beacons.push({ at, ...beacon })
      this.#beacons = trim(this.#beacons, at)
      return
    }
    const shadow = decodeShadowPoint(p)
    if (shadow) {
      const { index, route, diffs, noise, example, stableLatencyMs, canaryLatencyMs, stableError, canaryError } = shadow
      const lists = { diffs: encodeDiffs(diffs), noise: encodeDiffs(noise ?? []), noiseSampled: noise !== null }
      this.#comparisons.push({ at, index, route, ...lists, example, stableLatencyMs, canaryLatencyMs, stableError, canaryError })
      this.#comparisons = trim(this.#comparisons, at, MAX_COMPARISONS)
      return
    }
    const point = decodeRequestPoint(p)
    if (!point) return
    this.#events.push({
      at,
      index: point.index,
      latencyMs: point.latencyMs,
      error: point.error,
      clientError: point.clientError,
      client: point.client,
      ring: point.ring,
      rum: point.rum,
    })
    this.#events = trim(this.#events, at)
  }

  async window(rolloutId: string, asked: TimeRange, opts: WindowOptions = {}): Promise<MetricsWindow> {
    const range = wholeSeconds(asked)
    const since = Math.min(range.since ?? range.start, range.start)
    const indexes = [cohortIndex(rolloutId, 'stable'), cohortIndex(rolloutId, 'canary')]
    // One pass over the store for the window and the release's earlier failures; the windows are cut from them.
    const inWindow = this.#events.filter((e) => indexes.includes(e.index) && e.at >= range.start && e.at < range.end)
    const earlier = this.#events.filter((e) => indexes.includes(e.index) && e.error && e.at >= since && e.at < range.start)
    const windowOf = (keep: (e: Event) => boolean): WindowStats => {
      const cohort = (index: string): CohortCounts => {
        const hits = inWindow.filter((e) => e.index === index && keep(e))
        const clients = clientsOf(
          hits,
          earlier.filter((e) => e.index === index && keep(e)),
          (e) => e.error,
        )
        const counts: CohortCounts = { requests: hits.length, errors: hits.filter((e) => e.error).length, clients }
        if (hits.length === 0) return counts
        return { ...counts, latencyMs: latencyOf(hits.map((e) => e.latencyMs)) }
      }
      return { start: asked.start, end: asked.end, stable: cohort(indexes[0]!), canary: cohort(indexes[1]!) }
    }
    const client4xx = (index: string): CohortCounts => {
      const hits = inWindow.filter((e) => e.index === index)
      const failed = this.#events.filter((e) => e.index === index && e.clientError && e.at >= since && e.at < range.start)
      return { requests: hits.length, errors: hits.filter((e) => e.clientError).length, clients: clientsOf(hits, failed, (e) => e.clientError) }
    }
    const signals: SignalWindow = { clientErrors: { stable: client4xx(indexes[0]!), canary: client4xx(indexes[1]!) } }
    if (opts.rum) {
      signals.rum = this.#rum(rolloutId, range, since, vitalStarts(range, opts.vitalsSince))
      const injection = (index: string) => {
        const hits = inWindow.filter((e) => e.index === index)
        return { injected: hits.filter((e) => e.rum === 'injected').length, csp: hits.filter((e) => e.rum === 'csp').length }
      }
      signals.injection = { stable: injection(indexes[0]!), canary: injection(indexes[1]!) }
    }
    const global: MetricsWindow = { ...windowOf(() => true), signals, ...(opts.shadow ? { shadow: this.#shadow(rolloutId, range) } : {}) }
    if (!opts.byRing) return global
    const rings = Object.fromEntries([...new Set([...inWindow, ...earlier].map((e) => e.ring))].map((ring) => [ring, windowOf((e) => e.ring === ring)]))
    return { ...global, rings }
  }

  /** The shadow queries' arithmetic (src/control/metrics/sql.ts): both sides' totals, and the points grouped by route and lists. */
  #shadow(rolloutId: string, range: TimeRange): ShadowWindow {
    const index = shadowIndex(rolloutId)
    const hits = this.#comparisons.filter((c) => c.index === index && c.at >= range.start && c.at < range.end)
    const side = (latency: (c: Comparison) => number, error: (c: Comparison) => boolean): CohortCounts => {
      const counts = { requests: hits.length, errors: hits.filter(error).length }
      if (hits.length === 0) return counts
      return { ...counts, latencyMs: latencyOf(hits.map(latency)) }
    }
    const groups = new Map<string, ShadowGroup & { latest: number }>()
    for (const c of hits) {
      const key = JSON.stringify([c.route, c.diffs, c.noise])
      const g = groups.get(key) ?? {
        route: c.route,
        diffs: c.diffs,
        noise: c.noise,
        compared: 0,
        noiseSampled: 0,
        canaryErrors: 0,
        stableErrors: 0,
        example: '',
        latest: -Infinity,
      }
      g.compared++
      g.noiseSampled += c.noiseSampled ? 1 : 0
      g.canaryErrors += c.canaryError ? 1 : 0
      g.stableErrors += c.stableError ? 1 : 0
      // argMax(example, timestamp): the latest point's example.
      if (c.at >= g.latest) [g.example, g.latest] = [c.example, c.at]
      groups.set(key, g)
    }
    return shadowWindow(
      {
        stable: side(
          (c) => c.stableLatencyMs,
          (c) => c.stableError,
        ),
        canary: side(
          (c) => c.canaryLatencyMs,
          (c) => c.canaryError,
        ),
      },
      [...groups.values()],
    )
  }

  /** The beacon queries' arithmetic (src/control/metrics/sql.ts): page views, errors, vitals' p75 and fingerprints. */
  #rum(rolloutId: string, range: TimeRange, since: number, starts: Record<Vital, number>): NonNullable<SignalWindow['rum']> {
    const cohort = (c: 'stable' | 'canary'): RumCounts => {
      const index = rumIndex(rolloutId, c)
      const mine = this.#beacons.filter((b) => b.index === index && b.at < range.end)
      const inWindow = mine.filter((b) => b.at >= range.start)
      const views = inWindow.filter((b) => b.pageView)
      const vitals: VitalsSummary = {}
      for (const v of ['lcp', 'inp', 'cls'] as const) {
        const values = mine
          .filter((b) => b.at >= starts[v])
          .map((b) => b[v])
          .filter((x) => x !== undefined)
        if (values.length > 0)
          vitals[v] = {
            p75: quantile(
              values.sort((a, b) => a - b),
              0.75,
            ),
            n: values.length,
          }
      }
      const earlier = mine.filter((b) => b.pageView && b.errored && b.at >= since && b.at < range.start)
      return {
        requests: views.length,
        errors: views.filter((b) => b.errored).length,
        clients: clientsOf(views, earlier, (b) => b.errored),
        vitals,
        fingerprints: top.filter((f) => f.cohort === c).map(({ fingerprint, clients }) => ({ fingerprint, clients })),
      }
    }
    // The fingerprints query's arithmetic: distinct clients per cohort and fingerprint, the most frequent of both cohorts.
    const reported = new Map<string, { cohort: 'stable' | 'canary'; fingerprint: string; clients: Set<string> }>()
    for (const c of ['stable', 'canary'] as const) {
      const index = rumIndex(rolloutId, c)
      for (const b of this.#beacons) {
        if (b.index !== index || !b.fingerprint || b.at < range.start || b.at >= range.end) continue
        const key = `${c}\n${b.fingerprint}`
        const entry = reported.get(key) ?? { cohort: c, fingerprint: b.fingerprint, clients: new Set<string>() }
        entry.clients.add(b.client)
        reported.set(key, entry)
      }
    }
    const top = [...reported.values()]
      .map((f) => ({ cohort: f.cohort, fingerprint: f.fingerprint, clients: f.clients.size }))
      .sort((a, b) => b.clients - a.clients || (a.fingerprint < b.fingerprint ? -1 : a.fingerprint > b.fingerprint ? 1 : a.cohort < b.cohort ? -1 : 1))
      .slice(0, FINGERPRINT_ROWS)
    return { stable: cohort('stable'), canary: cohort('canary') }
  }
}

/** The events of the last hour, at most `max` of them. */
const trim = <T extends { at: number }>(events: T[], now: number, max = MAX_EVENTS): T[] =>
  events.length > max || now - events[0]!.at > KEEP_MS ? events.filter((e) => now - e.at <= KEEP_MS).slice(-max) : events

/**
 * The clients query's arithmetic (src/control/metrics/sql.ts) over the window's units and the earlier failures;
 * `failed` says what a failure is (a 5xx by default; a 4xx, or a page view with an error).
 */
function clientsOf<T extends { client: string }>(inWindow: readonly T[], earlierFailures: readonly T[], failed: (e: T) => boolean): ClientCounts {
  const failedBefore = new Set(earlierFailures.map((e) => e.client))
  const requests = new Map<string, number>()
  const failing = new Set<string>()
  for (const e of inWindow) {
    requests.set(e.client, (requests.get(e.client) ?? 0) + 1)
    if (failed(e)) failing.add(e.client)
  }
  const fresh = [...requests.keys()].filter((c) => !failedBefore.has(c))
  let cappedRequests = 0
  for (const n of requests.values()) cappedRequests += Math.min(n, SRM_CLIENT_CAP)
  return { seen: requests.size, failing: failing.size, fresh: fresh.length, firstFailures: fresh.filter((c) => failing.has(c)).length, cappedRequests }
}

/** The control worker's local store: the edge's data points arrive here over RPC, the controller reads them. */
export const localMetrics = new LocalMetrics()
