/**
 * @module
 * The bodies of the admin API's commands (`POST /rollouts/:id/<command>`),
 * and the one place a body becomes the state machine's `Command`. The API
 * validates with these schemas, the OpenAPI document is generated from them,
 * the dashboard probes the machine with them and the CLI's bodies are typed
 * by them, so a field added to a command is added here once.
 */
import * as z from 'zod/mini'
import { OriginUrl, Percent } from '../core/config/schema.ts'
import type { Command, CommandName } from '../core/rollout/machine.ts'

/** Why, for the history; every command takes one. It is not part of the `Command`. */
const Reason = z.optional(z.string().check(z.maxLength(500)))

export const StartBody = z.object({
  release: z.string().check(z.minLength(1), z.maxLength(64)),
  /** New origins for this release, set in the same write as the start (validated like the config's). */
  stable: z.optional(OriginUrl),
  canary: z.optional(OriginUrl),
  reason: Reason,
})
export const WeightBody = z.object({ weight: Percent, reason: Reason })
export const ReasonBody = z.object({ reason: Reason })

/** Body schema per command; commands other than start and weight take only an optional reason. */
export const COMMAND_BODIES = {
  start: StartBody,
  weight: WeightBody,
  pause: ReasonBody,
  resume: ReasonBody,
  approve: ReasonBody,
  promote: ReasonBody,
  rollback: ReasonBody,
  complete: ReasonBody,
} as const satisfies Record<CommandName, z.ZodMiniObject>

export type CommandBody<N extends CommandName = CommandName> = z.output<(typeof COMMAND_BODIES)[N]>

/**
 * The command a validated body asks for: the body without its reason. Spread rather than picked field by
 * field, so a field added to a body reaches the machine; test/core/contract/commands.test.ts proves at compile
 * time that each body without its reason is exactly the machine's command of that name, which makes the cast safe.
 */
export function commandOf<N extends CommandName>(name: N, body: CommandBody<N>): Command {
  const { reason: _, ...args } = body
  return { ...args, name } as Command
}
