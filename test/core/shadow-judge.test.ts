import fc from 'fast-check'
import * as z from 'zod/mini'
import { describe, expect, it } from 'vitest'
import { RolloutSpec } from '../../src/core/config/schema.ts'
import { ShadowJudge } from '../../src/core/judge/schema.ts'
import type { DiffKind } from '../../src/core/shadow/fields.ts'
import { type ShadowState, OVERFLOW_FIELD, STATE_BUDGET, initialShadowState, isShadowState, judgeShadow } from '../../src/core/shadow/judge.ts'
import { shadowReport } from '../../src/core/shadow/report-build.ts'
import type { FieldVerdict } from '../../src/core/shadow/report.ts'
import type { ShadowRouteCounts, ShadowWindow } from '../../src/core/shadow/window.ts'
import { applyCommand, initialState } from '../../src/core/rollout/machine.ts'

const cfg = z.parse(ShadowJudge, {})
const MIN = 60_000
const T0 = Date.UTC(2026, 11, 1, 6, 0)

/** A deterministic PRNG (mulberry32), so every statistical test is reproducible. */
function rng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
const binomial = (n: number, p: number, r: () => number) => {
  let k = 0
  for (let i = 0; i < n; i++) if (r() < p) k++
  return k
}

/** A route's fields by their true rates: canary vs stable and stable vs stable. */
type Rates = Record<string, { kind: DiffKind; canary: number; noise: number }>

function route(rates: Rates, compared: number, noiseSampled: number, r: () => number): ShadowRouteCounts {
  const fields: ShadowRouteCounts['fields'] = {}
  for (const [field, f] of Object.entries(rates)) {
    const canary = binomial(compared, f.canary, r)
    const noise = binomial(noiseSampled, f.noise, r)
    if (canary + noise > 0) fields[field] = { kind: f.kind, canary, noise }
  }
  return { compared, noiseSampled, canaryErrors: 0, stableErrors: 0, fields }
}

const shadowWindow = (routes: Record<string, ShadowRouteCounts>): ShadowWindow => {
  const n = Object.values(routes).reduce((s, r) => s + r.compared, 0)
  return { stable: { requests: n, errors: 0 }, canary: { requests: n, errors: 0 }, routes }
}

/** Runs windows of `compared` requests (half noise-sampled) until `stop`, returning the judgement each time. */
function run(rates: Rates, windows: number, seed: number, compared = 50, stop?: (j: ReturnType<typeof judgeShadow>) => boolean) {
  const r = rng(seed)
  let state: ShadowState = initialShadowState()
  let j = judgeShadow(state, shadowWindow({}), cfg, [])
  for (let i = 0; i < windows; i++) {
    j = judgeShadow(state, shadowWindow({ '/api/user': route(rates, compared, Math.round(compared / 2), r) }), cfg, [], {
      start: T0 + i * MIN,
      end: T0 + (i + 1) * MIN,
    })
    state = j.state
    if (stop?.(j)) return { j, windows: i + 1 }
  }
  return { j, windows }
}

const verdictOf = (j: ReturnType<typeof judgeShadow>, field: string) => j.fields.find((f) => f.field === field)?.verdict

