/**
 * @module
 * Local metrics for `npm start`. Miniflare's Analytics Engine binding drops
 * every write, so with `SLUICE_LOCAL_METRICS = "1"` the edge worker sends its
 * data points over the CONTROL binding (an RPC call) to the control worker,
 * which keeps them here, in its isolate's memory; the controller, in the same
 * isolate, reads them back with the same arithmetic as the SQL query: counts,
 * errors and exact latency quantiles per cohort. A deployed worker never sets
 * the variable, so it pays nothing: no subrequest, no memory.
 */
import type { CohortCounts, WindowStats } from '../../core/judge/judge.ts'
import type { MetricsSource, TimeRange } from './source.ts'

interface Event {
  at: number
  index: string
  latencyMs: number
  error: boolean
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
    if (!p?.indexes?.[0] || !p.doubles) return
    const at = this.#now()
    this.#events.push({ at, index: String(p.indexes[0]), latencyMs: Number(p.doubles[1]) || 0, error: p.doubles[2] === 1 })
    if (this.#events.length > MAX_EVENTS || at - this.#events[0]!.at > KEEP_MS) {
      this.#events = this.#events.filter((e) => at - e.at <= KEEP_MS).slice(-MAX_EVENTS)
    }
  }

  async window(rolloutId: string, range: TimeRange): Promise<WindowStats> {
    const cohort = (index: string): CohortCounts => {
      const hits = this.#events.filter((e) => e.index === index && e.at >= range.start && e.at < range.end)
      const counts: CohortCounts = { requests: hits.length, errors: hits.filter((e) => e.error).length }
      if (hits.length === 0) return counts
      const sorted = hits.map((e) => e.latencyMs).sort((a, b) => a - b)
      return { ...counts, latencyMs: { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), p99: quantile(sorted, 0.99) } }
    }
    return { start: range.start, end: range.end, stable: cohort(`${rolloutId}/stable`), canary: cohort(`${rolloutId}/canary`) }
  }
}

/** The control worker's local store: the edge's data points arrive here over RPC, the controller reads them. */
export const localMetrics = new LocalMetrics()
