/**
 * @module
 * Analytics Engine through the Analytics SQL binding (`env.ANALYTICS_SQL`, an
 * `analytics` binding in wrangler config): the same queries, no API token.
 */
import { MetricsError, type MetricsSource, type MetricsWindow, type TimeRange, type WindowOptions } from './source.ts'
import { queryWindow } from './sql.ts'

/** The part of the binding Sluice uses. */
export interface AnalyticsSqlBinding {
  query(request: { query: string; params?: unknown[] }): Promise<unknown>
}

/** As the SQL API's: a query that never answers must fail the tick (a hold), not hold it open. */
const DEFAULT_TIMEOUT_MS = 10_000

export class BindingSource implements MetricsSource {
  readonly name = 'analytics-sql-binding'
  readonly #binding: AnalyticsSqlBinding
  readonly #dataset: string
  readonly #timeoutMs: number

  constructor(binding: AnalyticsSqlBinding, dataset: string, timeoutMs = DEFAULT_TIMEOUT_MS) {
    this.#binding = binding
    this.#dataset = dataset
    this.#timeoutMs = timeoutMs
  }

  window(rolloutId: string, range: TimeRange, opts: WindowOptions = {}): Promise<MetricsWindow> {
    return queryWindow((sql) => this.#query(sql), this.#dataset, rolloutId, range, opts)
  }

  async #query(sql: string): Promise<unknown> {
    let result: unknown
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${this.#timeoutMs} ms`)), this.#timeoutMs)
    })
    try {
      result = await Promise.race([this.#binding.query({ query: sql }), timeout])
    } catch (err) {
      throw new MetricsError(`Analytics SQL binding failed: ${err instanceof Error ? err.message : String(err)}`)
    } finally {
      clearTimeout(timer)
    }
    // Rows may come as the JSON body ({ data }) or as a bare array.
    return Array.isArray(result) ? { data: result } : result
  }
}
