/**
 * @module
 * The judge's companion signals, each judged canary against stable on the
 * same randomised cohorts as server errors:
 *
 * - 4xx answers (on by default): a canary that answers 404 for its own assets
 *   or routes sends no 5xx. Same mixture sequential test, same units (one
 *   client adds at most one 4xx to a release's evidence), its own alpha.
 * - When the rollout collects real-user signals (`rum.enabled`): the share of
 *   page views with a JavaScript error (the same test, a page view as a
 *   request, clients as units, so one client sending many beacons adds at
 *   most one), and the Web Vitals guard (vitals.ts). A third-party script
 *   that breaks on both cohorts raises both shares alike: the test conditions
 *   on the split, so it does not move.
 *
 * Each sequential test runs at its own alpha; the chance of any false rollback
 * is at most the sum of the alphas of the tests in force (1 % + 0.5 % + 0.5 %
 * by default). Signals are judged over the whole rollout, not per audience
 * ring: while a ring is above everyone's weight the cohorts differ in
 * audience (see rings.ts), so the comparisons stand aside and say so.
 */
import { mixtureTest, stepThetas } from './error-test.ts'
import { cohortProblem, isCount, isFiniteNumber, isRecord } from './input.ts'
import { type Numbers, pct } from './numbers.ts'
import { type JudgeConfig, VITALS, type Vital } from './schema.ts'
import type { CohortCounts, CohortTotals, ThetaEvidence, Verdict, VerdictKind } from './state.ts'
import { testUnits } from './units.ts'
import { MAX_SPAN_MS, type VitalStreaks, type VitalsSummary, noStreaks, vitalsGuard } from './vitals.ts'

/**
 * A first error seen in one cohort's beacons: its fingerprint and how many distinct clients reported it, so one
 * client sending many beacons, or many made-up errors, counts once towards each of its fingerprints.
 */
export interface Fingerprint {
  fingerprint: string
  clients: number
}

/** One cohort's beacons in a window: `requests` are page views, `errors` page views with at least one error. */
export interface RumCounts extends CohortCounts {
  vitals?: VitalsSummary
  /** The most frequent first errors, most frequent first. */
  fingerprints?: Fingerprint[]
}

/** What a metrics source reads besides requests: 4xx counts always, beacons when the rollout collects them. */
export interface SignalWindow {
  /** `errors` here are 4xx answers; `clients` count them as ClientCounts count failures. */
  clientErrors?: { stable: CohortCounts; canary: CohortCounts }
  rum?: { stable: RumCounts; canary: RumCounts }
  /** HTML answers that got the RUM tag, and those left without it because the page's CSP would block it. */
  injection?: { stable: Injection; canary: Injection }
  /**
   * Analytics Engine sampled the requests or the beacons: stored rows are then counted, and one client's rows are
   * not one client's requests, so the per-client tests would lose their protection; they add no evidence.
   */
  sampled?: boolean
}

export interface Injection {
  injected: number
  csp: number
}

export interface SequentialState {
  units: { stable: CohortTotals; canary: CohortTotals }
  evidence: ThetaEvidence[]
}

/** The signals' evidence between windows, kept beside the judge's (ControllerEvidence.signals). */
export interface SignalState {
  version: 1
  clientErrors: SequentialState
  jsErrors: SequentialState
  /** Page views per cohort, for `judge.rum.minPageViews`. */
  pageViews: { stable: number; canary: number }
  vitalsStreaks: VitalStreaks
  /** Where each vital's current span began (vitals.ts), null before the first window; the source reads it from there. */
  vitalsSince: Record<Vital, number | null>
  /** Spans compared per vital over the release: "healthy" waits for `consecutive` of LCP's. */
  vitalsCompared: Record<Vital, number>
  /** First-error fingerprints per cohort over the release, the most frequent FINGERPRINTS_KEPT of each. */
  fingerprints: { stable: Fingerprint[]; canary: Fingerprint[] }
  /** End of the last window with a canary page view: beacons that stop (a canary CSP that blocks the tag) pause the rollout. */
  lastCanaryPageViewAt: number | null
  /** Start of the first window judged with real-user signals on: the silence is counted from there at the earliest. */
  rumSince: number | null
}