describe('shadow judge: what it calls', () => {
  it('calls a renamed field (missing and extra on every canary answer, never on stable) within a few hundred compared requests', () => {
    const renamed: Rates = {
      '/name': { kind: 'missing', canary: 1, noise: 0 },
      '/fullName': { kind: 'extra', canary: 1, noise: 0 },
      '/at': { kind: 'value', canary: 1, noise: 1 },
    }
    const { j, windows } = run(renamed, 20, 1, 50, (x) => x.differs.length === 2)
    expect(windows * 50).toBeLessThanOrEqual(300)
    expect(j.differs.map((f) => `${f.kind} ${f.field}`).sort()).toEqual(['extra /fullName', 'missing /name'])
    expect(verdictOf(j, '/at')).toBe('noise')
  })

  it('calls a field that differs on 5 % of answers with no noise, and holds it pending until then', () => {
    const { j, windows } = run({ '/price': { kind: 'type', canary: 0.05, noise: 0 } }, 200, 2, 100, (x) => x.differs.length > 0)
    expect(j.differs.map((f) => f.field)).toEqual(['/price'])
    expect(windows).toBeLessThan(200)
    // One window earlier it was not yet significant: pending, never noise (it plausibly differs).
    const before = run({ '/price': { kind: 'type', canary: 0.05, noise: 0 } }, windows - 1, 2, 100)
    expect(verdictOf(before.j, '/price')).toBe('pending')
  })

  it('calls a timestamp that differs on every answer of both stable and the canary noise, never a difference', () => {
    const { j } = run({ '/now': { kind: 'value', canary: 1, noise: 1 } }, 100, 3)
    expect(verdictOf(j, '/now')).toBe('noise')
    expect(j.pending).toEqual([])
  })

  it('pauses falsely on noise alone (fields as often different on stable as on the canary) at most about alpha of the time', () => {
    let falsePauses = 0
    const seeds = 100
    for (let seed = 0; seed < seeds; seed++) {
      const r = rng(1000 + seed)
      const rates: Rates = {
        '/id': { kind: 'value', canary: 0.3 + 0.7 * r(), noise: 0 },
        '/order': { kind: 'value', canary: 0.05 + 0.2 * r(), noise: 0 },
      }
      for (const f of Object.values(rates)) f.noise = f.canary
      const { j } = run(rates, 30, seed)
      if (j.differs.length > 0) falsePauses++
    }
    // Bonferroni makes each field's level alpha / 85: at 100 seeds, any false pause at all would be a surprise.
    expect(falsePauses / seeds).toBeLessThanOrEqual(cfg.alpha)
  })

  it('holds a field pending while its route has too few noise samples to tell noise from a change', () => {
    const w = shadowWindow({
      '/a': { compared: 100, noiseSampled: 5, canaryErrors: 0, stableErrors: 0, fields: { '/x': { kind: 'value', canary: 100, noise: 5 } } },
    })
    const j = judgeShadow(null, w, cfg, [])
    expect(verdictOf(j, '/x')).toBe('pending')
    // With enough samples showing it always differs on stable too, it is noise.
    const more = judgeShadow(
      j.state,
      shadowWindow({
        '/a': { compared: 100, noiseSampled: 50, canaryErrors: 0, stableErrors: 0, fields: { '/x': { kind: 'value', canary: 100, noise: 50 } } },
      }),
      cfg,
      [],
    )
    expect(verdictOf(more, '/x')).toBe('noise')
  })

  it('calls no field differing with fewer than minDiffs canary differences, or an excess under minExcess', () => {
    const strict = { ...cfg, minDiffs: 50 }
    const w = (canary: number) =>
      shadowWindow({ '/a': { compared: 40, noiseSampled: 40, canaryErrors: 0, stableErrors: 0, fields: { '/x': { kind: 'value', canary, noise: 0 } } } })
    const few = judgeShadow(null, w(40), strict, [])
    expect(few.fields[0]!.logMixtureLR).toBeGreaterThan(Math.log((85 * 2) / cfg.alpha)) // significant, but only 40 differences
    expect(verdictOf(few, '/x')).toBe('pending')
    expect(verdictOf(judgeShadow(few.state, w(40), strict, []), '/x')).toBe('differs')
    const tiny = judgeShadow(
      null,
      shadowWindow({
        '/a': { compared: 100_000, noiseSampled: 100_000, canaryErrors: 0, stableErrors: 0, fields: { '/x': { kind: 'value', canary: 500, noise: 10 } } },
      }),
      cfg,
      [],
    )
    expect(verdictOf(tiny, '/x')).toBe('noise')
  })

  it('tests no sampled window: weighted estimates are not counts', () => {
    const w = {
      ...shadowWindow({
        '/a': { compared: 400, noiseSampled: 200, canaryErrors: 0, stableErrors: 0, fields: { '/x': { kind: 'value' as const, canary: 400, noise: 0 } } },
      }),
      sampled: true,
    }
    const j = judgeShadow(null, w, cfg, [])
    expect(j.fields[0]).toMatchObject({ field: '/x', canary: 400, canaryRate: 1, verdict: 'pending', logMixtureLR: 0 })
    expect(j.notes.join(' ')).toContain('sampled')
    expect(verdictOf(judgeShadow(null, { ...w, sampled: false }, cfg, []), '/x')).toBe('differs')
  })

  it('applies the ignore list when calling, not when counting', () => {
    const { j } = run({ '/meta/id': { kind: 'value', canary: 1, noise: 0 } }, 5, 4)
    expect(verdictOf(j, '/meta/id')).toBe('differs')
    const again = judgeShadow(j.state, shadowWindow({}), cfg, ['/meta'])
    expect(verdictOf(again, '/meta/id')).toBe('ignored')
    expect(again.differs).toEqual([])
    expect(again.state.routes['/api/user']!.fields['/meta/id']!.canary).toBe(j.state.routes['/api/user']!.fields['/meta/id']!.canary)
  })

  it('gives the places to the fields most above noise: a real change is not merged away behind noisier fields', () => {
    const small = { ...cfg, maxFields: 2 }
    // Three noise fields differing on every answer of both sides, and a real change on a tenth of the canary's only.
    const fields = {
      '/at': { kind: 'value' as const, canary: 100, noise: 50 },
      '/id': { kind: 'value' as const, canary: 100, noise: 50 },
      '/seq': { kind: 'value' as const, canary: 100, noise: 50 },
      '/email': { kind: 'value' as const, canary: 10, noise: 0 },
    }
    const j = judgeShadow(null, shadowWindow({ '/u': { compared: 100, noiseSampled: 50, canaryErrors: 0, stableErrors: 0, fields } }), small, [])
    expect(Object.keys(j.state.routes['/u']!.fields)).toContain('/email')
  })

  it('names header fields in the ignore list case-insensitively', () => {
    const { j } = run({ 'header:x-request-id': { kind: 'value', canary: 1, noise: 0 } }, 5, 5)
    expect(verdictOf(judgeShadow(j.state, shadowWindow({}), cfg, ['header:X-Request-Id']), 'header:x-request-id')).toBe('ignored')
  })

  it('counts fields beyond maxFields in their route’s overflow field, and routes beyond maxRoutes under other, and says so', () => {
    const small = { ...cfg, maxFields: 2, maxRoutes: 1 }
    const fields = Object.fromEntries(['/a', '/b', '/c', '/d'].map((f, i) => [f, { kind: 'value' as const, canary: 10 - i, noise: 0 }]))
    const r = (compared: number) => ({ compared, noiseSampled: 10, canaryErrors: 0, stableErrors: 0, fields })
    const j = judgeShadow(null, shadowWindow({ '/one': r(20), '/two': r(10) }), small, [])
    expect(Object.keys(j.state.routes).sort()).toEqual(['/one', 'other'])
    expect(Object.keys(j.state.routes['/one']!.fields).sort()).toEqual([OVERFLOW_FIELD, '/a', '/b'].sort())
    expect(j.state.routes['/one']!.fields[OVERFLOW_FIELD]).toMatchObject({ canary: 8 + 7, merged: 2 })
    expect(j.state.routes.other!.fields[OVERFLOW_FIELD]!.canary).toBe(10 + 9 + 8 + 7)
    expect(j.notes.join(' ')).toContain('evidence bound reached')
  })
})

