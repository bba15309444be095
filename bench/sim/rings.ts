/**
 * @module
 * The simulator's traffic for a scenario with audience rings (issue 14). Per
 * minute the requests are split between the rings (multinomial by share, the
 * rest being everyone else), then each ring's between the cohorts at the
 * weight its visitors get (the higher of their ring's and everyone's, as the
 * edge does: src/core/audience/rings.ts), errors at that ring's rates. Each
 * ring counts its clients with its own pool (clients.ts), and the judge reads
 * one window per ring in force plus the global window, their sums.
 *
 * A scenario without rings goes through traffic.ts and clients.ts exactly as
 * before, so its results do not change.
 */
import type { WindowStats } from '../../src/core/judge/judge.ts'
import { EVERYONE_ELSE } from '../../src/core/judge/rings.ts'
import type { Schedule } from '../../src/core/config/schema.ts'
import type { RolloutState } from '../../src/core/rollout/machine.ts'
import { type StepWeights, weightsAt } from '../../src/core/rollout/rings.ts'
import { type ClientPool, clientMinute, newClientPool } from './clients.ts'
import { EVERYONE_ELSE_KEY, type Scenario } from './scenario.ts'
import { newSignalPools, signalMinute } from './signals.ts'
import {
  type CohortMinute,
  type MinuteTraffic,
  NO_CLIENTS,
  addClients,
  errorRatesAt,
  minuteTraffic,
  mix,
  rpsAt,
  splitTraffic,
  streamFor,
  windowCohorts,
} from './traffic.ts'

const RINGS = 4
/** Rings derive their own seeds, so each ring's client and latency dice are independent of every other's. */
const RING_SEED = 0x52494e47

export const NO_WEIGHTS: StepWeights = { global: 0, rings: {} }

/** The weights the edge applies for `state`: those of its step (what the machine publishes), none once rolled back. */
export const appliedWeights = (state: RolloutState, schedule: Schedule): StepWeights =>
  state.phase === 'rolled-back' ? NO_WEIGHTS : weightsAt(schedule, state.step)

/** The weight a ring's visitors get (percent): the higher of their ring's and everyone's. */
export const ringWeight = (w: StepWeights, ring: string): number => Math.max(w.global, w.rings[ring] ?? 0)

/** The weights in force before a change, for the first `fraction` (0-1) of a minute while it propagates. */
export interface StaleWeights {
  weights: StepWeights
  fraction: number
}

/** Every ring of the scenario, everyone else last. */
const ringNames = (s: Scenario): string[] => [...s.rings.map((r) => r.name), EVERYONE_ELSE]

/** `parts` of one minute added up, at `weight`; the edge weight is the canary share the parts' weights give. */
function sumMinute(minute: number, weight: number, parts: readonly MinuteTraffic[]): MinuteTraffic {
  const add = (a: CohortMinute, b: CohortMinute) => ({ requests: a.requests + b.requests, errors: a.errors + b.errors })
  const none = { requests: 0, errors: 0 }
  const stable = parts.reduce((sum, p) => add(sum, p.stable), none)
  const canary = parts.reduce((sum, p) => add(sum, p.canary), none)
  const total = stable.requests + canary.requests
  const edgeWeight = total > 0 ? parts.reduce((sum, p) => sum + p.edgeWeight * (p.stable.requests + p.canary.requests), 0) / total : weight
  const out: MinuteTraffic = { minute, weight, edgeWeight, stable, canary }
  if (parts.every((p) => p.clients)) {
    const sum = (cohort: 'stable' | 'canary') => parts.reduce((c, p) => addClients(c, p.clients![cohort]), NO_CLIENTS)
    out.clients = { stable: sum('stable'), canary: sum('canary') }
  }
  return out
}

/**
 * One minute of a scenario with rings at `weights`: the sums, with each ring's part in `rings`. With `pools`, each
 * ring's clients are counted too (without, the minute only counts exposure).
 */