export const FINGERPRINTS_KEPT = 20

const zero = (): CohortTotals => ({ requests: 0, errors: 0 })
const freshTest = (): SequentialState => ({ units: { stable: zero(), canary: zero() }, evidence: [] })

export const initialSignalState = (): SignalState => ({
  version: 1,
  clientErrors: freshTest(),
  jsErrors: freshTest(),
  pageViews: { stable: 0, canary: 0 },
  vitalsStreaks: noStreaks(),
  vitalsSince: { lcp: null, inp: null, cls: null },
  vitalsCompared: noStreaks(),
  fingerprints: { stable: [], canary: [] },
  lastCanaryPageViewAt: null,
  rumSince: null,
})

const isTotals = (v: unknown) => isRecord(v) && isCount(v.requests) && isCount(v.errors) && v.errors <= v.requests
const isSequential = (v: unknown): v is SequentialState =>
  isRecord(v) &&
  isRecord(v.units) &&
  isTotals(v.units.stable) &&
  isTotals(v.units.canary) &&
  Array.isArray(v.evidence) &&
  v.evidence.every((e) => isRecord(e) && isFiniteNumber(e.theta) && e.theta > 1 && isFiniteNumber(e.logLR))
const isFingerprints = (v: unknown) =>
  Array.isArray(v) && v.length <= FINGERPRINTS_KEPT && v.every((f) => isRecord(f) && typeof f.fingerprint === 'string' && isCount(f.clients))

/** Validates state read back from storage; anything else is treated as no state. */
export function isSignalState(v: unknown): v is SignalState {
  return (
    isRecord(v) &&
    v.version === 1 &&
    isSequential(v.clientErrors) &&
    isSequential(v.jsErrors) &&
    isRecord(v.pageViews) &&
    isCount(v.pageViews.stable) &&
    isCount(v.pageViews.canary) &&
    isRecord(v.vitalsStreaks) &&
    VITALS.every((k) => isCount((v.vitalsStreaks as Record<string, unknown>)[k])) &&
    isRecord(v.vitalsSince) &&
    VITALS.every((k) => (v.vitalsSince as Record<string, unknown>)[k] === null || isFiniteNumber((v.vitalsSince as Record<string, unknown>)[k])) &&
    isRecord(v.vitalsCompared) &&
    VITALS.every((k) => isCount((v.vitalsCompared as Record<string, unknown>)[k])) &&
    isRecord(v.fingerprints) &&
    isFingerprints(v.fingerprints.stable) &&
    isFingerprints(v.fingerprints.canary) &&
    (v.lastCanaryPageViewAt === null || isFiniteNumber(v.lastCanaryPageViewAt)) &&
    (v.rumSince === null || isFiniteNumber(v.rumSince))
  )
}

function rumProblem(c: unknown, name: string, unit: 'client' | 'request'): string | null {
  const base = cohortProblem(c, name, unit)
  if (base !== null) return base
  const r = c as RumCounts
  if (r.vitals !== undefined) {
    if (!isRecord(r.vitals)) return `${name} vitals is not an object`
    for (const v of VITALS) {
      const s = r.vitals[v]
      if (s !== undefined && !(isRecord(s) && isFiniteNumber(s.p75) && s.p75 >= 0 && isCount(s.n))) return `${name} ${v} is not a p75 and a count`
    }
  }
  if (r.fingerprints !== undefined && !isFingerprints(r.fingerprints)) return `${name} fingerprints are malformed`
  return null
}

/** Running fingerprint counts merged with a window's, the most frequent kept. */
function mergeFingerprints(kept: readonly Fingerprint[], add: readonly Fingerprint[] | undefined): Fingerprint[] {
  const m = new Map(kept.map((f) => [f.fingerprint, f.clients]))
  for (const f of add ?? []) m.set(f.fingerprint, (m.get(f.fingerprint) ?? 0) + f.clients)
  return [...m]
    .map(([fingerprint, clients]) => ({ fingerprint, clients }))
    .sort((a, b) => b.clients - a.clients || (a.fingerprint < b.fingerprint ? -1 : 1))
    .slice(0, FINGERPRINTS_KEPT)
}

