/**
 * @module
 * The Analytics Engine query for one rollout and window, and a defensive
 * parser of its answer (`FORMAT JSON`: `{ meta, data, rows }`, where 64-bit
 * numbers may arrive as strings). Shared by the SQL API client and the
 * Analytics SQL binding.
 *
 * Every count is weighted by `_sample_interval`: Analytics Engine samples at
 * high volume and each stored row stands for that many requests. Quantiles use
 * the same weights. But a sampled error is one observation, not k independent
 * ones: fed as is, weighted counts would make the judge overconfident. So when
 * a cohort was sampled, both cohorts' counts are scaled down to the number of
 * rows actually observed at the coarser cohort's rate (`rows` below), which
 * keeps the request split and the error rates and restores honest sample sizes.
 */
import type { CohortCounts, WindowStats } from '../../core/judge/judge.ts'
import { MetricsError, type TimeRange } from './source.ts'

/** Dataset names and rollout ids are validated elsewhere, but a query is no place to trust that. */
const SAFE = /^[A-Za-z0-9_-]+$/

export function windowQuery(dataset: string, rolloutId: string, range: TimeRange): string {
  if (!SAFE.test(dataset) || !SAFE.test(rolloutId)) throw new MetricsError('unsafe dataset or rollout id')
  const from = Math.floor(range.start / 1000)
  const to = Math.floor(range.end / 1000)
  return [
    'SELECT blob2 AS cohort,',
    '  SUM(_sample_interval) AS requests,',
    '  COUNT() AS rows,',
    '  SUM(_sample_interval * double3) AS errors,',
    '  quantileExactWeighted(0.5)(double2, _sample_interval) AS p50,',
    '  quantileExactWeighted(0.95)(double2, _sample_interval) AS p95,',
    '  quantileExactWeighted(0.99)(double2, _sample_interval) AS p99',
    `FROM ${dataset}`,
    `WHERE index1 IN ('${rolloutId}/stable', '${rolloutId}/canary')`,
    `  AND timestamp >= toDateTime(${from}) AND timestamp < toDateTime(${to})`,
    'GROUP BY cohort',
    'FORMAT JSON',
  ].join('\n')
}

/** A count or quantile from JSON: numbers or numeric strings; anything else is a fault. */
function num(v: unknown, field: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN
  if (!Number.isFinite(n) || n < 0) throw new MetricsError(`${field} is not a non-negative number: ${JSON.stringify(v)?.slice(0, 40)}`)
  return n
}

/** Quantiles of an empty group come back as NaN or null; they are absent, not zero. */
function quantile(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN
  return Number.isFinite(n) && n >= 0 ? n : undefined
}

const empty = (): CohortCounts => ({ requests: 0, errors: 0 })

/** Turns the `data` rows into window stats. A cohort with no row had no traffic. */
export function parseWindow(body: unknown, range: TimeRange): WindowStats {
  const data = (body as { data?: unknown } | null)?.data
  if (!Array.isArray(data)) throw new MetricsError('response has no data array')
  const out: WindowStats = { start: range.start, end: range.end, stable: empty(), canary: empty() }
  let interval = 1
  for (const row of data as Record<string, unknown>[]) {
    if ((row?.cohort === 'stable' || row?.cohort === 'canary') && row.rows !== undefined) {
      const rows = num(row.rows, 'rows')
      if (rows > 0) interval = Math.max(interval, num(row.requests, 'requests') / rows)
    }
  }
  for (const row of data as Record<string, unknown>[]) {
    const cohort = row?.cohort
    if (cohort !== 'stable' && cohort !== 'canary') continue
    const requests = Math.round(num(row.requests, 'requests') / interval)
    const errors = Math.round(num(row.errors, 'errors') / interval)
    if (errors > requests) throw new MetricsError(`${cohort}: more errors than requests`)
    const latencyMs: NonNullable<CohortCounts['latencyMs']> = {}
    for (const q of ['p50', 'p95', 'p99'] as const) {
      const v = quantile(row[q])
      if (v !== undefined) latencyMs[q] = v
    }
    out[cohort] = { requests, errors, ...(Object.keys(latencyMs).length ? { latencyMs } : {}) }
  }
  return out
}
