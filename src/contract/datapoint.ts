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
 * No Workers types and nothing but pure core: the CLI, the simulator and both workers may read it.
 */
import { DIFF_KINDS, type DiffKind, type FieldDiff, MAX_FIELD_LENGTH } from '../core/shadow/fields.ts'

export { DIFF_KINDS, type DiffKind, type FieldDiff }

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

/*
 * Shadow comparisons (a shadow step, src/edge/shadow/): one point per mirrored request, in its own index
 * `"<rolloutId>/shadow"`, so no request or beacon query ever counts one. `diffs` and `noise` list the fields that
 * differed, canary against stable and (when stable was asked twice) stable against stable, as `encodeDiffs` writes
 * them; `example` is the first canary difference with its two values (src/core/shadow/, `DiffExample`), '' for none.
 */
export const SHADOW_BLOB = { rollout: 1, route: 2, release: 3, method: 4, client: 5, diffs: 6, noise: 7, example: 8, colo: 9, country: 10 } as const
export const SHADOW_DOUBLE = {
  stableStatus: 1,
  canaryStatus: 2,
  stableLatencyMs: 3,
  canaryLatencyMs: 4,
  /** 1 when the canary's answer is an error (`isError`: 5xx, none, or none in time). */
  canaryError: 5,
  stableError: 6,
  /** 1 when stable was asked a second time for this request (its `noise` list is then meaningful). */
  noiseSampled: 7,
  /** Number of differing fields, canary against stable, before any cut to the `diffs` list. */
  diffCount: 8,
  noiseDiffCount: 9,
  /** 1 when a body was not read to its end (at least `shadow.maxBodyBytes` long) and so compared by length and hash only. */
  truncated: 10,
} as const

export const shadowBlobColumn = (name: keyof typeof SHADOW_BLOB) => `blob${SHADOW_BLOB[name]}`
export const shadowDoubleColumn = (name: keyof typeof SHADOW_DOUBLE) => `double${SHADOW_DOUBLE[name]}`

export const shadowIndex = (rolloutId: string) => `${rolloutId}/shadow`

/**
 * Fields kept per list in one point: enough that a real change is listed next to a response's noisy fields (the
 * edge lists the fields that are not noise, and structural kinds, first: src/edge/shadow/mirror.ts).
 */
export const MAX_POINT_DIFFS = 16

/**
 * UTF-8 bytes per list at most. A point's blobs may have 16 KB together; MAX_POINT_DIFFS names of MAX_FIELD_LENGTH
 * characters of up to 3 bytes each would pass that in the two lists alone, and the point would be lost. Names in
 * ASCII always fit: 16 × 208 bytes.
 */
export const MAX_DIFFS_BYTES = 5_000

/** An upper bound on the UTF-8 length of `s` (a surrogate pair, 4 bytes, counts 6). */
function utf8Bound(s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : 3
  }
  return n
}

/**
 * A point's list of differing fields: `kind field` lines, the first MAX_POINT_DIFFS in the order given (as long as
 * they fit in MAX_DIFFS_BYTES), names cut and without newlines.
 */
export function encodeDiffs(diffs: readonly FieldDiff[]): string {
  let out = ''
  let bytes = 0
  for (let i = 0; i < diffs.length && i < MAX_POINT_DIFFS; i++) {
    const d = diffs[i]!
    const line = `${i === 0 ? '' : '\n'}${d.kind} ${d.field.slice(0, MAX_FIELD_LENGTH).replace(/[\r\n]/g, ' ')}`
    bytes += utf8Bound(line)
    if (bytes > MAX_DIFFS_BYTES) break
    out += line
  }
  return out
}

/** The inverse of `encodeDiffs`; lines that are not `kind field` are skipped (the blob is untrusted input). */
export function decodeDiffs(blob: unknown): FieldDiff[] {
  if (typeof blob !== 'string' || blob === '') return []
  const out: FieldDiff[] = []
  for (const line of blob.split('\n')) {
    const space = line.indexOf(' ')
    const kind = line.slice(0, space) as DiffKind
    if (space > 0 && (DIFF_KINDS as readonly string[]).includes(kind) && space < line.length - 1) out.push({ kind, field: line.slice(space + 1) })
  }
  return out
}

export interface ShadowPoint {
  rolloutId: string
  /** The route template (src/core/shadow/route.ts): `/users/:id`. */
  route: string
  release: string
  method: string
  client: string
  stableStatus: number
  canaryStatus: number
  stableLatencyMs: number
  canaryLatencyMs: number
  diffs: readonly FieldDiff[]
  /** The whole count of differing fields (`diffs` may be cut). */
  diffCount: number
  /** Null when stable was asked only once. */
  noise: readonly FieldDiff[] | null
  noiseDiffCount: number
  /** JSON of the first canary difference with its values (src/core/shadow/, `DiffExample`), '' for none. */
  example: string
  truncated: boolean
  colo: string
  country: string
}

export function encodeShadowPoint(p: ShadowPoint): DataPoint {
  return {
    indexes: [shadowIndex(p.rolloutId)],
    blobs: [p.rolloutId, p.route, p.release, p.method, p.client, encodeDiffs(p.diffs), encodeDiffs(p.noise ?? []), p.example, p.colo, p.country],
    doubles: [
      p.stableStatus,
      p.canaryStatus,
      p.stableLatencyMs,
      p.canaryLatencyMs,
      isError(p.canaryStatus) ? 1 : 0,
      isError(p.stableStatus) ? 1 : 0,
      p.noise === null ? 0 : 1,
      p.diffCount,
      p.noiseDiffCount,
      p.truncated ? 1 : 0,
    ],
  }
}

/** What the local source reads from one shadow point; undefined when it is not in this layout. */
export function decodeShadowPoint(p: { indexes?: unknown[]; blobs?: unknown[]; doubles?: unknown[] } | undefined) {
  const index = p?.indexes?.[0]
  const d = p?.doubles
  if (typeof index !== 'string' || !index.endsWith('/shadow') || !Array.isArray(d)) return undefined
  const blob = (name: keyof typeof SHADOW_BLOB) => {
    const v = p?.blobs?.[SHADOW_BLOB[name] - 1]
    return typeof v === 'string' ? v : ''
  }
  const num = (name: keyof typeof SHADOW_DOUBLE) => {
    const v = Number(d[SHADOW_DOUBLE[name] - 1])
    return Number.isFinite(v) ? v : 0
  }
  const noiseSampled = num('noiseSampled') === 1
  return {
    index,
    route: blob('route'),
    client: blob('client'),
    diffs: decodeDiffs(blob('diffs')),
    noise: noiseSampled ? decodeDiffs(blob('noise')) : null,
    example: blob('example'),
    stableLatencyMs: num('stableLatencyMs'),
    canaryLatencyMs: num('canaryLatencyMs'),
    stableError: num('stableError') === 1,
    canaryError: num('canaryError') === 1,
    truncated: num('truncated') === 1,
  }
}
