/**
 * @module
 * Request schemas of the admin API. With the config schema they generate the
 * OpenAPI document, so validation and documentation cannot drift apart.
 */
import * as z from 'zod/mini'
import { Percent, RolloutId, RolloutSpec } from '../core/config/schema.ts'

const Reason = z.optional(z.string().check(z.maxLength(500)))

/**
 * PUT body: a rollout spec; `id` may be omitted (the URL names it) but must
 * match if given, and `$schema` (an editor's hint) is allowed. The API parses
 * every body with `parseStrict` (src/core/config/unknown-fields.ts), so an
 * unknown field at any depth, such as `cokie` or `judge.maxCanaryErorRate`, is a
 * 400 rather than a silently ignored setting.
 */
export const PutRolloutBody = z.object({ ...RolloutSpec.shape, id: z.optional(RolloutId), $schema: z.optional(z.string()) })

export const StartBody = z.object({
  release: z.string().check(z.minLength(1), z.maxLength(64)),
  reason: Reason,
})
export const WeightBody = z.object({ weight: Percent, reason: Reason })
export const ReasonBody = z.object({ reason: Reason })

export const HistoryQuery = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(200)), 50),
  before: z.optional(z.coerce.number().check(z.int(), z.gte(1))),
})

export const SeriesQuery = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(10_080)), 360),
})

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
} as const
