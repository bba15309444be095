/**
 * @module
 * The Analytics Engine data-point layout: one definition for the edge that
 * writes points, the SQL the controller runs, and the local source that
 * `npm start` reads back. See "Metrics layout" in the README.
 *
 *   index1  "<rolloutId>/<cohort>" for visitors placed by the weight; "<rolloutId>/<cohort>-override" and
 *           "<rolloutId>/<cohort>-bot" for testers and bots, whom the judge must not count (they are not
 *           a random sample). Sampling is per index, so each cohort keeps its own exact-enough counts.
 *
 * No imports and no Workers types: the CLI, the simulator and both workers may read it.
 */

/** 1-based positions, as the SQL names them (`blob2`, `double3`). */
export const BLOB = { rollout: 1, cohort: 2, release: 3, method: 4, statusClass: 5, colo: 6, country: 7, client: 8, ring: 9, rum: 10 } as const
export const DOUBLE = { status: 1, latencyMs: 2, error: 3, failover: 4, clientError: 5 } as const

export const blobColumn = (name: keyof typeof BLOB) => `blob${BLOB[name]}`
export const doubleColumn = (name: keyof typeof DOUBLE) => `double${DOUBLE[name]}`

/** How a request's cohort was chosen; only `weight` requests are the randomised experiment the judge compares. */
export type AssignmentReason = 'override' | 'bot' | 'weight'

export interface RequestPoint {
  rolloutId: string
  cohort: 'stable' | 'canary'
  reason: AssignmentReason
  release: string
  method: string
  /** The status of the cohort's own origin; 0 when it gave none. */
  status: number
  latencyMs: number
  failover: boolean
  colo: string
  country: string
  /** The client's key (src/core/cohort/client.ts): the judge's unit of evidence. */
  client: string
  /** The audience ring the request was in (src/core/audience/rings.ts), '' for none: the controller judges each ring. */
  ring: string
  /** What became of the RUM script on this answer: injected, skipped for the page's CSP, or '' (not an HTML page, RUM off). */
  rum?: RumOutcome
}

export type RumOutcome = '' | 'injected' | 'csp'

/** The index the judge filters on; the judged cohorts are exactly `cohortIndex(id, cohort)`. */
export const cohortIndex = (rolloutId: string, cohort: 'stable' | 'canary', reason: AssignmentReason = 'weight') =>
  reason === 'weight' ? `${rolloutId}/${cohort}` : `${rolloutId}/${cohort}-${reason}`

/** An origin error: a 5xx, or no answer at all (network error, timeout). */
export const isError = (status: number) => status === 0 || status >= 500

/** A client error: the 4xx test's failure (a canary answering 404 for its own assets sends no 5xx). */
export const isClientError = (status: number) => status >= 400 && status < 500

const statusClass = (status: number) => (status === 0 ? 'err' : `${Math.floor(status / 100)}xx`)

export interface DataPoint {
  indexes: string[]
  blobs: string[]
  doubles: number[]
}

/** The point as written; the array order is the layout above (a test checks it against BLOB and DOUBLE). */
export function encodeRequestPoint(r: RequestPoint): DataPoint {
  return {
    indexes: [cohortIndex(r.rolloutId, r.cohort, r.reason)],
    blobs: [r.rolloutId, r.cohort, r.release, r.method, statusClass(r.status), r.colo, r.country, r.client, r.ring, r.rum ?? ''],
    doubles: [r.status, r.latencyMs, isError(r.status) ? 1 : 0, r.failover ? 1 : 0, isClientError(r.status) ? 1 : 0],
  }
}

/** What the judge reads from one point; undefined when the point is not in this layout. */
export function decodeRequestPoint(p: { indexes?: unknown[]; blobs?: unknown[]; doubles?: unknown[] } | undefined) {
  const index = p?.indexes?.[0]
  const doubles = p?.doubles
  if (typeof index !== 'string' || !Array.isArray(doubles)) return undefined
  const blob = (name: keyof typeof BLOB) => {
    const v = p?.blobs?.[BLOB[name] - 1]
    return typeof v === 'string' ? v : ''
  }
  return {
    index,
    latencyMs: Number(doubles[DOUBLE.latencyMs - 1]) || 0,
    error: doubles[DOUBLE.error - 1] === 1,
    clientError: doubles[DOUBLE.clientError - 1] === 1,
    client: blob('client'),
    ring: blob('ring'),
    rum: blob('rum'),
  }
}

