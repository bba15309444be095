/**
 * @module
 * Analytics Engine through its SQL API:
 * `POST https://api.cloudflare.com/client/v4/accounts/<account>/analytics_engine/sql`
 * with the raw SQL as the body and a token with Account Analytics Read.
 */
import { MetricsError, type MetricsSource, type MetricsWindow, type TimeRange } from './source.ts'
import { parseWindow, windowQuery } from './sql.ts'

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

  async window(rolloutId: string, range: TimeRange): Promise<MetricsWindow> {
    let res: Response
    try {
      res = await fetch(sqlApiUrl(this.#o), {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#o.token}`, 'content-type': 'text/plain' },
        body: windowQuery(this.#o.dataset, rolloutId, range),
        signal: AbortSignal.timeout(this.#o.timeoutMs ?? 10_000),
      })
    } catch (err) {
      throw new MetricsError(`SQL API unreachable: ${err instanceof Error ? err.name : String(err)}`)
    }
    const text = await res.text().catch(() => '')
    if (!res.ok) throw new MetricsError(`SQL API answered ${res.status}: ${text.slice(0, 200)}`)
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      throw new MetricsError('SQL API answered with malformed JSON')
    }
    return parseWindow(body, range)
  }
}
