/**
 * @module
 * A small evaluator of the Analytics Engine queries of src/control/metrics/sql.ts over a list of data points,
 * so tests can give the SQL sources the answers Analytics Engine would give for the same traffic the local source
 * is fed. It reads the points by the layout's column positions (src/contract/datapoint.ts), as the SQL names them,
 * and takes rollout, kind and bounds from the query text itself, so a query that asked for the wrong window gets
 * the wrong answer. Answers are `FORMAT JSON`: counts as strings (64-bit integers), quantiles as numbers. The shadow
 * queries are read further: their select list, grouping, order and limit (`evaluateShadow`).
 */
import { BLOB, DOUBLE, type DataPoint, RUM_BLOB, RUM_DOUBLE, cohortIndex, rumIndex, shadowIndex } from '../../src/contract/datapoint.ts'
import { SRM_CLIENT_CAP } from '../../src/core/judge/units.ts'

/** A point as stored: when it was written, and how many requests it stands for (Analytics Engine's sampling). */
export interface StoredPoint {
  at: number
  point: DataPoint
  sampleInterval?: number
}

/** What a query asks for, read from its text (seconds, as the SQL compares). */
export interface QueryFacts {
  kind: 'requests' | 'clients'
  /** The beacons' queries (`<id>/<cohort>/rum`) rather than the requests'. */
  rum: boolean
  rollout: string
  start: number
  end: number
  /** Clients query only: where earlier failures are read from. */
  since?: number
}

