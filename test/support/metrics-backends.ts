/**
 * @module
 * The backends the metrics conformance suites (test/control/*metrics-conformance.test.ts) run every case on: the SQL
 * API source against the fake SQL API, the Analytics SQL binding source with a fake binding, and the local source
 * (`npm start`), each loaded with the same data points as the edge encodes them. The SQL sources are answered by
 * test/support/ae-sql.ts, which evaluates the queries they actually send.
 */
import { expect, inject } from 'vitest'
import { type RequestPoint, type RumPoint, encodeRequestPoint, encodeRumPoint } from '../../src/contract/datapoint.ts'
import { BindingSource } from '../../src/control/metrics/binding.ts'
import { LocalMetrics } from '../../src/control/metrics/local.ts'
import type { MetricsSource, MetricsWindow, TimeRange, WindowOptions } from '../../src/control/metrics/source.ts'
import { SqlApiSource } from '../../src/control/metrics/sql-api.ts'
import { clientsQuery, fingerprintsQuery, rumQuery, shadowFieldsQuery, shadowTotalsQuery, windowQuery } from '../../src/control/metrics/sql.ts'
import { type StoredPoint, evaluate } from './ae-sql.ts'

const services = () => `http://127.0.0.1:${inject('servicesPort')}`
export const DATASET = 'sluice_requests'
export const MINUTE = 60_000
export const T0 = Date.UTC(2026, 10, 24, 5, 0)
export const RANGE: TimeRange = { start: T0, end: T0 + MINUTE }
const FAULT_TIMEOUT_MS = 300