/*
 * Beacons (POST /__sluice/rum): one point each, in their own index, `"<rolloutId>/<cohort>/rum"` (with the same
 * `-override` and `-bot` labels as requests), so no request query ever counts one. Client and ring keep the
 * request layout's positions. Vitals absent from a beacon are written as -1 and weigh nothing in a quantile.
 */
export const RUM_BLOB = { rollout: 1, cohort: 2, release: 3, fingerprint: 4, path: 5, colo: 6, country: 7, client: 8, ring: 9 } as const
export const RUM_DOUBLE = { pageView: 1, errored: 2, errors: 3, lcp: 4, inp: 5, cls: 6, ttfb: 7 } as const

export const rumBlobColumn = (name: keyof typeof RUM_BLOB) => `blob${RUM_BLOB[name]}`
export const rumDoubleColumn = (name: keyof typeof RUM_DOUBLE) => `double${RUM_DOUBLE[name]}`

export const rumIndex = (rolloutId: string, cohort: 'stable' | 'canary', reason: AssignmentReason = 'weight') => `${cohortIndex(rolloutId, cohort, reason)}/rum`

export interface RumPoint {
  rolloutId: string
  /** Recomputed at the edge from the visitor's cookie, never read from the beacon. */
  cohort: 'stable' | 'canary'
  reason: AssignmentReason
  release: string
  /** The first error this beacon reports (src/contract/rum.ts `fingerprint`), '' for none. */
  fingerprint: string
  path: string
  colo: string
  country: string
  client: string
  ring: string
  /** The beacon opens its page view (its first one): only these are counted as page views. */
  pageView: boolean
  /** …and the page view had an error by then. */
  errored: boolean
  /** Distinct errors in this beacon. */
  errors: number
  lcp?: number | undefined
  inp?: number | undefined
  cls?: number | undefined
  ttfb?: number | undefined
}

const orAbsent = (v: number | undefined) => (v === undefined ? -1 : v)

export function encodeRumPoint(r: RumPoint): DataPoint {
  return {
    indexes: [rumIndex(r.rolloutId, r.cohort, r.reason)],
    blobs: [r.rolloutId, r.cohort, r.release, r.fingerprint, r.path, r.colo, r.country, r.client, r.ring],
    doubles: [r.pageView ? 1 : 0, r.errored ? 1 : 0, r.errors, orAbsent(r.lcp), orAbsent(r.inp), orAbsent(r.cls), orAbsent(r.ttfb)],
  }
}

/** What the judge reads from one beacon point; undefined when it is not in this layout. */
export function decodeRumPoint(p: { indexes?: unknown[]; blobs?: unknown[]; doubles?: unknown[] } | undefined) {
  const index = p?.indexes?.[0]
  const d = p?.doubles
  if (typeof index !== 'string' || !index.endsWith('/rum') || !Array.isArray(d)) return undefined
  const blob = (name: keyof typeof RUM_BLOB) => {
    const v = p?.blobs?.[RUM_BLOB[name] - 1]
    return typeof v === 'string' ? v : ''
  }
  const vital = (name: 'lcp' | 'inp' | 'cls' | 'ttfb') => {
    const v = Number(d[RUM_DOUBLE[name] - 1])
    return Number.isFinite(v) && v >= 0 ? v : undefined
  }
  return {
    index,
    pageView: d[RUM_DOUBLE.pageView - 1] === 1,
    errored: d[RUM_DOUBLE.errored - 1] === 1,
    fingerprint: blob('fingerprint'),
    client: blob('client'),
    ring: blob('ring'),
    lcp: vital('lcp'),
    inp: vital('inp'),
    cls: vital('cls'),
  }
}
