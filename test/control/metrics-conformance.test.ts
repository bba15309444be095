/**
 * One suite that every MetricsSource runs: the SQL API source against the fake SQL API, the Analytics SQL binding
 * source with a fake binding, and the local source (`npm start`). Each backend is loaded with the same data points,
 * as the edge encodes them; the SQL sources are answered by test/support/ae-sql.ts, which evaluates the queries they
 * actually send, so the local source's arithmetic and the SQL's must agree case by case.
 *
 * Faults and sampling are the SQL sources' alone: the local source reads its own memory (nothing can fail between
 * it and the controller) and never samples.
 */
import { describe, expect, inject, it } from 'vitest'
import fc from 'fast-check'
import {
  type FieldDiff,
  type RequestPoint,
  type RumPoint,
  SHADOW_DOUBLE,
  type ShadowPoint,
  encodeRequestPoint,
  encodeRumPoint,
  encodeShadowPoint,
} from '../../src/contract/datapoint.ts'
import { BindingSource } from '../../src/control/metrics/binding.ts'
import { LocalMetrics } from '../../src/control/metrics/local.ts'
import { MetricsError, type MetricsSource, type MetricsWindow, type TimeRange, type WindowOptions } from '../../src/control/metrics/source.ts'
import { SqlApiSource } from '../../src/control/metrics/sql-api.ts'
import { clientsQuery, fingerprintsQuery, rumQuery, shadowFieldsQuery, shadowTotalsQuery, windowQuery } from '../../src/control/metrics/sql.ts'
import { MAX_WINDOW_FIELDS, MAX_WINDOW_ROUTES, OTHER_ROUTE } from '../../src/core/shadow/window.ts'
import { type StoredPoint, evaluate } from '../support/ae-sql.ts'

const services = () => `http://127.0.0.1:${inject('servicesPort')}`
const DATASET = 'sluice_requests'
const MINUTE = 60_000
const T0 = Date.UTC(2026, 10, 24, 5, 0)
const RANGE: TimeRange = { start: T0, end: T0 + MINUTE }
const FAULT_TIMEOUT_MS = 300

