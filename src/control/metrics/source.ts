/**
 * @module
 * Where the controller gets per-cohort numbers. The judge never looks behind
 * this interface: production reads Analytics Engine (SQL API or the Analytics
 * SQL binding), `npm start` reads an in-process aggregate.
 */
import type { WindowStats } from '../../core/judge/judge.ts'
import type { Vital } from '../../core/judge/schema.ts'
import type { SignalWindow } from '../../core/judge/signals.ts'
import type { ShadowWindow } from '../../core/shadow/window.ts'

export interface TimeRange {
  /** Inclusive, ms since epoch. */
  start: number
  /** Exclusive, ms since epoch. */
  end: number
  /**
   * Where the release's evidence began (at or before `start`): a client that failed between `since` and `start`
   * is not fresh in this window. Default: `start`.
   */
  since?: number
}

/**
 * A window's numbers; `sampled` when they are stored sample rows rather than requests (the split is then not the
 * weight's); `rings`, when asked for, each audience ring's own window ('' for visitors in no ring); `shadow`, when
 * asked for, the shadow step's comparisons.
 */
export type MetricsWindow = WindowStats & { sampled?: boolean; rings?: Record<string, WindowStats>; signals?: SignalWindow; shadow?: ShadowWindow }

export interface WindowOptions {
  /** Also each audience ring's window (two more queries). */
  byRing?: boolean
  /** Also the rollout's beacons (real-user signals): page views, errors, vitals and first-error fingerprints. */
  rum?: boolean
  /**
   * Where each vital's span begins (at or before `start`): its p75 is read over [since, end), so a span grows until
   * both cohorts have enough page views to compare (signals.ts, `vitalsSince`). Default: `start`.
   */
  vitalsSince?: Partial<Record<Vital, number>>
  /** Also the rollout's shadow comparisons (`<id>/shadow`): both sides' counts, and per route and field (two more queries). */
  shadow?: boolean
}

export interface MetricsSource {
  readonly name: string
  /**
   * Requests, errors, latency quantiles and clients per cohort in the range, with `signals.clientErrors` (4xx) always
   * and `signals.rum` and `shadow` when asked for. Rejects (MetricsError) on any fault.
   */
  window(rolloutId: string, range: TimeRange, opts?: WindowOptions): Promise<MetricsWindow>
}

export class MetricsError extends Error {
  override name = 'MetricsError'
}
