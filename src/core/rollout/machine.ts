/**
 * @module
 * The rollout state machine: phases, operator commands and controller
 * decisions. Pure: every transition is `(state, input, now) -> new state`,
 * and the single writer (the coordinator) persists the result.
 *
 *   idle ──start──► progressing ──(controller: advance)──► … ──► promoted ──complete──► idle
 *                    │  ▲   │ gate                                 │
 *                pause│  │resume/approve ──► awaiting-approval     │
 *                    ▼  │                                          │
 *                   paused          any active phase ──rollback──► rolled-back ──start──► progressing
 */
import type { Schedule } from '../config/schema.ts'
import { weightsAt } from './rings.ts'

export const PHASES = ['idle', 'progressing', 'paused', 'awaiting-approval', 'promoted', 'rolled-back'] as const
export type Phase = (typeof PHASES)[number]

export const COMMANDS = ['start', 'weight', 'pause', 'resume', 'approve', 'promote', 'rollback', 'complete'] as const
export type CommandName = (typeof COMMANDS)[number]

export type Command =
  /** Origins given with a start replace the spec's in the same write: the new release never runs against the old canary. */
  | { name: 'start'; release: string; stable?: string; canary?: string }
  | { name: 'weight'; weight: number }
  | { name: 'pause' | 'resume' | 'approve' | 'promote' | 'rollback' | 'complete' }

/** What the controller concluded for one tick. `data` holds the numbers behind it. */
export type DecisionKind = 'advance' | 'gate' | 'promote' | 'rollback' | 'pause' | 'hold'

export interface Decision {
  kind: DecisionKind
  reason: string
  data?: Record<string, unknown>
}

export interface RolloutState {
  phase: Phase
  /** Canary weight in percent: everyone's (a ring's visitors get the higher of this and their ring's). */
  weight: number
  /**
   * Ring weights in percent, by audience (src/core/rollout/rings.ts): set from the schedule on entering a step,
   * cleared by a manual weight, a promotion and a rollback. Absent in states stored before rings existed.
   */
  rings?: Record<string, number>
  /**
   * Percent of visitors whose safe requests are mirrored to the canary: a shadow step's `shadow` while the controller
   * runs it (progressing, or at the gate after it), 0 otherwise (a pause stops mirroring). Absent in states stored
   * before shadow steps existed.
   */
  shadowWeight?: number
  /** Index into the schedule; -1 before the first start. */
  step: number
  /** When the current step (or a resume) began, ms since epoch. */
  stepStartedAt: number | null
  release: string | null
  /** Bumped on every change; the basis of If-Match and of stale-decision detection. */
  revision: number
  updatedAt: number
  /** The controller's evidence for the current release (opaque here; the judge owns its shape). */
  evidence: unknown
  /** End (ms) of the last metrics window the controller consumed: no window is judged twice. */
  windowEnd: number | null
  lastDecision: (Decision & { at: number }) | null
}

export const initialState = (now: number): RolloutState => ({
  phase: 'idle',
  weight: 0,
  rings: {},
  shadowWeight: 0,
  step: -1,
  stepStartedAt: null,
  release: null,
  revision: 1,
  updatedAt: now,
  evidence: null,
  windowEnd: null,
  lastDecision: null,
})

/** Phases in which canary traffic may be flowing under Sluice's care. */
const ACTIVE: ReadonlySet<Phase> = new Set(['progressing', 'paused', 'awaiting-approval', 'promoted'])

export type Transition = { ok: true; state: RolloutState; changed: boolean; swapOrigins?: boolean } | { ok: false; status: 409; detail: string }

const conflict = (detail: string): Transition => ({ ok: false, status: 409, detail })

function next(state: RolloutState, now: number, patch: Partial<RolloutState>): Transition {
  return { ok: true, changed: true, state: { ...state, ...patch, revision: state.revision + 1, updatedAt: now } }
}

/** After `complete`: the promoted canary is the new stable, ready for the next release. */
const reset = (state: RolloutState, now: number): RolloutState => ({ ...initialState(now), revision: state.revision + 1 })

/**
 * Where a rollout at `weight` (everyone's) stands: the last step, in order, whose weight for everyone is at or below
 * it (0 below the first). A gated ring step stops the walk unless `weight` already covers its ring: resuming must not
 * open a ring to a weight an operator never approved.
 */
