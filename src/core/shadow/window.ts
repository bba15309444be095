/**
 * @module
 * What a metrics source reads of a shadow step's comparisons for one window (the `shadow` of a MetricsWindow), as
 * the shadow judge (judge.ts) consumes it. Counts are of mirrored requests (points), weighted by Analytics Engine's
 * sample interval where it sampled.
 */
import type { CohortCounts } from '../judge/state.ts'
import type { DiffKind } from './fields.ts'

/** One field's differences on one route in the window. */
export interface ShadowFieldCounts {
  /** The kind most often seen for this field, canary against stable (else noise). */
  kind: DiffKind
  /** Mirrored requests whose canary answer differed from stable's in this field. */
  canary: number
  /** Noise-sampled requests whose two stable answers differed in this field. */
  noise: number
}

/** An example of one field's difference: the two values, each cut to 200 characters (never a credential header's). */
export interface DiffExample {
  field: string
  kind: DiffKind
  stable: string
  canary: string
}

export interface ShadowRouteCounts {
  /** Mirrored requests compared (both answers read). */
  compared: number
  /** …of which stable was asked twice. */
  noiseSampled: number
  /** …of which the canary's answer was an error (5xx, none, or none in time). */
  canaryErrors: number
  stableErrors: number
  /** By field name (`status`, `header:<name>`, `body`, or a JSON Pointer); a source keeps at most MAX_WINDOW_FIELDS per route. */
  fields: Record<string, ShadowFieldCounts>
  /** At most one example per field, for fields that have canary differences. */
  examples?: Record<string, DiffExample>
}

export interface ShadowWindow {
  /**
   * Stable's and the canary's answers to the same mirrored requests, as cohorts: the server error test and the latency
   * guard judge these during a shadow step (stable is the baseline). No `clients`: a shadow step is judged per request.
   */
  stable: CohortCounts
  canary: CohortCounts
  /** By route template; a source returns at most MAX_WINDOW_ROUTES, the rest merged into `other`. */
  routes: Record<string, ShadowRouteCounts>
  /** Analytics Engine sampled the points: counts are estimates. */
  sampled?: boolean
}

/** Bounds on what one window carries, so one window (and the evidence it feeds) stays small whatever the traffic. */
export const MAX_WINDOW_ROUTES = 50
export const MAX_WINDOW_FIELDS = 20
/** The route every route beyond the cap is counted under. */
export const OTHER_ROUTE = 'other'
