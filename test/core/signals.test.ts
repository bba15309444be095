/**
 * The companion signals' judgement (src/core/judge/signals.ts, vitals.ts): the 4xx and JavaScript-error tests, the
 * Web Vitals guard, the page-view minimum, how their verdict folds into the server's, and the pause when a
 * canary's pages stop sending beacons (src/core/rollout/decide.ts).
 */
import fc from 'fast-check'
import * as z from 'zod/mini'
import { describe, expect, it } from 'vitest'
import { RolloutSpec } from '../../src/core/config/schema.ts'
import { type ClientCounts, type CohortCounts, initialJudgeState } from '../../src/core/judge/judge.ts'
import { JudgeConfig, type JudgeConfigInput } from '../../src/core/judge/schema.ts'
import { type RumCounts, type SignalState, type SignalWindow, isSignalState, judgeSignals, withSignals } from '../../src/core/judge/signals.ts'
import { decide } from '../../src/core/rollout/decide.ts'
import { DecisionSignals } from '../../src/contract/responses.ts'
import { applyCommand, initialState } from '../../src/core/rollout/machine.ts'

const cfg = (over: JudgeConfigInput = {}) => z.parse(JudgeConfig, over)
const MIN = 60_000

/** `units` clients in a window, each with `per` units, `failed` of the clients failing for the first time. */
const counts = (units: number, failed: number, per = 1): CohortCounts => {
  const clients: ClientCounts = { seen: units, failing: failed, fresh: units, firstFailures: failed, cappedRequests: units * Math.min(per, 10) }
  return { requests: units * per, errors: failed * per, clients }
}
const rum = (c: CohortCounts, extra: Partial<RumCounts> = {}): RumCounts => ({ ...c, ...extra })

/** Runs windows through the judge, as the controller does: each with the state the last left. */
function run(windows: SignalWindow[], config = cfg(), opts: { rum?: boolean; pooled?: boolean } = {}) {
  let state: SignalState | undefined
  let last: ReturnType<typeof judgeSignals> | undefined
  windows.forEach((w, i) => {
    last = judgeSignals(state, w, config, { rum: opts.rum ?? true, pooled: opts.pooled ?? false, start: i * MIN, end: (i + 1) * MIN })
    state = last.state
  })
  return last!
}
const repeat = <T>(n: number, f: (i: number) => T) => Array.from({ length: n }, (_, i) => f(i))

describe('the 4xx test', () => {
  it('rolls back a canary answering 404 for its own assets, naming 4xx, when stable’s share is lower', () => {
    const out = run(
      repeat(20, () => ({ clientErrors: { stable: counts(1900, 19), canary: counts(100, 5) } })),
      cfg(),
      { rum: false },
    )
    expect(out.verdict).toBe('rollback')
    expect(out.reasons[0]).toMatch(/^canary 4xx answers are disproportionate/)
  })

  it('is not moved by one client requesting missing paths: it adds one failure, however many requests', () => {
    // One canary client sending 500 404s every window, among healthy traffic with equal 4xx shares: fresh (and a
    // first failure) only in the first window.
    const flood = (i: number): CohortCounts => ({
      requests: 600,
      errors: 501,
      clients: { seen: 101, failing: 2, fresh: i === 0 ? 101 : 100, firstFailures: i === 0 ? 2 : 1, cappedRequests: 110 },
    })
    const out = run(
      repeat(30, (i) => ({ clientErrors: { stable: counts(1900, 19), canary: flood(i) } })),
      cfg(),
      { rum: false },
    )
    expect(out.verdict).toBe('healthy')
  })

  it('can be turned off, and stands aside while rings make the cohorts differ in audience', () => {
    const bad = repeat(20, () => ({ clientErrors: { stable: counts(1900, 19), canary: counts(100, 10) } }))
    expect(run(bad, cfg({ clientErrors: { enabled: false } }), { rum: false }).verdict).toBeNull()
    const pooled = run(bad, cfg(), { rum: false, pooled: true })
    expect(pooled.verdict).toBe('healthy')
    expect(pooled.reasons.join()).toMatch(/4xx test not applied: audience rings/)
  })
})

