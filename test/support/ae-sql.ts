/**
 * @module
 * A small evaluator of the two Analytics Engine queries of src/control/metrics/sql.ts over a list of data points,
 * so tests can give the SQL sources the answers Analytics Engine would give for the same traffic the local source
 * is fed. It reads the points by the layout's column positions (src/contract/datapoint.ts), as the SQL names them,
 * and takes rollout, kind and bounds from the query text itself, so a query that asked for the wrong window gets
 * the wrong answer. Answers are `FORMAT JSON`: counts as strings (64-bit integers), quantiles as numbers.
 */
import { BLOB, DOUBLE, type DataPoint, cohortIndex } from '../../src/contract/datapoint.ts'
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
  rollout: string
  start: number
  end: number
  /** Clients query only: where earlier failures are read from. */
  since?: number
}

export function queryFacts(sql: string): QueryFacts {
  const rollout = /index1 IN \('([a-z0-9-]+)\/stable'/.exec(sql)?.[1]
  const bounds = /timestamp >= toDateTime\((\d+)\) AND timestamp < toDateTime\((\d+)\)/.exec(sql)
  if (!rollout || !bounds) throw new Error(`not a Sluice metrics query:\n${sql}`)
  if (!/\bAS client\b/.test(sql)) return { kind: 'requests', rollout, start: Number(bounds[1]), end: Number(bounds[2]) }
  const start = /if\(timestamp >= toDateTime\((\d+)\), 1, 0\)/.exec(sql)?.[1]
  return { kind: 'clients', rollout, start: Number(start), end: Number(bounds[2]), since: Number(bounds[1]) }
}

interface Row {
  at: number
  cohort: string
  client: string
  error: number
  latencyMs: number
  weight: number
}

/** The rows the judge compares (`index1 IN (...)`), by column. */
function judged(points: readonly StoredPoint[], rollout: string): Row[] {
  const indexes = new Set([cohortIndex(rollout, 'stable'), cohortIndex(rollout, 'canary')])
  return points
    .filter((p) => indexes.has(p.point.indexes[0]!))
    .map((p) => ({
      at: p.at,
      cohort: p.point.blobs[BLOB.cohort - 1]!,
      client: p.point.blobs[BLOB.client - 1]!,
      error: p.point.doubles[DOUBLE.error - 1]!,
      latencyMs: p.point.doubles[DOUBLE.latencyMs - 1]!,
      weight: p.sampleInterval ?? 1,
    }))
}

/** ClickHouse's quantileExactWeighted: the first value whose cumulative weight reaches ⌈level × total⌉. */
function quantileExactWeighted(rows: readonly Row[], level: number): number {
  const sorted = [...rows].sort((a, b) => a.latencyMs - b.latencyMs)
  const threshold = Math.ceil(level * sorted.reduce((s, r) => s + r.weight, 0))
  let accumulated = 0
  for (const r of sorted) if ((accumulated += r.weight) >= threshold) return r.latencyMs
  return sorted.at(-1)!.latencyMs
}

const groupBy = <K>(rows: readonly Row[], key: (r: Row) => K) => {
  const groups = new Map<K, Row[]>()
  for (const r of rows) groups.set(key(r), [...(groups.get(key(r)) ?? []), r])
  return groups
}
const sum = (rows: readonly Row[], f: (r: Row) => number) => rows.reduce((s, r) => s + f(r), 0)

/** The answer Analytics Engine would give to `sql` (one of Sluice's two queries) over `points`. */
export function evaluate(points: readonly StoredPoint[], sql: string): { meta: unknown[]; data: Record<string, unknown>[]; rows: number } {
  const q = queryFacts(sql)
  const rows = judged(points, q.rollout)
  const data: Record<string, unknown>[] = []
  if (q.kind === 'requests') {
    const inWindow = rows.filter((r) => r.at >= q.start * 1000 && r.at < q.end * 1000)
    for (const [cohort, g] of groupBy(inWindow, (r) => r.cohort)) {
      data.push({
        cohort,
        requests: String(sum(g, (r) => r.weight)),
        rows: String(g.length),
        errors: sum(g, (r) => r.weight * r.error),
        error_rows: sum(g, (r) => r.error),
        p50: quantileExactWeighted(g, 0.5),
        p95: quantileExactWeighted(g, 0.95),
        p99: quantileExactWeighted(g, 0.99),
      })
    }
  } else {
    const start = q.start * 1000
    const scanned = rows.filter((r) => r.at >= q.since! * 1000 && r.at < q.end * 1000 && (r.at >= start || r.error > 0))
    for (const [cohort, g] of groupBy(scanned, (r) => r.cohort)) {
      const clients = [...groupBy(g, (r) => r.client).values()].map((c) => ({
        windowRows: c.filter((r) => r.at >= start).length,
        windowErrors: sum(c, (r) => (r.at >= start ? r.error : 0)),
        earlierErrors: sum(c, (r) => (r.at < start ? r.error : 0)),
      }))
      const count = (f: (c: (typeof clients)[number]) => boolean) => String(clients.filter(f).length)
      data.push({
        cohort,
        seen: count((c) => c.windowRows > 0),
        failing: count((c) => c.windowErrors > 0),
        fresh: count((c) => c.windowRows > 0 && c.earlierErrors === 0),
        first_failures: count((c) => c.windowErrors > 0 && c.earlierErrors === 0),
        capped_requests: String(clients.reduce((s, c) => s + Math.min(c.windowRows, SRM_CLIENT_CAP), 0)),
      })
    }
  }
  return { meta: [], data, rows: data.length }
}
