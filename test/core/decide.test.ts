import fc from 'fast-check'
import * as z from 'zod/mini'
import { describe, expect, it } from 'vitest'
import { RolloutSpec } from '../../src/core/config/schema.ts'
import { initialJudgeState, judge, type Verdict, type WindowStats } from '../../src/core/judge/judge.ts'
import { decide, decideWithoutData, evidenceOf, nextWindow } from '../../src/core/rollout/decide.ts'
import { etaOf, startWarnings, trafficNeed } from '../../src/core/rollout/eta.ts'
import { decideShadow, inShadowStep, pairedContext, pairedWindow } from '../../src/core/shadow/decide.ts'
import type { DiffKind } from '../../src/core/shadow/fields.ts'
import { judgeShadow } from '../../src/core/shadow/judge.ts'
import type { ShadowWindow } from '../../src/core/shadow/window.ts'
import { applyCommand, initialState, type RolloutState } from '../../src/core/rollout/machine.ts'

const T0 = Date.UTC(2026, 10, 24, 6, 0, 30)
const MIN = 60_000
const spec = z.parse(RolloutSpec, {
  id: 'web',
  stable: 'https://a.example',
  canary: 'https://b.example',
  schedule: [{ weight: 5, bakeMinutes: 10, minRequests: 1000 }, { weight: 20, gate: true }, { weight: 50 }, { weight: 100 }],
})

function started(): RolloutState {
  const t = applyCommand(initialState(T0), { name: 'start', release: 'v2' }, spec.schedule, T0)
  if (!t.ok) throw new Error(t.detail)
  return t.state
}

const window = (canaryRequests: number, start = T0, end = T0 + MIN): WindowStats => ({
  start,
  end,
  stable: { requests: canaryRequests * 19, errors: 0 },
  canary: { requests: canaryRequests, errors: 0 },
})
const verdict = (v: Verdict['verdict'], reasons: string[] = [v]): Verdict => ({
  verdict: v,
  reasons,
  numbers: { logMixtureLR: -1 },
  state: initialJudgeState(),
})

describe('windows', () => {
  it('ends at the last whole window boundary before now minus the ingestion lag', () => {
    const s = started()
    expect(nextWindow(s, spec, T0 + 30_000)).toBeNull() // nothing complete yet
    expect(nextWindow(s, spec, T0 + 2 * MIN + 10_000)).toEqual({ start: T0, end: Date.UTC(2026, 10, 24, 6, 1, 0), since: T0 })
    const fast = { ...spec, analysis: { ...spec.analysis, lagMinutes: 0, windowSeconds: 10 } }
    expect(nextWindow(s, fast, T0 + 25_000)).toEqual({ start: T0, end: T0 + 20_000, since: T0 })
  })
})

