/**
 * @module
 * The Analytics Engine queries for one rollout and window (requests per
 * cohort, and clients per cohort), and defensive parsers of their answers
 * (`FORMAT JSON`: `{ meta, data, rows }`, where 64-bit numbers may arrive as
 * strings). Shared by the SQL API client and the Analytics SQL binding.
 *
 * Counts are weighted by `_sample_interval`: Analytics Engine samples at high
 * volume and each stored row stands for that many requests; quantiles use the
 * same weights. But a sampled error is one observation, not k independent ones,
 * so weighted counts would make the judge overconfident. When either cohort was
 * sampled, the judge gets the rows actually stored (`rows`, `error_rows`)
 * instead: each cohort's rows are a uniform sample of its requests, which keeps
 * the error test valid (it conditions on the observed split). The split itself
 * no longer reflects the weight then, so the window is marked `sampled` and the
 * controller skips the sample-ratio check for it. Client counts are of stored
 * rows too: sampling can only hide a client, never invent one.
 */
import { blobColumn, cohortIndex, doubleColumn } from '../../contract/datapoint.ts'
import type { ClientCounts, CohortCounts, WindowStats } from '../../core/judge/judge.ts'
import { SRM_CLIENT_CAP } from '../../core/judge/units.ts'
import { MetricsError, type MetricsWindow, type TimeRange } from './source.ts'

/** Dataset names and rollout ids are validated elsewhere, but a query is no place to trust that. */
const SAFE = /^[A-Za-z0-9_-]+$/

const COHORT = blobColumn('cohort')
const CLIENT = blobColumn('client')
const RING = blobColumn('ring')
const LATENCY = doubleColumn('latencyMs')
const ERROR = doubleColumn('error')

function judgedRows(dataset: string, rolloutId: string): string {
  if (!SAFE.test(dataset) || !SAFE.test(rolloutId)) throw new MetricsError('unsafe dataset or rollout id')
  return `FROM ${dataset}\nWHERE index1 IN ('${cohortIndex(rolloutId, 'stable')}', '${cohortIndex(rolloutId, 'canary')}')`
}

const seconds = (ms: number) => Math.floor(ms / 1000)

/** Requests, errors and latency quantiles per cohort (and per audience ring with `byRing`). */
export function windowQuery(dataset: string, rolloutId: string, range: TimeRange, byRing = false): string {
  return [
    `SELECT ${COHORT} AS cohort,${byRing ? ` ${RING} AS ring,` : ''}`,
    '  SUM(_sample_interval) AS requests,',
    '  COUNT() AS rows,',
    `  SUM(_sample_interval * ${ERROR}) AS errors,`,
    `  SUM(${ERROR}) AS error_rows,`,
    `  quantileExactWeighted(0.5)(${LATENCY}, _sample_interval) AS p50,`,
    `  quantileExactWeighted(0.95)(${LATENCY}, _sample_interval) AS p95,`,
    `  quantileExactWeighted(0.99)(${LATENCY}, _sample_interval) AS p99`,
    judgedRows(dataset, rolloutId),
    `  AND timestamp >= toDateTime(${seconds(range.start)}) AND timestamp < toDateTime(${seconds(range.end)})`,
    byRing ? 'GROUP BY cohort, ring' : 'GROUP BY cohort',
    'FORMAT JSON',
  ].join('\n')
}

/**
 * The window's clients per cohort (see ClientCounts). The inner query has one row per client: its requests and
 * failures in the window, and its failures since the release began (`range.since`) but before the window. Only
 * failed rows are read from before the window, so the scan beyond the window is of errors alone.
 */
