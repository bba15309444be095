/**
 * @module
 * When will it be done? From the canary traffic judged at the current step: when the step will have baked and
 * seen its minimum requests, and when the schedule will reach 100 % at this rate; at `start`, whether the
 * traffic seen recently is too thin for the schedule. Pure, and computed from the stored state alone (no clock),
 * so reading a status twice gives the same answer.
 *
 * The model: the site's total traffic stays at the observed rate and each cohort gets its weight's share, so
 * the canary's traffic scales with the weight at later steps. A step ends at the later of its bake end and the
 * moment its data is in, plus `analysis.lagMinutes` (the controller judges windows that ended that long ago).
 * Its data is in when it has seen its `minRequests` canary requests and each cohort has `judge.minRequests`
 * since the release started (the judge says "healthy" only then). The last lag minutes of a step are never
 * judged: the next step's windows start at its own start. Gates are taken as approved when reached, and the
 * canary as healthy: this is how long the traffic makes it take, not a forecast of the verdict.
 *
 * A shadow step (`shadow`, weight 0) counts compared requests: taken as its mirrored share of all traffic (an upper
 * bound, as only safe requests are mirrored), each one a request of both paired cohorts, so it needs the larger of
 * its `minRequests` and `judge.minRequests` of them; its requests are not the later steps' (the judge starts afresh).
 */
import * as z from 'zod/mini'
import type { RolloutSpec, Step } from '../config/schema.ts'
import { evidenceOf, trafficSince } from './decide.ts'
import { awaitingPreRollout } from './gates.ts'
import type { RolloutState } from './machine.ts'

const MINUTE = 60_000
const DAY = 24 * 60 * MINUTE
/** How far back `start` looks for the traffic it warns about. */
export const RECENT_MS = 60 * MINUTE

/** The total rate (all cohorts) at which no step of the schedule waits for traffic, and the requirement that sets it. */
export const TrafficNeed = z.object({
  requestsPerMinute: z.number(),
  /** The schedule step (0-based, like `step.index`) where that rate is needed. */
  step: z.int(),
  /** The config field that needs it: `schedule.<i>.minRequests` or `judge.minRequests`. */
  field: z.string(),
})

export const Eta = z.object({
  /** When the current step will have baked and seen its minimum requests; null without a rate, or at a gate. */
  stepDoneAt: z.nullable(z.iso.datetime()),
  /** When the last step (100 %, the promotion) will be entered at this rate. */
  rolloutDoneAt: z.nullable(z.iso.datetime()),
  /** Canary requests per minute judged at this step; null before its first window. */
  canaryRequestsPerMinute: z.nullable(z.number()),
  /** Null when the schedule asks for no requests. */
  needs: z.nullable(TrafficNeed),
  /** What the estimate rests on, and what it waits for, in words. */
  basis: z.string(),
})
export type TrafficNeed = z.output<typeof TrafficNeed>
export type Eta = z.output<typeof Eta>

/** The share of all traffic a step's `minRequests` counts: its canary weight, or the share it mirrors. */
const shareOf = (s: Step) => (s.shadow ?? s.weight) / 100

/** Where a projection starts: a step, what has been counted so far, and until when. */
interface Position {
  step: number
  /** The canary's share of traffic at this step, 0-1. */
  share: number
  startedAt: number
  /** The counts below hold the data up to here. */
  countedUntil: number
  stepCanary: number
  canary: number
  stable: number
}

interface StepEnd {
  start: number
  end: number
  /** The requirement that holds the step past its bake end, with what it still needed; null when the bake time ends it. */
  waitsFor: { field: string; cohort: 'canary' | 'stable'; missing: number; perMinute: number } | null
}

/** The end of each step from `from.step` to the promotion at `perMinute` requests in total; Infinity once one never ends. */
function project(spec: RolloutSpec, from: Position, perMinute: number): StepEnd[] {
  const { schedule } = spec
  const lag = spec.analysis.lagMinutes * MINUTE
  const min = spec.judge.minRequests
  const ends: StepEnd[] = []
  let at = from
  for (let j = from.step; j < schedule.length - 1; j++) {
    const step = schedule[j]!
    const canaryRate = (perMinute * at.share) / MINUTE
    const stableRate = (perMinute * (1 - at.share)) / MINUTE
    const shadow = step.shadow !== undefined
    const requirements = [
      { field: `schedule.${j}.minRequests`, cohort: 'canary' as const, missing: step.minRequests - at.stepCanary, rate: canaryRate },
      // The shadow step's error test counts its compared requests, once in each paired cohort.
      { field: 'judge.minRequests', cohort: 'canary' as const, missing: min - (shadow ? at.stepCanary : at.canary), rate: canaryRate },
      { field: 'judge.minRequests', cohort: 'stable' as const, missing: shadow ? 0 : min - at.stable, rate: stableRate },
    ].map((r) => ({ ...r, wait: r.missing <= 0 ? 0 : r.rate > 0 ? r.missing / r.rate : Infinity }))
    const slowest = requirements.reduce((a, b) => (b.wait > a.wait ? b : a))
    const bakeEnd = at.startedAt + step.bakeMinutes * MINUTE
    const dataIn = slowest.wait > 0 ? at.countedUntil + slowest.wait + lag : -Infinity
    const end = Math.max(bakeEnd, dataIn)
    const waitsFor = dataIn > bakeEnd ? { field: slowest.field, cohort: slowest.cohort, missing: slowest.missing, perMinute: slowest.rate * MINUTE } : null
    ends.push({ start: at.startedAt, end, waitsFor })
    if (end === Infinity) break
    const counted = Math.max(0, end - lag - at.countedUntil)
    const next = schedule[j + 1]!
    at = {
      step: j + 1,
      share: next.weight / 100,
      startedAt: end,
      countedUntil: end,
      stepCanary: 0,
      canary: shadow ? at.canary : at.canary + canaryRate * counted,
      stable: shadow ? at.stable : at.stable + stableRate * counted,
    }
  }
  return ends
}

