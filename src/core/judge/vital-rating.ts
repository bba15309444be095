/**
 * @module
 * web.dev's Web Vitals thresholds and the rating of a p75. Plain data without
 * zod, so the CLI (which starts without zod) rates vitals with the judge's own
 * table; the dashboard, served as source text, keeps a copy in
 * src/dashboard/client/rum.ts.
 */

/** web.dev's thresholds at p75 (https://web.dev/articles/vitals): "good" up to the first, "poor" above the second. */
export const VITAL_THRESHOLDS = { lcp: [2500, 4000], inp: [200, 500], cls: [0.1, 0.25] } as const
export type Vital = keyof typeof VITAL_THRESHOLDS
export const VITALS = Object.keys(VITAL_THRESHOLDS) as Vital[]

/** A p75's rating; a name that is not a vital rates good (there is nothing to exceed). */
export function vitalRating(vital: string, p75: number): 'good' | 'needs improvement' | 'poor' {
  const [good, poor] = (VITAL_THRESHOLDS as Record<string, readonly [number, number]>)[vital] ?? [Infinity, Infinity]
  return p75 <= good ? 'good' : p75 <= poor ? 'needs improvement' : 'poor'
}
