/**
 * @module
 * The Analytics Engine query for one rollout and window, and a defensive
 * parser of its answer (`FORMAT JSON`: `{ meta, data, rows }`, where 64-bit
 * numbers may arrive as strings). Shared by the SQL API client and the
 * Analytics SQL binding.
 *
 * Counts are weighted by `_sample_interval`: Analytics Engine samples at high
 * volume and each stored row stands for that many requests; quantiles use the
 * same weights. But a sampled error is one observation, not k independent ones,
 * so weighted counts would make the judge overconfident. When either cohort was
 * sampled, the judge gets the rows actually stored (`rows`, `error_rows`)
 * instead: each cohort's rows are a uniform sample of its requests, which keeps
 * the error test valid (it conditions on the observed split). The split itself
 * no longer reflects the weight then, so the window is marked `sampled` and the
 * controller skips the sample-ratio check for it.
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
    '  SUM(double3) AS error_rows,',
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

/** Window stats, and whether Analytics Engine sampled them (then the counts are stored rows, not requests). */
export type ParsedWindow = WindowStats & { sampled: boolean }

/** Turns the `data` rows into window stats. A cohort with no row had no traffic. */
export function parseWindow(body: unknown, range: TimeRange): ParsedWindow {
  const data = (body as { data?: unknown } | null)?.data
  if (!Array.isArray(data)) throw new MetricsError('response has no data array')
  const rows = (data as Record<string, unknown>[]).filter((r) => r?.cohort === 'stable' || r?.cohort === 'canary')
  const sampled = rows.some((r) => r.rows !== undefined && num(r.requests, 'requests') > num(r.rows, 'rows'))
  const out: ParsedWindow = { start: range.start, end: range.end, stable: empty(), canary: empty(), sampled }
  for (const row of rows) {
    const cohort = row.cohort as 'stable' | 'canary'
    const requests = Math.round(num(sampled ? row.rows : row.requests, sampled ? 'rows' : 'requests'))
    const errors = Math.round(num(sampled ? row.error_rows : row.errors, sampled ? 'error_rows' : 'errors'))
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