export function clientsQuery(dataset: string, rolloutId: string, range: TimeRange, byRing = false): string {
  const start = `toDateTime(${seconds(range.start)})`
  const since = seconds(Math.min(range.since ?? range.start, range.start))
  const ring = byRing ? ' ring,' : ''
  return [
    `SELECT cohort,${ring}`,
    '  SUM(if(window_rows > 0, 1, 0)) AS seen,',
    '  SUM(if(window_errors > 0, 1, 0)) AS failing,',
    '  SUM(if(window_rows > 0 AND earlier_errors = 0, 1, 0)) AS fresh,',
    '  SUM(if(window_errors > 0 AND earlier_errors = 0, 1, 0)) AS first_failures,',
    `  SUM(if(window_rows > ${SRM_CLIENT_CAP}, ${SRM_CLIENT_CAP}, window_rows)) AS capped_requests`,
    'FROM (',
    `  SELECT ${COHORT} AS cohort,${byRing ? ` ${RING} AS ring,` : ''} ${CLIENT} AS client,`,
    `    SUM(if(timestamp >= ${start}, 1, 0)) AS window_rows,`,
    `    SUM(if(timestamp >= ${start}, ${ERROR}, 0)) AS window_errors,`,
    `    SUM(if(timestamp < ${start}, ${ERROR}, 0)) AS earlier_errors`,
    `  ${judgedRows(dataset, rolloutId).replace('\n', '\n  ')}`,
    `    AND timestamp >= toDateTime(${since}) AND timestamp < toDateTime(${seconds(range.end)})`,
    `    AND (timestamp >= ${start} OR ${ERROR} > 0)`,
    `  GROUP BY cohort,${ring} client`,
    ')',
    byRing ? 'GROUP BY cohort, ring' : 'GROUP BY cohort',
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

/** An answer's rows of the two judged cohorts; the rows of one ring when `ring` is given. */
function cohortRows(body: unknown, what: string, ring?: string): Record<string, unknown>[] {
  const data = (body as { data?: unknown } | null)?.data
  if (!Array.isArray(data)) throw new MetricsError(`${what} response has no data array`)
  return (data as Record<string, unknown>[]).filter((r) => (r?.cohort === 'stable' || r?.cohort === 'canary') && (ring === undefined || ringOf(r) === ring))
}

const ringOf = (row: Record<string, unknown>) => (typeof row.ring === 'string' ? row.ring : '')

/** Turns the `data` rows into window stats. A cohort with no row had no traffic. */
export function parseWindow(body: unknown, range: TimeRange, ring?: string): ParsedWindow {
  const rows = cohortRows(body, 'requests', ring)
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

const noClients = (): ClientCounts => ({ seen: 0, failing: 0, fresh: 0, firstFailures: 0, cappedRequests: 0 })

/** The clients query's answer, per cohort; a cohort with no row had no clients. */
export function parseClients(body: unknown, ring?: string): Record<'stable' | 'canary', ClientCounts> {
  const out = { stable: noClients(), canary: noClients() }
  for (const row of cohortRows(body, 'clients', ring)) {
    const c: ClientCounts = {
      seen: Math.round(num(row.seen, 'seen')),
      failing: Math.round(num(row.failing, 'failing')),
      fresh: Math.round(num(row.fresh, 'fresh')),
      firstFailures: Math.round(num(row.first_failures, 'first_failures')),
      cappedRequests: Math.round(num(row.capped_requests, 'capped_requests')),
    }
    if (c.failing > c.seen || c.fresh > c.seen || c.firstFailures > c.fresh || c.firstFailures > c.failing || c.cappedRequests < c.seen) {
      throw new MetricsError(`${row.cohort}: inconsistent client counts`)
    }
    out[row.cohort as 'stable' | 'canary'] = c
  }
  return out
}

const withClients = (w: ParsedWindow, c: Record<'stable' | 'canary', ClientCounts>): ParsedWindow => ({
  ...w,
  stable: { ...w.stable, clients: c.stable },
  canary: { ...w.canary, clients: c.canary },
})

/**
 * Runs the queries (in parallel) through `query`, which returns the parsed JSON answer or rejects with a
 * MetricsError; shared by the SQL API client and the Analytics SQL binding. With `byRing` (a rollout with audience
 * rings) the same two queries run again grouped by ring, for each ring's own window.
 */
export async function queryWindow(
  query: (sql: string) => Promise<unknown>,
  dataset: string,
  rolloutId: string,
  range: TimeRange,
  byRing = false,
): Promise<MetricsWindow> {
  const sqls = [windowQuery(dataset, rolloutId, range), clientsQuery(dataset, rolloutId, range)]
  if (byRing) sqls.push(windowQuery(dataset, rolloutId, range, true), clientsQuery(dataset, rolloutId, range, true))
  const [requests, clients, ringRequests, ringClients] = await Promise.all(sqls.map(query))
  const global = withClients(parseWindow(requests, range), parseClients(clients))
  if (!byRing) return global
  const names = new Set([...cohortRows(ringRequests, 'requests'), ...cohortRows(ringClients, 'clients')].map(ringOf))
  const rings: Record<string, WindowStats> = {}
  for (const name of names) {
    const { sampled: _, ...w } = withClients(parseWindow(ringRequests, range, name), parseClients(ringClients, name))
    rings[name] = w
  }
  return { ...global, rings }
}
