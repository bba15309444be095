/**
 * @module
 * Turns a validated config into the form the request path uses: weights in
 * basis points, salts resolved, bot patterns and host matchers precomputed,
 * rollouts ordered most specific first. Done once per config version, never
 * per request.
 */
import { type CompiledRing, compileRings } from '../audience/rings.ts'
import { type Cohort, type EdgeRollout, type PublishedConfig, SHADOW_HEADER, toBasisPoints } from './routing.ts'

export interface CompiledRollout {
  readonly rollout: EdgeRollout
  /** Everyone's weight; `rings` may give a ring's visitors more. */
  readonly weightBp: number
  /** Audience rings, highest weight first (src/core/audience/rings.ts); empty for a rollout without them. */
  readonly rings: readonly CompiledRing[]
  readonly salt: string
  /** Origins normalised by URL (`https://host[:port]`, no trailing slash). */
  readonly origins: Readonly<Record<Cohort, string>>
  /** Matches a bot's User-Agent (any configured substring, case-insensitive); null when the list is empty. */
  readonly bots: RegExp | null
  readonly failoverStatuses: ReadonlySet<number>
  /** Cookies and request headers that are Sluice's own, never forwarded to an origin (header names lower-cased). */
  readonly ownCookies: readonly string[]
  readonly ownHeaders: readonly string[]
  matches(host: string, path: string): boolean
}

export interface CompiledConfig {
  /** Most specific first: exact host, then wildcard host (longest suffix first), then any host; longer path prefix first. */
  readonly rollouts: readonly CompiledRollout[]
}

const hostRank = (host: string | undefined) => (host === undefined ? 0 : host.startsWith('*.') ? 1 : 2)

function hostMatcher(pattern: string | undefined): (host: string) => boolean {
  if (pattern === undefined) return () => true
  if (pattern.startsWith('*.')) {
    const suffix = pattern.slice(1)
    return (host) => host.endsWith(suffix) && host.length > suffix.length
  }
  return (host) => host === pattern
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** One case-insensitive alternation: a single regex test per request instead of a lower-cased copy and N searches. */
const botPattern = (substrings: readonly string[]) => (substrings.length ? new RegExp(substrings.map(escapeRegExp).join('|'), 'i') : null)

export function compileRollout(rollout: EdgeRollout): CompiledRollout {
  const hostOk = hostMatcher(rollout.match.host)
  const prefix = rollout.match.pathPrefix ?? '/'
  return {
    rollout,
    weightBp: toBasisPoints(rollout.weight),
    rings: compileRings(rollout.audiences, rollout.rings),
    salt: rollout.salt ?? rollout.id,
    origins: { stable: new URL(rollout.stable).origin, canary: new URL(rollout.canary).origin },
    bots: botPattern(rollout.bots.userAgents),
    failoverStatuses: new Set(rollout.failover.statuses),
    ownCookies: [rollout.cookie.name, rollout.overrides.pinCookie],
    ownHeaders: [rollout.overrides.header.toLowerCase(), SHADOW_HEADER],
    matches: (host, path) => hostOk(host) && path.startsWith(prefix),
  }
}

export function compileConfig(config: PublishedConfig): CompiledConfig {
  const rollouts = config.rollouts.map(compileRollout).sort(
    (a, b) =>
      hostRank(b.rollout.match.host) - hostRank(a.rollout.match.host) ||
      // Among wildcards, the longer suffix is the more specific (*.blog.example.com before *.example.com).
      (b.rollout.match.host?.length ?? 0) - (a.rollout.match.host?.length ?? 0) ||
      (b.rollout.match.pathPrefix?.length ?? 0) - (a.rollout.match.pathPrefix?.length ?? 0),
  )
  return { rollouts }
}

/** The rollout serving this host and path, if any. `host` is lower-case, without a default port. */
export function selectRollout(config: CompiledConfig, host: string, path: string): CompiledRollout | undefined {
  for (const r of config.rollouts) if (r.matches(host, path)) return r
  return undefined
}
