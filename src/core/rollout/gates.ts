/**
 * @module
 * Gate webhooks, decided: what the controller does with its own decision once
 * the hooks configured for that point (src/control/hooks.ts calls them) have
 * answered. Pure, like `decide`.
 *
 * - `pre-rollout`: asked before the canary's first traffic of a release. `start`
 *   sets the first step's weight at once, so while this gate has not said go the
 *   coordinator publishes the rollout to the edge at weight 0
 *   (`awaitingPreRollout`), and the step's bake time runs from the go.
 * - `confirm-step` before each advance, `confirm-promotion` before 100 %.
 *
 * Every hook of the gate must answer 2xx; any other answer, a timeout or a
 * network error holds, with the hook's status and the start of its answer in
 * the history. `hookFailuresBeforePause` failures in a row pause the rollout
 * (its traffic stays where it is), or, at `pre-rollout`, roll it back: the
 * canary never had traffic, and a pause there would give it some.
 * Rollbacks, pauses and holds are never gated.
 */
import type { HookEvent, RolloutSpec } from '../config/schema.ts'
import { type ControllerEvidence, type TickOutcome, evidenceOf } from './decide.ts'
import type { DecisionKind, RolloutState } from './machine.ts'

export type GateEvent = Extract<HookEvent, 'pre-rollout' | 'confirm-step' | 'confirm-promotion'>

/** One hook's answer to one call. */
export interface HookResult {
  /** Its place in the config, e.g. `hooks.2`. */
  hook: string
  /** The host called; the URL itself may carry a token, so the history keeps only this. */
  host: string
  ok: boolean
  /** The HTTP status; null when there was no answer. */
  status: number | null
  /** The first 200 bytes of the answer. */
  body: string
  /** Why there was no answer (timeout, network error). */
  error?: string
}

/** The gate a controller decision must pass: an advance is a step, a promotion the last. */
export function gateOf(kind: DecisionKind): GateEvent | null {
  if (kind === 'advance') return 'confirm-step'
  if (kind === 'promote') return 'confirm-promotion'
  return null
}

/** Whether this release's canary is still waiting for its pre-rollout hooks' go (and so gets no traffic). */
export function awaitingPreRollout(spec: RolloutSpec, state: RolloutState): boolean {
  // Paused too, and at any step: a pause, an operator's weight or a new schedule before the go must not publish a
  // weight the hooks never approved; the controller asks them once the rollout progresses again.
  const live = state.phase === 'progressing' || state.phase === 'paused'
  return live && state.release !== null && spec.hooks.some((h) => h.on === 'pre-rollout') && evidenceOf(state).confirmedAt === null
}

/** The outcome that lets the canary's traffic begin now, once the pre-rollout gate says go. */
export function preRolloutGo(state: RolloutState, now: number): TickOutcome {
  return {
    decision: { kind: 'hold', reason: `pre-rollout hooks said go: the canary gets ${state.weight} % from now` },
    evidence: { ...evidenceOf(state), confirmedAt: now },
  }
}

const answer = (r: HookResult) => r.error ?? `answered ${r.status}${r.body ? `: ${JSON.stringify(r.body)}` : ''}`

/**
 * The decision once the gate's hooks have answered: `go` when every one said 2xx, else a hold (or, after
 * `hookFailuresBeforePause` in a row, a pause, or a rollback at pre-rollout) that keeps `stay` as evidence.
 */
export function gated(state: RolloutState, spec: RolloutSpec, event: GateEvent, results: HookResult[], go: TickOutcome, stay: ControllerEvidence): TickOutcome {
  if (results.length === 0) return go
  const data = { ...go.decision.data, gate: event, hooks: results }
  const failed = results.filter((r) => !r.ok)
  if (failed.length === 0) return { decision: { ...go.decision, data }, evidence: { ...go.evidence, hookFailures: null } }
  const count = (evidenceOf(state).hookFailures?.count ?? 0) + 1
  const limit = spec.hookFailuresBeforePause
  const why = `${event} ${failed.map((r) => `${r.hook} (${r.host}) ${answer(r)}`).join('; ')}`
  const evidence = { ...stay, hookFailures: { revision: state.revision, count } }
  if (count >= limit) {
    const kind = event === 'pre-rollout' ? 'rollback' : 'pause'
    const after = event === 'pre-rollout' ? 'the canary never had traffic' : `traffic stays at ${state.weight} %`
    return { decision: { kind, reason: `${why}; ${count} gate failures in a row, ${after}`, data }, evidence }
  }
  const next = event === 'pre-rollout' ? 'rollback' : 'pause'
  return { decision: { kind: 'hold', reason: `held by ${why} (${count} of ${limit} failures before ${next})`, data }, evidence }
}
