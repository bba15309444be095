/**
 * @module
 * The rollout configuration schema: the single source of truth for config
 * types, the JSON Schema in `config/` and the admin API's OpenAPI document.
 *
 * Written with `zod/mini` because the edge parses the published document with
 * it; full zod would add ~90 KiB gzip to the worker for no extra power.
 */
import * as z from 'zod/mini'
import { AudienceName, Audiences } from '../audience/schema.ts'
import { JudgeConfig } from '../judge/schema.ts'
import { ringProblems } from '../rollout/rings.ts'

const isHundredth = (n: number) => Math.abs(n * 100 - Math.round(n * 100)) < 1e-9

/** A percentage from 0 to 100 in steps of 0.01. */
export const Percent = z.number().check(z.gte(0), z.lte(100), z.refine(isHundredth, { message: 'must be a multiple of 0.01 (basis points)' }))

const isOrigin = (s: string) => {
  if (!URL.canParse(s)) return false
  const u = new URL(s)
  return (u.protocol === 'http:' || u.protocol === 'https:') && u.pathname === '/' && u.search === '' && u.hash === '' && u.username === '' && u.password === ''
}

/** An origin: scheme, host and optional port; no path, query or credentials. */
export const OriginUrl = z
  .url({ protocol: /^https?$/ })
  .check(z.maxLength(2048), z.refine(isOrigin, { message: 'must be an http(s) origin such as https://canary.example.com' }))

/** Rollout ids appear in KV keys, URLs and Analytics Engine indexes (max 96 bytes with the cohort). */
export const RolloutId = z
  .string()
  .check(z.regex(/^[a-z0-9](?:[a-z0-9-]{0,62})$/, { message: 'must be 1-63 chars of a-z, 0-9 and -, starting with a letter or digit' }))

const HeaderName = z.string().check(z.regex(/^[A-Za-z0-9-]{1,64}$/, { message: 'must be an HTTP header name' }))
const CookieName = z.string().check(z.regex(/^(?!__)[A-Za-z0-9_-]{1,64}$/, { message: 'must be 1-64 chars of A-Z, a-z, 0-9, _ and -, not starting with __' }))
const QueryParam = z.string().check(z.regex(/^[A-Za-z0-9_.-]{1,64}$/, { message: 'must be a URL query parameter name' }))
const HostPattern = z
  .string()
  .check(z.regex(/^(\*\.)?[a-z0-9.-]+(:\d{1,5})?$/, { message: 'must be a lowercase host name, optionally *.suffix or with :port' }))

/** Sluice's own endpoints (health, admin API, dashboard) live under this path on every host; it is never proxied. */
export const RESERVED_PREFIX = '/__sluice/'

/** Which requests a rollout applies to. Omitted fields match everything. */
export const Match = z.object({
  host: z.optional(HostPattern),
  pathPrefix: z.optional(z.string().check(z.startsWith('/'), z.maxLength(512))),
})

/** The visitor's cohort cookie. */
export const CookieSettings = z
  .object({
    name: z._default(CookieName, 'sluice'),
    path: z._default(
      z.string().check(z.regex(/^\/[\x21-\x3a\x3c-\x7e]{0,255}$/, { message: 'must be a cookie path: "/" then printable characters, no ";" or spaces' })),
      '/',
    ),
    domain: z.optional(z.string().check(z.regex(/^\.?[a-z0-9.-]{1,253}$/))),
    /** Seconds; browsers cap cookie lifetimes at 400 days. */
    maxAge: z._default(z.int().check(z.gte(60), z.lte(34_560_000)), 34_560_000),
    sameSite: z._default(z.enum(['Lax', 'Strict', 'None']), 'Lax'),
    httpOnly: z._default(z.boolean(), true),
    /** `auto`: Secure when the public request is https. */
    secure: z._default(z.union([z.boolean(), z.literal('auto')]), 'auto'),
  })
  .check(
    // Browsers drop `SameSite=None` cookies without `Secure`: every visit would get a new id and flip cohorts.
    z.refine((c) => c.sameSite !== 'None' || c.secure === true, { message: 'sameSite "None" needs secure: true', path: ['secure'] }),
  )

/** Where a visitor's id comes from before the cookie is consulted. */
export const IdentitySettings = z.object({
  /** A request header carrying a stable user id (e.g. set by the site's auth layer). */
  header: z.optional(HeaderName),
})

/** Tester overrides: a header, or a shareable link that pins the cohort in a cookie. */
export const OverrideSettings = z.object({
  enabled: z._default(z.boolean(), true),
  header: z._default(HeaderName, 'x-sluice-cohort'),
  query: z._default(QueryParam, 'sluice-cohort'),
  pinCookie: z._default(CookieName, 'sluice_pin'),
  /** Seconds the pin cookie lives. */
  pinMaxAge: z._default(z.int().check(z.gte(60), z.lte(34_560_000)), 86_400),
  /** When set, an override must read `<cohort>.<secret>` (e.g. `canary.s3cret`). */
  secret: z.optional(z.string().check(z.regex(/^[A-Za-z0-9_-]{16,128}$/, { message: 'must be 16-128 chars of A-Z, a-z, 0-9, _ and -' }))),
})

export const DEFAULT_BOT_PATTERNS = ['bot', 'crawler', 'spider', 'slurp', 'bingpreview', 'facebookexternalhit', 'headless', 'lighthouse']

/** Known bots and crawlers always see stable: they would skew metrics and cache canary pages. */
export const BotSettings = z.object({
  /** Case-insensitive substrings of User-Agent. */
  userAgents: z._default(z.array(z.string().check(z.minLength(2), z.maxLength(64))).check(z.maxLength(64)), DEFAULT_BOT_PATTERNS),
})