export function ringsMinute(
  s: Scenario,
  seed: number,
  minute: number,
  weights: StepWeights,
  stale?: StaleWeights,
  pools?: Record<string, ClientPool>,
): MinuteTraffic {
  const rng = streamFor(seed, RINGS, minute)
  // Every ring's size is drawn before any split, so the sizes do not depend on the weights (common random numbers).
  let left = rng.poisson(rpsAt(s, minute) * 60)
  let shareLeft = 1
  const sizes = s.rings.map((r) => {
    // The multinomial as a chain of binomials: each ring's share of what the rings before it left.
    const n = rng.binomial(left, Math.min(1, r.share / shareLeft))
    left -= n
    shareLeft -= r.share
    return n
  })
  sizes.push(left)
  const { attacker: _, ...withoutAttacker } = s
  const rings: Record<string, MinuteTraffic> = {}
  ringNames(s).forEach((name, i) => {
    const at = stale && { weight: ringWeight(stale.weights, name), fraction: stale.fraction }
    const t = splitTraffic(rng, minute, sizes[i]!, ringWeight(weights, name), errorRatesAt(s, minute, s.rings[i]), at)
    // The attacker is one visitor of everyone else: it picks its cookie, not its country.
    if (pools) t.clients = clientMinute(name === EVERYONE_ELSE ? s : withoutAttacker, mix(seed, RING_SEED + i), pools[name]!, t)
    rings[name] = t
  })
  return { ...sumMinute(minute, weights.global, Object.values(rings)), rings }
}

/** One client pool per ring. */
export const newRingPools = (s: Scenario): Record<string, ClientPool> => Object.fromEntries(ringNames(s).map((n) => [n, newClientPool()]))

/**
 * The windows `judgeRings` reads for `minutes` (from `first`, at `weights`): one per ring in force with traffic, and
 * everyone else, which holds the visitors of every ring no step has named yet (the edge does not tell them apart).
 * Each has its own latency quantiles, drawn per cohort as the global window's are.
 */
export function ringWindows(
  s: Scenario,
  seed: number,
  minutes: readonly MinuteTraffic[],
  first: number,
  weights: StepWeights,
  range: { start: number; end: number },
): Record<string, WindowStats> {
  const names = ringNames(s)
  const judgedAs = (name: string) => (name in weights.rings ? name : EVERYONE_ELSE)
  const out: Record<string, WindowStats> = {}
  names.forEach((target, i) => {
    const members = names.filter((n) => judgedAs(n) === target)
    if (members.length === 0) return
    const merged = minutes.map((m) =>
      sumMinute(
        m.minute,
        ringWeight(weights, target),
        members.map((n) => m.rings![n]!),
      ),
    )
    const cohorts = windowCohorts(s, mix(seed, RING_SEED + i), merged, first)
    if (cohorts.stable.requests + cohorts.canary.requests > 0) out[target] = { start: range.start, end: range.end, ...cohorts }
  })
  return out
}

/** Requests and errors the canary served. */
export interface Exposure {
  canaryRequests: number
  canaryErrors: number
}

/** The key a ring's exposure is reported under. */
export const exposureKey = (ring: string): string => (ring === EVERYONE_ELSE ? EVERYONE_ELSE_KEY : ring)

/** Adds a minute's canary traffic to `total` and, per ring, to `byRing` (keyed by exposureKey). */
export function expose(total: Exposure, byRing: Record<string, Exposure>, t: MinuteTraffic): void {
  total.canaryRequests += t.canary.requests
  total.canaryErrors += t.canary.errors
  for (const [name, part] of Object.entries(t.rings ?? {})) {
    const e = (byRing[exposureKey(name)] ??= { canaryRequests: 0, canaryErrors: 0 })
    e.canaryRequests += part.canary.requests
    e.canaryErrors += part.canary.errors
  }
}

/**
 * A seed's minutes, with or without rings. `counted` minutes advance the client pools and carry the signals
 * (signals.ts, drawn on the minute's sums, after the clients, as they need the attacker's requests); the others (after the end,
 * while a rollback propagates) only count exposure.
 */
export function trafficOf(s: Scenario, seed: number): (m: number, weights: StepWeights, stale: StaleWeights | undefined, counted: boolean) => MinuteTraffic {
  const signals = newSignalPools()
  if (s.rings.length > 0) {
    const pools = newRingPools(s)
    return (m, weights, stale, counted) => {
      const t = ringsMinute(s, seed, m, weights, stale, counted ? pools : undefined)
      if (counted) t.signals = signalMinute(s, seed, signals, t)
      return t
    }
  }
  const pool = newClientPool()
  return (m, weights, stale, counted) => {
    const t = minuteTraffic(s, seed, m, weights.global, stale && { weight: stale.weights.global, fraction: stale.fraction })
    if (counted) {
      t.clients = clientMinute(s, seed, pool, t)
      t.signals = signalMinute(s, seed, signals, t)
    }
    return t
  }
}