type Fault = '5xx' | 'malformed JSON' | 'wrong shape' | 'timeout'
const FAULTS: Fault[] = ['5xx', 'malformed JSON', 'wrong shape', 'timeout']
/** The queries a fault can meet, by their keys at the fake SQL API and how the binding tells them apart. */
const QUERIES = {
  requests: { key: '', is: (sql: string) => !/\bAS client\b|\/shadow'/.test(sql) },
  clients: { key: ':clients', is: (sql: string) => /\bAS client\b/.test(sql) },
  'shadow totals': { key: ':shadow', is: (sql: string) => /\/shadow'/.test(sql) && !/\bAS diffs\b/.test(sql) },
  'shadow fields': { key: ':shadow:fields', is: (sql: string) => /\bAS diffs\b/.test(sql) },
}
type Query = keyof typeof QUERIES

interface Backend {
  name: string
  /** A source that holds `points` (the SQL sources answer the queries they are sent from them). */
  load(rollout: string, points: readonly StoredPoint[]): Promise<MetricsSource>
  /** A source whose requests or clients query meets `fault`; absent where no fault can come between source and data. */
  faulty?(rollout: string, fault: Fault, query: Query): Promise<MetricsSource>
  /** Whether it stores sampled rows (points standing for more than one request). */
  samples: boolean
}

const script = (key: string, answers: unknown[]) => fetch(`${services()}/script/${key}`, { method: 'PUT', body: JSON.stringify(answers) })
const lastReceived = async (key: string) => ((await (await fetch(`${services()}/received/${key}`)).json()) as { query: string }[]).at(-1)!.query
const sqlApi = (timeoutMs?: number) =>
  new SqlApiSource({ accountId: 'acc', token: 't', dataset: DATASET, endpoint: `${services()}/sql`, ...(timeoutMs ? { timeoutMs } : {}) })

const sqlApiBackend: Backend = {
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

const bindingBackend: Backend = {
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

const localBackend: Backend = {
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

const BACKENDS = [sqlApiBackend, bindingBackend, localBackend]

/** Rollout ids must be unique per backend and case: the fake SQL API answers per rollout. */
let serial = 0
const idFor = (label: string) => `${label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-${++serial}`

type PointOptions = Partial<Omit<RequestPoint, 'rolloutId'>> & { sampleInterval?: number }
const at = (rolloutId: string, ms: number, o: PointOptions = {}): StoredPoint => {
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
const many = (n: number, f: (i: number) => StoredPoint) => Array.from({ length: n }, (_, i) => f(i))

const noClients = { seen: 0, failing: 0, fresh: 0, firstFailures: 0, cappedRequests: 0 }

const beacon = (rolloutId: string, ms: number, o: Partial<Omit<RumPoint, 'rolloutId'>> & { sampleInterval?: number } = {}): StoredPoint => {
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

/** Field lists in `encodeDiffs`'s own notation: `diffs('value /name', 'type /age')`. */
const diffs = (...lines: string[]): FieldDiff[] =>
  lines.map((l) => ({ kind: l.slice(0, l.indexOf(' ')) as FieldDiff['kind'], field: l.slice(l.indexOf(' ') + 1) }))
/** The example the edge writes for a first difference: the two values, here derived from the field. */
const exampleOf = (d: FieldDiff) => ({ field: d.field, kind: d.kind, stable: `s${d.field}`, canary: `c${d.field}` })

type ComparisonOptions = Partial<Omit<ShadowPoint, 'rolloutId'>> & { sampleInterval?: number }
/** One mirrored request's shadow point; its example is its first canary difference unless given. */
const comparison = (rolloutId: string, ms: number, o: ComparisonOptions = {}): StoredPoint => {
  const { sampleInterval, ...r } = o
  const d = r.diffs ?? []
  const point = encodeShadowPoint({
    rolloutId,
    route: '/users/:id',
    release: 'v2',
    method: 'GET',
    client: 'c1',
    stableStatus: 200,
    canaryStatus: 200,
    stableLatencyMs: 10,
    canaryLatencyMs: 10,
    diffs: d,
    diffCount: d.length,
    noise: null,
    noiseDiffCount: r.noise?.length ?? 0,
    example: d[0] ? JSON.stringify(exampleOf(d[0])) : '',
    truncated: false,
    colo: 'FRA',
    country: 'DE',
    ...r,
  })
  return { at: ms, point, ...(sampleInterval ? { sampleInterval } : {}) }
}
const noShadow = { stable: { requests: 0, errors: 0 }, canary: { requests: 0, errors: 0 }, routes: {} }

async function windowOf(
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

describe.each(BACKENDS)('MetricsSource conformance: $name', (b) => {
  it('reads an empty window as no traffic: zero counts, no quantiles, no clients', async () => {
    const w = await windowOf(b, 'empty', () => [])
    expect(w).toMatchObject({
      start: RANGE.start,
      end: RANGE.end,
      stable: { requests: 0, errors: 0, clients: noClients },
      canary: { requests: 0, errors: 0, clients: noClients },
    })
    expect([w.stable.latencyMs, w.canary.latencyMs, w.sampled ?? false]).toEqual([undefined, undefined, false])
  })

  it('leaves testers, bots and other rollouts out of the judged cohorts', async () => {
    const w = await windowOf(b, 'excluded', (id) => [
      ...many(3, (i) => at(id, T0 + i, { client: `w${i}`, status: i === 0 ? 500 : 200 })),
      ...many(5, (i) => at(id, T0 + i, { reason: 'override', client: `o${i}`, status: 500 })),
      ...many(4, (i) => at(id, T0 + i, { cohort: 'stable', reason: 'bot', client: `b${i}`, status: 503 })),
      ...many(6, (i) => at(`${id}x`, T0 + i, { client: `x${i}`, status: 500 })),
    ])
    expect(w.canary).toMatchObject({ requests: 3, errors: 1, clients: { seen: 3, failing: 1, fresh: 3, firstFailures: 1, cappedRequests: 3 } })
    expect(w.stable).toMatchObject({ requests: 0, errors: 0, clients: noClients })
  })

  it('counts the window’s start and leaves out its end', async () => {
    const w = await windowOf(b, 'bounds', (id) => [
      at(id, RANGE.start - 1, { client: 'before', status: 500 }),
      at(id, RANGE.start, { client: 'first' }),
      at(id, RANGE.end - 1, { client: 'last', status: 500 }),
      at(id, RANGE.end, { client: 'after', status: 500 }),
    ])
    // The failure just before the start is neither in the window nor, with `since` at the start, earlier evidence.
    expect(w.canary).toMatchObject({ requests: 2, errors: 1, clients: { seen: 2, failing: 1, fresh: 2, firstFailures: 1, cappedRequests: 2 } })
  })

  it('counts 5xx and no-answer statuses as errors, never a 4xx, and gives exact quantiles', async () => {
    const status = [500, 502, 0, 404]
    const w = await windowOf(b, 'quantiles', (id) => [
      ...many(100, (i) => at(id, T0 + i * 100, { client: `q${i % 7}`, latencyMs: i + 1, status: status[i] ?? 200 })),
      at(id, T0, { cohort: 'stable', latencyMs: 7 }),
    ])
    expect(w.canary).toMatchObject({ requests: 100, errors: 3, latencyMs: { p50: 50, p95: 95, p99: 99 } })
    expect(w.stable).toMatchObject({ requests: 1, errors: 0, latencyMs: { p50: 7, p95: 7, p99: 7 } })
  })

  /** Clients a..f around a window whose release began 10 minutes before it (see each line). */
  const clientHistory = (id: string) => [
    at(id, T0 - 5 * MINUTE, { client: 'a', status: 500 }), // failed earlier in the release...
    ...many(2, (i) => at(id, T0 + i, { client: 'a' })), // ...and is healthy now: seen, not fresh
    at(id, T0 - 5 * MINUTE, { client: 'b' }),
    ...many(2, (i) => at(id, T0 + i, { client: 'b', status: 503 })), // a first failure
    at(id, T0 - 2 * MINUTE, { client: 'c', status: 500 }),
    at(id, T0 + 1, { client: 'c', status: 500 }), // failing again: not fresh, not a first failure
    at(id, T0 - 20 * MINUTE, { client: 'd', status: 500 }), // failed before the release began: still fresh
    at(id, T0 + 2, { client: 'd' }),
    ...many(15, (i) => at(id, T0 + i, { client: 'e' })), // capped at 10 for the sample-ratio check
    at(id, T0 - MINUTE, { client: 'f', status: 500 }), // failed earlier, absent now: not seen
  ]

  it('counts a client that failed earlier in the release as seen but not fresh, and caps each client’s requests', async () => {
    const w = await windowOf(b, 'clients-since', clientHistory, { ...RANGE, since: T0 - 10 * MINUTE })
    expect(w.canary).toMatchObject({ requests: 21, errors: 3, clients: { seen: 5, failing: 2, fresh: 3, firstFailures: 1, cappedRequests: 16 } })
  })

  it('without `since`, reads no failure from before the window: every client seen is fresh', async () => {
    const w = await windowOf(b, 'clients-window', clientHistory)
    expect(w.canary.clients).toEqual({ seen: 5, failing: 2, fresh: 5, firstFailures: 2, cappedRequests: 16 })
  })

  it('counts 4xx answers per cohort and per client, as it counts 5xx: a client that got a 4xx earlier is not fresh', async () => {
    const w = await windowOf(
      b,
      '4xx',
      (id) => [
        at(id, T0 - MINUTE, { client: 'a', status: 404 }), // a 4xx earlier in the release...
        ...many(3, (i) => at(id, T0 + i, { client: 'a', status: 404 })), // ...so these are not its first
        at(id, T0 + 1, { client: 'b', status: 410 }), // a first 4xx
        at(id, T0 + 2, { client: 'c', status: 500 }), // a 5xx is not a 4xx
        at(id, T0 + 3, { client: 'd', status: 399 }),
        at(id, T0 + 3, { cohort: 'stable', client: 'e', status: 404 }),
        at(id, T0 + 3, { reason: 'override', client: 'f', status: 404 }), // testers are not judged
      ],
      { ...RANGE, since: T0 - 10 * MINUTE },
    )
    expect(w.signals?.clientErrors?.canary).toEqual({ requests: 6, errors: 4, clients: { seen: 4, failing: 2, fresh: 3, firstFailures: 1, cappedRequests: 6 } })
    expect(w.signals?.clientErrors?.stable).toMatchObject({ requests: 1, errors: 1, clients: { seen: 1, failing: 1, fresh: 1, firstFailures: 1 } })
    expect(w.canary.errors).toBe(1)
  })

  it('reads beacons only when asked: page views, those with an error, per client, vitals p75 and first errors', async () => {
    const points = (id: string) => [
      ...many(8, (i) => beacon(id, T0 + i, { client: `p${i % 4}`, lcp: 1000 + 100 * i, cls: i / 100, ttfb: 50 })),
      beacon(id, T0 + 9, { client: 'p0', errored: true, errors: 2, fingerprint: 'TypeError: x at /app.js:3' }),
      beacon(id, T0 + 10, { client: 'p1', errored: true, errors: 1, fingerprint: 'TypeError: x at /app.js:3', inp: 300 }),
      // A later beacon of a page view: its error is a fingerprint, not a page view.
      beacon(id, T0 + 11, { client: 'p2', pageView: false, errors: 1, fingerprint: 'failed to load script at /x.js', inp: 120 }),
      beacon(id, T0 - MINUTE, { client: 'p3', errored: true, errors: 1, fingerprint: 'old' }), // before the window: earlier evidence
      beacon(id, T0 + 12, { client: 'p3', errored: true, errors: 1, fingerprint: 'ReferenceError: y' }),
      // One client repeating an error counts once towards it.
      ...many(5, (i) => beacon(id, T0 + 13 + i, { client: 'p3', pageView: false, errors: 1, fingerprint: 'ReferenceError: y' })),
      beacon(id, T0 + 1, { cohort: 'stable', client: 's1', lcp: 900 }),
      beacon(id, T0 + 1, { reason: 'override', client: 't1', errored: true, errors: 1, fingerprint: 'tester' }),
      at(id, T0 + 2, { client: 'r1', rum: 'injected' }), // a request is not a page view
      at(id, T0 + 3, { client: 'r2', rum: 'csp' }),
      at(id, T0 + 3, { cohort: 'stable', client: 'r3', rum: 'injected' }),
    ]
    const range = { ...RANGE, since: T0 - 10 * MINUTE }
    expect((await windowOf(b, 'no-rum', points, range)).signals?.rum).toBeUndefined()
    const signals = (await windowOf(b, 'rum', points, range, { rum: true })).signals!
    const rum = signals.rum!
    expect(rum.canary).toMatchObject({ requests: 11, errors: 3, clients: { seen: 4, failing: 3, fresh: 3, firstFailures: 2, cappedRequests: 11 } })
    expect(rum.canary.vitals).toEqual({ lcp: { p75: 1500, n: 8 }, inp: { p75: 300, n: 2 }, cls: { p75: 0.05, n: 8 } })
    expect(rum.canary.fingerprints).toEqual([
      { fingerprint: 'TypeError: x at /app.js:3', clients: 2 },
      { fingerprint: 'ReferenceError: y', clients: 1 },
      { fingerprint: 'failed to load script at /x.js', clients: 1 },
    ])
    expect(rum.stable).toMatchObject({ requests: 1, errors: 0, vitals: { lcp: { p75: 900, n: 1 } }, fingerprints: [] })
    expect(signals.injection).toEqual({ stable: { injected: 1, csp: 0 }, canary: { injected: 1, csp: 1 } })
  })

  it('reads each vital over its own span, which may begin before the window; page views only from the window', async () => {
    const points = (id: string) => [
      beacon(id, T0 - 2 * MINUTE, { client: 'a', lcp: 9000, inp: 900 }), // before every span
      beacon(id, T0 - 30_000, { client: 'b', lcp: 4000, inp: 800 }), // in LCP's span, not INP's, not the window
      ...many(3, (i) => beacon(id, T0 + i, { client: `w${i}`, lcp: 1000, inp: 100 })),
    ]
    const range = { ...RANGE, since: T0 - 10 * MINUTE }
    const rum = (await windowOf(b, 'spans', points, range, { rum: true, vitalsSince: { lcp: T0 - MINUTE } })).signals!.rum!
    expect(rum.canary).toMatchObject({ requests: 3, vitals: { lcp: { p75: 1000, n: 4 }, inp: { p75: 100, n: 3 } } })
    const early = (await windowOf(b, 'spans-early', points, range, { rum: true, vitalsSince: { lcp: T0 - 5 * MINUTE } })).signals!.rum!
    expect(early.canary.vitals!.lcp).toEqual({ p75: 4000, n: 5 })
  })

  it('reads shadow comparisons only when asked; an empty window has no comparison and no route', async () => {
    expect((await windowOf(b, 'no-shadow', (id) => [comparison(id, T0)])).shadow).toBeUndefined()
    expect((await windowOf(b, 'shadow-empty', () => [], RANGE, { shadow: true })).shadow).toEqual(noShadow)
  })

  it('counts each field per route, canary against stable and stable against stable, with its most frequent kind and an example', async () => {
    const points = (id: string) => [
      ...many(3, (i) => comparison(id, T0 + i, { diffs: diffs('value /name') })),
      ...many(2, (i) => comparison(id, T0 + 10 + i, { diffs: diffs('type /age', 'value /name'), noise: diffs('value /ts') })),
      comparison(id, T0 + 20, { diffs: diffs('value /age') }),
      comparison(id, T0 + 21, { noise: diffs('value /ts', 'length /items/*') }),
      comparison(id, T0 + 22, { noise: [] }),
      // A noise list on a point whose stable was asked once is not evidence of noise.
      (() => {
        const p = comparison(id, T0 + 23, { noise: diffs('value /ts') })
        p.point.doubles[SHADOW_DOUBLE.noiseSampled - 1] = 0
        return p
      })(),
      ...many(2, (i) => comparison(id, T0 + 30 + i, { route: '/health' })),
    ]
    const shadow = (await windowOf(b, 'shadow-fields', points, RANGE, { shadow: true })).shadow!
    expect(shadow.stable).toMatchObject({ requests: 11, errors: 0 })
    expect(shadow.routes).toEqual({
      '/users/:id': {
        compared: 9,
        noiseSampled: 4,
        canaryErrors: 0,
        stableErrors: 0,
        fields: {
          '/name': { kind: 'value', canary: 5, noise: 0 },
          '/age': { kind: 'type', canary: 3, noise: 0 },
          '/ts': { kind: 'value', canary: 0, noise: 3 },
          '/items/*': { kind: 'length', canary: 0, noise: 1 },
        },
        // `/age`'s example is of the most compared list that begins with it (`type`), not the rarer `value` one.
        examples: { '/name': exampleOf(diffs('value /name')[0]!), '/age': exampleOf(diffs('type /age')[0]!) },
      },
      '/health': { compared: 2, noiseSampled: 0, canaryErrors: 0, stableErrors: 0, fields: {} },
    })
  })

  it('counts the shadow window’s start and leaves out its end', async () => {
    const shadow = (
      await windowOf(
        b,
        'shadow-bounds',
        (id) => [RANGE.start - 1, RANGE.start, RANGE.end - 1, RANGE.end].map((ms) => comparison(id, ms, { diffs: diffs(`value /at${ms - T0}`) })),
        RANGE,
        { shadow: true },
      )
    ).shadow!
    expect(shadow.canary.requests).toBe(2)
    expect(Object.keys(shadow.routes['/users/:id']!.fields).sort()).toEqual(['/at0', `/at${MINUTE - 1}`])
  })

  it('gives each side’s errors and exact latency quantiles, and the errors per route', async () => {
    const shadow = (
      await windowOf(
        b,
        'shadow-sides',
        (id) =>
          many(100, (i) =>
            comparison(id, T0 + i, {
              route: i % 2 ? '/a' : '/b',
              stableLatencyMs: i + 1,
              canaryLatencyMs: 2 * (i + 1),
              canaryStatus: i < 3 ? 500 : 200,
              stableStatus: i === 0 ? 0 : 200,
            }),
          ),
        RANGE,
        { shadow: true },
      )
    ).shadow!
    expect(shadow.stable).toEqual({ requests: 100, errors: 1, latencyMs: { p50: 50, p95: 95, p99: 99 } })
    expect(shadow.canary).toEqual({ requests: 100, errors: 3, latencyMs: { p50: 100, p95: 190, p99: 198 } })
    expect(shadow.routes['/a']).toMatchObject({ compared: 50, canaryErrors: 1, stableErrors: 0 })
    expect(shadow.routes['/b']).toMatchObject({ compared: 50, canaryErrors: 2, stableErrors: 1 })
  })

  it('counts only the rollout’s own shadow points: not other rollouts’, nor its requests or beacons', async () => {
    const shadow = (
      await windowOf(
        b,
        'shadow-own',
        (id) => [
          comparison(id, T0, { diffs: diffs('value /mine') }),
          ...many(3, (i) => comparison(`${id}x`, T0 + i, { diffs: diffs('value /theirs'), canaryStatus: 500 })),
          at(id, T0 + 1, { status: 500 }),
          beacon(id, T0 + 2),
        ],
        RANGE,
        { shadow: true },
      )
    ).shadow!
    expect(shadow).toMatchObject({ stable: { requests: 1, errors: 0 }, canary: { requests: 1, errors: 0 } })
    expect(Object.keys(shadow.routes)).toEqual(['/users/:id'])
    expect(shadow.routes['/users/:id']!.fields).toEqual({ '/mine': { kind: 'value', canary: 1, noise: 0 } })
  })

  it(`keeps the ${MAX_WINDOW_ROUTES} most compared routes, ${OTHER_ROUTE} among them with every other route merged in`, async () => {
    const name = (i: number) => `/r${String(i).padStart(2, '0')}`
    const points = (id: string) => [
      // /r00…/r54 once each (the names break the tie), /r00…/r09 once more; and the edge's own `other`.
      ...many(55, (i) => comparison(id, T0 + i, { route: name(i), diffs: i >= 50 && i < 53 ? diffs('value /x') : [] })),
      ...many(10, (i) => comparison(id, T0 + 100 + i, { route: name(i) })),
      comparison(id, T0 + 200, { route: OTHER_ROUTE, canaryStatus: 502, diffs: diffs('extra /x') }),
    ]
    const shadow = (await windowOf(b, 'shadow-routes', points, RANGE, { shadow: true })).shadow!
    expect(Object.keys(shadow.routes)).toHaveLength(MAX_WINDOW_ROUTES)
    expect(shadow.routes[name(0)]!.compared).toBe(2)
    expect(shadow.routes[name(MAX_WINDOW_ROUTES - 2)]!.compared).toBe(1)
    expect(shadow.routes[name(MAX_WINDOW_ROUTES - 1)]).toBeUndefined()
    expect(shadow.routes[OTHER_ROUTE]).toEqual({
      compared: 7,
      noiseSampled: 0,
      canaryErrors: 1,
      stableErrors: 0,
      fields: { '/x': { kind: 'value', canary: 4, noise: 0 } },
      examples: { '/x': exampleOf(diffs('value /x')[0]!) },
    })
  })

  it(`keeps each route’s ${MAX_WINDOW_FIELDS} most differing fields, canary differences first`, async () => {
    const name = (i: number) => `/f${String(i).padStart(2, '0')}`
    const points = (id: string) => [
      ...many(25, (i) => comparison(id, T0 + i, { diffs: diffs(`value ${name(i)}`) })),
      comparison(id, T0 + 30, { diffs: diffs(`value ${name(24)}`) }),
      ...many(5, (i) => comparison(id, T0 + 40 + i, { noise: diffs('value /noisy') })),
    ]
    const route = (await windowOf(b, 'shadow-field-cap', points, RANGE, { shadow: true })).shadow!.routes['/users/:id']!
    const kept = [name(24), ...Array.from({ length: MAX_WINDOW_FIELDS - 1 }, (_, i) => name(i))]
    expect(Object.keys(route.fields).sort()).toEqual(kept.sort())
    expect(route.fields[name(24)]!.canary).toBe(2)
    expect(Object.keys(route.examples!).sort()).toEqual(kept)
  })

  it('skips an example that is not a DiffExample, or is of a field without canary differences', async () => {
    const points = (id: string) => [
      ...many(4, (i) => comparison(id, T0 + i, { diffs: diffs('value /a'), example: '{"field": "/a", "kind": "value", "stab' })),
      ...many(3, (i) =>
        comparison(id, T0 + 10 + i, { diffs: diffs('value /a', 'value /b'), example: JSON.stringify({ ...exampleOf(diffs('value /a')[0]!), kind: 'odd' }) }),
      ),
      ...many(2, (i) => comparison(id, T0 + 20 + i, { diffs: diffs('value /a', 'value /c') })),
      comparison(id, T0 + 30, { diffs: diffs('value /b'), example: '[]' }),
      comparison(id, T0 + 31, { diffs: diffs('value /c', 'value /d'), example: JSON.stringify(exampleOf(diffs('value /ts')[0]!)), noise: diffs('value /ts') }),
    ]
    const route = (await windowOf(b, 'shadow-examples', points, RANGE, { shadow: true })).shadow!.routes['/users/:id']!
    expect(route.fields).toMatchObject({ '/a': { canary: 9 }, '/b': { canary: 4 }, '/c': { canary: 3 }, '/ts': { canary: 0, noise: 1 } })
    expect(route.examples).toEqual({ '/a': exampleOf(diffs('value /a')[0]!) })
  })

  it('counts every comparison under one route, no field beyond its route’s counts, as the local source does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            offset: fc.integer({ min: -MINUTE / 2, max: (3 * MINUTE) / 2 }),
            route: fc.constantFrom('/a', '/b', OTHER_ROUTE),
            diffs: fc.subarray(['value /x', 'type /x', 'missing /y', 'length /z/*']),
            noise: fc.option(fc.subarray(['value /x', 'value /ts']), { nil: null }),
            canaryStatus: fc.constantFrom(200, 200, 500, 0),
            stableStatus: fc.constantFrom(200, 200, 503),
            stableLatencyMs: fc.nat(500),
            canaryLatencyMs: fc.nat(500),
          }),
          { maxLength: 30 },
        ),
        async (rows) => {
          const points = (id: string) =>
            rows.map(({ offset, diffs: d, noise, ...r }) => comparison(id, T0 + offset, { ...r, diffs: diffs(...d), noise: noise && diffs(...noise) }))
          const shadow = (await windowOf(b, 'shadow-property', points, RANGE, { shadow: true })).shadow!
          let compared = 0
          for (const r of Object.values(shadow.routes)) {
            compared += r.compared
            expect(Math.max(r.noiseSampled, r.canaryErrors, r.stableErrors)).toBeLessThanOrEqual(r.compared)
            for (const f of Object.values(r.fields)) {
              expect(f.canary).toBeLessThanOrEqual(r.compared)
              expect(f.noise).toBeLessThanOrEqual(r.noiseSampled)
            }
          }
          expect(compared).toBe(shadow.stable.requests)
          expect(shadow).toEqual((await windowOf(localBackend, 'shadow-reference', points, RANGE, { shadow: true })).shadow)
        },
      ),
      { numRuns: 25 },
    )
  })

  it('never reports more errors than requests, nor more first failures than fresh or seen clients', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            offset: fc.integer({ min: -3 * MINUTE, max: 2 * MINUTE }),
            cohort: fc.constantFrom('stable' as const, 'canary' as const),
            reason: fc.constantFrom('weight' as const, 'weight' as const, 'override' as const, 'bot' as const),
            client: fc.constantFrom('a', 'b', 'c', 'd'),
            status: fc.constantFrom(200, 200, 404, 500, 0),
            latencyMs: fc.nat(2000),
          }),
          { maxLength: 40 },
        ),
        fc.option(fc.integer({ min: 0, max: 5 * MINUTE }), { nil: undefined }),
        async (rows, back) => {
          const range = { ...RANGE, ...(back !== undefined ? { since: T0 - back } : {}) }
          const w = await windowOf(b, 'property', (id) => rows.map(({ offset, ...r }) => at(id, T0 + offset, r)), range)
          for (const c of [w.stable, w.canary]) {
            expect(c.errors).toBeLessThanOrEqual(c.requests)
            const k = c.clients!
            expect(k.firstFailures).toBeLessThanOrEqual(Math.min(k.fresh, k.failing))
            expect(Math.max(k.fresh, k.failing)).toBeLessThanOrEqual(k.seen)
            expect(k.cappedRequests).toBeLessThanOrEqual(c.requests)
          }
          // And every backend's arithmetic is the local source's.
          expect(w).toMatchObject(await windowOf(localBackend, 'reference', (id) => rows.map(({ offset, ...r }) => at(id, T0 + offset, r)), range))
        },
      ),
      { numRuns: 25 },
    )
  })
})

