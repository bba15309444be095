/**
 * @module
 * Synthetic traffic for the simulator: per minute, a Poisson number of
 * requests at the scenario's rate, split between the cohorts by the weight the
 * controller has set (binomial, as bucketing is per visitor and uniform), and
 * binomial errors per cohort; per window, each cohort's latency quantiles.
 *
 * Every minute draws from its own stream, seeded from (seed, minute), so the
 * same seed gives the same traffic to both judges for as long as they keep the
 * same weight (common random numbers: their difference is the judges', not
 * the dice's).
 */
import { type Random, seeded } from '../../lib/random.ts'
import type { ClientCounts, CohortCounts } from '../../src/core/judge/judge.ts'
import type { Vital } from '../../src/core/judge/schema.ts'
import { DEFAULT_LATENCY, type Ring, type Scenario } from './scenario.ts'
import { fmix32 } from '../../src/core/cohort/hash.ts'

export interface CohortMinute {
  requests: number
  errors: number
}

/** One cohort's 4xx answers or page views in a minute, counted by client too. */
export interface CountedMinute extends CohortMinute {
  clients: ClientCounts
}

/** A minute's companion signals, as the 4xx and beacon queries count them. */
export interface SignalMinute {
  /** `requests` are all the cohort's requests, `errors` its 4xx answers; clients fail by getting a 4xx. */
  clientErrors: { stable: CountedMinute; canary: CountedMinute }
  /** Only when the scenario's rollout collects beacons: `requests` are page views, `errors` those with a JS error. */
  rum?: { stable: RumMinute; canary: RumMinute }
}

/** A cohort's page views in a minute, and how many of them reported each vital. */
export interface RumMinute extends CountedMinute {
  vitals: Record<Vital, number>
}

/** One minute of traffic as the ingestion buffer holds it. */
export interface MinuteTraffic {
  minute: number
  /** The canary weight (percent) the controller had set when this minute began. */
  weight: number
  /** The canary share (percent) the edge actually applied, averaged over the minute: differs from `weight` while a change propagates. */
  edgeWeight: number
  stable: CohortMinute
  canary: CohortMinute
  /** The same minute counted by client (clients.ts); absent for minutes drawn only to count exposure. */
  clients?: { stable: ClientCounts; canary: ClientCounts }
  /** The same minute's 4xx answers and page views (signals.ts); absent for minutes drawn only to count exposure. */
  signals?: SignalMinute
  /** A scenario with rings: each ring's part of this minute, by ring name ('' for everyone else), which the fields above sum. */
  rings?: Record<string, MinuteTraffic>
}

/** A 32-bit mix of two integers (murmur3's finaliser over a golden-ratio combination). */
export function mix(a: number, b: number): number {
  return fmix32((Math.imul(a >>> 0, 0x9e3779b1) ^ Math.imul((b >>> 0) + 0x7f4a7c15, 0x85ebca77)) >>> 0)
}

const TRAFFIC = 1
const LATENCY = 2

/** An independent stream per (seed, purpose, minute). */
export const streamFor = (seed: number, purpose: number, minute: number): Random => seeded(mix(mix(seed, purpose), minute))

export function rpsAt(s: Scenario, minute: number): number {
  if (typeof s.rps === 'number') return s.rps
  return s.rps[Math.min(minute, s.rps.length - 1)]!
}

/** Each cohort's error rate in `minute`: a ring's own rates (rings.ts) replace the scenario's, an incident replaces both. */
export function errorRatesAt(s: Scenario, minute: number, ring?: Ring): { stable: number; canary: number } {
  const i = s.incident
  if (i && minute >= i.startMinute && minute < i.endMinute) return { stable: i.errorRate, canary: i.errorRate }
  return { stable: ring?.stable?.errorRate ?? s.stable.errorRate, canary: ring?.canary?.errorRate ?? s.canary.errorRate }
}

/** The weight the edge still applies for the first `fraction` (0-1) of a minute, while a change propagates. */
export interface Stale {
  weight: number
  fraction: number
}

/** One minute of traffic at `weight` percent, or at `stale.weight` for the first part of it. */
export function minuteTraffic(s: Scenario, seed: number, minute: number, weight: number, stale?: Stale): MinuteTraffic {
  const rng = streamFor(seed, TRAFFIC, minute)
  // Draw order is fixed (total, split, stable errors, canary errors) so a given weight always sees the same dice.
  const total = rng.poisson(rpsAt(s, minute) * 60)
  return splitTraffic(rng, minute, total, weight, errorRatesAt(s, minute), stale)
}

/** `total` requests of one minute split between the cohorts at `weight` percent (see minuteTraffic), with their errors. */
export function splitTraffic(
  rng: Random,
  minute: number,
  total: number,
  weight: number,
  rates: { stable: number; canary: number },
  stale?: Stale,
): MinuteTraffic {
  let canary: number
  let edgeWeight = weight
  if (stale && stale.fraction > 0) {
    const early = rng.binomial(total, Math.min(1, stale.fraction))
    canary = rng.binomial(early, stale.weight / 100) + rng.binomial(total - early, weight / 100)
    edgeWeight = Math.min(1, stale.fraction) * stale.weight + (1 - Math.min(1, stale.fraction)) * weight
  } else {
    canary = rng.binomial(total, weight / 100)
  }
  const stable = total - canary
  const stableErrors = rng.binomial(stable, rates.stable)
  const canaryErrors = rng.binomial(canary, rates.canary)
  return {
    minute,
    weight,
    edgeWeight,
    stable: { requests: stable, errors: stableErrors },
    canary: { requests: canary, errors: canaryErrors },
  }
}

// ---- latency quantiles ----------------------------------------------------