describe('the JavaScript error test', () => {
  const window = (canaryErrored: number, extra: Partial<RumCounts> = {}): SignalWindow => ({
    rum: {
      stable: rum(counts(950, 5), { fingerprints: [{ fingerprint: 'Error: third party at /widget.js:1', clients: 5 }] }),
      canary: rum(counts(50, canaryErrored), extra),
    },
  })

  it('rolls back on a higher share of page views with an error, naming the errors new in the canary', () => {
    const prints = [
      { fingerprint: 'TypeError: x is undefined at /app.js:12', clients: 2 },
      { fingerprint: 'Error: third party at /widget.js:1', clients: 1 },
    ]
    const out = run(repeat(10, () => window(2, { fingerprints: prints })))
    expect(out.verdict).toBe('rollback')
    expect(out.reasons[0]).toMatch(/^canary JavaScript errors are disproportionate/)
    expect(out.reasons[0]).toContain('new in canary: TypeError: x is undefined at /app.js:12, ')
    expect(out.reasons[0]).not.toContain('new in canary: Error: third party')
    expect(out.details.rum).toMatchObject({ canaryErrors: [{ fingerprint: prints[0]!.fingerprint, newInCanary: true }, { newInCanary: false }] })
    // What the decision records is what the contract (and the OpenAPI document) says it is.
    expect(z.safeParse(DecisionSignals, out.details).success).toBe(true)
  })

  it('holds, never rolls back, on a third-party error that breaks both cohorts alike', () => {
    // 2 % of page views throw in both cohorts: the canary's share of errors is its share of page views.
    const out = run(repeat(60, () => ({ rum: { stable: rum(counts(980, 20)), canary: rum(counts(20, 0)) } })).concat([]))
    expect(out.verdict).not.toBe('rollback')
    const equal = run(repeat(60, (i) => ({ rum: { stable: rum(counts(950, 19)), canary: rum(counts(50, i % 2)) } })))
    expect(equal.verdict).not.toBe('rollback')
  })

  it('holds until each cohort has judge.rum.minPageViews page views, then says healthy', () => {
    const w = (): SignalWindow => ({ rum: { stable: rum(counts(150, 0)), canary: rum(counts(60, 0)) } })
    const noVitals = cfg({ rum: { vitals: { enabled: false } } })
    const two = run([w(), w()], noVitals)
    expect(two.verdict).toBe('hold')
    expect(two.reasons.join()).toMatch(/not enough page views: canary 120 of 200/)
    expect(run([w(), w(), w(), w()], noVitals).verdict).toBe('healthy')
    // minPageViews 0: an operator's "promote without beacons", vitals compared or not.
    expect(run([{ rum: { stable: rum(counts(0, 0)), canary: rum(counts(0, 0)) } }], cfg({ rum: { minPageViews: 0 } })).verdict).toBe('healthy')
  })

  it('holds on unreadable beacon counts, and leaves the evidence as it was', () => {
    const broken = { rum: { stable: { requests: 5, errors: 9 }, canary: rum(counts(10, 0)) } } as unknown as SignalWindow
    const out = judgeSignals(undefined, broken, cfg(), { rum: true, start: 0, end: MIN })
    expect(out.verdict).toBe('hold')
    expect(out.reasons[0]).toMatch(/^real-user signals unreadable: stable page views has more errors/)
    expect(out.state.jsErrors.evidence).toEqual([])
  })

  it('never throws, whatever the window and the stored state', () => {
    fc.assert(
      fc.property(fc.anything(), fc.anything(), fc.boolean(), (w, s, on) => {
        const out = judgeSignals(s as SignalState, w as SignalWindow, cfg(), { rum: on, start: 0, end: MIN })
        expect(isSignalState(out.state)).toBe(true)
      }),
    )
  })
})