// ---- laws ----

const kind = fc.constantFrom<DiffKind>('missing', 'extra', 'type', 'value', 'length')
const routeArb = fc.record({ compared: fc.integer({ min: 0, max: 500 }), share: fc.double({ min: 0, max: 1, noNaN: true }) }).chain(({ compared, share }) => {
  const noiseSampled = Math.floor(compared * share)
  return fc.record({
    compared: fc.constant(compared),
    noiseSampled: fc.constant(noiseSampled),
    canaryErrors: fc.integer({ min: 0, max: compared }),
    stableErrors: fc.integer({ min: 0, max: compared }),
    fields: fc.dictionary(
      fc.constantFrom('status', '/a', '/b', '/c', 'header:location'),
      fc.record({ kind, canary: fc.integer({ min: 0, max: compared }), noise: fc.integer({ min: 0, max: noiseSampled }) }),
      { maxKeys: 5 },
    ),
  })
})
const windowArb = fc.dictionary(fc.constantFrom('/x', '/y', '/z'), routeArb, { maxKeys: 3 }).map(shadowWindow)

const RANK: Record<FieldVerdict, number> = { noise: 0, pending: 1, differs: 2, ignored: -1 }

describe('shadow judge: laws', () => {
  it('is monotone: more canary differences never make a call milder, more noise never makes it harsher', () => {
    fc.assert(
      fc.property(fc.array(windowArb, { maxLength: 4 }), windowArb, fc.nat(), fc.nat(), (history, last, pick, extra) => {
        let state = initialShadowState()
        for (const w of history) state = judgeShadow(state, w, cfg, []).state
        const routes = Object.entries(last.routes).filter(([, r]) => Object.keys(r.fields).length > 0)
        if (routes.length === 0) return
        const [name, r] = routes[pick % routes.length]!
        const [field, f] = Object.entries(r.fields)[pick % Object.keys(r.fields).length]!
        const change = (d: { canary?: number; noise?: number }) =>
          shadowWindow({ ...last.routes, [name]: { ...r, fields: { ...r.fields, [field]: { ...f, ...d } } } })
        const call = (w: ShadowWindow) => judgeShadow(state, w, cfg, []).fields.find((c) => c.route === name && c.field === field)!.verdict
        const baseCall = RANK[call(last)]
        expect(RANK[call(change({ canary: Math.min(r.compared, f.canary + 1 + (extra % 50)) }))]).toBeGreaterThanOrEqual(baseCall)
        expect(RANK[call(change({ noise: Math.min(r.noiseSampled, f.noise + 1 + (extra % 50)) }))]).toBeLessThanOrEqual(baseCall)
      }),
      { numRuns: 300, seed: 7 },
    )
  })

  it('never throws on garbage: an invalid window is refused whole with a reason, the evidence unchanged', () => {
    const valid = fc.sample(windowArb, { numRuns: 1, seed: 3 })[0]!
    const state = judgeShadow(null, valid, cfg, []).state
    const garbage = fc.oneof(
      fc.anything(),
      fc.record({ stable: fc.anything(), canary: fc.anything(), routes: fc.anything() }),
      fc
        .dictionary(
          fc.string(),
          fc.record({ compared: fc.anything(), noiseSampled: fc.integer(), canaryErrors: fc.integer(), stableErrors: fc.integer(), fields: fc.anything() }),
        )
        .map((routes) => ({ ...shadowWindow({}), routes })),
      windowArb.map((w) => ({ ...w, routes: { ...w.routes, '/bad': { compared: 1, noiseSampled: 2, canaryErrors: 0, stableErrors: 0, fields: {} } } })),
      windowArb.map((w) => ({
        ...w,
        routes: {
          ...w.routes,
          '/bad': { compared: 3, noiseSampled: 0, canaryErrors: 0, stableErrors: 0, fields: { '/f': { kind: 'value', canary: 4, noise: 0 } } },
        },
      })),
      windowArb.map((w) => ({
        ...w,
        routes: {
          ...w.routes,
          '/bad': { compared: 3, noiseSampled: 0, canaryErrors: 0, stableErrors: 0, fields: { '/f': { kind: 'renamed', canary: 1, noise: 0 } } },
        },
      })),
    )
    fc.assert(
      fc.property(garbage, fc.anything(), (w, ignore) => {
        const j = judgeShadow(state, w as ShadowWindow, cfg, ignore as string[])
        if (j.problem === null) return
        expect(j.state).toEqual({ ...state, rejected: state.rejected + 1 })
        expect(j.notes.join(' ')).toContain('shadow window ignored')
      }),
      { numRuns: 500, seed: 11 },
    )
    // Garbage stored state starts afresh rather than throwing.
    fc.assert(
      fc.property(fc.anything(), (prev) => void judgeShadow(prev as ShadowState, valid, cfg, [])),
      { numRuns: 300, seed: 12 },
    )
  })

  it('keeps its evidence bounded, however many routes and fields, however long their names and examples', () => {
    const longName = fc.string({ unit: 'binary', minLength: 150, maxLength: 400 })
    const wide = fc
      .dictionary(longName, fc.dictionary(longName, fc.tuple(fc.integer({ min: 0, max: 10 }), fc.integer({ min: 0, max: 10 })), { maxKeys: 21 }), {
        maxKeys: 51,
      })
      .map((routes) =>
        shadowWindow(
          Object.fromEntries(
            Object.entries(routes).map(([name, fields]) => [
              name,
              {
                compared: 10,
                noiseSampled: 10,
                canaryErrors: 0,
                stableErrors: 0,
                fields: Object.fromEntries(Object.entries(fields).map(([f, [c, n]]) => [f, { kind: 'value' as const, canary: c, noise: n }])),
                examples: Object.fromEntries(
                  Object.keys(fields).map((f) => [f, { field: f, kind: 'value' as const, stable: '"\\\u0001'.repeat(300), canary: '😀'.repeat(300) }]),
                ),
              },
            ]),
          ),
        ),
      )
    fc.assert(
      fc.property(fc.array(wide, { minLength: 1, maxLength: 4 }), (windows) => {
        let state = initialShadowState()
        for (const w of windows) state = judgeShadow(state, w, cfg, []).state
        expect(new TextEncoder().encode(JSON.stringify(state)).length).toBeLessThanOrEqual(STATE_BUDGET)
        const routes = Object.values(state.routes)
        expect(routes.length).toBeLessThanOrEqual(cfg.maxRoutes + 1)
        expect(routes.flatMap((r) => Object.keys(r.fields).filter((f) => f !== OVERFLOW_FIELD)).length).toBeLessThanOrEqual(cfg.maxFields)
        for (const f of routes.flatMap((r) => Object.values(r.fields))) {
          if (f.example) expect(Math.max(f.example.stable.length, f.example.canary.length)).toBeLessThanOrEqual(200)
        }
        expect(isShadowState(JSON.parse(JSON.stringify(state)))).toBe(true)
      }),
      { numRuns: 10, seed: 5 },
    )
  })

  it('loses no difference: every window field’s counts are in the state, in its own field or an overflow', () => {
    const small = { ...cfg, maxFields: 3, maxRoutes: 2 }
    fc.assert(
      fc.property(fc.array(windowArb, { maxLength: 5 }), (windows) => {
        let state = initialShadowState()
        for (const w of windows) state = judgeShadow(state, w, small, []).state
        const sum = (pick: (f: { canary: number }) => number, rs: ShadowRouteCounts[]) =>
          rs.flatMap((r) => Object.values(r.fields)).reduce((s, f) => s + pick(f), 0)
        expect(sum((f) => f.canary, Object.values(state.routes) as unknown as ShadowRouteCounts[])).toBe(
          windows.reduce((s, w) => s + sum((f) => f.canary, Object.values(w.routes)), 0),
        )
      }),
      { numRuns: 200, seed: 9 },
    )
  })
})