export function stepFor(schedule: Schedule, weight: number, rings: Readonly<Record<string, number>> = {}): number {
  let step = 0
  for (let i = 0; i < schedule.length; i++) {
    const s = schedule[i]!
    // A ring step not covered by the weight, nor already given its weight: with the rollout's live rings (a pause, a
    // config change) the walk stops there, so no ring is raised without its step; without rings (after a manual
    // weight, which ends them) only a gated one stops it, so resuming never opens a ring nobody approved.
    const short = s.audience !== undefined && s.weight > weight && (rings[s.audience] ?? 0) < s.weight
    if (weightsAt(schedule, i).global > weight || (short && (s.gate || Object.keys(rings).length > 0))) break
    step = i
  }
  return step
}

/**
 * A rollout whose config (and so perhaps its schedule) was replaced: placed by its current weight, not by its old
 * step index, with the new schedule's rings wherever the controller is running it.
 */
export function reschedule(state: RolloutState, schedule: Schedule, now: number): RolloutState {
  const step = state.step < 0 ? -1 : stepFor(schedule, state.weight, state.rings)
  const automated = state.phase === 'progressing' || state.phase === 'awaiting-approval'
  const bumped = { ...state, step, revision: state.revision + 1, updatedAt: now }
  // Not the controller's (paused, promoted, …): placed, its rings as the operator left them, mirroring off already.
  if (step < 0 || !automated) return bumped
  const shadow = schedule[step]!.shadow
  // A shadow step serves the canary to nobody: a rollout placed in one enters it (weight 0), or its visitors on the
  // canary would be judged only by the requests mirrored.
  if (shadow !== undefined && state.weight > 0) {
    // Fresh evidence: the live step's counts are not compared requests, and the release is judged anew from here.
    const reason = `the new schedule places the rollout at ${state.weight} % in its shadow step: mirroring ${shadow} %, the canary serves nobody`
    const lastDecision = { kind: 'hold' as const, reason, at: now }
    return { ...bumped, phase: 'progressing', weight: 0, rings: {}, shadowWeight: shadow, stepStartedAt: now, windowEnd: now, evidence: null, lastDecision }
  }
  // At weight 0 below the new schedule's first step the canary gets no traffic, and the step would never have a
  // verdict (held for ever): it pauses, saying why, for an operator to resume (which enters the first step).
  if (state.weight === 0 && shadow === undefined && weightsAt(schedule, step).global > 0) {
    const reason = `the new schedule has no step at 0 % (its first is ${weightsAt(schedule, 0).global} %): paused; resume to enter it`
    return { ...bumped, phase: 'paused', shadowWeight: 0, lastDecision: { kind: 'pause', reason, at: now } }
  }
  return { ...bumped, rings: weightsAt(schedule, step).rings, shadowWeight: shadow ?? 0 }
}

/** Entering step `i` (clamped to the schedule): everyone at 100 % is the promotion; a ring step raises its ring. */
function enterStep(state: RolloutState, schedule: Schedule, i: number, now: number, patch: Partial<RolloutState> = {}): Transition {
  const index = Math.min(i, schedule.length - 1)
  const w = weightsAt(schedule, index)
  return next(state, now, {
    ...patch,
    phase: w.global >= 100 ? 'promoted' : 'progressing',
    weight: w.global,
    rings: w.rings,
    shadowWeight: schedule[index]!.shadow ?? 0,
    step: index,
    stepStartedAt: now,
  })
}