/** The rollout id in a query's `index1 IN ('<id>/stable', …)` (or `'<id>/stable/rum'`), or its `index1 = '<id>/shadow'`. */
export const QUERY_ROLLOUT = /index1 (?:IN \(|= )'([a-z0-9-]+)\/(?:stable(?:\/rum)?|shadow)'/

export function queryFacts(sql: string): QueryFacts {
  const rollout = QUERY_ROLLOUT.exec(sql)?.[1]
  const bounds = /timestamp >= toDateTime\((\d+)\) AND timestamp < toDateTime\((\d+)\)/.exec(sql)
  if (!rollout || !bounds) throw new Error(`not a Sluice metrics query:\n${sql}`)
  const rum = /\/rum'/.test(sql)
  if (!/\bAS client\b/.test(sql)) return { kind: 'requests', rum, rollout, start: Number(bounds[1]), end: Number(bounds[2]) }
  const start = /if\(timestamp >= toDateTime\((\d+)\), (?:1|double\d+), 0\)/.exec(sql)?.[1]
  return { kind: 'clients', rum, rollout, start: Number(start), end: Number(bounds[2]), since: Number(bounds[1]) }
}

interface Row {
  at: number
  cohort: string
  client: string
  weight: number
  /** Requests: 5xx, 4xx, latency and the RUM outcome. Beacons: page view, errored, vitals and fingerprint. */
  error: number
  clientError: number
  latencyMs: number
  rum: string
  pageView: number
  errored: number
  lcp: number
  inp: number
  cls: number
  fingerprint: string
}

/** The rows the judge compares (`index1 IN (...)`), by column: the requests, or with `rum` the beacons. */
function judged(points: readonly StoredPoint[], rollout: string, rum: boolean): Row[] {
  const index = rum ? rumIndex : cohortIndex
  const indexes = new Set([index(rollout, 'stable'), index(rollout, 'canary')])
  return points
    .filter((p) => indexes.has(p.point.indexes[0]!))
    .map(({ at, point: { blobs, doubles }, sampleInterval }) => ({
      at,
      cohort: blobs[BLOB.cohort - 1]!,
      client: blobs[BLOB.client - 1]!,
      weight: sampleInterval ?? 1,
      error: doubles[DOUBLE.error - 1]!,
      clientError: doubles[DOUBLE.clientError - 1]!,
      latencyMs: doubles[DOUBLE.latencyMs - 1]!,
      rum: blobs[BLOB.rum - 1]!,
      pageView: doubles[RUM_DOUBLE.pageView - 1]!,
      errored: doubles[RUM_DOUBLE.errored - 1]!,
      lcp: doubles[RUM_DOUBLE.lcp - 1]!,
      inp: doubles[RUM_DOUBLE.inp - 1]!,
      cls: doubles[RUM_DOUBLE.cls - 1]!,
      fingerprint: blobs[RUM_BLOB.fingerprint - 1]!,
    }))
}

/** ClickHouse's quantileExactWeighted: the first value whose cumulative weight reaches ⌈level × total⌉ (NaN for no weight). */
function quantileExactWeighted<T extends { weight: number }>(
  rows: readonly T[],
  level: number,
  value: (r: T) => number,
  weight: (r: T) => number = (r) => r.weight,
): number {
  const sorted = rows.filter((r) => weight(r) > 0).sort((a, b) => value(a) - value(b))
  if (sorted.length === 0) return NaN
  const threshold = Math.ceil(level * sorted.reduce((s, r) => s + weight(r), 0))
  let accumulated = 0
  for (const r of sorted) if ((accumulated += weight(r)) >= threshold) return value(r)
  return value(sorted.at(-1)!)
}

const groupBy = <T, K>(rows: readonly T[], key: (r: T) => K) => {
  const groups = new Map<K, T[]>()
  for (const r of rows) groups.set(key(r), [...(groups.get(key(r)) ?? []), r])
  return groups
}
const sum = <T>(rows: readonly T[], f: (r: T) => number) => rows.reduce((s, r) => s + f(r), 0)
/** Strings in byte order, as ClickHouse compares them. */
const order = (x: unknown, y: unknown) => (String(x) < String(y) ? -1 : String(x) > String(y) ? 1 : 0)
const limitOf = (sql: string) => Number(/LIMIT (\d+)/.exec(sql)?.[1] ?? Infinity)

/** A stored shadow point as the shadow queries see it: its columns by name (`blob2`, `double7`) and its weight. */
interface ShadowRow {
  at: number
  weight: number
  point: DataPoint
}

type Value = string | number
/** A column of the select list: per point (a group key) or per group (an aggregate), and how it is written out. */
type Column = { alias: string } & ({ key: (r: ShadowRow) => Value } | { aggregate: (g: readonly ShadowRow[]) => Value })

const blob = (r: ShadowRow, n: string) => r.point.blobs[Number(n) - 1] ?? ''
const double = (r: ShadowRow, n: string) => r.point.doubles[Number(n) - 1] ?? 0

/**
 * The expressions the shadow queries may use, each as Analytics Engine evaluates it; any other fails the test, so a
 * query cannot drift beyond what this evaluator (and Analytics Engine SQL) knows. Integer sums come as strings.
 */
function column(expr: string, alias: string): Column {
  let m: RegExpExecArray | null
  if ((m = /^blob(\d+)$/.exec(expr))) return { alias, key: (r) => blob(r, m![1]!) }
  if ((m = /^if\(double(\d+) = 1, blob(\d+), ''\)$/.exec(expr))) return { alias, key: (r) => (double(r, m![1]!) === 1 ? blob(r, m![2]!) : '') }
  if (expr === 'COUNT()') return { alias, aggregate: (g) => String(g.length) }
  if (expr === 'SUM(_sample_interval)') return { alias, aggregate: (g) => String(sum(g, (r) => r.weight)) }
  if ((m = /^SUM\(_sample_interval \* double(\d+)\)$/.exec(expr))) return { alias, aggregate: (g) => sum(g, (r) => r.weight * double(r, m![1]!)) }
  if ((m = /^quantileExactWeighted\(([\d.]+)\)\(double(\d+), _sample_interval\)$/.exec(expr)))
    return { alias, aggregate: (g) => quantileExactWeighted(g, Number(m![1]), (r) => double(r, m![2]!)) }
  // argMax(x, timestamp): the latest point's.
  if ((m = /^argMax\(blob(\d+), timestamp\)$/.exec(expr)))
    return {
      alias,
      aggregate: (g) =>
        blob(
          g.reduce((latest, r) => (r.at >= latest.at ? r : latest)),
          m![1]!,
        ),
    }
  throw new Error(`the evaluator does not know ${expr}`)
}

/** The select list's `expr AS alias` items, split at the commas outside parentheses. */
function selectList(sql: string): Column[] {
  const list = /^SELECT ([\s\S]*?)\nFROM /.exec(sql)?.[1] ?? ''
  const items: string[] = []
  let depth = 0
  let item = ''
  for (const ch of list) {
    if (ch === ',' && depth === 0) {
      items.push(item)
      item = ''
    } else {
      depth += ch === '(' ? 1 : ch === ')' ? -1 : 0
      item += ch
    }
  }
  items.push(item)
  return items.map((i) => {
    const m = /^\s*([\s\S]+) AS (\w+)\s*$/.exec(i)
    if (!m) throw new Error(`not an \`expr AS alias\`: ${i}`)
    return column(m[1]!, m[2]!)
  })
}

/**
 * The shadow queries (`index1 = '<id>/shadow'`), read from their text: the select list, GROUP BY aliases (none: one
 * row, even for no points), ORDER BY aliases (DESC or not; counts compare as numbers) and LIMIT.
 */
function evaluateShadow(points: readonly StoredPoint[], q: QueryFacts, sql: string): Record<string, unknown>[] {
  const rows: ShadowRow[] = points
    .filter((p) => p.point.indexes[0] === shadowIndex(q.rollout) && p.at >= q.start * 1000 && p.at < q.end * 1000)
    .map(({ at, point, sampleInterval }) => ({ at, point, weight: sampleInterval ?? 1 }))
  const columns = selectList(sql)
  const by = (/\nGROUP BY (.+)/.exec(sql)?.[1] ?? '').split(', ').filter(Boolean)
  const keyOf = (r: ShadowRow) =>
    JSON.stringify(
      by.map((alias) => {
        const c = columns.find((c) => c.alias === alias)
        if (!c || !('key' in c)) throw new Error(`GROUP BY ${alias}: not a column of the points`)
        return c.key(r)
      }),
    )
  const groups = by.length === 0 ? [rows] : [...groupBy(rows, keyOf).values()]
  const data = groups.map((g) => Object.fromEntries(columns.map((c) => [c.alias, 'key' in c ? c.key(g[0]!) : c.aggregate(g)])))
  const orderBy = (/\nORDER BY (.+)/.exec(sql)?.[1] ?? '').split(', ').filter(Boolean)
  // Aggregates (counts) compare as numbers, group keys (blobs) as strings in byte order.
  const isAggregate = (alias: string) => columns.some((c) => c.alias === alias && 'aggregate' in c)
  data.sort((a, b) => {
    for (const o of orderBy) {
      const [alias, desc] = o.split(' ') as [string, string?]
      const c = (isAggregate(alias) ? Number(a[alias]) - Number(b[alias]) : order(a[alias], b[alias])) * (desc === 'DESC' ? -1 : 1)
      if (c !== 0) return c
    }
    return 0
  })
  return data.slice(0, limitOf(sql))
}

/** A client's units and failures in the window and its failures before it, for one failure column. */
function clientRows(c: readonly Row[], start: number, units: (r: Row) => number, failed: (r: Row) => number) {
  return {
    windowRows: sum(c, (r) => (r.at >= start ? units(r) : 0)),
    windowErrors: sum(c, (r) => (r.at >= start ? failed(r) : 0)),
    earlierErrors: sum(c, (r) => (r.at < start ? failed(r) : 0)),
  }
}

/** The answer Analytics Engine would give to `sql` (one of Sluice's queries) over `points`. */
export function evaluate(points: readonly StoredPoint[], sql: string): { meta: unknown[]; data: Record<string, unknown>[]; rows: number } {
  const q = queryFacts(sql)
  if (/\/shadow'/.test(sql)) {
    const data = evaluateShadow(points, q, sql)
    return { meta: [], data, rows: data.length }
  }
  const rows = judged(points, q.rollout, q.rum)
  const data: Record<string, unknown>[] = []
  const inWindow = rows.filter((r) => r.at >= q.start * 1000 && r.at < q.end * 1000)
  if (q.kind === 'requests' && q.rum && /\bAS fingerprint\b/.test(sql)) {
    const groups = groupBy(
      inWindow.filter((r) => r.fingerprint !== ''),
      (r) => `${r.cohort}\n${r.fingerprint}`,
    )
    for (const g of groups.values()) data.push({ cohort: g[0]!.cohort, fingerprint: g[0]!.fingerprint, clients: String(new Set(g.map((r) => r.client)).size) })
    // ORDER BY clients DESC, fingerprint, cohort
    data.sort((a, b) => Number(b.clients) - Number(a.clients) || order(a.fingerprint, b.fingerprint) || order(a.cohort, b.cohort))
    data.splice(limitOf(sql))
  } else if (q.kind === 'requests' && q.rum) {
    // The scan reaches back to the earliest vital's span; page views count from the window's own start.
    const start = Number(/if\(timestamp >= toDateTime\((\d+)\), _sample_interval \* double/.exec(sql)?.[1]) * 1000
    const spanOf = (column: number) => Number(new RegExp(`double${column} >= 0 AND timestamp >= toDateTime\\((\\d+)\\)`).exec(sql)?.[1]) * 1000
    const spans = { lcp: spanOf(RUM_DOUBLE.lcp), inp: spanOf(RUM_DOUBLE.inp), cls: spanOf(RUM_DOUBLE.cls) }
    for (const [cohort, g] of groupBy(inWindow, (r) => r.cohort)) {
      const own = g.filter((r) => r.at >= start)
      const row: Record<string, unknown> = {
        cohort,
        page_views: String(sum(own, (r) => r.weight * r.pageView)),
        page_view_rows: String(sum(own, (r) => r.pageView)),
        errored: String(sum(own, (r) => r.weight * r.errored)),
        errored_rows: String(sum(own, (r) => r.errored)),
        rows: String(g.length),
      }
      for (const v of ['lcp', 'inp', 'cls'] as const) {
        const counted = (r: Row) => r[v] >= 0 && r.at >= spans[v]
        row[v] = quantileExactWeighted(
          g,
          0.75,
          (r) => r[v],
          (r) => (counted(r) ? r.weight : 0),
        )
        row[`${v}_n`] = String(g.filter(counted).length)
      }
      data.push(row)
    }
  } else if (q.kind === 'requests') {
    for (const [cohort, g] of groupBy(inWindow, (r) => r.cohort)) {
      data.push({
        cohort,
        requests: String(sum(g, (r) => r.weight)),
        rows: String(g.length),
        errors: sum(g, (r) => r.weight * r.error),
        error_rows: sum(g, (r) => r.error),
        p50: quantileExactWeighted(g, 0.5, (r) => r.latencyMs),
        p95: quantileExactWeighted(g, 0.95, (r) => r.latencyMs),
        p99: quantileExactWeighted(g, 0.99, (r) => r.latencyMs),
        client_errors: sum(g, (r) => r.weight * r.clientError),
        client_error_rows: sum(g, (r) => r.clientError),
        rum_injected: sum(g, (r) => (r.rum === 'injected' ? r.weight : 0)),
        rum_csp: sum(g, (r) => (r.rum === 'csp' ? r.weight : 0)),
      })
    }
  } else {
    const start = q.start * 1000
    // Requests count 5xx (no suffix) and 4xx (`_4xx`); beacons count page views and those with an error.
    const failures: [string, (r: Row) => number][] = q.rum
      ? [['', (r) => r.errored]]
      : [
          ['', (r) => r.error],
          ['_4xx', (r) => r.clientError],
        ]
    const units = q.rum ? (r: Row) => r.pageView : () => 1
    const scanned = rows.filter((r) => r.at >= q.since! * 1000 && r.at < q.end * 1000 && (r.at >= start || failures.some(([, f]) => f(r) > 0)))
    for (const [cohort, g] of groupBy(scanned, (r) => r.cohort)) {
      const byClient = [...groupBy(g, (r) => r.client).values()]
      const row: Record<string, unknown> = { cohort }
      const seen = byClient.map((c) => clientRows(c, start, units, () => 0).windowRows)
      row.seen = String(seen.filter((n) => n > 0).length)
      row.capped_requests = String(seen.reduce((s, n) => s + Math.min(n, SRM_CLIENT_CAP), 0))
      for (const [suffix, failed] of failures) {
        const clients = byClient.map((c) => clientRows(c, start, units, failed))
        const count = (f: (c: (typeof clients)[number]) => boolean) => String(clients.filter(f).length)
        row[`failing${suffix}`] = count((c) => c.windowErrors > 0)
        row[`fresh${suffix}`] = count((c) => c.windowRows > 0 && c.earlierErrors === 0)
        row[`first_failures${suffix}`] = count((c) => c.windowErrors > 0 && c.earlierErrors === 0)
      }
      data.push(row)
    }
  }
  return { meta: [], data, rows: data.length }
}
