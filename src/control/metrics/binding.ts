/**
 * @module
 * Analytics Engine through the Analytics SQL binding (`env.ANALYTICS_SQL`, an
 * `analytics` binding in wrangler config): the same queries, no API token.
 */
import { MetricsError, type MetricsSource, type MetricsWindow, type TimeRange } from './source.ts'
import { queryWindow } from './sql.ts'

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

  window(rolloutId: string, range: TimeRange): Promise<MetricsWindow> {
    return queryWindow((sql) => this.#query(sql), this.#dataset, rolloutId, range)
  }

  async #query(sql: string): Promise<unknown> {
    let result: unknown
    try {
      result = await this.#binding.query({ query: sql })
    } catch (err) {
      throw new MetricsError(`Analytics SQL binding failed: ${err instanceof Error ? err.message : String(err)}`)
    }
    // Rows may come as the JSON body ({ data }) or as a bare array.
    return Array.isArray(result) ? { data: result } : result
  }
}