/** Applies an operator command. Commands that make no sense in the current phase are conflicts (409). */
export function applyCommand(state: RolloutState, cmd: Command, schedule: Schedule, now: number): Transition {
  const { phase } = state
  switch (cmd.name) {
    case 'start': {
      // A rollout paused by a manual weight before any release may still start one.
      const fresh = phase === 'idle' || phase === 'rolled-back' || (phase === 'paused' && state.release === null)
      if (!fresh) return conflict(`cannot start while ${phase}: roll back, or complete a promoted release, first`)
      return enterStep(state, schedule, 0, now, { release: cmd.release, evidence: null, windowEnd: now, lastDecision: null })
    }
    case 'weight':
      // Manual weight hands control to the operator: automation pauses until `resume`. It is everyone's weight, and it
      // ends the rings: an operator who sets 0 % in an incident means everyone.
      return next(state, now, { phase: 'paused', weight: cmd.weight, rings: {}, shadowWeight: 0 })
    case 'pause':
      if (phase !== 'progressing' && phase !== 'awaiting-approval') return conflict(`cannot pause while ${phase}`)
      // Mirroring stops too: nothing judges a paused rollout's comparisons, so they would only load both origins.
      return next(state, now, { phase: 'paused', shadowWeight: 0 })
    case 'resume': {
      if (phase !== 'paused') return conflict(`cannot resume while ${phase}`)
      if (state.release === null) return conflict('nothing to resume: start a release first')
      // Continue from the highest step at or below the current weight; its bake time starts over. Below the first
      // step (say a manual 0 %) the canary would get no traffic and so never any verdict: resume at the first step.
      if (state.weight >= 100) return next(state, now, { phase: 'promoted', step: schedule.length - 1, rings: {}, shadowWeight: 0 })
      if (state.weight < weightsAt(schedule, 0).global) return enterStep(state, schedule, 0, now, { windowEnd: now })
      // The step's rings come back with it (a manual weight had ended them).
      const step = stepFor(schedule, state.weight, state.rings)
      // A shadow step serves the canary to nobody: resuming into it (from a manual weight below the next step) enters it.
      if (schedule[step]!.shadow !== undefined) return enterStep(state, schedule, step, now, { windowEnd: now })
      return next(state, now, {
        phase: 'progressing',
        step,
        rings: weightsAt(schedule, step).rings,
        shadowWeight: schedule[step]!.shadow ?? 0,
        stepStartedAt: now,
        windowEnd: now,
      })
    }
    case 'approve':
      if (phase !== 'awaiting-approval') return conflict(`nothing to approve while ${phase}`)
      return enterStep(state, schedule, state.step + 1, now, { windowEnd: now })
    case 'promote':
      if (phase !== 'progressing' && phase !== 'paused' && phase !== 'awaiting-approval') return conflict(`cannot promote while ${phase}`)
      return next(state, now, { phase: 'promoted', weight: 100, rings: {}, shadowWeight: 0, step: schedule.length - 1, stepStartedAt: now })
    case 'rollback':
      // Rolling back twice is not an error: an operator in an incident must be able to press it again.
      if (!ACTIVE.has(phase)) return { ok: true, changed: false, state }
      return next(state, now, { phase: 'rolled-back', weight: 0, rings: {}, shadowWeight: 0 })
    case 'complete':
      if (phase !== 'promoted') return conflict(`only a promoted release can be completed (now ${phase})`)
      return { ok: true, changed: true, swapOrigins: true, state: reset(state, now) }
  }
}

/**
 * Applies a controller decision. A `progressing` rollout is the controller's
 * (and one at a gate, to hold, pause or roll back); the caller has already checked that the decision was computed
 * from this very revision, so an operator's command always wins.
 */
export function applyDecision(state: RolloutState, d: Decision, schedule: Schedule, now: number, patch: Partial<RolloutState> = {}): Transition {
  // At a gate the canary keeps its traffic, so the controller keeps watching, but only to hold, pause or roll back.
  const watching = state.phase === 'awaiting-approval' && (d.kind === 'hold' || d.kind === 'pause' || d.kind === 'rollback')
  if (state.phase !== 'progressing' && !watching) return conflict(`the controller does not ${d.kind} while ${state.phase}`)
  const lastDecision = { ...d, at: now }
  switch (d.kind) {
    case 'hold':
      // A hold changes only the controller's own bookkeeping: no revision bump, so it never
      // invalidates an operator's If-Match.
      return { ok: true, changed: false, state: { ...state, ...patch, lastDecision } }
    case 'rollback':
      return next(state, now, { ...patch, lastDecision, phase: 'rolled-back', weight: 0, rings: {}, shadowWeight: 0 })
    case 'pause':
      return next(state, now, { ...patch, lastDecision, phase: 'paused', shadowWeight: 0 })
    case 'gate':
      return next(state, now, { ...patch, lastDecision, phase: 'awaiting-approval' })
    case 'advance':
    case 'promote':
      return enterStep(state, schedule, d.kind === 'promote' ? schedule.length - 1 : state.step + 1, now, { ...patch, lastDecision })
  }
}
