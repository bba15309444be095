import fc from 'fast-check'
import * as z from 'zod/mini'
import { describe, expect, it } from 'vitest'
import { RolloutSpec, Schedule } from '../../src/core/config/schema.ts'
import {
  COMMANDS,
  type Command,
  type Decision,
  type RolloutState,
  type Transition,
  applyCommand,
  applyDecision,
  initialState,
  reschedule,
} from '../../src/core/rollout/machine.ts'

const schedule = z.parse(Schedule, [{ weight: 1 }, { weight: 10, gate: true }, { weight: 50 }, { weight: 100 }])
const T0 = 1_700_000_000_000

function run(state: RolloutState, ...cmds: Command[]): RolloutState {
  for (const cmd of cmds) {
    const t = applyCommand(state, cmd, schedule, T0)
    if (!t.ok) throw new Error(t.detail)
    state = t.state
  }
  return state
}

const decide = (state: RolloutState, kind: Decision['kind']) => applyDecision(state, { kind, reason: kind }, schedule, T0 + 60_000)

describe('schedule', () => {
  it('defaults to 1 -> 5 -> 10 -> 25 -> 50 -> 100 % with bake times', () => {
    const spec = z.parse(RolloutSpec, { id: 'x', stable: 'https://a.example', canary: 'https://b.example' })
    expect(spec.schedule.map((s) => s.weight)).toEqual([2, 5, 10, 25, 50, 100])
    expect(spec.schedule.every((s, i) => i === spec.schedule.length - 1 || s.bakeMinutes > 0)).toBe(true)
  })
})

describe('operator commands', () => {
  it('start enters the first step with the release', () => {
    expect(run(initialState(T0), { name: 'start', release: 'v2' })).toMatchObject({ phase: 'progressing', weight: 1, step: 0, release: 'v2', revision: 2 })
  })

  it('every change bumps the revision by one', () => {
    const s = run(initialState(T0), { name: 'start', release: 'v2' }, { name: 'pause' }, { name: 'resume' }, { name: 'weight', weight: 3 })
    expect(s.revision).toBe(5)
  })

  it('resume continues from the highest step at or below a manual weight', () => {
    const s = run(initialState(T0), { name: 'start', release: 'v2' }, { name: 'weight', weight: 30 }, { name: 'resume' })
    expect(s).toMatchObject({ phase: 'progressing', weight: 30, step: 1 })
  })

  it('resume below the first step (a manual 0 %) restarts at the first step rather than stalling', () => {
    const s = run(initialState(T0), { name: 'start', release: 'v2' }, { name: 'weight', weight: 0 }, { name: 'resume' })
    expect(s).toMatchObject({ phase: 'progressing', weight: 1, step: 0 })
  })

  it('approve at the end of a schedule that shrank under it enters the last step instead of failing', () => {
    const gated = { ...run(initialState(T0), { name: 'start', release: 'v2' }), phase: 'awaiting-approval' as const, step: 3 }
    const t = applyCommand(gated, { name: 'approve' }, schedule, T0)
    expect(t).toMatchObject({ ok: true, state: { phase: 'promoted', weight: 100, step: 3 } })
  })

  it('complete is only for a promoted release', () => {
    const t = applyCommand(run(initialState(T0), { name: 'start', release: 'v2' }), { name: 'complete' }, schedule, T0)
    expect(t).toMatchObject({ ok: false, status: 409 })
    const done = applyCommand(run(initialState(T0), { name: 'start', release: 'v2' }, { name: 'promote' }), { name: 'complete' }, schedule, T0)
    expect(done).toMatchObject({ ok: true, swapOrigins: true, state: { phase: 'idle', weight: 0, release: null } })
  })

  it('never leaves the weight outside 0-100 and never throws, whatever the command sequence', () => {
    const cmd = fc.oneof(
      fc.constantFrom(...COMMANDS.filter((c) => c !== 'start' && c !== 'weight')).map((name) => ({ name }) as Command),
      fc.constant({ name: 'start', release: 'v' } as Command),
      fc.integer({ min: 0, max: 10_000 }).map((bp) => ({ name: 'weight', weight: bp / 100 }) as Command),
    )
    const decision = fc.constantFrom<Decision['kind']>('advance', 'gate', 'promote', 'rollback', 'pause', 'hold')
    fc.assert(
      fc.property(fc.array(fc.oneof(cmd, decision), { maxLength: 40 }), (inputs) => {
        let s = initialState(T0)
        for (const input of inputs) {
          const t = typeof input === 'string' ? decide(s, input) : applyCommand(s, input, schedule, T0)
          if (t.ok) s = t.state
          if (!(s.weight >= 0 && s.weight <= 100)) return false
          if (s.phase === 'rolled-back' && s.weight !== 0) return false
          if (s.phase === 'promoted' && s.weight !== 100) return false
          if (s.step >= schedule.length) return false
        }
        return true
      }),
    )
  })
})

