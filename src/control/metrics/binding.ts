/**
 * @module
 * Analytics Engine through the Analytics SQL binding (`env.ANALYTICS_SQL`, an
 * `analytics` binding in wrangler config): the same query, no API token.
 */
import { MetricsError, type MetricsSource, type MetricsWindow, type TimeRange } from './source.ts'
import { parseWindow, windowQuery } from './sql.ts'

/** The part of the binding Sluice uses. */
export interface AnalyticsSqlBinding {
  query(request: { query: string; params?: unknown[] }): Promise<unknown>
}

export class BindingSource implements MetricsSource {
  readonly name = 'analytics-sql-binding'
  readonly #binding: AnalyticsSqlBinding
  readonly #dataset: string

  constructor(binding: AnalyticsSqlBinding, dataset: string) {
    this.#binding = binding
    this.#dataset = dataset
  }

  async window(rolloutId: string, range: TimeRange): Promise<MetricsWindow> {
    let result: unknown
    try {
      result = await this.#binding.query({ query: windowQuery(this.#dataset, rolloutId, range) })
    } catch (err) {
      throw new MetricsError(`Analytics SQL binding failed: ${err instanceof Error ? err.message : String(err)}`)
    }
    // Rows may come as the JSON body ({ data }) or as a bare array.
    return parseWindow(Array.isArray(result) ? { data: result } : result, range)
  }
}