/**
 * The canary's most frequent first errors, each marked when stable never showed it. Only stable's most frequent
 * FINGERPRINTS_KEPT are known: once that list is full, an error missing from it may still be stable's, so none is
 * marked new.
 */
export function canaryFingerprints(s: SignalState, max = 5): (Fingerprint & { newInCanary: boolean })[] {
  const onStable = new Set(s.fingerprints.stable.map((f) => f.fingerprint))
  const complete = s.fingerprints.stable.length < FINGERPRINTS_KEPT
  return s.fingerprints.canary.slice(0, max).map((f) => ({ ...f, newInCanary: complete && !onStable.has(f.fingerprint) }))
}

const describeNew = (s: SignalState) =>
  canaryFingerprints(s, 3)
    .filter((f) => f.newInCanary)
    .map((f) => `new in canary: ${f.fingerprint}, from ${f.clients} client${f.clients === 1 ? '' : 's'}`)

interface TestSpec {
  what: string
  unitNoun: string
  alpha: number
  minErrors: number
}

/** One companion sequential test over a window, on the running state; the finding and the new state. */
function sequential(prev: SequentialState, w: { stable: CohortCounts; canary: CohortCounts }, cfg: JudgeConfig, t: TestSpec, numbers: Numbers, key: string) {
  const stable = testUnits(w.stable, cfg.errorUnit)
  const canary = testUnits(w.canary, cfg.errorUnit)
  const state: SequentialState = {
    units: {
      stable: { requests: prev.units.stable.requests + stable.n, errors: prev.units.stable.errors + stable.failed },
      canary: { requests: prev.units.canary.requests + canary.n, errors: prev.units.canary.errors + canary.failed },
    },
    evidence: stepThetas(prev.evidence, stable, canary, cfg.mixture.thetas),
  }
  const m = mixtureTest(state.evidence, cfg, t.alpha)
  const u = state.units
  numbers[`${key}LogMixtureLR`] = m.logMixture
  numbers[`${key}StableUnits`] = u.stable.requests
  numbers[`${key}StableFailures`] = u.stable.errors
  numbers[`${key}CanaryUnits`] = u.canary.requests
  numbers[`${key}CanaryFailures`] = u.canary.errors
  const per = cfg.errorUnit === 'request' ? t.unitNoun : `fresh ${t.unitNoun.replace(/s$/, '')} clients`
  const counts = `canary ${u.canary.errors} of ${u.canary.requests} ${per}, stable ${u.stable.errors} of ${u.stable.requests}`
  if (!m.significant) return { state, alarm: null, note: `${t.what} test: ${m.test} (${counts})` }
  if (u.canary.errors < t.minErrors)
    return { state, alarm: null, note: `${t.what} test: ${m.test}, but the canary has only ${u.canary.errors} of ${t.minErrors} required to act` }
  return { state, alarm: `canary ${t.what} are disproportionate: ${m.test}, most likely ${m.bestTheta}x stable's rate (${counts})`, note: null }
}

/** What a decision records of the signals (`data.clientErrors`, `data.rum`); the contract's DecisionSignals describes it. */
export interface SignalDetails {
  clientErrors?: { stable: CohortTotals; canary: CohortTotals }
  rum?: {
    injection?: { stable: Injection; canary: Injection }
    /** This window's page views and those with an error. */
    window: Record<'stable' | 'canary', { pageViews: number; errored: number }>
    /** Page views since the release began. */
    pageViews: { stable: number; canary: number }
    vitals: { stable: VitalsSummary; canary: VitalsSummary }
    canaryErrors: (Fingerprint & { newInCanary: boolean })[]
    stableErrors: Fingerprint[]
  }
}

export interface SignalsOutcome {
  /** The signals' own conclusion; null when nothing was judged. */
  verdict: VerdictKind | null
  reasons: string[]
  numbers: Numbers
  state: SignalState
  /** For the decision record and the status: page views, error rates, vitals and the canary's first errors. */
  details: SignalDetails
}

