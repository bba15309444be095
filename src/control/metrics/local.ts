/**
 * @module
 * Local metrics for `npm start`. Miniflare's Analytics Engine binding drops
 * every write, so with `SLUICE_LOCAL_METRICS = "1"` the edge worker sends its
 * data points over the CONTROL binding (an RPC call) to the control worker,
 * which keeps them here, in its isolate's memory; the controller, in the same
 * isolate, reads them back with the same arithmetic as the SQL query: counts,
 * errors, exact latency quantiles and clients per cohort. A deployed worker never sets
 * the variable, so it pays nothing: no subrequest, no memory.
 */
import { cohortIndex, decodeRequestPoint } from '../../contract/datapoint.ts'
import type { ClientCounts, CohortCounts, WindowStats } from '../../core/judge/judge.ts'
import { SRM_CLIENT_CAP } from '../../core/judge/units.ts'
import type { MetricsSource, MetricsWindow, TimeRange, WindowOptions } from './source.ts'

interface Event {
  at: number
  index: string
  latencyMs: number
  error: boolean
  client: string
  ring: string
}

/** An hour of events at most; older ones can no longer be asked for. */
const KEEP_MS = 60 * 60_000
const MAX_EVENTS = 500_000

/** Exact quantile by the nearest-rank method, as quantileExactWeighted with unit weights. */
function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

export class LocalMetrics implements MetricsSource {
  readonly name = 'local'
  #events: Event[] = []
  readonly #now: () => number

  constructor(now: () => number = () => Date.now()) {
    this.#now = now
  }

  /** The `AnalyticsEngineDataset` side: the edge calls this exactly as it calls the real binding. */
  writeDataPoint(p?: AnalyticsEngineDataPoint): void {
    const point = decodeRequestPoint(p)
    if (!point) return
    const at = this.#now()
    this.#events.push({ at, ...point })
    if (this.#events.length > MAX_EVENTS || at - this.#events[0]!.at > KEEP_MS) {
      this.#events = this.#events.filter((e) => at - e.at <= KEEP_MS).slice(-MAX_EVENTS)
    }
  }

  async window(rolloutId: string, range: TimeRange, opts: WindowOptions = {}): Promise<MetricsWindow> {
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
        )
        const counts: CohortCounts = { requests: hits.length, errors: hits.filter((e) => e.error).length, clients }
        if (hits.length === 0) return counts
        const sorted = hits.map((e) => e.latencyMs).sort((a, b) => a - b)
        return { ...counts, latencyMs: { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), p99: quantile(sorted, 0.99) } }
      }
      return { start: range.start, end: range.end, stable: cohort(indexes[0]!), canary: cohort(indexes[1]!) }
    }
    const global = windowOf(() => true)
    if (!opts.byRing) return global
    const rings = Object.fromEntries([...new Set([...inWindow, ...earlier].map((e) => e.ring))].map((ring) => [ring, windowOf((e) => e.ring === ring)]))
    return { ...global, rings }
  }
}

/** The clients query's arithmetic (src/control/metrics/sql.ts) over the window's events and the earlier failures. */
function clientsOf(inWindow: readonly Event[], earlierFailures: readonly Event[]): ClientCounts {
  const failedBefore = new Set(earlierFailures.map((e) => e.client))
  const requests = new Map<string, number>()
  const failing = new Set<string>()
  for (const e of inWindow) {
    requests.set(e.client, (requests.get(e.client) ?? 0) + 1)
    if (e.error) failing.add(e.client)
  }
  const fresh = [...requests.keys()].filter((c) => !failedBefore.has(c))
  let cappedRequests = 0
  for (const n of requests.values()) cappedRequests += Math.min(n, SRM_CLIENT_CAP)
  return { seen: requests.size, failing: failing.size, fresh: fresh.length, firstFailures: fresh.filter((c) => failing.has(c)).length, cappedRequests }
}

/** The control worker's local store: the edge's data points arrive here over RPC, the controller reads them. */
export const localMetrics = new LocalMetrics()
