/**
 * @module
 * Audiences: named predicates over a request (a header, a cookie, client
 * address ranges, and Cloudflare's `request.cf` country, continent, colo and
 * ASN), for ring steps such as "staff first, then New Zealand, then everyone".
 * Conditions are ANDed; the values of one condition are ORed.
 *
 * `colo` is a condition, never an identity: anycast moves a visitor between
 * colos, so the cohort stays keyed by the visitor id and only ring membership
 * is decided per request.
 */
import * as z from 'zod/mini'
import { parseCidr } from './cidr.ts'
import { COUNTRIES } from './countries.ts'

export const AudienceName = z.string().check(
  z.regex(/^[a-z0-9](?:[a-z0-9-]{0,31})$/, { message: 'must be 1-32 chars of a-z, 0-9 and -, starting with a letter or digit' }),
  // The name the history gives visitors in no ring (src/core/rollout/decide.ts).
  z.refine((name) => name !== 'everyone-else', { message: '"everyone-else" is reserved for visitors in no ring' }),
)

const Values = z.array(z.string().check(z.minLength(1), z.maxLength(256))).check(z.minLength(1), z.maxLength(32))

export const HeaderCondition = z.object({
  name: z.string().check(z.regex(/^[A-Za-z0-9-]{1,64}$/, { message: 'must be an HTTP header name' })),
  /** Exact values (after trimming); any one matches. */
  values: Values,
})

export const CookieCondition = z.object({
  name: z.string().check(z.regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/, { message: 'must be a cookie name' })),
  values: Values,
})

const Cidr = z.string().check(
  z.maxLength(64),
  z.refine((s) => parseCidr(s) !== null, { message: 'must be an IPv4 or IPv6 address or CIDR range, e.g. 203.0.113.0/24 or 2001:db8::/32' }),
)

const Country = z
  .string()
  .check(z.refine((s) => COUNTRIES.has(s), { message: 'must be an ISO 3166-1 alpha-2 country code in capitals (or XX, unknown; T1, Tor)' }))

export const CONTINENTS = ['AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA'] as const

export const Audience = z
  .object({
    header: z.optional(HeaderCondition),
    cookie: z.optional(CookieCondition),
    /** Client addresses (`CF-Connecting-IP`) in any of these ranges. */
    ip: z.optional(z.array(Cidr).check(z.minLength(1), z.maxLength(64))),
    country: z.optional(z.array(Country).check(z.minLength(1), z.maxLength(250))),
    continent: z.optional(z.array(z.enum(CONTINENTS)).check(z.minLength(1), z.maxLength(7))),
    /** Cloudflare data centres (IATA codes). A condition only: a visitor's colo changes as anycast routes move. */
    colo: z.optional(
      z.array(z.string().check(z.regex(/^[A-Z]{3}$/, { message: 'must be a three-letter IATA code in capitals' }))).check(z.minLength(1), z.maxLength(64)),
    ),
    asn: z.optional(z.array(z.int().check(z.gte(1), z.lte(4_294_967_295))).check(z.minLength(1), z.maxLength(64))),
  })
  .check(z.refine((a) => Object.values(a).some((v) => v !== undefined), { message: 'an audience needs at least one condition' }))

export const Audiences = z.record(AudienceName, Audience).check(z.refine((r) => Object.keys(r).length <= 16, { message: 'at most 16 audiences' }))

export type Audience = z.output<typeof Audience>
export type Audiences = z.output<typeof Audiences>