describe('decide', () => {
  it('holds a healthy canary until the step has baked and seen its minimum requests', () => {
    const s = started()
    expect(decide(s, spec, verdict('healthy'), window(5000), T0 + 5 * MIN).decision).toMatchObject({
      kind: 'hold',
      reason: expect.stringContaining('5 min left'),
    })
    const few = decide(s, spec, verdict('healthy'), window(10), T0 + 11 * MIN)
    expect(few.decision).toMatchObject({ kind: 'hold', reason: expect.stringContaining('1000 canary requests') })
    expect(few.evidence.stepCanaryRequests).toBe(10)
  })

  it('stops at a gate before the gated step, and the data of the decision is recorded', () => {
    const d = decide(started(), spec, verdict('healthy'), window(2000), T0 + 11 * MIN).decision
    expect(d).toMatchObject({ kind: 'gate', data: { verdict: 'healthy', step: { index: 0, canaryRequests: 2000 } } })
  })

  it('advances, and promotes from the step before 100 %', () => {
    const at2 = { ...started(), step: 2, weight: 50, stepStartedAt: T0 }
    expect(decide(at2, spec, verdict('healthy'), window(2000), T0 + 11 * MIN).decision.kind).toBe('promote')
    const noGate = { ...spec, schedule: spec.schedule.map((st) => ({ ...st, gate: false })) }
    expect(decide(started(), noGate, verdict('healthy'), window(2000), T0 + 11 * MIN).decision.kind).toBe('advance')
  })

  it('passes rollback and pause verdicts through with the judge’s reasons', () => {
    expect(decide(started(), spec, verdict('rollback', ['canary 3x worse']), window(100), T0 + MIN).decision).toMatchObject({
      kind: 'rollback',
      reason: 'canary 3x worse',
    })
    expect(decide(started(), spec, verdict('pause', ['sample ratio mismatch']), window(100), T0 + MIN).decision.kind).toBe('pause')
  })

  it('holds on missing data, and pauses once the silence outlasts the limit while the canary has weight', () => {
    const s = started()
    expect(decide(s, spec, verdict('hold'), window(0), T0 + 5 * MIN).decision.kind).toBe('hold')
    expect(decide(s, spec, verdict('hold'), window(0), T0 + 16 * MIN).decision).toMatchObject({
      kind: 'pause',
      reason: expect.stringContaining('no metrics for 16 minutes'),
    })
    expect(decideWithoutData(s, spec, 'the metrics query failed', T0 + 2 * MIN)).toEqual({ kind: 'hold', reason: 'holding: the metrics query failed' })
    expect(decideWithoutData(s, spec, 'the metrics query failed', T0 + 20 * MIN).kind).toBe('pause')
  })

  it('counts step requests afresh after a step change', () => {
    const s = started()
    const first = decide(s, spec, verdict('hold'), window(300), T0 + MIN)
    const moved = { ...s, step: 1, evidence: first.evidence }
    expect(decide(moved, spec, verdict('hold'), window(7), T0 + 2 * MIN).evidence.stepCanaryRequests).toBe(7)
    expect(decide({ ...s, evidence: first.evidence }, spec, verdict('hold'), window(7), T0 + 2 * MIN).evidence.stepCanaryRequests).toBe(307)
  })
})