describe('the Web Vitals guard', () => {
  const vitals = (stableLcp: number, canaryLcp: number, n = 150): SignalWindow => ({
    rum: {
      stable: rum(counts(900, 0), { vitals: { lcp: { p75: stableLcp, n: n * 6 }, cls: { p75: 0.05, n: n * 6 } } }),
      canary: rum(counts(300, 0), { vitals: { lcp: { p75: canaryLcp, n }, cls: { p75: 0.05, n } } }),
    },
  })

  it('rolls back after `consecutive` windows with the canary’s p75 worse by the ratio and the margin', () => {
    expect(run([vitals(2000, 2800), vitals(2000, 2800)]).verdict).toBe('hold')
    const out = run([vitals(2000, 2800), vitals(2000, 2800), vitals(2000, 2800)])
    expect(out.verdict).toBe('rollback')
    expect(out.reasons[0]).toMatch(/^Web Vitals regressed: LCP p75: canary 2800 ms \(needs improvement\) vs stable 2000 ms \(good\), 1.40x/)
  })

  it('stands aside while rings make the cohorts differ in audience', () => {
    const out = run(
      repeat(5, () => vitals(2000, 4000)),
      cfg(),
      { pooled: true },
    )
    expect(out.verdict).toBe('healthy')
    expect(out.reasons.join()).toMatch(/Web Vitals not compared: audience rings are in force/)
  })

  it('needs both the ratio and the margin, a judged window clears a streak, and too few page views judge nothing', () => {
    expect(run(repeat(5, () => vitals(100, 200))).verdict).toBe('healthy') // 2x but +100 ms
    expect(run([vitals(2000, 2800), vitals(2000, 2800), vitals(2000, 2000), vitals(2000, 2800)]).verdict).toBe('hold')
    // Too few page views in the span: nothing compared, and so never healthy.
    const few = run(repeat(5, () => vitals(2000, 4000, 50)))
    expect(few.verdict).toBe('hold')
    expect(few.reasons.join()).toMatch(/LCP not compared yet: its span needs 100 page views with it per cohort \(stable 300, canary 50\)/)
    expect(few.reasons.join()).toMatch(/Web Vitals not compared enough yet: LCP in 0 of the 3 spans/)
  })

  it('grows a span until both cohorts have enough page views, then starts the next after the window it was compared in', () => {
    const first = judgeSignals(undefined, vitals(2000, 2100, 50), cfg(), { rum: true, start: 0, end: MIN })
    expect(first.state.vitalsSince).toEqual({ lcp: 0, inp: 0, cls: 0 })
    // The source read the span [0, 2 min): now with enough page views.
    const second = judgeSignals(first.state, vitals(2000, 2100, 120), cfg(), { rum: true, start: MIN, end: 2 * MIN })
    expect(second.state.vitalsSince).toMatchObject({ lcp: 2 * MIN, cls: 2 * MIN, inp: 0 })
    expect(second.state.vitalsCompared).toEqual({ lcp: 1, inp: 0, cls: 1 })
    const healthy = run(repeat(3, () => vitals(2000, 2100)))
    expect(healthy.verdict).toBe('healthy')
  })

  it('ends a span undecided after an hour without enough page views, so a quiet rollout waits hours, not for ever', () => {
    const quiet = run(repeat(60, () => vitals(2000, 4000, 10)))
    expect(quiet.state.vitalsCompared.lcp).toBe(1)
    expect(quiet.state.vitalsSince.lcp).toBe(60 * MIN)
    expect(quiet.reasons.join()).toMatch(/LCP span of an hour ended without enough page views to compare/)
    expect(quiet.state.vitalsStreaks.lcp).toBe(0)
    expect(run(repeat(180, () => vitals(2000, 4000, 10))).verdict).toBe('healthy')
  })
})

