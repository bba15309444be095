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
 *
 * Shadow comparisons (`<id>/shadow`, one point per mirrored request) take two queries: both sides' totals and
 * latency quantiles in one row, and the points grouped by route and their two field lists whole (Analytics Engine
 * SQL cannot explode a list; shadow.ts does), the most compared SHADOW_GROUPS groups, each with its latest example
 * (argMax) so no third query is needed. The groups' counts are per route too, so a window with more groups than
 * that loses its rarest lists' counts, from fields and routes alike. Their counts stay weighted, as the ShadowWindow
 * says: both sides answer the same requests, so there is no split for sampling to skew.
 */
import {
  blobColumn,
  cohortIndex,
  doubleColumn,
  rumBlobColumn,
  rumDoubleColumn,
  rumIndex,
  shadowBlobColumn,
  shadowDoubleColumn,
  shadowIndex,
} from '../../contract/datapoint.ts'
import type { ClientCounts, CohortCounts, WindowStats } from '../../core/judge/judge.ts'
import type { Fingerprint, RumCounts, SignalWindow } from '../../core/judge/signals.ts'
import { SRM_CLIENT_CAP } from '../../core/judge/units.ts'
import type { Vital } from '../../core/judge/schema.ts'
import { MAX_SPAN_MS, type VitalsSummary } from '../../core/judge/vitals.ts'
import type { ShadowWindow } from '../../core/shadow/window.ts'
import { type ShadowGroup, shadowWindow } from './shadow.ts'
import { MetricsError, type MetricsWindow, type TimeRange, type WindowOptions } from './source.ts'

/** Dataset names and rollout ids are validated elsewhere, but a query is no place to trust that. */
const SAFE = /^[A-Za-z0-9_-]+$/

const COHORT = blobColumn('cohort')
const CLIENT = blobColumn('client')
const RING = blobColumn('ring')
const LATENCY = doubleColumn('latencyMs')
const ERROR = doubleColumn('error')
const CLIENT_ERROR = doubleColumn('clientError')
const RUM = blobColumn('rum')
const PAGE_VIEW = rumDoubleColumn('pageView')
const ERRORED = rumDoubleColumn('errored')
const FINGERPRINT = rumBlobColumn('fingerprint')
const VITAL_COLUMNS = { lcp: rumDoubleColumn('lcp'), inp: rumDoubleColumn('inp'), cls: rumDoubleColumn('cls') } as const
const SHADOW_SIDES = {
  stable: { latency: shadowDoubleColumn('stableLatencyMs'), error: shadowDoubleColumn('stableError') },
  canary: { latency: shadowDoubleColumn('canaryLatencyMs'), error: shadowDoubleColumn('canaryError') },
} as const
const NOISE_SAMPLED = shadowDoubleColumn('noiseSampled')
const QUANTILES = { p50: 0.5, p95: 0.95, p99: 0.99 } as const

/** The judged cohorts' rows: requests, or with `rum` the beacons. */
function judgedRows(dataset: string, rolloutId: string, rum = false): string {
  if (!SAFE.test(dataset) || !SAFE.test(rolloutId)) throw new MetricsError('unsafe dataset or rollout id')
  const index = rum ? rumIndex : cohortIndex
  return `FROM ${dataset}\nWHERE index1 IN ('${index(rolloutId, 'stable')}', '${index(rolloutId, 'canary')}')`
}

const seconds = (ms: number) => Math.floor(ms / 1000)
/** A time cut to the start of its second, the precision at which Analytics Engine compares timestamps. */
const cut = (ms: number) => seconds(ms) * 1000

/**
 * A range as these queries ask for it, each bound cut to its second. The local source reads its points through this
 * too, or the part of a second before a bound would count in one source and not the other.
 */
export function wholeSeconds(range: TimeRange): TimeRange {
  return { start: cut(range.start), end: cut(range.end), ...(range.since !== undefined ? { since: cut(range.since) } : {}) }
}

const inRange = (range: TimeRange) => `  AND timestamp >= toDateTime(${seconds(range.start)}) AND timestamp < toDateTime(${seconds(range.end)})`

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
    `  quantileExactWeighted(0.99)(${LATENCY}, _sample_interval) AS p99,`,
    `  SUM(_sample_interval * ${CLIENT_ERROR}) AS client_errors,`,
    `  SUM(${CLIENT_ERROR}) AS client_error_rows,`,
    `  SUM(if(${RUM} = 'injected', _sample_interval, 0)) AS rum_injected,`,
    `  SUM(if(${RUM} = 'csp', _sample_interval, 0)) AS rum_csp`,
    judgedRows(dataset, rolloutId),
    inRange(range),
    byRing ? 'GROUP BY cohort, ring' : 'GROUP BY cohort',
    'FORMAT JSON',
  ].join('\n')
}

