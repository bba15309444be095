/**
 * @module
 * What the error test and the guardrail count (`judge.errorUnit`).
 *
 * - `client` (default): the error test counts, per window, the fresh clients
 *   (no failure yet in this release) and those of them that failed for the
 *   first time; the guardrail counts the window's clients and those that
 *   failed. Errors are independent across clients, not within one, so one
 *   client, however many requests it sends and however it rotates cookies and
 *   User-Agents, adds at most one failure to the evidence of a release.
 * - `request`: requests and errors, as every request were its own client.
 *   Stronger at equal traffic when clients really are independent per request,
 *   but a single client can steer it (see "How the judge decides" in the README).
 */
import type { CohortCounts } from './state.ts'

export type ErrorUnit = 'client' | 'request'

/**
 * In client mode the sample-ratio check counts each client's requests in a window up to this many: ordinary
 * clients are counted in full (a page and its assets), while one client flooding a cohort adds at most this much
 * to its share, far inside the check's tolerance wherever it has enough requests to run (bench/SIMULATION.md).
 */
export const SRM_CLIENT_CAP = 10

/** The sample-ratio check's count of one cohort in a window. */
export const splitRequests = (c: CohortCounts, unit: ErrorUnit): number => (unit === 'client' ? (c.clients?.cappedRequests ?? 0) : c.requests)

export interface Units {
  /** Units in the window (at risk, for the error test). */
  n: number
  /** …of which failed. */
  failed: number
}

/** The error test's units of one cohort in a window. */
export function testUnits(c: CohortCounts, unit: ErrorUnit): Units {
  if (unit === 'request') return { n: c.requests, failed: c.errors }
  return { n: c.clients?.fresh ?? 0, failed: c.clients?.firstFailures ?? 0 }
}

/**
 * The guardrail's units of one cohort in a window: requests, with each client's failures counted once. That keeps
 * the per-request meaning of `maxCanaryErrorRate` (a client making 6 requests a minute at a 1 % error rate fails in
 * 6 % of minutes, but adds about 1 % here), while one client flooding the canary adds one failure, not hundreds.
 */
export function guardUnits(c: CohortCounts, unit: ErrorUnit): Units {
  if (unit === 'request') return { n: c.requests, failed: c.errors }
  return { n: c.clients?.cappedRequests ?? 0, failed: c.clients?.failing ?? 0 }
}

/** The totals as a sentence: "canary 30 errors in 70 requests, stable 0 in 451", or the same in clients. */
export function describeUnits(unit: ErrorUnit, canary: { requests: number; errors: number }, stable: { requests: number; errors: number }): string {
  if (unit === 'request') return `canary ${canary.errors} errors in ${canary.requests} requests, stable ${stable.errors} in ${stable.requests}`
  return `${canary.errors} of ${canary.requests} fresh canary clients failed, ${stable.errors} of ${stable.requests} stable`
}
