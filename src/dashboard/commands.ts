/**
 * @module
 * What the dashboard offers per command: in which states its button is
 * enabled, which ones ask first, and which ones carry the revision the
 * operator was looking at.
 */
import * as z from 'zod/mini'
import { COMMAND_BODIES, commandOf } from '../contract/index.ts'
import { COMMANDS, type CommandName, PHASES, type Phase, applyCommand, initialState } from '../core/rollout/machine.ts'

/** Phases in which a command is accepted, for a rollout with a release and for one without. */
export interface Accepted {
  release: Phase[]
  none: Phase[]
}

/** A body each command's schema accepts once it drops the fields that command does not take. */
const PROBE_BODY = { release: 'r', weight: 20 }

const probeCommand = (name: CommandName) => commandOf(name, z.parse(COMMAND_BODIES[name], PROBE_BODY))

/**
 * Asks the state machine itself, rather than keeping a copy of its rules that
 * could drift: each command against each phase, on a rollout mid-schedule,
 * with and without a release (some rules depend on it: resume needs one).
 * `rollback` comes out accepted everywhere (a second press is harmless), so
 * its button is never disabled: the page may be a refresh behind, and the
 * brake must not wait for it.
 */
export function acceptedPhases(): Record<CommandName, Accepted> {
  const schedule = [
    { weight: 10, bakeMinutes: 1, minRequests: 0, gate: false },
    { weight: 50, bakeMinutes: 1, minRequests: 0, gate: true },
    { weight: 100, bakeMinutes: 0, minRequests: 0, gate: false },
  ]
  const ok = (name: CommandName, phase: Phase, release: string | null) => {
    try {
      return applyCommand({ ...initialState(0), phase, release, step: 0, weight: 10 }, probeCommand(name), schedule, 1).ok
    } catch {
      return false
    }
  }
  return Object.fromEntries(
    COMMANDS.map((name) => [name, { release: PHASES.filter((p) => ok(name, p, 'r')), none: PHASES.filter((p) => ok(name, p, null)) }]),
  ) as Record<CommandName, Accepted>
}

/** Commands that open a dialog first: for input (start: release, weight: confirm the number) or because they are drastic. */
export const CONFIRM: readonly CommandName[] = ['start', 'weight', 'promote', 'rollback', 'complete']

/**
 * Commands sent with `If-Match: <revision on screen>`, so they apply only to the
 * state the operator decided on (a controller step in between makes them a 412).
 * Not pause and rollback: brakes must work whatever changed meanwhile.
 */
export const IF_MATCH: readonly CommandName[] = ['start', 'weight', 'resume', 'approve', 'promote', 'complete']

export interface ClientConfig {
  /** API base, relative to the page (`/__sluice/` + `api`). */
  api: string
  refreshMs: number
  storageKey: string
  commands: readonly string[]
  accepted: Record<string, Accepted>
  confirm: readonly string[]
  ifMatch: readonly string[]
}

export function clientConfig(): ClientConfig {
  return {
    api: 'api',
    refreshMs: 5_000,
    storageKey: 'sluice.token',
    commands: COMMANDS,
    accepted: acceptedPhases(),
    confirm: CONFIRM,
    ifMatch: IF_MATCH,
  }
}
