/**
 * One suite that every MetricsSource runs (test/support/metrics-backends.ts): the SQL API source against the fake SQL
 * API, the Analytics SQL binding source with a fake binding, and the local source (`npm start`). Each backend is
 * loaded with the same data points, as the edge encodes them; the SQL sources are answered by test/support/ae-sql.ts,
 * which evaluates the queries they actually send, so the local source's arithmetic and the SQL's must agree case by
 * case. The shadow comparisons' cases are in shadow-metrics-conformance.test.ts.
 *
 * Faults and sampling are the SQL sources' alone: the local source reads its own memory (nothing can fail between
 * it and the controller) and never samples.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { BindingSource } from '../../src/control/metrics/binding.ts'
import { MetricsError } from '../../src/control/metrics/source.ts'
import {
  BACKENDS,
  DATASET,
  FAULTS,
  MINUTE,
  QUERIES,
  type Query,
  RANGE,
  T0,
  at,
  beacon,
  idFor,
  localBackend,
  many,
  noClients,
  script,
  sqlApi,
  sqlApiBackend,
  windowOf,
} from '../support/metrics-backends.ts'

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

  it('compares times to the second, as Analytics Engine does: each bound is cut to the start of its second', async () => {
    const w = await windowOf(
      b,
      'seconds',
      (id) => [
        at(id, T0 - 2, { client: 'a', status: 0 }), // in the second `since` falls in: earlier evidence
        at(id, T0 + 1, { client: 'a' }),
        at(id, T0 + 100, { client: 'b' }), // in the second the window starts in
        at(id, T0 + MINUTE + 400, { client: 'c' }), // in the second the window ends in: left out
      ],
      { start: T0 + 500, end: T0 + MINUTE + 500, since: T0 - 1 },
    )
    expect(w).toMatchObject({ start: T0 + 500, end: T0 + MINUTE + 500 })
    expect(w.canary).toMatchObject({ requests: 2, errors: 0, clients: { seen: 2, failing: 0, fresh: 1, firstFailures: 0, cappedRequests: 2 } })
  })

  it('cuts page views’ and vitals’ bounds to the second too, a vital’s own span included', async () => {
    const points = (id: string) => [
      beacon(id, T0 - 1500, { client: 'a', lcp: 4000 }), // after the LCP span's start, once it is cut to its second
      beacon(id, T0 + 100, { client: 'b', lcp: 1000 }), // in the second the window starts in: a page view
      ...many(2, (i) => beacon(id, T0 + 1000 + i, { client: `w${i}`, lcp: 1000 })),
    ]
    const range = { start: T0 + 500, end: T0 + MINUTE + 500, since: T0 - 10 * MINUTE }
    const rum = (await windowOf(b, 'rum-seconds', points, range, { rum: true, vitalsSince: { lcp: T0 - 1200 } })).signals!.rum!
    expect(rum.canary).toMatchObject({ requests: 3, vitals: { lcp: { n: 4 } } })
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
        // Bounds off the second, as a step's first window starts wherever the step did.
        fc.integer({ min: -1500, max: 1500 }),
        fc.integer({ min: -1500, max: 1500 }),
        async (rows, back, startOff, endOff) => {
          const bounds = { start: RANGE.start + startOff, end: RANGE.end + endOff }
          const range = { ...bounds, ...(back !== undefined ? { since: T0 - back } : {}) }
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
})

describe.each(BACKENDS.filter((b) => b.samples))('MetricsSource sampling: $name', (b) => {
  it('flags a sampled window and counts its stored rows, not the requests they stand for', async () => {
    const w = await windowOf(b, 'sampled', (id) => [
      ...many(20, (i) => at(id, T0 + i, { cohort: 'stable', client: `s${i}`, status: i < 2 ? 500 : 200, sampleInterval: 10 })),
      ...many(5, (i) => at(id, T0 + i, { client: `c${i}` })),
    ])
    expect(w).toMatchObject({ sampled: true, stable: { requests: 20, errors: 2 }, canary: { requests: 5, errors: 0 } })
  })
})
