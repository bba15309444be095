/**
 * @module
 * Audiences compiled into matchers once per config version: sets for values,
 * parsed ranges for addresses, lower-cased header names. A request is tested
 * with lookups only; no regular expression or range is built per request, and
 * the client address is parsed at most once per request, and only when some
 * audience has an `ip` condition.
 */
import { type Address, type Cidr, inRange, parseAddress, parseCidr } from './cidr.ts'
import type { Audience } from './schema.ts'

/** What a matcher reads from a request. */
export interface RequestView {
  headers: Headers
  /** The value of a cookie, as the cohort assignment reads it. */
  cookie: (name: string) => string | undefined
  /** The client address, parsed on first use (see `lazyAddress`). */
  address: () => Address | null
  /** `request.cf` (absent in tests and under `wrangler dev` unless set). */
  cf: { country?: unknown; continent?: unknown; colo?: unknown; asn?: unknown } | undefined
}

export type AudienceMatcher = (r: RequestView) => boolean

/** The conditions that are a value of `request.cf` in a list. */
const CF_FIELDS = ['country', 'continent', 'colo', 'asn'] as const satisfies readonly (keyof NonNullable<RequestView['cf']>)[]

/** A getter that parses `ip` on its first call only. */
export function lazyAddress(ip: string): () => Address | null {
  let parsed: Address | null | undefined
  return () => (parsed === undefined ? (parsed = parseAddress(ip)) : parsed)
}

const inSet = (set: ReadonlySet<unknown>, v: unknown) => v !== undefined && set.has(v)

export function compileAudience(a: Audience): AudienceMatcher {
  const tests: AudienceMatcher[] = []
  if (a.header) {
    const name = a.header.name.toLowerCase()
    const values = new Set(a.header.values)
    tests.push((r) => {
      const v = r.headers.get(name)
      return v !== null && values.has(v.trim())
    })
  }
  if (a.cookie) {
    const { name } = a.cookie
    const values = new Set(a.cookie.values)
    tests.push((r) => inSet(values, r.cookie(name)))
  }
  if (a.ip) {
    const ranges = a.ip.map(parseCidr).filter((c): c is Cidr => c !== null)
    tests.push((r) => {
      const address = r.address()
      return address !== null && ranges.some((c) => inRange(address, c))
    })
  }
  for (const key of CF_FIELDS) {
    const list = a[key]
    if (!list) continue
    const set = new Set<unknown>(list)
    tests.push((r) => inSet(set, r.cf?.[key]))
  }
  return (r) => tests.every((t) => t(r))
}