/** How requests are forwarded. */
export const ProxySettings = z.object({
  /** Milliseconds to wait for the stable origin's response headers. */
  stableTimeoutMs: z._default(z.int().check(z.gte(100), z.lte(600_000)), 30_000),
  /** Milliseconds to wait for the canary's response headers before failing over. */
  canaryTimeoutMs: z._default(z.int().check(z.gte(100), z.lte(600_000)), 10_000),
  /** Header telling the origin which cohort the request belongs to. */
  originCohortHeader: z._default(HeaderName, 'x-sluice-cohort'),
  /** Add `x-sluice-cohort` to responses (useful for testers, harmless for browsers). */
  responseCohortHeader: z._default(z.boolean(), true),
})

/** Canary failover: serve a safe retry from stable when the canary fails. */
export const FailoverSettings = z.object({
  enabled: z._default(z.boolean(), true),
  /** Canary statuses treated as failures worth retrying on stable. */
  statuses: z._default(z.array(z.int().check(z.gte(400), z.lte(599))).check(z.maxLength(32)), [502, 503, 504]),
})

/**
 * Real-user monitoring: a script tag added to HTML pages of both cohorts, whose beacons (`POST /__sluice/rum`)
 * report page views, JavaScript errors and Web Vitals for the judge (see "Real-user signals" in the README).
 */
export const RumSettings = z.object({
  enabled: z._default(z.boolean(), false),
  /** Share of visitors (by id, so a sampled visitor's whole session reports) whose pages carry the script. */
  sampleRate: z._default(z.number().check(z.gte(0), z.lte(1)), 1),
  /** Beacons one visitor id may send to one isolate per minute; more are refused (429). Best effort, per isolate. */
  maxBeaconsPerMinute: z._default(z.int().check(z.gte(1), z.lte(600)), 30),
})

/** One step of the schedule. Entering the final 100 % step is the promotion itself. */
export const Step = z.object({
  /** Canary weight in percent while this step bakes. */
  weight: Percent.check(z.gt(0)),
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
const everyone = (steps: readonly Step[]) => steps.filter((s) => s.audience === undefined)

export const Schedule = z.array(Step).check(
  z.minLength(1),
  z.maxLength(20),
  z.refine((steps) => everyone(steps).every((s, i, all) => i === 0 || s.weight > all[i - 1]!.weight), { message: 'step weights must rise strictly' }),
  z.refine((steps) => steps.at(-1)?.weight === 100 && steps.at(-1)?.audience === undefined, { message: 'the last step must be 100 (the promotion)' }),
  z.superRefine((steps, ctx) => {
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
    id: RolloutId,
    match: z.prefault(Match, {}),
    stable: OriginUrl,
    canary: OriginUrl,
    /** Hash salt; defaults to the id. Change it to reshuffle who is in the canary. */
    salt: z.optional(z.string().check(z.minLength(1), z.maxLength(64))),
    cookie: z.prefault(CookieSettings, {}),
    identity: z.prefault(IdentitySettings, {}),
    overrides: z.prefault(OverrideSettings, {}),
    bots: z.prefault(BotSettings, {}),
    proxy: z.prefault(ProxySettings, {}),
    failover: z.prefault(FailoverSettings, {}),
    rum: z.prefault(RumSettings, {}),
    schedule: z.prefault(Schedule, DEFAULT_SCHEDULE),
    /** The canary judge's thresholds (see "How the judge decides" in the README). */
    judge: z.prefault(JudgeConfig, {}),
    analysis: z.prefault(AnalysisSettings, {}),
    notify: z.prefault(NotifySettings, {}),
    /** Webhooks that gate the rollout or hear about it (see "Gate webhooks" in the README). Control-only: never published to the edge. */
    hooks: z._default(z.array(Hook).check(z.maxLength(16)), []),
    /** Consecutive failed gate calls after which the rollout pauses (rolls back, before it ever had traffic) and notifies. */
    hookFailuresBeforePause: z._default(z.int().check(z.gte(1), z.lte(1000)), 5),
    /** Named predicates over the request that ring steps (`schedule[].audience`) refer to. */
    audiences: z._default(Audiences, {}),
  })
  .check(audiencesExist())

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

/** A rollout as the edge reads it: the spec plus the current weight and release. */
export const Rollout = z.extend(RolloutSpec, {
  /** Canary share in percent (0-100, 0.01 steps). */
  weight: z._default(Percent, 0),
  /** Canary release label, recorded with every metric. */
  release: z.optional(z.string().check(z.maxLength(64))),
  /** Ring weights in percent, by audience (src/core/rollout/rings.ts); a ring's visitors get the higher of it and `weight`. */
  rings: z._default(z.record(AudienceName, Percent), {}),
})

export type RolloutInput = z.input<typeof Rollout>
export type Rollout = z.output<typeof Rollout>
export type RolloutSpecInput = z.input<typeof RolloutSpec>
export type RolloutSpec = z.output<typeof RolloutSpec>
export type Step = z.output<typeof Step>
export type Schedule = z.output<typeof Schedule>
/**
 * The document the edge reads from KV: every rollout this worker serves. No schema of its own: the edge
 * validates it entry by entry (`parseConfig` in `published.ts`), so one bad rollout cannot take
 * the others down with it.
 */
export type PublishedConfig = { rollouts: Rollout[] }
export type Cohort = 'stable' | 'canary'

/** Percent (0-100) to basis points (0-10000). */
export const toBasisPoints = (percent: number) => Math.round(percent * 100)