describe('shadow step', () => {
  const shadowSpec = z.parse(RolloutSpec, {
    id: 'web',
    stable: 'https://a.example',
    canary: 'https://b.example',
    schedule: [{ shadow: 10, bakeMinutes: 10, minRequests: 500 }, { weight: 5, bakeMinutes: 5 }, { weight: 100 }],
  })
  const gatedSpec = { ...shadowSpec, schedule: shadowSpec.schedule.map((s, i) => (i === 1 ? { ...s, gate: true } : s)) }
  const inShadow = (): RolloutState => {
    const t = applyCommand(initialState(T0), { name: 'start', release: 'v2' }, shadowSpec.schedule, T0)
    if (!t.ok) throw new Error(t.detail)
    return t.state
  }
  type Fields = Record<string, { kind: DiffKind; canary: number; noise: number }>
  const shadowWin = (compared: number, fields: Fields = {}, noiseSampled = Math.round(compared / 2)): ShadowWindow => ({
    stable: { requests: compared, errors: 0 },
    canary: { requests: compared, errors: 0 },
    routes: compared === 0 ? {} : { '/api/user': { compared, noiseSampled, canaryErrors: 0, stableErrors: 0, fields } },
  })
  /** One tick of the shadow step at `now`, on a window of `compared` requests, with the judge's verdict given. */
  const tick = (state: RolloutState, v: Verdict['verdict'], compared: number, now: number, fields: Fields = {}, spec = shadowSpec) => {
    const sw = shadowWin(compared, fields)
    const w = pairedWindow({ start: now - 2 * MIN, end: now - MIN }, sw)
    const judged = judgeShadow(evidenceOf(state).shadow, sw, spec.judge.shadow, spec.shadow.ignore)
    return decideShadow(state, spec, verdict(v, [`judge says ${v}`]), w, sw, judged, now)
  }
  const timestamp: Fields = { '/at': { kind: 'value', canary: 600, noise: 300 } }

  it('knows a shadow step, and judges its paired answers with no sample-ratio check', () => {
    expect(inShadowStep(shadowSpec, inShadow())).toBe(true)
    expect(inShadowStep(shadowSpec, { ...inShadow(), step: 1 })).toBe(false)
    const w = pairedWindow(
      { start: T0, end: T0 + MIN },
      {
        stable: { requests: 1000, errors: 0, latencyMs: { p95: 80 } },
        canary: { requests: 3000, errors: 0, latencyMs: { p95: 90 } },
        routes: {},
      },
    )
    const v = judge(initialJudgeState(), w, { ...shadowSpec.judge, errorUnit: 'request' }, pairedContext)
    expect(v.verdict).toBe('healthy')
    expect(v.numbers.srmPValue).toBeNull()
  })

  it('advances when baked, with its compared requests, healthy and with only noise', () => {
    const d = tick(inShadow(), 'healthy', 600, T0 + 11 * MIN, timestamp)
    expect(d.decision).toMatchObject({ kind: 'advance', reason: expect.stringContaining('moving to 5 %') })
    expect(d.decision.data).toMatchObject({
      step: { index: 0, weight: 0, shadow: 10, canaryRequests: 600 },
      shadow: { compared: 600, differs: [], pending: [] },
    })
    expect(d.evidence.shadow).not.toBeNull()
    expect(d.evidence.judge).toEqual(evidenceOf(inShadow()).judge) // the live judge's evidence is not the shadow step's
    // …and the next step's own rules apply: a gate waits for its approval.
    expect(tick(inShadow(), 'healthy', 600, T0 + 11 * MIN, timestamp, gatedSpec).decision.kind).toBe('gate')
  })

  it('holds while baking, short of its compared requests, not yet healthy, or with a field still pending', () => {
    expect(tick(inShadow(), 'healthy', 600, T0 + 5 * MIN).decision).toMatchObject({ kind: 'hold', reason: expect.stringContaining('baking') })
    expect(tick(inShadow(), 'healthy', 100, T0 + 11 * MIN).decision).toMatchObject({ kind: 'hold', reason: expect.stringContaining('500 compared') })
    expect(tick(inShadow(), 'hold', 600, T0 + 11 * MIN).decision).toMatchObject({ kind: 'hold', reason: expect.stringContaining('judge says hold') })
    // Differs on 2 % of answers, never on stable: not yet significant, but plausibly a difference.
    const pending = tick(inShadow(), 'healthy', 600, T0 + 11 * MIN, { '/total': { kind: 'value', canary: 12, noise: 0 } })
    expect(pending.decision).toMatchObject({ kind: 'hold', reason: expect.stringContaining('/api/user: value /total') })
    expect(pending.decision.data).toMatchObject({ shadow: { pending: [{ route: '/api/user', field: '/total' }] } })
  })

  it('never leaves the step on a window whose comparisons the shadow judge refused', () => {
    // Baked and with its compared requests from an earlier window: a valid window now advances (the control)…
    const baked = { ...inShadow(), evidence: tick(inShadow(), 'healthy', 600, T0 + 5 * MIN, timestamp).evidence }
    expect(tick(baked, 'healthy', 600, T0 + 14 * MIN, timestamp).decision.kind).toBe('advance')
    // …and one with more differences than comparisons (garbage) holds.
    const bad = tick(baked, 'healthy', 600, T0 + 14 * MIN, { '/x': { kind: 'value', canary: 601, noise: 0 } })
    expect(bad.decision).toMatchObject({ kind: 'hold', reason: expect.stringContaining('refused') })
  })

  it('pauses, naming the routes and fields, on a field that differs above noise', () => {
    const d = tick(inShadow(), 'healthy', 600, T0 + 11 * MIN, {
      '/name': { kind: 'missing', canary: 600, noise: 0 },
      '/fullName': { kind: 'extra', canary: 600, noise: 0 },
      ...timestamp,
    })
    expect(d.decision.kind).toBe('pause')
    expect(d.decision.reason).toMatch(
      /^shadow: \/api\/user: (missing \/name, extra \/fullName|extra \/fullName, missing \/name) \(canary 100 % vs noise 0 %\)$/,
    )
  })

  it('never rolls back: significant canary errors pause, saying nobody was exposed', () => {
    const d = tick(inShadow(), 'rollback', 600, T0 + MIN)
    expect(d.decision).toMatchObject({ kind: 'pause', reason: expect.stringContaining('judge says rollback') })
    expect(d.decision.reason).toContain('no visitor was served by it')
    fc.assert(
      fc.property(
        fc.constantFrom<Verdict['verdict']>('rollback', 'pause', 'hold', 'healthy'),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 200 }),
        (v, compared, diffs, minute) => {
          const kind = tick(inShadow(), v, compared, T0 + minute * MIN, { '/x': { kind: 'value', canary: Math.min(diffs, compared), noise: 0 } }).decision.kind
          expect(kind).not.toBe('rollback')
        },
      ),
      { numRuns: 300, seed: 4 },
    )
  })

  it('pauses once held pauseAfterMinutes past its bake time, and never while an operator is to approve', () => {
    const pending = { '/total': { kind: 'value' as const, canary: 12, noise: 0 } }
    const limit = shadowSpec.judge.shadow.pauseAfterMinutes
    expect(tick(inShadow(), 'healthy', 600, T0 + (10 + limit - 1) * MIN, pending).decision.kind).toBe('hold')
    expect(tick(inShadow(), 'healthy', 600, T0 + (10 + limit) * MIN, pending).decision).toMatchObject({
      kind: 'pause',
      reason: expect.stringContaining(`held ${limit} min past its bake time`),
    })
    const gated = { ...inShadow(), phase: 'awaiting-approval' as const }
    expect(tick(gated, 'healthy', 600, T0 + (10 + limit) * MIN, timestamp).decision.kind).toBe('hold')
  })

  it('pauses when no comparisons arrive for noDataPauseMinutes while visitors are mirrored', () => {
    const limit = shadowSpec.analysis.noDataPauseMinutes
    expect(tick(inShadow(), 'hold', 0, T0 + (limit - 1) * MIN).decision.kind).toBe('hold')
    expect(tick(inShadow(), 'hold', 0, T0 + limit * MIN).decision).toMatchObject({
      kind: 'pause',
      reason: expect.stringContaining('10 % of visitors are mirrored'),
    })
    expect(decideWithoutData(inShadow(), shadowSpec, 'the metrics query failed', T0 + limit * MIN).kind).toBe('pause')
    // Not mirroring and no canary weight (say a manual 0 %): nothing is at stake, so it holds.
    expect(decideWithoutData({ ...inShadow(), shadowWeight: 0 }, shadowSpec, 'the metrics query failed', T0 + limit * MIN).kind).toBe('hold')
  })

  it('estimates when the shadow step is done from its compared requests, and the schedule’s need stays finite', () => {
    const first = tick(inShadow(), 'hold', 100, T0 + 5 * MIN)
    // The step's traffic counted from its start: 100 compared in 5 min while mirroring 10 %, 400 more to go at 20/min.
    const eta = etaOf(shadowSpec, { ...inShadow(), windowEnd: T0 + 5 * MIN, evidence: { ...first.evidence, confirmedAt: T0 } })
    expect(eta).toMatchObject({ canaryRequestsPerMinute: 20, basis: expect.stringContaining('400 more compared requests') })
    expect(eta!.stepDoneAt).not.toBeNull()
    expect(trafficNeed(shadowSpec)?.requestsPerMinute).toSatisfy(Number.isFinite)
    expect(startWarnings(shadowSpec, 6000, T0)).toEqual([])
  })

  it('keeps the shadow evidence when a later step decides, for the report', () => {
    const first = tick(inShadow(), 'healthy', 600, T0 + 11 * MIN, timestamp)
    const live = { ...inShadow(), step: 1, weight: 5, shadowWeight: 0, evidence: first.evidence }
    const next = decide(live, shadowSpec, verdict('hold'), window(10), T0 + 12 * MIN)
    expect(next.evidence.shadow).toEqual(first.evidence.shadow)
  })
})