describe('controller decisions', () => {
  const progressing = () => run(initialState(T0), { name: 'start', release: 'v2' })

  it('advance moves to the next step; a gated step waits for approval first', () => {
    const s = progressing()
    const gated = decide(s, 'gate')
    expect(gated).toMatchObject({ ok: true, state: { phase: 'awaiting-approval', weight: 1 } })
    const approved = run((gated as { state: RolloutState }).state, { name: 'approve' })
    expect(approved).toMatchObject({ phase: 'progressing', weight: 10, step: 1 })
    const advanced = decide(approved, 'advance')
    expect(advanced).toMatchObject({ ok: true, state: { phase: 'progressing', weight: 50, step: 2 } })
  })

  it('entering the 100 % step is the promotion', () => {
    let s = progressing()
    s = { ...s, step: 2, weight: 50 }
    expect(decide(s, 'advance')).toMatchObject({ ok: true, state: { phase: 'promoted', weight: 100 } })
  })

  it('rollback sets weight 0; a hold changes no revision', () => {
    const s = progressing()
    expect(decide(s, 'rollback')).toMatchObject({ ok: true, state: { phase: 'rolled-back', weight: 0, revision: s.revision + 1 } })
    expect(decide(s, 'hold')).toMatchObject({ ok: true, changed: false, state: { revision: s.revision, lastDecision: { kind: 'hold' } } })
  })

  it('the controller never moves a rollout that is not progressing; at a gate it may only hold, pause or roll back', () => {
    for (const s of [initialState(T0), run(progressing(), { name: 'pause' }), run(progressing(), { name: 'rollback' })]) {
      expect(decide(s, 'advance')).toMatchObject({ ok: false, status: 409 })
      expect(decide(s, 'rollback')).toMatchObject({ ok: false, status: 409 })
    }
    const gated = { ...progressing(), phase: 'awaiting-approval' as const }
    expect(decide(gated, 'advance')).toMatchObject({ ok: false, status: 409 })
    expect(decide(gated, 'rollback')).toMatchObject({ ok: true, state: { phase: 'rolled-back', weight: 0 } })
  })
})

describe('ring steps', () => {
  const rings = z.parse(Schedule, [{ audience: 'staff', weight: 100 }, { audience: 'nz', weight: 25, gate: true }, { weight: 5 }, { weight: 100 }])
  const apply = (state: RolloutState, cmd: Command) => {
    const t = applyCommand(state, cmd, rings, T0)
    if (!t.ok) throw new Error(t.detail)
    return t.state
  }

  it("enters a ring step with everyone's weight unchanged, and promotes only at 100 for everyone", () => {
    const started = apply(initialState(T0), { name: 'start', release: 'v2' })
    expect(started).toMatchObject({ phase: 'progressing', weight: 0, rings: { staff: 100 }, step: 0 })
    const atGate = applyDecision(started, { kind: 'gate', reason: 'gate' }, rings, T0)
    if (!atGate.ok) throw new Error(atGate.detail)
    expect(apply(atGate.state, { name: 'approve' })).toMatchObject({ phase: 'progressing', weight: 0, rings: { staff: 100, nz: 25 }, step: 1 })
  })

  it('ends the rings on a manual weight, and a resume never opens a gated ring nobody approved', () => {
    const started = apply(initialState(T0), { name: 'start', release: 'v2' })
    const manual = apply(started, { name: 'weight', weight: 5 })
    expect(manual).toMatchObject({ phase: 'paused', weight: 5, rings: {} })
    // Everyone is at 5 %, past the nz step's 0 %; but nz's 25 % behind its gate was never approved.
    expect(apply(manual, { name: 'resume' })).toMatchObject({ phase: 'progressing', weight: 5, step: 0, rings: { staff: 100 } })
    // An operator who sets everyone to 25 % or more has covered the ring: resuming past the gate opens nothing new.
    expect(apply(apply(started, { name: 'weight', weight: 30 }), { name: 'resume' })).toMatchObject({ step: 2, rings: { staff: 100, nz: 25 } })
  })
})