describe('diff report', () => {
  const spec = z.parse(RolloutSpec, {
    id: 'web',
    stable: 'https://a.example',
    canary: 'https://b.example',
    schedule: [{ shadow: 10, bakeMinutes: 10, minRequests: 100 }, { weight: 5 }, { weight: 100 }],
  })
  const t = applyCommand(initialState(T0), { name: 'start', release: 'v2' }, spec.schedule, T0)
  if (!t.ok) throw new Error(t.detail)

  it('rates, calls and examples per route and field; routes most compared first, fields most differing first', () => {
    const w = shadowWindow({
      '/quiet': { compared: 10, noiseSampled: 5, canaryErrors: 0, stableErrors: 0, fields: {} },
      '/api/user': {
        compared: 200,
        noiseSampled: 100,
        canaryErrors: 3,
        stableErrors: 1,
        fields: {
          '/at': { kind: 'value', canary: 200, noise: 100 },
          '/name': { kind: 'missing', canary: 200, noise: 0 },
          status: { kind: 'value', canary: 3, noise: 0 },
        },
        examples: { '/name': { field: '/name', kind: 'missing', stable: '"Ada"', canary: '' } },
      },
    })
    const j = judgeShadow(null, w, spec.judge.shadow, spec.shadow.ignore, { start: T0, end: T0 + MIN })
    const r = shadowReport(j.state, spec, t.state)
    expect(r).toMatchObject({ rolloutId: 'web', release: 'v2', shadowWeight: 10, compared: 210, noiseSampled: 105, verdict: 'differs' })
    expect(r.since).toBe(new Date(T0).toISOString())
    expect(r.routes.map((x) => x.route)).toEqual(['/api/user', '/quiet'])
    const user = r.routes[0]!
    expect(user).toMatchObject({ statusMismatches: 3, canaryErrors: 3, stableErrors: 1 })
    expect(user.fields[0]).toMatchObject({ field: '/name', verdict: 'differs', canaryRate: 1, noiseRate: 0, example: { stable: '"Ada"', canary: '' } })
    expect(user.fields.find((f) => f.field === '/at')).toMatchObject({ verdict: 'noise', canaryRate: 1, noiseRate: 1 })
    expect(shadowReport(null, spec, t.state)).toMatchObject({ verdict: 'clean', routes: [], since: null, compared: 0 })
  })
})