describe.each(BACKENDS.filter((b) => b.faulty !== undefined))('MetricsSource faults: $name', (b) => {
  it.each(FAULTS.flatMap((fault) => (Object.keys(QUERIES) as Query[]).map((query) => ({ fault, query }))))(
    'rejects a $fault in the $query query as a MetricsError',
    async ({ fault, query }) => {
      const id = idFor(`${b.name}-${fault}-${query}`)
      const source = await b.faulty!(id, fault, query)
      await expect(source.window(id, RANGE, { shadow: true })).rejects.toBeInstanceOf(MetricsError)
    },
  )

  it('rejects more errors than requests as a MetricsError rather than passing it to the judge', async () => {
    const id = idFor(`${b.name}-inconsistent`)
    const answer = { data: [{ cohort: 'canary', requests: '5', rows: '5', errors: 9, error_rows: 9 }] }
    const source =
      b === sqlApiBackend
        ? (await script(id, [{ body: answer }]), sqlApi())
        : new BindingSource({ query: async ({ query }) => (/\bAS client\b/.test(query) ? { data: [] } : answer) }, DATASET)
    await expect(source.window(id, RANGE)).rejects.toBeInstanceOf(MetricsError)
  })
  it.each([
    { query: 'shadow totals' as const, row: { compared: '5', rows: '5', stable_errors: 9, canary_errors: 0 } },
    { query: 'shadow totals' as const, row: { compared: 'lots', rows: '5', stable_errors: 0, canary_errors: 0 } },
    {
      query: 'shadow fields' as const,
      row: { route: '/a', diffs: '', noise: '', compared: '2', noise_sampled: 3, canary_errors: 0, stable_errors: 0, example: '' },
    },
    {
      query: 'shadow fields' as const,
      row: { route: 7, diffs: '', noise: '', compared: '2', noise_sampled: 0, canary_errors: 0, stable_errors: 0, example: '' },
    },
  ])('rejects a $query answer that cannot be counts as a MetricsError (%#)', async ({ query, row }) => {
    const id = idFor(`${b.name}-shadow-garbage`)
    const answer = { data: [row] }
    const source =
      b === sqlApiBackend
        ? (await script(`${id}${QUERIES[query].key}`, [{ body: answer }]), sqlApi())
        : new BindingSource({ query: async ({ query: sql }) => (QUERIES[query].is(sql) ? answer : { data: [] }) }, DATASET)
    await expect(source.window(id, RANGE, { shadow: true })).rejects.toBeInstanceOf(MetricsError)
  })
})

