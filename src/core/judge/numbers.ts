/**
 * @module
 * The numbers behind a verdict (a fixed set of keys, so dashboards and logs
 * see one shape) and the formatting the checks' sentences share.
 */
import type { JudgeState } from './state.ts'
import { unitTotals } from './state.ts'

export type Numbers = Record<string, number | null>

/** What one check concluded: an alarm (rollback or pause) and/or notes for the reasons. */
export interface Finding {
  alarm: string | null
  notes: string[]
}

export const pct = (x: number) => `${Number((x * 100).toPrecision(3))} %`
export const fix = (x: number, d = 2) => x.toFixed(d)
export const sci = (x: number) => (x < 1e-3 ? x.toExponential(1) : x.toPrecision(2))
export const rate = (e: number, n: number) => (n > 0 ? e / n : null)
export const finiteOrNull = (x: number) => (Number.isFinite(x) ? x : null)

/** The keys of `numbers`, always all present so consumers (dashboards, logs) see a fixed shape. */
export function emptyNumbers(): Numbers {
  return {
    weight: null,
    windows: null,
    windowStableRequests: null,
    windowStableErrors: null,
    windowCanaryRequests: null,
    windowCanaryErrors: null,
    windowStableErrorRate: null,
    windowCanaryErrorRate: null,
    windowStableClients: null,
    windowStableFailingClients: null,
    windowCanaryClients: null,
    windowCanaryFailingClients: null,
    stableRequests: null,
    stableErrors: null,
    canaryRequests: null,
    canaryErrors: null,
    stableErrorRate: null,
    canaryErrorRate: null,
    stableUnits: null,
    stableUnitFailures: null,
    canaryUnits: null,
    canaryUnitFailures: null,
    minRequests: null,
    minErrors: null,
    canaryRequestShare: null,
    canaryErrorShare: null,
    logMixtureLR: null,
    logThreshold: null,
    alpha: null,
    bestTheta: null,
    bestLogLR: null,
    guardrailLimit: null,
    guardrailPValue: null,
    canaryErrorRateLower: null,
    latencyStable: null,
    latencyCanary: null,
    latencyRatio: null,
    latencyDeltaMs: null,
    latencyMaxRatio: null,
    latencyMinDeltaMs: null,
    latencyStreak: null,
    latencyConsecutive: null,
    srmExpectedShare: null,
    srmObservedShare: null,
    srmChiSquare: null,
    srmPValue: null,
    srmAlpha: null,
    srmDeviation: null,
  }
}

export function fillTotals(numbers: Numbers, s: JudgeState) {
  const units = unitTotals(s)
  numbers.windows = s.windows
  numbers.stableRequests = s.stable.requests
  numbers.stableErrors = s.stable.errors
  numbers.canaryRequests = s.canary.requests
  numbers.canaryErrors = s.canary.errors
  numbers.stableErrorRate = rate(s.stable.errors, s.stable.requests)
  numbers.canaryErrorRate = rate(s.canary.errors, s.canary.requests)
  numbers.stableUnits = units.stable.requests
  numbers.stableUnitFailures = units.stable.errors
  numbers.canaryUnits = units.canary.requests
  numbers.canaryUnitFailures = units.canary.errors
}
