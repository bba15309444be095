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
export const BLOB = { rollout: 1, cohort: 2, release: 3, method: 4, statusClass: 5, colo: 6, country: 7, client: 8, ring: 9 } as const
export const DOUBLE = { status: 1, latencyMs: 2, error: 3, failover: 4 } as const

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
}

/** The index the judge filters on; the judged cohorts are exactly `cohortIndex(id, cohort)`. */
export const cohortIndex = (rolloutId: string, cohort: 'stable' | 'canary', reason: AssignmentReason = 'weight') =>
  reason === 'weight' ? `${rolloutId}/${cohort}` : `${rolloutId}/${cohort}-${reason}`

/** An origin error: a 5xx, or no answer at all (network error, timeout). */
export const isError = (status: number) => status === 0 || status >= 500

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
    blobs: [r.rolloutId, r.cohort, r.release, r.method, statusClass(r.status), r.colo, r.country, r.client, r.ring],
    doubles: [r.status, r.latencyMs, isError(r.status) ? 1 : 0, r.failover ? 1 : 0],
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
    client: blob('client'),
    ring: blob('ring'),
  }
}
