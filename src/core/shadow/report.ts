/**
 * @module
 * The diff report of a rollout's shadow step (`GET /rollouts/:id/diff`, `sluice diff`, the dashboard's panel):
 * per route, per field, the canary-vs-stable and stable-vs-stable rates and the judge's call.
 */
import type { DiffKind } from './fields.ts'

/** The judge's call on one field: above noise (`differs`), not distinguishable from it (`noise`), not yet known, or on the ignore list. */
export type FieldVerdict = 'differs' | 'noise' | 'pending' | 'ignored'

export interface ReportField {
  field: string
  kind: DiffKind
  /** Compared requests of the route whose canary answer differed here, and their share of the compared. */
  canary: number
  canaryRate: number
  /** Noise-sampled requests of the route whose two stable answers differed here, and their share of the noise-sampled. */
  noise: number
  noiseRate: number | null
  verdict: FieldVerdict
  /** One example pair, each value cut to 200 characters (values of `set-cookie` and `authorization` never stored). */
  example: { stable: string; canary: string } | null
}

export interface ReportRoute {
  route: string
  compared: number
  noiseSampled: number
  /** Compared requests whose statuses differed (the `status` field's count). */
  statusMismatches: number
  canaryErrors: number
  stableErrors: number
  /** Most differing first. */
  fields: ReportField[]
}

export interface ShadowReport {
  rolloutId: string
  release: string | null
  /** Percent of visitors mirrored now (0 outside a shadow step, and while paused in one). */
  shadowWeight: number
  /** When the release's shadow evidence began, and the end of the last window it holds (ISO 8601), null before any. */
  since: string | null
  until: string | null
  compared: number
  noiseSampled: number
  /** `differs` when any field differs above noise; `pending` while some field's call is not yet made; else `clean`. */
  verdict: 'differs' | 'pending' | 'clean'
  /** Most compared first. */
  routes: ReportRoute[]
}
