/**
 * @module
 * The rollout configuration schema: the single source of truth for config
 * types, the JSON Schema in `config/` and the admin API's OpenAPI document.
 * The fields the edge reads live in routing.ts (re-exported here); this adds
 * the control worker's: schedule, judge, analysis, hooks and notifications.
 */
import * as z from 'zod/mini'
import { JudgeConfig } from '../judge/schema.ts'
import { ringProblems } from '../rollout/rings.ts'
import { AudienceName } from '../audience/schema.ts'
import { Percent, audiencesField, routingFields, stateFields } from './routing.ts'

export * from './routing.ts'

/**
 * One step of the schedule. Entering the final 100 % step is the promotion itself. A shadow step (`shadow` set, first
 * step only) serves the canary to nobody: it mirrors that percent of visitors' safe requests to it and compares the
 * answers (see "Shadow traffic" in the README); its `minRequests` counts compared requests.
 */
export const Step = z.object({
  /** Canary weight in percent while this step bakes (above 0; a shadow step has none). */
  weight: z._default(Percent, 0),
  /** Percent of visitors whose safe requests are mirrored to the canary: makes this a shadow step (weight 0). */
  shadow: z.optional(Percent.check(z.gt(0))),
  /** Minutes the step must run healthy before the next. */
  bakeMinutes: z._default(z.int().check(z.gte(0), z.lte(10_080)), 10),
  /** Canary requests the step must have seen before the next (0: no minimum). */
  minRequests: z._default(z.int().check(z.gte(0)), 0),
  /** Wait for an operator's `approve` before entering this step. */
  gate: z._default(z.boolean(), false),
  /**
   * A ring step: raise only this audience's weight (see `audiences`). Rings are cumulative: a ring keeps the highest
   * weight any step gave it, and its visitors get the higher of that and everyone's (src/core/rollout/rings.ts).
   */
  audience: z.optional(AudienceName),
})

export const DEFAULT_SCHEDULE: z.input<typeof Step>[] = [
  // 2 % rather than 1 % first: at 100 rps a 5x regression is then caught in a median 3 minutes instead of 4
  // (bench/SIMULATION.md), with no more false rollbacks.
  { weight: 2, bakeMinutes: 5, minRequests: 100 },
  { weight: 5, bakeMinutes: 5, minRequests: 200 },
  { weight: 10, bakeMinutes: 10, minRequests: 500 },
  { weight: 25, bakeMinutes: 10, minRequests: 1000 },
  { weight: 50, bakeMinutes: 10, minRequests: 1000 },
  { weight: 100, bakeMinutes: 0 },
]

/** The weights a canary steps through, how long each bakes, and where a human approves. */
const everyone = (steps: readonly Step[]) => steps.filter((s) => s.audience === undefined && s.shadow === undefined)

/** What is wrong with a step's weight or shadow, as [step index, field, message]. */
function shadowProblems(steps: readonly Step[]): [number, string, string][] {
  const problems: [number, string, string][] = []
  steps.forEach((s, i) => {
    if (s.shadow === undefined) {
      if (!(s.weight > 0)) problems.push([i, 'weight', 'must be above 0 (or the step a shadow step: { "shadow": 10 })'])
      return
    }
    if (i !== 0) problems.push([i, 'shadow', 'only the first step may be a shadow step'])
    if (s.weight !== 0) problems.push([i, 'weight', 'a shadow step serves the canary to nobody: leave weight out'])
    if (s.audience !== undefined) problems.push([i, 'audience', 'a shadow step mirrors everyone: it takes no audience'])
  })
  return problems
}

export const Schedule = z.array(Step).check(
  z.minLength(1),
  z.maxLength(20),
  z.refine((steps) => everyone(steps).every((s, i, all) => i === 0 || s.weight > all[i - 1]!.weight), { message: 'step weights must rise strictly' }),
  z.refine((steps) => steps.at(-1)?.weight === 100 && steps.at(-1)?.audience === undefined, { message: 'the last step must be 100 (the promotion)' }),
  z.superRefine((steps, ctx) => {
    for (const [i, field, message] of shadowProblems(steps)) ctx.issues.push({ code: 'custom', message, path: [i, field], input: steps })
    for (const [i, message] of ringProblems(steps)) ctx.issues.push({ code: 'custom', message, path: [i, 'weight'], input: steps })
  }),
)

/** An http(s) URL Sluice posts to. No credentials in it: they would be stored, and shown, in plain text (use `secret`). */
const WebhookUrl = z.url({ protocol: /^https?$/ }).check(
  z.maxLength(2048),
  z.refine((s) => URL.canParse(s) && new URL(s).username === '' && new URL(s).password === '', {
    message: 'must not carry credentials (user:password@); use secret',
  }),
)

