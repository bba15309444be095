/**
 * @module
 * Analytics Engine through its SQL API:
 * `POST https://api.cloudflare.com/client/v4/accounts/<account>/analytics_engine/sql`
 * with the raw SQL as the body and a token with Account Analytics Read.
 */
import { MetricsError, type MetricsSource, type MetricsWindow, type TimeRange, type WindowOptions } from './source.ts'
import { queryWindow } from './sql.ts'

export interface SqlApiOptions {
  accountId: string
  token: string
  dataset: string
  /** Override of the API base (tests point it at a loopback server). */
  endpoint?: string
  timeoutMs?: number
}

export const sqlApiUrl = (o: SqlApiOptions) =>
  o.endpoint ?? `https://api.cloudflare.com/client/v4/accounts/${encodeURIComponent(o.accountId)}/analytics_engine/sql`

export class SqlApiSource implements MetricsSource {
  readonly name = 'analytics-engine-sql-api'
  readonly #o: SqlApiOptions

  constructor(options: SqlApiOptions) {
    this.#o = options
  }

  window(rolloutId: string, range: TimeRange, opts: WindowOptions = {}): Promise<MetricsWindow> {
    return queryWindow((sql) => this.#query(sql), this.#o.dataset, rolloutId, range, opts)
  }

  async #query(sql: string): Promise<unknown> {
    let res: Response
    try {
      res = await fetch(sqlApiUrl(this.#o), {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#o.token}`, 'content-type': 'text/plain' },
        body: sql,
        signal: AbortSignal.timeout(this.#o.timeoutMs ?? 10_000),
      })
    } catch (err) {
      throw new MetricsError(`SQL API unreachable: ${err instanceof Error ? err.name : String(err)}`)
    }
    const text = await res.text().catch(() => '')
    if (!res.ok) throw new MetricsError(`SQL API answered ${res.status}: ${text.slice(0, 200)}`)
    try {
      return JSON.parse(text)
    } catch {
      throw new MetricsError('SQL API answered with malformed JSON')
    }
  }
}
