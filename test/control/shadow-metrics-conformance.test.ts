/**
 * The metrics conformance suite's shadow cases (see metrics-conformance.test.ts): `window(id, range, { shadow: true })`
 * of every backend, SQL API, SQL binding and local, from the same shadow points (`<id>/shadow`) as the edge encodes them.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { type FieldDiff, SHADOW_DOUBLE, type ShadowPoint, encodeShadowPoint } from '../../src/contract/datapoint.ts'
import { BindingSource } from '../../src/control/metrics/binding.ts'
import { MetricsError } from '../../src/control/metrics/source.ts'
import { MAX_EXAMPLE_LENGTH } from '../../src/core/shadow/diff.ts'
import { MAX_WINDOW_FIELDS, MAX_WINDOW_ROUTES, OTHER_ROUTE } from '../../src/core/shadow/window.ts'
import type { StoredPoint } from '../support/ae-sql.ts'
import {
  BACKENDS,
  DATASET,
  MINUTE,
  QUERIES,
  RANGE,
  T0,
  at,
  beacon,
  idFor,
  localBackend,
  many,
  script,
  sqlApi,
  sqlApiBackend,
  windowOf,
} from '../support/metrics-backends.ts'

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

describe.each(BACKENDS)('MetricsSource shadow conformance: $name', (b) => {
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

  it('keeps the fields most above noise: a real change on a few answers is not crowded out by noise on all of them', async () => {
    // More noise fields than a route keeps, each on a quarter of the answers of both sides (five per point, so the
    // point's own list keeps them all), and a real change on a tenth of the canary's.
    const noisy = (i: number) => Array.from({ length: 5 }, (_, k) => `value /n${String((i % 5) * 5 + k).padStart(2, '0')}`)
    const points = (id: string) =>
      many(40, (i) => comparison(id, T0 + i, { diffs: diffs(...(i < 4 ? ['value /email'] : []), ...noisy(i)), noise: diffs(...noisy(i)) }))
    const route = (await windowOf(b, 'shadow-field-excess', points, RANGE, { shadow: true })).shadow!.routes['/users/:id']!
    expect(Object.keys(route.fields)).toHaveLength(MAX_WINDOW_FIELDS)
    expect(route.fields['/email']).toMatchObject({ canary: 4, noise: 0 })
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

  it('cuts an example’s values to what the edge keeps, whatever the blob carries', async () => {
    const long = { field: '/bio', kind: 'value', stable: 's'.repeat(MAX_EXAMPLE_LENGTH + 50), canary: 'c'.repeat(MAX_EXAMPLE_LENGTH) }
    const points = (id: string) => [comparison(id, T0, { diffs: diffs('value /bio'), example: JSON.stringify(long) })]
    const route = (await windowOf(b, 'shadow-example-cut', points, RANGE, { shadow: true })).shadow!.routes['/users/:id']!
    expect(route.examples).toEqual({ '/bio': { ...long, stable: 's'.repeat(MAX_EXAMPLE_LENGTH) } })
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
        // Bounds off the second, as a shadow step's first window starts wherever the step did.
        fc.integer({ min: -1500, max: 1500 }),
        fc.integer({ min: -1500, max: 1500 }),
        async (rows, startOff, endOff) => {
          const points = (id: string) =>
            rows.map(({ offset, diffs: d, noise, ...r }) => comparison(id, T0 + offset, { ...r, diffs: diffs(...d), noise: noise && diffs(...noise) }))
          const range = { start: RANGE.start + startOff, end: RANGE.end + endOff }
          const shadow = (await windowOf(b, 'shadow-property', points, range, { shadow: true })).shadow!
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
          expect(shadow).toEqual((await windowOf(localBackend, 'shadow-reference', points, range, { shadow: true })).shadow)
        },
      ),
      { numRuns: 25 },
    )
  })
})

describe.each(BACKENDS.filter((b) => b.faulty !== undefined))('MetricsSource shadow faults: $name', (b) => {
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

describe.each(BACKENDS.filter((b) => b.samples))('MetricsSource shadow sampling: $name', (b) => {
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