describe.each(BACKENDS.filter((b) => b.samples))('MetricsSource sampling: $name', (b) => {
  it('flags a sampled window and counts its stored rows, not the requests they stand for', async () => {
    const w = await windowOf(b, 'sampled', (id) => [
      ...many(20, (i) => at(id, T0 + i, { cohort: 'stable', client: `s${i}`, status: i < 2 ? 500 : 200, sampleInterval: 10 })),
      ...many(5, (i) => at(id, T0 + i, { client: `c${i}` })),
    ])
    expect(w).toMatchObject({ sampled: true, stable: { requests: 20, errors: 2 }, canary: { requests: 5, errors: 0 } })
  })

  it('flags sampled shadow comparisons and weights their counts by the sample interval', async () => {
    const shadow = (
      await windowOf(
        b,
        'shadow-sampled',
        (id) => [
          ...many(4, (i) => comparison(id, T0 + i, { diffs: diffs('value /name'), canaryStatus: i === 0 ? 500 : 200, sampleInterval: 10 })),
          comparison(id, T0 + 5, { noise: diffs('value /ts') }),
        ],
        RANGE,
        { shadow: true },
      )
    ).shadow!
    expect(shadow).toMatchObject({ sampled: true, stable: { requests: 41, errors: 0 }, canary: { requests: 41, errors: 10 } })
    expect(shadow.routes['/users/:id']).toMatchObject({
      compared: 41,
      noiseSampled: 1,
      canaryErrors: 10,
      fields: { '/name': { canary: 40, noise: 0 }, '/ts': { canary: 0, noise: 1 } },
    })
  })
})