/** What the clients query counts: a unit's rows, and the failures each ClientCounts is built from. */
interface ClientsShape {
  rum: boolean
  /** How many units a row adds (1 a request; a beacon adds its page view flag). */
  rows: string
  /** Failure columns by the suffix of their output columns. */
  failures: Record<string, string>
}

/** Requests: 5xx (the error test) and 4xx (the 4xx test) in one scan. */
const REQUEST_CLIENTS: ClientsShape = { rum: false, rows: '1', failures: { '': ERROR, _4xx: CLIENT_ERROR } }
/** Page views: those with a JavaScript error. */
const PAGE_VIEW_CLIENTS: ClientsShape = { rum: true, rows: PAGE_VIEW, failures: { '': ERRORED } }

/**
 * The window's clients per cohort (see ClientCounts). The inner query has one row per client: its units and
 * failures in the window, and its failures since the release began (`range.since`) but before the window. Only
 * failed rows are read from before the window, so the scan beyond the window is of failures alone.
 */
export function clientsQuery(dataset: string, rolloutId: string, range: TimeRange, byRing = false, shape: ClientsShape = REQUEST_CLIENTS): string {
  const start = `toDateTime(${seconds(range.start)})`
  const since = seconds(Math.min(range.since ?? range.start, range.start))
  const ring = byRing ? ' ring,' : ''
  const failures = Object.entries(shape.failures)
  return [
    `SELECT cohort,${ring}`,
    '  SUM(if(window_rows > 0, 1, 0)) AS seen,',
    ...failures.flatMap(([s]) => [
      `  SUM(if(window_errors${s} > 0, 1, 0)) AS failing${s},`,
      `  SUM(if(window_rows > 0 AND earlier_errors${s} = 0, 1, 0)) AS fresh${s},`,
      `  SUM(if(window_errors${s} > 0 AND earlier_errors${s} = 0, 1, 0)) AS first_failures${s},`,
    ]),
    `  SUM(if(window_rows > ${SRM_CLIENT_CAP}, ${SRM_CLIENT_CAP}, window_rows)) AS capped_requests`,
    'FROM (',
    `  SELECT ${COHORT} AS cohort,${byRing ? ` ${RING} AS ring,` : ''} ${CLIENT} AS client,`,
    `    SUM(if(timestamp >= ${start}, ${shape.rows}, 0)) AS window_rows,`,
    ...failures
      .flatMap(([s, column]) => [
        `    SUM(if(timestamp >= ${start}, ${column}, 0)) AS window_errors${s}`,
        `    SUM(if(timestamp < ${start}, ${column}, 0)) AS earlier_errors${s}`,
      ])
      .join(',\n')
      .split('\n'),
    `  ${judgedRows(dataset, rolloutId, shape.rum).replace('\n', '\n  ')}`,
    `    AND timestamp >= toDateTime(${since}) AND timestamp < toDateTime(${seconds(range.end)})`,
    `    AND (timestamp >= ${start} OR ${failures.map(([, column]) => `${column} > 0`).join(' OR ')})`,
    `  GROUP BY cohort,${ring} client`,
    ')',
    byRing ? 'GROUP BY cohort, ring' : 'GROUP BY cohort',
    'FORMAT JSON',
  ].join('\n')
}

/**
 * Where each vital's span begins, cut to its second: at or before the window's start, never before the release
 * (`since`) nor MAX_SPAN_MS.
 */
export function vitalStarts(range: TimeRange, vitalsSince: WindowOptions['vitalsSince'] = {}): Record<Vital, number> {
  const floor = Math.max(Math.min(range.since ?? range.start, range.start), range.end - MAX_SPAN_MS)
  const at = (v: Vital) => cut(Math.min(range.start, Math.max(floor, vitalsSince[v] ?? range.start)))
  return { lcp: at('lcp'), inp: at('inp'), cls: at('cls') }
}