/** Φ⁻¹(p), Acklam's rational approximation (relative error < 1.2e-9), ample for simulated milliseconds. */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239]
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572]
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783]
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416]
  const low = 0.02425
  if (p <= 0) return -Infinity
  if (p >= 1) return Infinity
  if (p < low || p > 1 - low) {
    const q = Math.sqrt(-2 * Math.log(p < low ? p : 1 - p))
    const num = ((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!
    const x = num / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    return p < low ? x : -x
  }
  const q = p - 0.5
  const r = q * q
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  )
}

/** Gamma(shape ≥ 1, 1), Marsaglia & Tsang (2000). */
function gamma(rng: Random, shape: number): number {
  const d = shape - 1 / 3
  const c = 1 / Math.sqrt(9 * d)
  for (;;) {
    const x = rng.normal()
    let v = 1 + c * x
    if (v <= 0) continue
    v = v * v * v
    const u = rng.uniform()
    if (u < 1 - 0.0331 * x * x * x * x) return d * v
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v
  }
}

/** Beta(a, b) for integer-valued a, b ≥ 1, as a ratio of gammas. */
function beta(rng: Random, a: number, b: number): number {
  const x = gamma(rng, a)
  return x / (x + gamma(rng, b))
}

/** Nearest-rank index (1-based) of quantile q among n values, as bench/stats.ts `percentile` defines it. */
const rank = (q: number, n: number) => Math.min(n, Math.max(1, Math.ceil(q * n)))

/**
 * The p50, p95 and p99 of n log-normal latencies, drawn exactly without
 * drawing the n latencies. The k-th smallest of n uniforms is Beta(k, n−k+1),
 * and given it, the uniforms above it are uniform on the rest of the interval,
 * so the three order statistics are drawn one after the other from their joint
 * law; a monotone transform (the log-normal quantile function) maps uniform
 * order statistics to latency order statistics. Cost O(1) at any traffic,
 * where a bounded sample (say 2000) would overstate the noise of a busy
 * cohort's quantiles and sorting every request would dominate the run time.
 */
export function latencyQuantiles(rng: Random, n: number, median: number, p95: number): { p50: number; p95: number; p99: number } {
  const sigma = Math.log(p95 / median) / 1.6448536269514722
  const k50 = rank(0.5, n)
  const k95 = rank(0.95, n)
  const k99 = rank(0.99, n)
  const u50 = beta(rng, k50, n - k50 + 1)
  const u95 = k95 === k50 ? u50 : u50 + (1 - u50) * beta(rng, k95 - k50, n - k95 + 1)
  const u99 = k99 === k95 ? u95 : u95 + (1 - u95) * beta(rng, k99 - k95, n - k99 + 1)
  const at = (u: number) => median * Math.exp(sigma * normalQuantile(Math.min(u, 1 - 1e-16)))
  return { p50: at(u50), p95: at(u95), p99: at(u99) }
}

/**
 * The nearest-rank q-quantile of n log-normal values (median, sigma), drawn exactly as latencyQuantiles draws its
 * first: one Beta order statistic of uniforms through the log-normal quantile function.
 */
export function logNormalQuantile(rng: Random, n: number, q: number, median: number, sigma: number): number {
  const k = rank(q, n)
  return median * Math.exp(sigma * normalQuantile(Math.min(beta(rng, k, n - k + 1), 1 - 1e-16)))
}

export const NO_CLIENTS: ClientCounts = { seen: 0, failing: 0, fresh: 0, firstFailures: 0, cappedRequests: 0 }

/** Client counts of disjoint traffic added up (minutes of a window, rings of a minute). */
export const addClients = (a: ClientCounts, b: ClientCounts): ClientCounts => ({
  seen: a.seen + b.seen,
  failing: a.failing + b.failing,
  fresh: a.fresh + b.fresh,
  firstFailures: a.firstFailures + b.firstFailures,
  cappedRequests: a.cappedRequests + b.cappedRequests,
})

/** A window's per-cohort counts as a metrics query returns them, latency quantiles included. */
export function windowCohorts(
  s: Scenario,
  seed: number,
  minutes: readonly MinuteTraffic[],
  startMinute: number,
): { stable: CohortCounts; canary: CohortCounts } {
  const sum = (pick: (m: MinuteTraffic) => CohortMinute) => {
    let requests = 0
    let errors = 0
    for (const m of minutes) {
      requests += pick(m).requests
      errors += pick(m).errors
    }
    return { requests, errors }
  }
  // Clients are summed over the window's minutes: exact for the usual one-minute window, an overcount of a client
  // active in two minutes of a longer one (its first failure still counts once: the pool tracks it).
  const clients = (pick: (c: NonNullable<MinuteTraffic['clients']>) => ClientCounts): ClientCounts =>
    minutes.reduce((out, m) => (m.clients ? addClients(out, pick(m.clients)) : out), NO_CLIENTS)
  const stable = { ...sum((m) => m.stable), clients: clients((c) => c.stable) }
  const canary = { ...sum((m) => m.canary), clients: clients((c) => c.canary) }
  // Drawn per window rather than per minute: each cohort's latency law does not change over time, so the
  // quantiles of a window's n requests are exact however many minutes it spans (quantiles do not add up).
  const rng = streamFor(seed, LATENCY, startMinute)
  const stableLatency = s.stable.latencyMs ?? DEFAULT_LATENCY
  const canaryLatency = s.canary.latencyMs ?? stableLatency
  const withLatency = (c: CohortCounts, l: { median: number; p95: number }): CohortCounts =>
    c.requests > 0 ? { ...c, latencyMs: latencyQuantiles(rng, c.requests, l.median, l.p95) } : c
  return { stable: withLatency(stable, stableLatency), canary: withLatency(canary, canaryLatency) }
}
