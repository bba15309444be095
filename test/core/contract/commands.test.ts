import { describe, expect, expectTypeOf, it } from 'vitest'
import * as z from 'zod/mini'
import { COMMAND_BODIES, type CommandBody, commandOf } from '../../../src/contract/index.ts'
import { COMMANDS, type Command, type CommandName } from '../../../src/core/rollout/machine.ts'

describe("commandOf: a command body becomes the machine's command", () => {
  it('keeps every field but the reason, which goes to the history instead', () => {
    const asked = (name: CommandName, body: unknown) => commandOf(name, z.parse(COMMAND_BODIES[name], body))
    expect(asked('start', { release: 'v2', reason: 'ship it' })).toEqual({ name: 'start', release: 'v2' })
    expect(asked('weight', { weight: 12.5, reason: 'by hand' })).toEqual({ name: 'weight', weight: 12.5 })
    for (const name of COMMANDS.filter((n) => n !== 'start' && n !== 'weight')) {
      expect(asked(name, { reason: 'why' })).toEqual({ name })
      expect(asked(name, {})).toEqual({ name })
    }
    // Each body schema asks for what its command needs.
    expect(COMMANDS.filter((name) => !z.safeParse(COMMAND_BODIES[name], {}).success)).toEqual(['start', 'weight'])
  })

  it("is exactly the machine's Command for each name, so the cast in commandOf cannot hide a difference", () => {
    // Optional fields made required, so a field the machine takes but the body lacks (or the other way round) shows.
    type Asked<N extends CommandName> = Required<{ name: N } & Omit<CommandBody<N>, 'reason'>>
    type Machine<N extends CommandName> = Required<Command & { name: N }>
    type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
    expectTypeOf<{ [N in CommandName]: Same<Asked<N>, Machine<N>> }>().toEqualTypeOf<{ [N in CommandName]: true }>()
    expect(Object.keys(COMMAND_BODIES)).toEqual([...COMMANDS])
  })
})