/**
 * The beacons' counts per cohort: the window's page views and those with an error, and each vital's p75 over its
 * span (`vitalStarts`) of the beacons that carry it (an absent vital is written as -1 and weighs 0 here), with how
 * many did.
 */
export function rumQuery(dataset: string, rolloutId: string, range: TimeRange, vitalsSince?: WindowOptions['vitalsSince']): string {
  const starts = vitalStarts(range, vitalsSince)
  const start = `toDateTime(${seconds(range.start)})`
  const from = Math.min(...Object.values(starts))
  return [
    `SELECT ${COHORT} AS cohort,`,
    `  SUM(if(timestamp >= ${start}, _sample_interval * ${PAGE_VIEW}, 0)) AS page_views,`,
    `  SUM(if(timestamp >= ${start}, ${PAGE_VIEW}, 0)) AS page_view_rows,`,
    `  SUM(if(timestamp >= ${start}, _sample_interval * ${ERRORED}, 0)) AS errored,`,
    `  SUM(if(timestamp >= ${start}, ${ERRORED}, 0)) AS errored_rows,`,
    ...Object.entries(VITAL_COLUMNS).flatMap(([v, c]) => {
      const counted = `${c} >= 0 AND timestamp >= toDateTime(${seconds(starts[v as Vital])})`
      return [`  quantileExactWeighted(0.75)(${c}, if(${counted}, _sample_interval, 0)) AS ${v},`, `  SUM(if(${counted}, 1, 0)) AS ${v}_n,`]
    }),
    '  COUNT() AS rows',
    judgedRows(dataset, rolloutId, true),
    `  AND timestamp >= toDateTime(${seconds(from)}) AND timestamp < toDateTime(${seconds(range.end)})`,
    'GROUP BY cohort',
    'FORMAT JSON',
  ].join('\n')
}

/** How many first-error fingerprints per window the source reads (both cohorts together). */
export const FINGERPRINT_ROWS = 40

/** The window's most frequent first errors, by the distinct clients that reported each, both cohorts together. */
export function fingerprintsQuery(dataset: string, rolloutId: string, range: TimeRange): string {
  return [
    `SELECT ${COHORT} AS cohort, ${FINGERPRINT} AS fingerprint, COUNT(DISTINCT ${CLIENT}) AS clients`,
    judgedRows(dataset, rolloutId, true),
    inRange(range),
    `  AND ${FINGERPRINT} != ''`,
    'GROUP BY cohort, fingerprint',
    'ORDER BY clients DESC, fingerprint, cohort',
    `LIMIT ${FINGERPRINT_ROWS}`,
    'FORMAT JSON',
  ].join('\n')
}

/** The rollout's shadow points in the window. */
function shadowRows(dataset: string, rolloutId: string, range: TimeRange): string {
  if (!SAFE.test(dataset) || !SAFE.test(rolloutId)) throw new MetricsError('unsafe dataset or rollout id')
  return `FROM ${dataset}\nWHERE index1 = '${shadowIndex(rolloutId)}'\n${inRange(range)}`
}

/** Both sides of the mirrored requests: compared points, errors and latency quantiles (one row, no GROUP BY). */
export function shadowTotalsQuery(dataset: string, rolloutId: string, range: TimeRange): string {
  const columns = ['SUM(_sample_interval) AS compared', 'COUNT() AS rows']
  for (const [side, c] of Object.entries(SHADOW_SIDES)) {
    columns.push(`SUM(_sample_interval * ${c.error}) AS ${side}_errors`)
    for (const [q, level] of Object.entries(QUANTILES)) columns.push(`quantileExactWeighted(${level})(${c.latency}, _sample_interval) AS ${side}_${q}`)
  }
  return [`SELECT ${columns.join(',\n  ')}`, shadowRows(dataset, rolloutId, range), 'FORMAT JSON'].join('\n')
}

/** How many groups (route and both lists) the shadow fields query reads: the most compared. */
export const SHADOW_GROUPS = 1000

