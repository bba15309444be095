/**
 * @module
 * A rollout's rings as the request path uses them: each ring with its compiled
 * matcher, highest weight first, so a request takes the first ring it is in
 * (the one that gives it the most canary). A ring that everyone's weight has
 * overtaken still names its visitors' ring in the metrics, where it is judged.
 */
import { type AudienceMatcher, type RequestView, compileAudience } from './match.ts'
import type { Audiences } from './schema.ts'

export interface CompiledRing {
  name: string
  weightBp: number
  matches: AudienceMatcher
}

/** Rings from the published weights (percent); a ring without an audience definition is dropped. */
export function compileRings(audiences: Audiences, rings: Record<string, number>): CompiledRing[] {
  return Object.entries(rings)
    .map(([name, percent]) => ({ name, weightBp: Math.round(percent * 100), audience: audiences[name] }))
    .filter((r) => r.audience !== undefined)
    .sort((a, b) => b.weightBp - a.weightBp)
    .map((r) => ({ name: r.name, weightBp: r.weightBp, matches: compileAudience(r.audience!) }))
}

/** The ring a request is in ('' for none) and the weight it gets: its ring's or everyone's, whichever is higher. */
export function ringOf(rings: readonly CompiledRing[], weightBp: number, view: RequestView): { ring: string; weightBp: number } {
  for (const r of rings) if (r.matches(view)) return { ring: r.name, weightBp: Math.max(r.weightBp, weightBp) }
  return { ring: '', weightBp }
}