export type Fault = '5xx' | 'malformed JSON' | 'wrong shape' | 'timeout'
export const FAULTS: Fault[] = ['5xx', 'malformed JSON', 'wrong shape', 'timeout']
/** The queries a fault can meet, by their keys at the fake SQL API and how the binding tells them apart. */
export const QUERIES = {
  requests: { key: '', is: (sql: string) => !/\bAS client\b|\/shadow'/.test(sql) },
  clients: { key: ':clients', is: (sql: string) => /\bAS client\b/.test(sql) },
  'shadow totals': { key: ':shadow', is: (sql: string) => /\/shadow'/.test(sql) && !/\bAS diffs\b/.test(sql) },
  'shadow fields': { key: ':shadow:fields', is: (sql: string) => /\bAS diffs\b/.test(sql) },
}
export type Query = keyof typeof QUERIES

export interface Backend {
  name: string
  /** A source that holds `points` (the SQL sources answer the queries they are sent from them). */
  load(rollout: string, points: readonly StoredPoint[]): Promise<MetricsSource>
  /** A source whose requests or clients query meets `fault`; absent where no fault can come between source and data. */
  faulty?(rollout: string, fault: Fault, query: Query): Promise<MetricsSource>
  /** Whether it stores sampled rows (points standing for more than one request). */
  samples: boolean
}

export const script = (key: string, answers: unknown[]) => fetch(`${services()}/script/${key}`, { method: 'PUT', body: JSON.stringify(answers) })
const lastReceived = async (key: string) => ((await (await fetch(`${services()}/received/${key}`)).json()) as { query: string }[]).at(-1)!.query
export const sqlApi = (timeoutMs?: number) =>
  new SqlApiSource({ accountId: 'acc', token: 't', dataset: DATASET, endpoint: `${services()}/sql`, ...(timeoutMs ? { timeoutMs } : {}) })

export const sqlApiBackend: Backend = {
  name: 'SQL API',
  samples: true,
  async load(rollout, points) {
    const source = sqlApi()
    return {
      name: source.name,
      async window(id, range, opts) {
        // The answers are what the evaluator makes of the queries for this range; the beacons' clients query is the
        // clients query over page views, and its text says so (`/rum'`).
        const requests = {
          [rollout]: evaluate(points, windowQuery(DATASET, rollout, range)),
          [`${rollout}:clients`]: evaluate(points, clientsQuery(DATASET, rollout, range)),
        }
        const pageViewClients = clientsQuery(DATASET, rollout, range).replace(/\/(stable|canary)'/g, "/$1/rum'")
        const beacons = {
          [`${rollout}:rum`]: evaluate(points, rumQuery(DATASET, rollout, range, opts?.vitalsSince)),
          [`${rollout}:rum:clients`]: evaluate(points, pageViewClients),
          [`${rollout}:rum:fingerprints`]: evaluate(points, fingerprintsQuery(DATASET, rollout, range)),
        }
        const shadow = {
          [`${rollout}:shadow`]: evaluate(points, shadowTotalsQuery(DATASET, rollout, range)),
          [`${rollout}:shadow:fields`]: evaluate(points, shadowFieldsQuery(DATASET, rollout, range)),
        }
        const sent = { ...requests, ...(opts?.rum ? beacons : {}), ...(opts?.shadow ? shadow : {}) }
        for (const [key, body] of Object.entries(sent)) await script(key, [{ body }])
        const w = await source.window(id, range, opts)
        // The scripted answers are what the evaluator makes of the queries the source really sent.
        for (const [key, body] of Object.entries(sent)) expect(evaluate(points, await lastReceived(`sql:${key}`)), key).toEqual(body)
        return w
      },
    }
  },
  async faulty(rollout, fault, query) {
    const bad = {
      '5xx': { status: 502, body: { errors: [{ message: 'bad gateway' }] } },
      'malformed JSON': { raw: '{"data": [' },
      'wrong shape': { body: { result: [] } },
      timeout: { delayMs: 3 * FAULT_TIMEOUT_MS },
    }[fault]
    for (const [name, { key }] of Object.entries(QUERIES)) await script(`${rollout}${key}`, [name === query ? bad : { body: { meta: [], data: [], rows: 0 } }])
    return sqlApi(FAULT_TIMEOUT_MS)
  },
}

export const bindingBackend: Backend = {
  name: 'Analytics SQL binding',
  samples: true,
  async load(_rollout, points) {
    return new BindingSource({ query: async ({ query }) => evaluate(points, query) }, DATASET)
  },
  async faulty(_rollout, fault, query) {
    const bad: () => Promise<unknown> = {
      '5xx': () => Promise.reject(new Error('502 Bad Gateway')),
      'malformed JSON': async () => '{"data": [',
      'wrong shape': async () => ({ result: [] }),
      timeout: () => new Promise(() => {}),
    }[fault]
    return new BindingSource({ query: ({ query: sql }) => (QUERIES[query].is(sql) ? bad() : Promise.resolve({ data: [] })) }, DATASET, FAULT_TIMEOUT_MS)
  },
}

export const localBackend: Backend = {
  name: 'local',
  samples: false,
  async load(_rollout, points) {
    let clock = 0
    const local = new LocalMetrics(() => clock)
    for (const p of [...points].sort((a, b) => a.at - b.at)) {
      clock = p.at
      local.writeDataPoint(p.point)
    }
    return local
  },
}

export const BACKENDS = [sqlApiBackend, bindingBackend, localBackend]

/** Rollout ids must be unique per backend and case (labels across suites too): the fake SQL API answers per rollout. */
let serial = 0
export const idFor = (label: string) => `${label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-${++serial}`

type PointOptions = Partial<Omit<RequestPoint, 'rolloutId'>> & { sampleInterval?: number }
export const at = (rolloutId: string, ms: number, o: PointOptions = {}): StoredPoint => {
  const { sampleInterval, ...r } = o
  const point = encodeRequestPoint({
    rolloutId,
    cohort: 'canary',
    reason: 'weight',
    release: 'v2',
    method: 'GET',
    status: 200,
    latencyMs: 10,
    failover: false,
    colo: 'FRA',
    country: 'DE',
    client: 'c1',
    ring: '',
    ...r,
  })
  return { at: ms, point, ...(sampleInterval ? { sampleInterval } : {}) }
}
export const many = (n: number, f: (i: number) => StoredPoint) => Array.from({ length: n }, (_, i) => f(i))

export const noClients = { seen: 0, failing: 0, fresh: 0, firstFailures: 0, cappedRequests: 0 }

export const beacon = (rolloutId: string, ms: number, o: Partial<Omit<RumPoint, 'rolloutId'>> & { sampleInterval?: number } = {}): StoredPoint => {
  const { sampleInterval, ...r } = o
  const point = encodeRumPoint({
    rolloutId,
    cohort: 'canary',
    reason: 'weight',
    release: 'v2',
    fingerprint: '',
    path: '/',
    colo: 'FRA',
    country: 'DE',
    client: 'c1',
    ring: '',
    pageView: true,
    errored: false,
    errors: 0,
    ...r,
  })
  return { at: ms, point, ...(sampleInterval ? { sampleInterval } : {}) }
}

export async function windowOf(
  b: Backend,
  label: string,
  points: (id: string) => StoredPoint[],
  range: TimeRange = RANGE,
  opts?: WindowOptions,
): Promise<MetricsWindow> {
  const id = idFor(`${b.name}-${label}`)
  const source = await b.load(id, points(id))
  return source.window(id, range, opts)
}