describe('with the server verdict', () => {
  const server = (verdict: 'rollback' | 'pause' | 'hold' | 'healthy') => ({
    verdict,
    reasons: [`server ${verdict}`],
    numbers: { a: 1 },
    state: initialJudgeState(),
  })
  const signals = (verdict: 'rollback' | 'hold' | 'healthy') => ({ ...run([]), verdict, reasons: [`signals ${verdict}`], numbers: { b: 2 } })

  it('the graver verdict wins, its reasons first, and the numbers are merged', () => {
    expect(withSignals(server('healthy'), signals('rollback'))).toMatchObject({
      verdict: 'rollback',
      reasons: ['signals rollback', 'server healthy'],
      numbers: { a: 1, b: 2 },
    })
    expect(withSignals(server('pause'), signals('hold'))).toMatchObject({ verdict: 'pause', reasons: ['server pause', 'signals hold'] })
    expect(withSignals(server('hold'), signals('healthy')).verdict).toBe('hold')
    expect(withSignals(server('healthy'), signals('hold')).verdict).toBe('hold')
  })
})

describe('a canary whose pages send no beacons', () => {
  it('is paused after noDataPauseMinutes rather than held forever, naming the likely causes', () => {
    const spec = z.parse(RolloutSpec, { id: 'web', stable: 'https://a.example', canary: 'https://b.example', rum: { enabled: true } })
    const T0 = Date.UTC(2026, 11, 1, 9)
    const t = applyCommand(initialState(T0), { name: 'start', release: 'v2' }, spec.schedule, T0)
    if (!t.ok) throw new Error(t.detail)
    const w = (at: number) => ({ start: at - MIN, end: at, stable: { requests: 900, errors: 0 }, canary: { requests: 20, errors: 0 } })
    const s = judgeSignals(undefined, { rum: { stable: rum(counts(200, 0)), canary: rum(counts(0, 0)) } }, spec.judge, { rum: true, start: T0, end: T0 + MIN })
    const verdict = (signals: typeof s) => withSignals({ verdict: 'healthy', reasons: [], numbers: {}, state: initialJudgeState() }, signals)
    const early = decide(t.state, spec, verdict(s), w(T0 + 5 * MIN), T0 + 5 * MIN, undefined, s).decision
    expect(early.kind).toBe('hold')
    const late = decide(t.state, spec, verdict(s), w(T0 + 16 * MIN), T0 + 16 * MIN, undefined, s).decision
    expect(late.kind).toBe('pause')
    expect(late.reason).toMatch(/^no page-view beacons from the canary for 16 minutes/)
    // Real-user signals turned on mid-step: the silence counts from the first window judged with them.
    const turnedOn = judgeSignals(undefined, { rum: { stable: rum(counts(200, 0)), canary: rum(counts(0, 0)) } }, spec.judge, {
      rum: true,
      start: T0 + 14 * MIN,
      end: T0 + 15 * MIN,
    })
    expect(decide(t.state, spec, verdict(turnedOn), w(T0 + 16 * MIN), T0 + 16 * MIN, undefined, turnedOn).decision.kind).toBe('hold')
    // Not when the operator asked to promote without beacons.
    const optional = z.parse(RolloutSpec, { ...spec, judge: { rum: { minPageViews: 0 } } })
    expect(decide(t.state, optional, verdict(s), w(T0 + 16 * MIN), T0 + 16 * MIN, undefined, s).decision.kind).not.toBe('pause')
    // Once the canary's pages report, the silence ends.
    const heard = judgeSignals(undefined, { rum: { stable: rum(counts(200, 0)), canary: rum(counts(5, 0)) } }, spec.judge, {
      rum: true,
      start: T0 + 14 * MIN,
      end: T0 + 15 * MIN,
    })
    expect(decide(t.state, spec, verdict(heard), w(T0 + 16 * MIN), T0 + 16 * MIN, undefined, heard).decision.kind).toBe('hold')
  })
})