describe('shadow steps', () => {
  const shadowed = z.parse(Schedule, [{ shadow: 10, bakeMinutes: 15 }, { weight: 5 }, { weight: 50 }, { weight: 100 }])
  const apply = (state: RolloutState, cmd: Command) => {
    const t = applyCommand(state, cmd, shadowed, T0)
    if (!t.ok) throw new Error(t.detail)
    return t.state
  }
  const decided = (state: RolloutState, kind: Decision['kind']) => {
    const t = applyDecision(state, { kind, reason: kind }, shadowed, T0 + 60_000)
    if (!t.ok) throw new Error(t.detail)
    return t.state
  }
  const started = () => apply(initialState(T0), { name: 'start', release: 'v2' })
  /** A transition's state; throws on a refused one. */
  const step = (t: Transition) => {
    if (!t.ok) throw new Error(t.detail)
    return t.state
  }

  it('start enters the shadow step: no canary weight, its share of visitors mirrored', () => {
    expect(started()).toMatchObject({ phase: 'progressing', step: 0, weight: 0, shadowWeight: 10 })
  })

  it('advancing leaves it: the canary gets its first weight and mirroring ends', () => {
    expect(decided(started(), 'advance')).toMatchObject({ phase: 'progressing', step: 1, weight: 5, shadowWeight: 0 })
  })

  it('a pause stops mirroring (nothing judges a paused rollout); a resume there restarts the step and its mirroring', () => {
    for (const paused of [decided(started(), 'pause'), apply(started(), { name: 'pause' })]) {
      expect(paused).toMatchObject({ phase: 'paused', step: 0, weight: 0, shadowWeight: 0 })
      expect(apply(paused, { name: 'resume' })).toMatchObject({ phase: 'progressing', step: 0, weight: 0, shadowWeight: 10, stepStartedAt: T0 })
    }
  })

  it('resuming from a manual weight below the next step enters the shadow step at weight 0: it serves the canary to nobody', () => {
    const manual = apply(started(), { name: 'weight', weight: 3 })
    expect(apply(manual, { name: 'resume' })).toMatchObject({ phase: 'progressing', step: 0, weight: 0, shadowWeight: 10 })
  })

  it('a config whose schedule does not fit the weight: a shadow step is entered at weight 0, below the first step it pauses', () => {
    const plain = z.parse(Schedule, [{ weight: 2 }, { weight: 25 }, { weight: 100 }])
    // In the shadow step (weight 0), rescheduled onto steps that all have weight: the canary would get no traffic.
    const below = reschedule(started(), plain, T0)
    expect(below).toMatchObject({ phase: 'paused', step: 0, weight: 0, shadowWeight: 0, lastDecision: { kind: 'pause' } })
    expect(below.lastDecision!.reason).toContain('no step at 0 %')
    // Progressing at 5 %, rescheduled onto a shadow-first schedule whose next step is above 5 %: it enters the shadow
    // step, which serves the canary to nobody, rather than judge visitors by mirrored requests alone.
    const at5 = decided(started(), 'advance')
    const later = z.parse(Schedule, [{ shadow: 10 }, { weight: 25 }, { weight: 100 }])
    expect(reschedule(at5, later, T0)).toMatchObject({ phase: 'progressing', step: 0, weight: 0, shadowWeight: 10 })
    // Progressing at 5 % with a first step of 10 %: the canary has traffic and is judged, so nothing changes but the step.
    const higher = z.parse(Schedule, [{ weight: 10 }, { weight: 100 }])
    expect(reschedule(at5, higher, T0)).toMatchObject({ phase: 'progressing', step: 0, weight: 5 })
    // A schedule that fits keeps the rollout running, mirroring as its step says.
    expect(reschedule(started(), z.parse(Schedule, [{ shadow: 20 }, { weight: 5 }, { weight: 100 }]), T0)).toMatchObject({
      phase: 'progressing',
      step: 0,
      shadowWeight: 20,
    })
  })

  it('a pause and resume, or the same config again, never raise a ring past its step', () => {
    const ringed = z.parse(Schedule, [
      { weight: 10 },
      { audience: 'staff', weight: 50, gate: true },
      { audience: 'staff', weight: 100 },
      { weight: 25 },
      { weight: 100 },
    ])
    let s = step(applyCommand(initialState(T0), { name: 'start', release: 'v2' }, ringed, T0))
    s = step(applyDecision(s, { kind: 'gate', reason: 'g' }, ringed, T0))
    s = step(applyCommand(s, { name: 'approve' }, ringed, T0))
    expect(s).toMatchObject({ step: 1, weight: 10, rings: { staff: 50 } })
    const resumed = step(applyCommand(step(applyCommand(s, { name: 'pause' }, ringed, T0)), { name: 'resume' }, ringed, T0))
    expect(resumed).toMatchObject({ step: 1, weight: 10, rings: { staff: 50 } })
    expect(reschedule(s, ringed, T0)).toMatchObject({ step: 1, weight: 10, rings: { staff: 50 } })
  })

  it('a rollout a new config places in a shadow step starts its evidence afresh and says why', () => {
    const at5 = { ...decided(started(), 'advance'), evidence: { step: 0, stepCanaryRequests: 900 } }
    const moved = reschedule(at5, z.parse(Schedule, [{ shadow: 10, minRequests: 500 }, { weight: 25 }, { weight: 100 }]), T0)
    expect(moved).toMatchObject({ phase: 'progressing', step: 0, weight: 0, shadowWeight: 10, evidence: null, lastDecision: { kind: 'hold' } })
    expect(moved.lastDecision!.reason).toContain('shadow step')
  })

  it('an approved gated ring stays passed: pause and resume, or a config change, keep the step and the ring', () => {
    const ringed = z.parse(Schedule, [{ shadow: 10 }, { audience: 'staff', weight: 50, gate: true }, { weight: 5 }, { weight: 25 }, { weight: 100 }])
    let s = step(applyCommand(initialState(T0), { name: 'start', release: 'v2' }, ringed, T0))
    s = step(applyDecision(s, { kind: 'gate', reason: 'g' }, ringed, T0))
    s = step(applyCommand(s, { name: 'approve' }, ringed, T0))
    s = step(applyDecision(s, { kind: 'advance', reason: 'a' }, ringed, T0))
    s = step(applyDecision(s, { kind: 'advance', reason: 'a' }, ringed, T0))
    expect(s).toMatchObject({ step: 3, weight: 25, rings: { staff: 50 } })
    const resumed = step(applyCommand(step(applyCommand(s, { name: 'pause' }, ringed, T0)), { name: 'resume' }, ringed, T0))
    expect(resumed).toMatchObject({ phase: 'progressing', step: 3, weight: 25, rings: { staff: 50 }, shadowWeight: 0 })
    expect(reschedule(s, ringed, T0)).toMatchObject({ phase: 'progressing', step: 3, weight: 25, rings: { staff: 50 } })
    // After a manual weight the rings are gone: resuming never reopens a ring an operator closed.
    const manual = step(applyCommand(s, { name: 'weight', weight: 25 }, ringed, T0))
    expect(step(applyCommand(manual, { name: 'resume' }, ringed, T0))).toMatchObject({ step: 0, weight: 0, shadowWeight: 10 })
  })

  it('a rollback, a manual weight and a promotion end mirroring', () => {
    expect(apply(started(), { name: 'rollback' })).toMatchObject({ phase: 'rolled-back', weight: 0, shadowWeight: 0 })
    expect(decided(started(), 'rollback')).toMatchObject({ phase: 'rolled-back', shadowWeight: 0 })
    expect(apply(started(), { name: 'weight', weight: 0 })).toMatchObject({ phase: 'paused', weight: 0, shadowWeight: 0 })
    expect(apply(started(), { name: 'promote' })).toMatchObject({ phase: 'promoted', weight: 100, shadowWeight: 0 })
    expect(decided(started(), 'promote')).toMatchObject({ phase: 'promoted', weight: 100, shadowWeight: 0 })
  })

  it('a gate after the shadow step keeps mirroring until it is approved', () => {
    const gated = z.parse(Schedule, [{ shadow: 10 }, { weight: 5, gate: true }, { weight: 100 }])
    const s = applyCommand(initialState(T0), { name: 'start', release: 'v2' }, gated, T0)
    if (!s.ok) throw new Error(s.detail)
    const t = applyDecision(s.state, { kind: 'gate', reason: 'g' }, gated, T0)
    if (!t.ok) throw new Error(t.detail)
    expect(t.state).toMatchObject({ phase: 'awaiting-approval', step: 0, weight: 0, shadowWeight: 10 })
    const approved = applyCommand(t.state, { name: 'approve' }, gated, T0)
    expect(approved).toMatchObject({ ok: true, state: { step: 1, weight: 5, shadowWeight: 0 } })
  })
})