/** The shadow points grouped by route and both lists whole; a list of noise counts only where stable was asked twice. */
export function shadowFieldsQuery(dataset: string, rolloutId: string, range: TimeRange): string {
  return [
    `SELECT ${shadowBlobColumn('route')} AS route, ${shadowBlobColumn('diffs')} AS diffs,`,
    `  if(${NOISE_SAMPLED} = 1, ${shadowBlobColumn('noise')}, '') AS noise,`,
    '  SUM(_sample_interval) AS compared,',
    `  SUM(_sample_interval * ${NOISE_SAMPLED}) AS noise_sampled,`,
    `  SUM(_sample_interval * ${SHADOW_SIDES.canary.error}) AS canary_errors,`,
    `  SUM(_sample_interval * ${SHADOW_SIDES.stable.error}) AS stable_errors,`,
    `  argMax(${shadowBlobColumn('example')}, timestamp) AS example`,
    shadowRows(dataset, rolloutId, range),
    'GROUP BY route, diffs, noise',
    'ORDER BY compared DESC, route, diffs, noise',
    `LIMIT ${SHADOW_GROUPS}`,
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
export type ParsedWindow = WindowStats & {
  sampled: boolean
  clientErrors: Record<'stable' | 'canary', CohortCounts>
  injection: NonNullable<SignalWindow['injection']>
}

/** An answer's rows of the two judged cohorts; the rows of one ring when `ring` is given. */
function cohortRows(body: unknown, what: string, ring?: string): Record<string, unknown>[] {
  return dataOf(body, what).filter((r) => (r?.cohort === 'stable' || r?.cohort === 'canary') && (ring === undefined || ringOf(r) === ring))
}

/** An answer's `data` rows; rows need not be objects (a parser reads their columns with `?.`). */
function dataOf(body: unknown, what: string): Record<string, unknown>[] {
  const data = (body as { data?: unknown } | null)?.data
  if (!Array.isArray(data)) throw new MetricsError(`${what} response has no data array`)
  return data as Record<string, unknown>[]
}

const ringOf = (row: Record<string, unknown>) => (typeof row.ring === 'string' ? row.ring : '')

/** A count of a row: its stored rows when the window was sampled, else the weighted count. */
const count = (row: Record<string, unknown>, sampled: boolean, weighted: string, stored: string) =>
  Math.round(num(sampled ? row[stored] : row[weighted], sampled ? stored : weighted))

/** Turns the `data` rows into window stats. A cohort with no row had no traffic. */
export function parseWindow(body: unknown, range: TimeRange, ring?: string): ParsedWindow {
  const rows = cohortRows(body, 'requests', ring)
  const sampled = rows.some((r) => r.rows !== undefined && num(r.requests, 'requests') > num(r.rows, 'rows'))
  const none = { injected: 0, csp: 0 }
  const out: ParsedWindow = {
    start: range.start,
    end: range.end,
    stable: empty(),
    canary: empty(),
    sampled,
    clientErrors: { stable: empty(), canary: empty() },
    injection: { stable: none, canary: none },
  }
  for (const row of rows) {
    const cohort = row.cohort as 'stable' | 'canary'
    const requests = count(row, sampled, 'requests', 'rows')
    const errors = count(row, sampled, 'errors', 'error_rows')
    // Older answers (and stores) have no 4xx column: no 4xx, not a fault.
    const clientErrors = row.client_errors === undefined ? 0 : count(row, sampled, 'client_errors', 'client_error_rows')
    if (errors > requests || clientErrors > requests) throw new MetricsError(`${cohort}: more errors than requests`)
    const latencyMs: NonNullable<CohortCounts['latencyMs']> = {}
    for (const q of ['p50', 'p95', 'p99'] as const) {
      const v = quantile(row[q])
      if (v !== undefined) latencyMs[q] = v
    }
    out[cohort] = { requests, errors, ...(Object.keys(latencyMs).length ? { latencyMs } : {}) }
    out.clientErrors[cohort] = { requests, errors: clientErrors }
    if (row.rum_injected !== undefined)
      out.injection[cohort] = { injected: Math.round(num(row.rum_injected, 'rum_injected')), csp: Math.round(num(row.rum_csp, 'rum_csp')) }
  }
  return out
}

const noClients = (): ClientCounts => ({ seen: 0, failing: 0, fresh: 0, firstFailures: 0, cappedRequests: 0 })

/** One failure column's ClientCounts from a clients row (`suffix` as in the query). */
function clientCounts(row: Record<string, unknown>, suffix: string): ClientCounts {
  const c: ClientCounts = {
    seen: Math.round(num(row.seen, 'seen')),
    failing: Math.round(num(row[`failing${suffix}`], `failing${suffix}`)),
    fresh: Math.round(num(row[`fresh${suffix}`], `fresh${suffix}`)),
    firstFailures: Math.round(num(row[`first_failures${suffix}`], `first_failures${suffix}`)),
    cappedRequests: Math.round(num(row.capped_requests, 'capped_requests')),
  }
  if (c.failing > c.seen || c.fresh > c.seen || c.firstFailures > c.fresh || c.firstFailures > c.failing || c.cappedRequests < c.seen) {
    throw new MetricsError(`${row.cohort}: inconsistent client counts`)
  }
  return c
}

/** The clients query's answer, per cohort and failure suffix; a cohort with no row had no clients. */
export function parseClients(body: unknown, ring?: string, suffixes: readonly string[] = ['']): Record<string, Record<'stable' | 'canary', ClientCounts>> {
  const out: Record<string, Record<'stable' | 'canary', ClientCounts>> = {}
  for (const s of suffixes) out[s] = { stable: noClients(), canary: noClients() }
  for (const row of cohortRows(body, 'clients', ring)) for (const s of suffixes) out[s]![row.cohort as 'stable' | 'canary'] = clientCounts(row, s)
  return out
}

/** The request window with its clients, 5xx and 4xx. */
function withClients(w: ParsedWindow, body: unknown, ring?: string): ParsedWindow {
  const c = parseClients(body, ring, ['', '_4xx'])
  return {
    ...w,
    stable: { ...w.stable, clients: c['']!.stable },
    canary: { ...w.canary, clients: c['']!.canary },
    clientErrors: { stable: { ...w.clientErrors.stable, clients: c._4xx!.stable }, canary: { ...w.clientErrors.canary, clients: c._4xx!.canary } },
  }
}

/** The beacons' answers as the judge's page-view counts per cohort. */
export function parseRum(body: unknown, clients: unknown, fingerprints: unknown): NonNullable<SignalWindow['rum']> & { sampled: boolean } {
  const rows = cohortRows(body, 'page views')
  const sampled = rows.some((r) => num(r.page_views, 'page_views') > num(r.page_view_rows, 'page_view_rows'))
  const c = parseClients(clients)['']!
  const prints = parseFingerprints(fingerprints)
  const out: Record<'stable' | 'canary', RumCounts> = {
    stable: { ...empty(), clients: c.stable, fingerprints: prints.stable },
    canary: { ...empty(), clients: c.canary, fingerprints: prints.canary },
  }
  for (const row of rows) {
    const cohort = row.cohort as 'stable' | 'canary'
    const requests = count(row, sampled, 'page_views', 'page_view_rows')
    const errors = count(row, sampled, 'errored', 'errored_rows')
    if (errors > requests) throw new MetricsError(`${cohort}: more page views with an error than page views`)
    const vitals: VitalsSummary = {}
    for (const v of Object.keys(VITAL_COLUMNS) as (keyof typeof VITAL_COLUMNS)[]) {
      const n = Math.round(num(row[`${v}_n`], `${v}_n`))
      const p75 = quantile(row[v])
      if (n > 0 && p75 !== undefined) vitals[v] = { p75, n }
    }
    out[cohort] = { requests, errors, clients: c[cohort], vitals, fingerprints: prints[cohort] }
  }
  return { ...out, sampled }
}

function parseFingerprints(body: unknown): Record<'stable' | 'canary', Fingerprint[]> {
  const out: Record<'stable' | 'canary', Fingerprint[]> = { stable: [], canary: [] }
  for (const row of cohortRows(body, 'fingerprints')) {
    if (typeof row.fingerprint !== 'string' || row.fingerprint === '') continue
    out[row.cohort as 'stable' | 'canary'].push({ fingerprint: row.fingerprint.slice(0, 200), clients: Math.round(num(row.clients, 'clients')) })
  }
  return out
}

/** A string column of a row; anything else is a fault. */
function str(v: unknown, field: string): string {
  if (typeof v !== 'string') throw new MetricsError(`${field} is not a string: ${JSON.stringify(v)?.slice(0, 40)}`)
  return v
}

/** The two shadow queries' answers as the window's ShadowWindow. No totals row (or one of zeros) is no comparison. */
export function parseShadow(totals: unknown, fields: unknown): ShadowWindow {
  const row = dataOf(totals, 'shadow totals')[0] ?? { compared: 0, rows: 0, stable_errors: 0, canary_errors: 0 }
  const compared = Math.round(num(row?.compared, 'compared'))
  const sampled = compared > Math.round(num(row?.rows, 'rows'))
  const side = (s: keyof typeof SHADOW_SIDES): CohortCounts => {
    const errors = Math.round(num(row?.[`${s}_errors`], `${s}_errors`))
    if (errors > compared) throw new MetricsError(`shadow ${s}: more errors than compared requests`)
    const latencyMs: NonNullable<CohortCounts['latencyMs']> = {}
    for (const q of Object.keys(QUANTILES) as (keyof typeof QUANTILES)[]) {
      const v = quantile(row?.[`${s}_${q}`])
      if (v !== undefined) latencyMs[q] = v
    }
    return { requests: compared, errors, ...(compared > 0 && Object.keys(latencyMs).length ? { latencyMs } : {}) }
  }
  const groups = dataOf(fields, 'shadow fields').map((r): ShadowGroup => {
    const g = {
      route: str(r?.route, 'route'),
      diffs: str(r?.diffs, 'diffs'),
      noise: str(r?.noise, 'noise'),
      compared: Math.round(num(r?.compared, 'compared')),
      noiseSampled: Math.round(num(r?.noise_sampled, 'noise_sampled')),
      canaryErrors: Math.round(num(r?.canary_errors, 'canary_errors')),
      stableErrors: Math.round(num(r?.stable_errors, 'stable_errors')),
      example: str(r?.example, 'example'),
    }
    if (Math.max(g.noiseSampled, g.canaryErrors, g.stableErrors) > g.compared)
      throw new MetricsError(`shadow route ${g.route.slice(0, 40)}: counts above compared`)
    return g
  })
  return shadowWindow({ stable: side('stable'), canary: side('canary') }, groups, sampled)
}

const asWindow = ({ sampled: _, clientErrors: __, injection: ___, ...w }: ParsedWindow): WindowStats => w

/**
 * Runs the queries (in parallel) through `query`, which returns the parsed JSON answer or rejects with a
 * MetricsError; shared by the SQL API client and the Analytics SQL binding. With `byRing` (a rollout with audience
 * rings) the same two queries run again grouped by ring, for each ring's own window; with `rum`, three more read
 * the beacons; with `shadow`, two more the shadow comparisons.
 */
export async function queryWindow(
  query: (sql: string) => Promise<unknown>,
  dataset: string,
  rolloutId: string,
  range: TimeRange,
  opts: WindowOptions = {},
): Promise<MetricsWindow> {
  const sqls = [windowQuery(dataset, rolloutId, range), clientsQuery(dataset, rolloutId, range)]
  const ringAt = sqls.length
  if (opts.byRing) sqls.push(windowQuery(dataset, rolloutId, range, true), clientsQuery(dataset, rolloutId, range, true))
  const rumAt = sqls.length
  if (opts.rum)
    sqls.push(
      rumQuery(dataset, rolloutId, range, opts.vitalsSince),
      clientsQuery(dataset, rolloutId, range, false, PAGE_VIEW_CLIENTS),
      fingerprintsQuery(dataset, rolloutId, range),
    )
  const shadowAt = sqls.length
  if (opts.shadow) sqls.push(shadowTotalsQuery(dataset, rolloutId, range), shadowFieldsQuery(dataset, rolloutId, range))
  const answers = await Promise.all(sqls.map(query))
  const parsed = withClients(parseWindow(answers[0], range), answers[1])
  const signals: SignalWindow = { clientErrors: parsed.clientErrors }
  if (opts.rum) {
    const { sampled, ...rum } = parseRum(answers[rumAt], answers[rumAt + 1], answers[rumAt + 2])
    signals.rum = rum
    signals.injection = parsed.injection
    if (sampled) signals.sampled = true
  }
  if (parsed.sampled) signals.sampled = true
  const global: MetricsWindow = { ...asWindow(parsed), sampled: parsed.sampled, signals }
  if (opts.shadow) global.shadow = parseShadow(answers[shadowAt], answers[shadowAt + 1])
  if (!opts.byRing) return global
  const [ringRequests, ringClients] = [answers[ringAt], answers[ringAt + 1]]
  const names = new Set([...cohortRows(ringRequests, 'requests'), ...cohortRows(ringClients, 'clients')].map(ringOf))
  const rings: Record<string, WindowStats> = {}
  for (const name of names) rings[name] = asWindow(withClients(parseWindow(ringRequests, range, name), ringClients, name))
  return { ...global, rings }
}