/**
 * The total rate at which every step's data is in within its bake time (less the lag), from a fresh start.
 * In closed form: with every earlier step on time, step j needs `minRequests / (share × time)`, and the
 * judge's minimum needs `judge.minRequests` over the time each cohort has had at steps 0..j. The schedule's
 * need is the largest of these. Steps without bake time beyond the lag wait for their requests by design.
 */
export function trafficNeed(spec: RolloutSpec): TrafficNeed | null {
  if (hasRings(spec)) return null
  const lagMinutes = spec.analysis.lagMinutes
  const min = spec.judge.minRequests
  let canaryMinutes = 0
  let stableMinutes = 0
  let need: TrafficNeed | null = null
  spec.schedule.slice(0, -1).forEach((step, j) => {
    const share = shareOf(step)
    const minutes = Math.max(0, step.bakeMinutes - lagMinutes)
    if (step.shadow !== undefined) {
      const needed = Math.max(step.minRequests, min)
      if (minutes > 0 && needed / (share * minutes) > (need?.requestsPerMinute ?? 0)) {
        need = {
          requestsPerMinute: round(needed / (share * minutes)),
          step: j,
          field: step.minRequests >= min ? `schedule.${j}.minRequests` : 'judge.minRequests',
        }
      }
      return
    }
    canaryMinutes += share * minutes
    stableMinutes += (1 - share) * minutes
    if (minutes === 0) return
    const candidates: [number, string][] = [
      [step.minRequests / (share * minutes), `schedule.${j}.minRequests`],
      [min / canaryMinutes, 'judge.minRequests'],
      [min / stableMinutes, 'judge.minRequests'],
    ]
    for (const [requestsPerMinute, field] of candidates) {
      if (requestsPerMinute > (need?.requestsPerMinute ?? 0)) need = { requestsPerMinute: round(requestsPerMinute), step: j, field }
    }
  })
  return need
}

const hasRings = (spec: RolloutSpec) => spec.schedule.some((s) => s.audience !== undefined)

/** The estimate a status carries: null unless the controller is moving the rollout (progressing, or at a gate). */
export function etaOf(spec: RolloutSpec, state: RolloutState): Eta | null {
  const gated = state.phase === 'awaiting-approval'
  const here = spec.schedule[state.step]
  if ((state.phase !== 'progressing' && !gated) || state.stepStartedAt === null || !here || shareOf(here) <= 0) return null
  const next = spec.schedule[state.step + 1]
  if (!next) return null
  const share = shareOf(here)
  const at = here.shadow !== undefined ? `mirroring ${here.shadow} %` : `at ${state.weight} %`
  const needs = trafficNeed(spec)
  const estimate = (basis: string, perMinute: number | null, ends: StepEnd[] = []): Eta => ({
    stepDoneAt: ends[0] ? time(ends[0].end) : null,
    rolloutDoneAt: ends.length ? time(ends.at(-1)!.end) : null,
    canaryRequestsPerMinute: perMinute === null ? null : round(perMinute * share),
    needs,
    basis: withNeed(basis, needs, perMinute),
  })
  if (awaitingPreRollout(spec, state)) return estimate("waiting for the pre-rollout hooks' go: the canary has no traffic yet", null)
  // A ring's share of the traffic is not known here, so neither is the canary's: say so rather than guess.
  if (hasRings(spec)) return estimate("not estimated: the schedule has ring steps, whose canary share depends on each ring's traffic", null)
  const evidence = evidenceOf(state)
  // The bake time runs from when the step got its traffic (a pre-rollout gate may have held it back).
  const since = trafficSince(state) ?? state.stepStartedAt
  const judgedMs = (state.windowEnd ?? since) - since
  if (judgedMs <= 0) return estimate(`no canary traffic judged ${at} yet`, null)
  const canaryPerMinute = (evidence.stepCanaryRequests / judgedMs) * MINUTE
  const perMinute = canaryPerMinute / share
  const what = here.shadow !== undefined ? 'compared' : 'canary'
  const observed = `${rate(canaryPerMinute)} ${what} requests/min over the ${duration(judgedMs)} judged ${at}`
  const counts = { canary: evidence.judge.canary.requests, stable: evidence.judge.stable.requests }
  if (gated) {
    // The next step starts when an operator approves: only the time from then on can be estimated.
    const rest = project(spec, { step: state.step + 1, share: next.weight / 100, startedAt: 0, countedUntil: 0, stepCanary: 0, ...counts }, perMinute)
    const end = rest.at(-1)!.end
    const after = end === Infinity ? 'and it never reaches 100 % at this rate' : `then 100 % about ${duration(end)} later at this rate`
    return estimate(`${observed}; waiting for an operator to approve ${next.weight} %, ${after}`, perMinute)
  }
  const from: Position = {
    step: state.step,
    share,
    startedAt: since,
    countedUntil: since + judgedMs,
    stepCanary: evidence.stepCanaryRequests,
    ...counts,
  }
  const ends = project(spec, from, perMinute)
  const waitsFor = ends[0]!.waitsFor
  const waits = waitsFor
    ? `; this step waits for ${waitsFor.field} (${Math.ceil(waitsFor.missing)} more ${here.shadow !== undefined ? 'compared' : waitsFor.cohort} requests)`
    : "; this step's bake time ends it"
  const gates = spec.schedule.slice(state.step + 1).some((s) => s.gate) ? '; gates taken as approved when reached' : ''
  return estimate(`${observed}${waits}${gates}`, perMinute, ends)
}