/** The key outgoing webhooks are signed with (`X-Sluice-Signature`); 16 bytes at least, or it could be guessed. */
const WebhookSecret = z.string().check(
  z.refine((s) => new TextEncoder().encode(s).byteLength >= 16, { message: 'must be at least 16 bytes' }),
  z.maxLength(256),
)

/** Where the controller reports what it does. */
export const NotifySettings = z.object({
  /** Slack-compatible incoming webhook (`{"text": …}`) for starts, steps, gates, promotions and rollbacks. */
  webhook: z.optional(WebhookUrl),
  /** When set, every notification carries `X-Sluice-Signature` (HMAC-SHA256 with this key). */
  secret: z.optional(WebhookSecret),
})

/**
 * When Sluice calls a hook. The confirm kinds are gates (a 2xx answer is a go, anything else a hold);
 * `post-rollout` (on entering promoted) and `rollback` are notifications that never block.
 */
const HOOK_EVENTS = ['pre-rollout', 'confirm-step', 'confirm-promotion', 'post-rollout', 'rollback'] as const
export type HookEvent = (typeof HOOK_EVENTS)[number]

/** A webhook the controller calls at a point of the rollout (like Flagger's webhooks). */
export const Hook = z.object({
  on: z.enum(HOOK_EVENTS),
  url: WebhookUrl,
  /** Milliseconds to wait for the answer; a gate that times out holds. */
  timeoutMs: z._default(z.int().check(z.gte(100), z.lte(30_000)), 5_000),
  /** When set, every call carries `X-Sluice-Signature` (HMAC-SHA256 with this key). */
  secret: z.optional(WebhookSecret),
})

/** How the controller reads metrics for this rollout. */
export const AnalysisSettings = z.object({
  /** Minutes of Analytics Engine ingestion lag left out of every window: the newest minute is incomplete. */
  lagMinutes: z._default(z.int().check(z.gte(0), z.lte(30)), 1),
  /** Windows end on multiples of this. A minute matches the cron; the local demo uses 10 s to move faster. */
  windowSeconds: z._default(z.int().check(z.gte(5), z.lte(3600)), 60),
  /**
   * Seconds a new weight needs to reach every isolate (KV's 60 s cache plus twice the isolate TTL); until then
   * the sample-ratio check is skipped, as the edge may still serve the old split.
   */
  settleSeconds: z._default(z.int().check(z.gte(0), z.lte(600)), 75),
  /** While the canary has weight, this many minutes without any data pause the rollout (and notify) instead of waiting silently. */
  noDataPauseMinutes: z._default(z.int().check(z.gte(1), z.lte(1440)), 15),
})

/** A rollout as operators write it: routing, schedule and safeguards. The weight is state, moved by commands. */
export const RolloutSpec = z
  .object({
    ...routingFields,
    schedule: z.prefault(Schedule, DEFAULT_SCHEDULE),
    /** The canary judge's thresholds (see "How the judge decides" in the README). */
    judge: z.prefault(JudgeConfig, {}),
    analysis: z.prefault(AnalysisSettings, {}),
    notify: z.prefault(NotifySettings, {}),
    /** Webhooks that gate the rollout or hear about it (see "Gate webhooks" in the README). Control-only: never published to the edge. */
    hooks: z._default(z.array(Hook).check(z.maxLength(16)), []),
    /** Consecutive failed gate calls after which the rollout pauses (rolls back, before it ever had traffic) and notifies. */
    hookFailuresBeforePause: z._default(z.int().check(z.gte(1), z.lte(1000)), 5),
    audiences: audiencesField,
  })
  .check(
    audiencesExist(),
    // Beacons go to /__sluice/rum: a cookie scoped to another path never reaches it, and no beacon could be placed.
    z.refine((s) => !s.rum.enabled || s.cookie.path === '/', {
      message: 'real-user signals need cookie.path "/": the beacon endpoint /__sluice/rum must receive the cohort cookie',
      path: ['rum', 'enabled'],
    }),
  )

/** Every ring step names an audience the rollout defines; shared by the schemas built from RolloutSpec's shape. */
export function audiencesExist() {
  return z.superRefine((spec: { schedule: readonly Step[]; audiences: Record<string, unknown> }, ctx) => {
    spec.schedule.forEach((s, i) => {
      if (s.audience !== undefined && !Object.hasOwn(spec.audiences, s.audience)) {
        ctx.issues.push({ code: 'custom', message: `no audience "${s.audience}" is defined in audiences`, path: ['schedule', i, 'audience'], input: spec })
      }
    })
  })
}

/** A rollout with its state: the spec plus the current weights and release (the edge reads `EdgeRollout`, a subset). */
export const Rollout = z.extend(RolloutSpec, stateFields)

export type RolloutInput = z.input<typeof Rollout>
export type Rollout = z.output<typeof Rollout>
export type RolloutSpecInput = z.input<typeof RolloutSpec>
export type RolloutSpec = z.output<typeof RolloutSpec>
export type Step = z.output<typeof Step>
export type Schedule = z.output<typeof Schedule>
