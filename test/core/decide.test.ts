import * as z from 'zod/mini'
import { describe, expect, it } from 'vitest'
import { RolloutSpec } from '../../src/core/config/schema.ts'
import { initialJudgeState, type Verdict, type WindowStats } from '../../src/core/judge/judge.ts'
import { decide, decideWithoutData, nextWindow } from '../../src/core/rollout/decide.ts'
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