/** The total requests per minute of the newest hour of judged windows (each `windowSeconds` long); null without any. */
export function recentRequestsPerMinute(
  points: readonly { at: number; stable: { requests: number }; canary: { requests: number } }[],
  windowSeconds: number,
): number | null {
  const newest = points.at(-1)?.at
  if (newest === undefined) return null
  const recent = points.filter((p) => p.at > newest - RECENT_MS)
  const requests = recent.reduce((sum, p) => sum + p.stable.requests + p.canary.requests, 0)
  return requests / ((recent.length * windowSeconds) / 60)
}

/**
 * What `start` warns about: the release would need more than a day at the traffic seen recently. Without
 * any traffic history there is nothing to say (the status's ETA says what it waits for once traffic is judged).
 */
export function startWarnings(spec: RolloutSpec, recentPerMinute: number | null, now: number): string[] {
  if (recentPerMinute === null || spec.schedule.length < 2 || hasRings(spec)) return []
  const first = spec.schedule[0]!
  const ends = project(spec, { step: 0, share: shareOf(first), startedAt: now, countedUntil: now, stepCanary: 0, canary: 0, stable: 0 }, recentPerMinute)
  const took = ends.at(-1)!.end - now
  if (took <= DAY) return []
  const bakes = spec.schedule.reduce((sum, s) => sum + s.bakeMinutes, 0) * MINUTE
  const [slowest, index] = ends.reduce<[StepEnd, number]>((a, e, i) => (e.end - e.start > a[0].end - a[0].start ? [e, i] : a), [ends[0]!, 0])
  const step = spec.schedule[index]!
  const held = slowest.waitsFor
    ? `; step ${index + 1} (${step.weight} %) waits ${slowest.end === Infinity ? 'forever' : duration(slowest.end - slowest.start)} for ${slowest.waitsFor.field} ` +
      `(${Math.ceil(slowest.waitsFor.missing)} ${slowest.waitsFor.cohort} requests at ${rate(slowest.waitsFor.perMinute)}/min)`
    : ''
  const length =
    took === Infinity ? 'would never reach 100 %' : `would take about ${duration(took)} to reach 100 % (its bake times add up to ${duration(bakes)})`
  const need = trafficNeed(spec)
  const needed = need
    ? `; the schedule keeps to its bake times from ${perSecond(need.requestsPerMinute)} in total (${need.field} at step ${need.step + 1})`
    : ''
  return [`at the ${perSecond(recentPerMinute)} seen in the last hour of judged windows, this release ${length}${held}${needed}`]
}

/** The basis, and the traffic the schedule needs when the observed rate falls short of it (or is unknown). */
function withNeed(basis: string, need: TrafficNeed | null, perMinute: number | null): string {
  if (!need || (perMinute !== null && perMinute >= need.requestsPerMinute)) return basis
  const now = perMinute === null ? '' : `, ${perSecond(perMinute)} now`
  return `${basis}; the schedule keeps to its bake times from ${perSecond(need.requestsPerMinute)} in total (${need.field} at step ${need.step + 1}${now})`
}

/** Three significant digits: 6250, 2.4, 0.417. */
const round = (n: number) => Number(n.toPrecision(3))
const rate = (perMinute: number) => String(round(perMinute))
const perSecond = (perMinute: number) => `${round(perMinute / 60)} requests/s`
/** To the second: an estimate, not a timestamp to the millisecond. */
const time = (ms: number) => (Number.isFinite(ms) ? new Date(Math.round(ms / 1000) * 1000).toISOString() : null)

/** "3h 29m", "4m 10s", "1d 2h": the two largest units. */
function duration(ms: number): string {
  let s = Math.round(ms / 1000)
  const parts: string[] = []
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ] as const) {
    if (s >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(s / size)}${unit}`)
      s %= size
    }
  }
  return parts.slice(0, 2).join(' ')
}
