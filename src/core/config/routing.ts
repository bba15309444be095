/**
 * @module
 * The part of the rollout schema the edge reads: routing, cohorts, proxying
 * and real-user monitoring, and the published entry (`EdgeRollout`) built from
 * them. The schedule, the judge, hooks and notifications are the control
 * worker's (schema.ts): the edge never parses them, and its bundle carries
 * none of their code (bench/RESULTS.md, edge bundle).
 *
 * Written with `zod/mini` because the edge parses the published document with
 * it; full zod would add ~90 KiB gzip to the worker for no extra power.
 */
import * as z from 'zod/mini'
import { AudienceName, Audiences } from '../audience/schema.ts'

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

/**
 * The request header on every shadow copy (src/edge/shadow/), so an origin can tell it from a visitor's request and
 * skip side effects. Sluice's own: stripped from every request it forwards, so no visitor can pass as shadow traffic.
 */
export const SHADOW_HEADER = 'x-sluice-shadow'

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

const PathPrefix = z.string().check(z.startsWith('/'), z.maxLength(512))

/**
 * Shadow traffic (see "Shadow traffic" in the README): while a shadow step runs, the safe requests (GET and HEAD
 * without a body) of a share of visitors are also sent to the canary, in the background, and the two answers are
 * compared (src/core/shadow/). Visitors are always answered by stable. Budgets are per isolate.
 */
export const ShadowSettings = z.object({
  /** Only paths starting with one of these are mirrored (empty: every path). */
  include: z._default(z.array(PathPrefix).check(z.maxLength(32)), []),
  /** Paths starting with one of these are never mirrored (checked after `include`). */
  exclude: z._default(z.array(PathPrefix).check(z.maxLength(32)), []),
  /** Shadow requests one isolate has in flight at most; a request arriving when all are busy is not mirrored. */
  maxInFlight: z._default(z.int().check(z.gte(1), z.lte(256)), 16),
  /** Milliseconds a shadow comparison may take in all (the canary's answer, and every body read for it). */
  timeoutMs: z._default(z.int().check(z.gte(100), z.lte(25_000)), 5_000),
  /** Bytes of each body read for the comparison, never more; a longer body is compared by its declared length and the hash of those bytes. */
  maxBodyBytes: z._default(z.int().check(z.gte(0), z.lte(1_048_576)), 65_536),
  /** Share of mirrored requests for which stable is asked a second time, to learn what differs between two stable answers (noise). */
  noiseSampleRate: z._default(z.number().check(z.gte(0), z.lte(1)), 0.5),
  /** Response headers compared (lower case). `set-cookie` and `authorization` values are compared but never stored. */
  headers: z._default(z.array(HeaderName).check(z.maxLength(32)), ['content-type', 'location', 'cache-control']),
  /**
   * Fields never reported, named as the diff report names them: JSON Pointers into the body (`/meta/requestId`; an
   * array index is written `*`, as every element is one field), `header:<name>`, `status` or `body`.
   */
  ignore: z._default(z.array(z.string().check(z.minLength(1), z.maxLength(256))).check(z.maxLength(64)), []),
})

/** The fields of a rollout the edge serves by; RolloutSpec adds the control worker's. */
export const routingFields = {
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
  shadow: z.prefault(ShadowSettings, {}),
}

/** What a rollout's state adds for the edge: the weights and the release. */
export const stateFields = {
  /** Canary share in percent (0-100, 0.01 steps). */
  weight: z._default(Percent, 0),
  /** Canary release label, recorded with every metric. */
  release: z.optional(z.string().check(z.maxLength(64))),
  /** Ring weights in percent, by audience (src/core/rollout/rings.ts); a ring's visitors get the higher of it and `weight`. */
  rings: z._default(z.record(AudienceName, Percent), {}),
  /** Share of visitors (by bucket, so whole sessions) whose safe requests are mirrored to the canary; set by a shadow step. */
  shadowWeight: z._default(Percent, 0),
}

/** Named predicates over the request that ring steps (`schedule[].audience`) refer to. */
export const audiencesField = z._default(Audiences, {})

/**
 * A rollout as the edge reads it from the published document: routing, audiences and state. Unknown keys (the
 * schedule, the judge: the control worker's) are dropped, not refused, so a newer control worker never breaks it.
 */
export const EdgeRollout = z.object({ ...routingFields, audiences: audiencesField, ...stateFields })

export type EdgeRollout = z.output<typeof EdgeRollout>
export type EdgeRolloutInput = z.input<typeof EdgeRollout>
export type ShadowSettings = z.output<typeof ShadowSettings>

/**
 * The document the edge reads from KV: every rollout this worker serves. No schema of its own: the edge
 * validates it entry by entry (`parseConfig` in `published.ts`), so one bad rollout cannot take
 * the others down with it.
 */
export type PublishedConfig = { rollouts: EdgeRollout[] }
export type Cohort = 'stable' | 'canary'

/** Percent (0-100) to basis points (0-10000). */
export const toBasisPoints = (percent: number) => Math.round(percent * 100)
