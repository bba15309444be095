/**
 * @module
 * Request schemas of the admin API. With the config schema they generate the
 * OpenAPI document, so validation and documentation cannot drift apart.
 */
import * as z from 'zod/mini'
import { RolloutId, RolloutSpec, audiencesExist } from '../core/config/schema.ts'

/** The command bodies (`COMMAND_BODIES`) are in the contract, which the dashboard and the CLI share. */
export { StartBody } from '../contract/commands.ts'

/**
 * PUT body: a rollout spec; `id` may be omitted (the URL names it) but must
 * match if given, and `$schema` (an editor's hint) is allowed. The API parses
 * every body with `parseStrict` (src/core/config/unknown-fields.ts), so an
 * unknown field at any depth, such as `cokie` or `judge.maxCanaryErorRate`, is a
 * 400 rather than a silently ignored setting.
 */
export const PutRolloutBody = z
  .object({ ...RolloutSpec.shape, id: z.optional(RolloutId), $schema: z.optional(z.string()) })
  // A spread shape leaves RolloutSpec's own check behind: ring steps must name defined audiences here too.
  .check(audiencesExist())

export const HistoryQuery = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(200)), 50),
  before: z.optional(z.coerce.number().check(z.int(), z.gte(1))),
})

export const SeriesQuery = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(10_080)), 360),
})
