/**
 * @module
 * One Analytics Engine data point per proxied request. The layout is a
 * contract with the controller's SQL; see "Metrics layout" in the README.
 *
 *   index1  "<rolloutId>/<cohort>" for visitors placed by the weight; "<rolloutId>/<cohort>-override" and
 *           "<rolloutId>/<cohort>-bot" for testers and bots, whom the judge must not count (they are not
 *           a random sample). Sampling is per index, so each cohort keeps its own exact-enough counts.
 *   blob1   rollout id     blob2 cohort     blob3 canary release label
 *   blob4   method         blob5 status class ("2xx", "5xx", "err")
 *   blob6   colo           blob7 country
 *   double1 origin status (0 = no response)   double2 origin latency, ms (to headers)
 *   double3 error (1 = 5xx, network error or timeout)   double4 failover (1 = served from stable after a canary failure)
 */
import type { Assignment } from '../core/cohort/assign.ts'
import type { Cohort } from '../core/config/schema.ts'

export interface RequestRecord {
  rolloutId: string
  cohort: Cohort
  /** How the cohort was chosen; only `weight` requests are the randomised experiment the judge compares. */
  reason: Assignment['reason']
  release: string | undefined
  method: string
  /** The status of the cohort's own origin; 0 when it gave none. */
  status: number
  latencyMs: number
  failover: boolean
  colo: string
  country: string
}

export const isError = (status: number) => status === 0 || status >= 500

const statusClass = (status: number) => (status === 0 ? 'err' : `${Math.floor(status / 100)}xx`)

/** Writes without awaiting; a metrics fault never affects the response. */
export function record(dataset: Pick<AnalyticsEngineDataset, 'writeDataPoint'> | undefined, r: RequestRecord): void {
  if (!dataset) return
  try {
    dataset.writeDataPoint({
      indexes: [r.reason === 'weight' ? `${r.rolloutId}/${r.cohort}` : `${r.rolloutId}/${r.cohort}-${r.reason}`],
      blobs: [r.rolloutId, r.cohort, r.release ?? '', r.method, statusClass(r.status), r.colo, r.country],
      doubles: [r.status, r.latencyMs, isError(r.status) ? 1 : 0, r.failover ? 1 : 0],
    })
  } catch {
    // Analytics Engine is best effort; losing a point beats failing a request.
  }
}