export interface SignalsOptions {
  /** The rollout collects real-user signals. */
  rum: boolean
  /** The window pools audiences of different weights (a ring above everyone's weight): the comparisons stand aside. */
  pooled?: boolean
  /** The window's start and end, ms since epoch. */
  start: number
  end: number
}

/** Judges one window's signals. Never throws; a window whose signals are malformed changes nothing. */
export function judgeSignals(prevIn: SignalState | undefined, w: SignalWindow | undefined, cfg: JudgeConfig, opts: SignalsOptions): SignalsOutcome {
  const prev = isSignalState(prevIn) ? prevIn : initialSignalState()
  const numbers: Numbers = {}
  const alarms: string[] = []
  const holds: string[] = []
  const notes: string[] = []
  let state: SignalState = prev
  const details: SignalDetails = {}

  const ce = w?.clientErrors
  if (cfg.clientErrors.enabled && ce) {
    const problem = cohortProblem(ce.stable, 'stable 4xx', cfg.errorUnit) ?? cohortProblem(ce.canary, 'canary 4xx', cfg.errorUnit)
    if (problem !== null) notes.push(`4xx test: input rejected: ${problem}; evidence unchanged`)
    else if (opts.pooled) notes.push('4xx test not applied: audience rings are in force (cohorts differ in audience)')
    else if (w?.sampled) notes.push('4xx test not applied: a sampled window (stored rows are not per client)')
    else {
      const spec = { what: '4xx answers', unitNoun: 'requests', alpha: cfg.clientErrors.alpha, minErrors: cfg.clientErrors.minErrors }
      const r = sequential(prev.clientErrors, ce, cfg, spec, numbers, 'clientError')
      state = { ...state, clientErrors: r.state }
      if (r.alarm) alarms.push(r.alarm)
      else notes.push(r.note!)
      details.clientErrors = {
        stable: { requests: ce.stable.requests, errors: ce.stable.errors },
        canary: { requests: ce.canary.requests, errors: ce.canary.errors },
      }
    }
  }

  if (opts.rum) {
    const rum = w?.rum
    const problem = rum
      ? (rumProblem(rum.stable, 'stable page views', cfg.errorUnit) ?? rumProblem(rum.canary, 'canary page views', cfg.errorUnit))
      : 'no beacon counts'
    if (problem !== null || !rum) holds.push(`real-user signals unreadable: ${problem}`)
    else {
      state = {
        ...state,
        pageViews: { stable: state.pageViews.stable + rum.stable.requests, canary: state.pageViews.canary + rum.canary.requests },
        fingerprints: {
          stable: mergeFingerprints(state.fingerprints.stable, rum.stable.fingerprints),
          canary: mergeFingerprints(state.fingerprints.canary, rum.canary.fingerprints),
        },
        lastCanaryPageViewAt: rum.canary.requests > 0 ? opts.end : state.lastCanaryPageViewAt,
        rumSince: state.rumSince ?? opts.start,
      }
      const js = cfg.rum.jsErrors
      if (js.enabled && opts.pooled) notes.push('JavaScript error test not applied: audience rings are in force (cohorts differ in audience)')
      else if (js.enabled && w?.sampled) notes.push('JavaScript error test not applied: a sampled window (stored rows are not per client)')
      else if (js.enabled) {
        const spec = { what: 'JavaScript errors', unitNoun: 'page views', alpha: js.alpha, minErrors: js.minErrors }
        const r = sequential(prev.jsErrors, rum, cfg, spec, numbers, 'jsError')
        state = { ...state, jsErrors: r.state }
        if (r.alarm) alarms.push([r.alarm, ...describeNew(state)].join('; '))
        else notes.push(r.note!)
      }
      // Vitals differ by audience (country, device) more than error rates do: with rings in force they stand aside too.
      if (cfg.rum.vitals.enabled && opts.pooled) notes.push('Web Vitals not compared: audience rings are in force (cohorts differ in audience)')
      else {
        const vitals = vitalsGuard(prev.vitalsStreaks, rum.stable.vitals, rum.canary.vitals, cfg.rum.vitals, numbers)
        // A compared vital's next span begins after this window; the others' spans go on from where they began.
        const since = { ...state.vitalsSince }
        const compared = { ...state.vitalsCompared }
        for (const v of VITALS) {
          const began = since[v] ?? opts.start
          if (vitals.judged.includes(v)) {
            since[v] = opts.end
            compared[v] += 1
          } else if (opts.end - began >= MAX_SPAN_MS) {
            // An hour without enough page views: the span ends undecided rather than hold the rollout for ever.
            notes.push(`${v.toUpperCase()} span of an hour ended without enough page views to compare`)
            since[v] = opts.end
            compared[v] += 1
          } else since[v] = began
        }
        state = { ...state, vitalsStreaks: vitals.streaks, vitalsSince: since, vitalsCompared: compared }
        if (vitals.alarm) alarms.push(vitals.alarm)
        else if (vitals.pending) holds.push('Web Vitals regression pending confirmation')
        else if (cfg.rum.vitals.enabled && cfg.rum.minPageViews > 0 && compared.lcp < cfg.rum.vitals.consecutive) {
          holds.push(`Web Vitals not compared enough yet: LCP in ${compared.lcp} of the ${cfg.rum.vitals.consecutive} spans needed before healthy`)
        }
        notes.push(...vitals.notes)
      }
      const rate = (c: RumCounts) => (c.requests > 0 ? c.errors / c.requests : null)
      numbers.pageViewsStable = rum.stable.requests
      numbers.pageViewsCanary = rum.canary.requests
      numbers.pageViewErrorRateStable = rate(rum.stable)
      numbers.pageViewErrorRateCanary = rate(rum.canary)
      notes.push(
        `page views with an error: canary ${rum.canary.errors} of ${rum.canary.requests}${rate(rum.canary) === null ? '' : ` (${pct(rate(rum.canary)!)})`}, stable ${rum.stable.errors} of ${rum.stable.requests}${rate(rum.stable) === null ? '' : ` (${pct(rate(rum.stable)!)})`}`,
      )
      details.rum = {
        ...(w?.injection ? { injection: w.injection } : {}),
        window: {
          stable: { pageViews: rum.stable.requests, errored: rum.stable.errors },
          canary: { pageViews: rum.canary.requests, errored: rum.canary.errors },
        },
        pageViews: state.pageViews,
        vitals: { stable: rum.stable.vitals ?? {}, canary: rum.canary.vitals ?? {} },
        canaryErrors: canaryFingerprints(state),
        stableErrors: state.fingerprints.stable.slice(0, 5),
      }
    }
    const min = cfg.rum.minPageViews
    const short = (['stable', 'canary'] as const).filter((c) => state.pageViews[c] < min)
    if (short.length)
      holds.push(`not enough page views: ${short.map((c) => `${c} ${state.pageViews[c]}`).join(', ')} of ${min} needed per cohort (real-user signals are on)`)
  }

  const judged = opts.rum || (cfg.clientErrors.enabled && ce !== undefined)
  const verdict: VerdictKind | null = alarms.length ? 'rollback' : holds.length ? 'hold' : judged ? 'healthy' : null
  return { verdict, reasons: [...alarms, ...holds, ...notes], numbers, state, details }
}

const RANK: Record<VerdictKind, number> = { rollback: 3, pause: 2, hold: 1, healthy: 0 }

/**
 * The server verdict and the signals' together: the graver kind wins (rollback > pause > hold > healthy), and a
 * rollback or hold by a signal leads the reasons. An empty window's hold stays the server's to explain.
 */
export function withSignals<S>(v: Verdict<S>, s: SignalsOutcome): Verdict<S> {
  const numbers = { ...v.numbers, ...s.numbers }
  if (s.verdict === null) return { ...v, numbers }
  const signalsFirst = RANK[s.verdict] > RANK[v.verdict] && s.verdict !== 'healthy'
  const kind = RANK[s.verdict] > RANK[v.verdict] ? s.verdict : v.verdict
  return { verdict: kind, reasons: signalsFirst ? [...s.reasons, ...v.reasons] : [...v.reasons, ...s.reasons], numbers, state: v.state }
}
