/**
 * @module
 * The shadow judge: folds each window of a shadow step's comparisons (window.ts) into bounded, JSON evidence per
 * route and field, and calls every field `differs`, `noise`, `pending` or `ignored`.
 *
 * The rule (see "Reading a diff report" in the README). For each route r and field f, every window adds
 * the canary's differences c (of the route's n compared requests) and the noise differences s (of its m
 * noise-sampled requests, where stable was asked twice). Conditioned on c + s, under "the canary differs no more
 * often than stable from itself" c is Binomial(c + s, n / (n + m)) at most, which is the error test's model with
 * noise as the baseline cohort: the same mixture sequential test (`stepThetas`, `mixtureTest` of
 * src/core/judge/error-test.ts, thetas `judge.shadow.thetas`) bounds the chance that the field is ever called
 * significant by its level however often it is looked at. Each field is tested at alpha / (maxFields + maxRoutes + 1)
 * (Bonferroni over every field and overflow field the evidence can hold), so the whole step's false-pause bound is alpha.
 *
 * - `differs`: significant, and at least `minDiffs` canary differences, and canary rate − noise rate ≥ `minExcess`
 *   and ≥ `minRelativeExcess` × noise rate.
 * - `pending`: not `differs` but it might yet be: the same two margins hold, the noise rate taken as 0
 *   while the route has fewer than `minNoiseSamples` noise samples (without them noise cannot be told from a change).
 *   A pending field holds the step: it never advances past a field that plausibly differs.
 * - `noise`: neither. A field differing as often on stable as on the canary (a timestamp) is noise.
 * - `ignored`: named by `shadow.ignore`. Applied when calling, not when counting: the list may change mid-step.
 *
 * A sampled window (Analytics Engine's weighted estimates) adds to the counts and rates but not to the test.
 *
 * Pure, never throws: a window with anything invalid in it is rejected whole, with the reason, as the judge does.
 */
import { mixtureTest, stepThetas } from '../judge/error-test.ts'
import { cohortProblem, isCount, isFiniteNumber, isRecord } from '../judge/input.ts'
import type { ShadowJudge } from '../judge/schema.ts'
import type { ThetaEvidence } from '../judge/state.ts'
import { MAX_EXAMPLE_LENGTH } from './diff.ts'
import { DIFF_KINDS, type DiffKind, MAX_FIELD_LENGTH, isIgnored } from './fields.ts'
import type { FieldVerdict } from './report.ts'
import { MAX_WINDOW_FIELDS, MAX_WINDOW_ROUTES, OTHER_ROUTE, type ShadowWindow } from './window.ts'

/** Where a route's fields beyond `maxFields` are counted, so their differences still count. */
export const OVERFLOW_FIELD = '(other fields)'
/** Bytes the field and route names may take in all; a name beyond it is merged like one beyond the caps. */
const NAME_BUDGET = 8 * 1024
/** Bytes the whole state may take: examples are dropped, least differing first, to stay under it. */
export const STATE_BUDGET = 48 * 1024

export interface ShadowFieldState {
  kind: DiffKind
  /** Cumulative differences: canary vs stable, and stable vs stable. */
  canary: number
  noise: number
  /** The mixture test's per-theta log LRs. */
  evidence: ThetaEvidence[]
  example: { stable: string; canary: string } | null
  /** Fields merged into this one (the overflow field only). */
  merged?: number
}

export interface ShadowRouteState {
  compared: number
  noiseSampled: number
  canaryErrors: number
  stableErrors: number
  fields: Record<string, ShadowFieldState>
}

/** JSON evidence of a release's shadow comparisons, kept in the controller's evidence (bounded: see STATE_BUDGET). */
export interface ShadowState {
  version: 1
  windows: number
  rejected: number
  /** End of the last accepted window: a replayed window is refused. Null before any (or without times). */
  lastEnd: number | null
  /** Start of the first accepted window and end of the last (ms), for the report. */
  since: number | null
  until: number | null
  routes: Record<string, ShadowRouteState>
  /** Window fields merged into their route's OVERFLOW_FIELD, and window routes merged into `other` (counted per window). */
  overflowFields: number
  overflowRoutes: number
}

/** One field's call with the numbers behind it. */
export interface FieldCall {
  route: string
  field: string
  kind: DiffKind
  verdict: FieldVerdict
  canary: number
  compared: number
  canaryRate: number
  noise: number
  noiseSampled: number
  noiseRate: number | null
  logMixtureLR: number
}

export interface ShadowJudgement {
  state: ShadowState
  /** Every tracked field's call, most differing first. */
  fields: FieldCall[]
  differs: FieldCall[]
  pending: FieldCall[]
  /** Why the window was refused (null when it was used), and anything else worth saying. */
  problem: string | null
  notes: string[]
}

export const initialShadowState = (): ShadowState => ({
  version: 1,
  windows: 0,
  rejected: 0,
  lastEnd: null,
  since: null,
  until: null,
  routes: {},
  overflowFields: 0,
  overflowRoutes: 0,
})

const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)).length
const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s)
const isKind = (v: unknown): v is DiffKind => typeof v === 'string' && (DIFF_KINDS as readonly string[]).includes(v)
const isTimeOrNull = (v: unknown) => v === null || isFiniteNumber(v)

function isFieldState(v: unknown): v is ShadowFieldState {
  if (!isRecord(v) || !isKind(v.kind) || !isCount(v.canary) || !isCount(v.noise) || !Array.isArray(v.evidence)) return false
  const ex = v.example
  return (
    v.evidence.every((e) => isRecord(e) && isFiniteNumber(e.theta) && e.theta > 1 && isFiniteNumber(e.logLR)) &&
    (ex === null || (isRecord(ex) && typeof ex.stable === 'string' && typeof ex.canary === 'string')) &&
    (v.merged === undefined || isCount(v.merged))
  )
}

function isRouteState(v: unknown): v is ShadowRouteState {
  if (!isRecord(v) || !isRecord(v.fields)) return false
  return (['compared', 'noiseSampled', 'canaryErrors', 'stableErrors'] as const).every((k) => isCount(v[k])) && Object.values(v.fields).every(isFieldState)
}

/** Validates state read back from storage; anything else is no state. */
export function isShadowState(v: unknown): v is ShadowState {
  return (
    isRecord(v) &&
    v.version === 1 &&
    isCount(v.windows) &&
    isCount(v.rejected) &&
    isCount(v.overflowFields) &&
    isCount(v.overflowRoutes) &&
    isTimeOrNull(v.lastEnd) &&
    isTimeOrNull(v.since) &&
    isTimeOrNull(v.until) &&
    isRecord(v.routes) &&
    Object.values(v.routes).every(isRouteState)
  )
}

/** Why a shadow window cannot be used, or null. Bounds are checked too: garbage must not cost time or memory. */
export function shadowWindowProblem(w: unknown): string | null {
  if (!isRecord(w)) return 'the shadow window is not an object'
  const cohorts = cohortProblem(w.stable, 'stable', 'request') ?? cohortProblem(w.canary, 'canary', 'request')
  if (cohorts !== null) return cohorts
  if (!isRecord(w.routes)) return 'the shadow window has no routes'
  const routes = Object.entries(w.routes)
  if (routes.length > MAX_WINDOW_ROUTES + 1) return `the shadow window has ${routes.length} routes, more than a source returns`
  for (const [name, r] of routes) {
    if (!isRecord(r)) return `route ${cut(name, 50)} is not an object`
    for (const k of ['compared', 'noiseSampled', 'canaryErrors', 'stableErrors'] as const) {
      if (!isCount(r[k])) return `route ${cut(name, 50)}: ${k} is not a non-negative integer`
    }
    const { compared, noiseSampled } = r as { compared: number; noiseSampled: number }
    if (noiseSampled > compared || (r.canaryErrors as number) > compared || (r.stableErrors as number) > compared) {
      return `route ${cut(name, 50)}: counts exceed its compared requests`
    }
    if (!isRecord(r.fields)) return `route ${cut(name, 50)} has no fields`
    const fields = Object.entries(r.fields)
    if (fields.length > MAX_WINDOW_FIELDS + 1) return `route ${cut(name, 50)} has ${fields.length} fields, more than a source returns`
    for (const [field, f] of fields) {
      if (!isRecord(f) || !isKind(f.kind) || !isCount(f.canary) || !isCount(f.noise)) return `route ${cut(name, 50)}: field ${cut(field, 50)} is invalid`
      if (f.canary > compared || f.noise > noiseSampled) return `route ${cut(name, 50)}: field ${cut(field, 50)} has more differences than requests`
    }
  }
  return null
}

/** The example of a window's field, values cut; null when it is missing or malformed (examples are for reading only). */
function exampleOf(r: Record<string, unknown>, field: string): ShadowFieldState['example'] {
  const e = isRecord(r.examples) ? r.examples[field] : undefined
  if (!isRecord(e) || typeof e.stable !== 'string' || typeof e.canary !== 'string') return null
  return { stable: cut(e.stable, MAX_EXAMPLE_LENGTH), canary: cut(e.canary, MAX_EXAMPLE_LENGTH) }
}

interface Budget {
  names: number
  fields: number
}

/** Bytes of names and the number of fields the state holds (overflow fields not counted: they have their own bound). */
function budgetOf(s: ShadowState): Budget {
  const b = { names: 0, fields: 0 }
  for (const [route, r] of Object.entries(s.routes)) {
    b.names += bytes(route)
    for (const f of Object.keys(r.fields)) {
      b.names += bytes(f)
      if (f !== OVERFLOW_FIELD) b.fields++
    }
  }
  return b
}

const emptyRoute = (): ShadowRouteState => ({ compared: 0, noiseSampled: 0, canaryErrors: 0, stableErrors: 0, fields: {} })
const emptyField = (kind: DiffKind): ShadowFieldState => ({ kind, canary: 0, noise: 0, evidence: [], example: null })

/** The route a window's route is counted under: its own, or `other` once the caps are reached. */
function routeSlot(routes: Record<string, ShadowRouteState>, name: string, cfg: ShadowJudge, budget: Budget): string {
  if (Object.hasOwn(routes, name)) return name
  const own = Object.keys(routes).filter((r) => r !== OTHER_ROUTE).length
  if (name !== OTHER_ROUTE && (own >= cfg.maxRoutes || budget.names + bytes(name) > NAME_BUDGET)) return OTHER_ROUTE
  budget.names += bytes(name)
  return name
}

function fieldSlot(route: ShadowRouteState, name: string, cfg: ShadowJudge, budget: Budget): string {
  if (Object.hasOwn(route.fields, name)) return name
  if (name !== OVERFLOW_FIELD && budget.fields < cfg.maxFields && budget.names + bytes(name) <= NAME_BUDGET) {
    budget.fields++
    budget.names += bytes(name)
    return name
  }
  if (!Object.hasOwn(route.fields, OVERFLOW_FIELD)) budget.names += bytes(OVERFLOW_FIELD)
  return OVERFLOW_FIELD
}

/** A window's route merged into the state's (whose field objects are fresh copies, so `prev` is never changed). */
function addRoute(next: ShadowState, name: string, raw: Record<string, unknown>, cfg: ShadowJudge, budget: Budget) {
  const slot = routeSlot(next.routes, cut(name, MAX_FIELD_LENGTH), cfg, budget)
  if (slot === OTHER_ROUTE && name !== OTHER_ROUTE) next.overflowRoutes++
  const r = (next.routes[slot] ??= emptyRoute())
  r.compared += raw.compared as number
  r.noiseSampled += raw.noiseSampled as number
  r.canaryErrors += raw.canaryErrors as number
  r.stableErrors += raw.stableErrors as number
  // This window's differences by the state's field name (several window fields may land in the overflow).
  const added = new Map<string, { canary: number; noise: number }>()
  const fields = Object.entries(raw.fields as Record<string, { kind: DiffKind; canary: number; noise: number }>)
  // The fields differing most above noise get the places first: ranked by raw count, noise fields (a timestamp on
  // every answer) would take them all and leave a real 5 % change to be summed with them in the overflow.
  const excess = (f: { canary: number; noise: number }) =>
    (raw.compared as number) > 0 ? f.canary / (raw.compared as number) - ((raw.noiseSampled as number) > 0 ? f.noise / (raw.noiseSampled as number) : 0) : 0
  fields.sort((a, b) => excess(b[1]) - excess(a[1]) || b[1].canary - a[1].canary || b[1].noise - a[1].noise || (a[0] < b[0] ? -1 : 1))
  for (const [field, f] of fields) {
    const name = cut(field, MAX_FIELD_LENGTH)
    const key = fieldSlot(r, name, cfg, budget)
    const isNew = !Object.hasOwn(r.fields, key)
    const s = (r.fields[key] ??= emptyField(f.kind))
    if (key === OVERFLOW_FIELD && key !== name) {
      s.merged = (s.merged ?? 0) + 1
      next.overflowFields++
    }
    if (isNew || (s.canary === 0 && f.canary > 0)) s.kind = f.kind
    s.canary += f.canary
    s.noise += f.noise
    s.example ??= f.canary > 0 ? exampleOf(raw, field) : null
    const a = added.get(key) ?? { canary: 0, noise: 0 }
    added.set(key, { canary: a.canary + f.canary, noise: a.noise + f.noise })
  }
  return { slot, added }
}

/** A copy of the state deep enough to change routes, fields and evidence in place. */
function copyOf(s: ShadowState): ShadowState {
  const routes = Object.fromEntries(
    Object.entries(s.routes).map(([k, r]) => [k, { ...r, fields: Object.fromEntries(Object.entries(r.fields).map(([f, v]) => [f, { ...v }])) }]),
  )
  return { ...s, routes }
}

/** Drops examples, least differing field first, until the state fits STATE_BUDGET. */
function fitBudget(s: ShadowState): void {
  if (bytes(s) <= STATE_BUDGET) return
  const withExample = Object.values(s.routes)
    .flatMap((r) => Object.values(r.fields))
    .filter((f) => f.example !== null)
    .sort((a, b) => a.canary - b.canary)
  for (const f of withExample) {
    f.example = null
    if (bytes(s) <= STATE_BUDGET) return
  }
}

/** How many tests the evidence can hold, which each field's level divides alpha by. */
export const shadowTests = (cfg: ShadowJudge) => cfg.maxFields + cfg.maxRoutes + 1

/** Whether an excess over a noise rate clears both margins: absolute, and relative to the noise. */
const above = (excess: number, noise: number, cfg: ShadowJudge) => excess >= cfg.minExcess && excess >= cfg.minRelativeExcess * noise

export function callField(route: ShadowRouteState, f: ShadowFieldState, name: string, cfg: ShadowJudge, ignore: readonly string[]) {
  const canaryRate = route.compared > 0 ? f.canary / route.compared : 0
  const noiseRate = route.noiseSampled > 0 ? f.noise / route.noiseSampled : null
  // mixtureTest reads only the mixture of its config: the shadow judge's thetas, uniform weights.
  const t = mixtureTest(f.evidence, { mixture: { thetas: cfg.thetas } }, cfg.alpha / shadowTests(cfg))
  const excess = canaryRate - (noiseRate ?? 0)
  // Without enough noise samples the route's noise is unknown, so it cannot excuse a difference.
  const doubt = canaryRate - (route.noiseSampled >= cfg.minNoiseSamples ? (noiseRate ?? 0) : 0)
  let verdict: FieldVerdict
  if (name !== OVERFLOW_FIELD && isIgnored(name, ignore)) verdict = 'ignored'
  else if (t.significant && f.canary >= cfg.minDiffs && above(excess, noiseRate ?? 0, cfg)) verdict = 'differs'
  else if (f.canary > 0 && above(doubt, canaryRate - doubt, cfg)) verdict = 'pending'
  else verdict = 'noise'
  // No evidence yet is LR 1 (a mixture of nothing would be log 0 = -Infinity, which JSON cannot carry).
  return { verdict, canaryRate, noiseRate, logMixtureLR: f.evidence.length === 0 ? 0 : t.logMixture }
}

const ORDER: Record<FieldVerdict, number> = { differs: 0, pending: 1, noise: 2, ignored: 3 }

/** Every tracked field's call, most differing first (by verdict, then by canary rate above noise). */
export function callFields(state: ShadowState, cfg: ShadowJudge, ignore: readonly string[]): FieldCall[] {
  const calls: FieldCall[] = []
  for (const [route, r] of Object.entries(state.routes)) {
    for (const [field, f] of Object.entries(r.fields)) {
      const c = callField(r, f, field, cfg, ignore)
      calls.push({ route, field, kind: f.kind, canary: f.canary, compared: r.compared, noise: f.noise, noiseSampled: r.noiseSampled, ...c })
    }
  }
  const excess = (c: FieldCall) => c.canaryRate - (c.noiseRate ?? 0)
  return calls.sort((a, b) => ORDER[a.verdict] - ORDER[b.verdict] || excess(b) - excess(a) || b.canary - a.canary || (a.field < b.field ? -1 : 1))
}

/** The window folded into the state. A field unseen in the window still gets the window's route counts (a window without its difference is evidence too). */
function fold(prev: ShadowState, w: ShadowWindow, cfg: ShadowJudge, span: { start: number; end: number } | undefined): ShadowState {
  const next = copyOf(prev)
  const budget = budgetOf(next)
  // Busiest routes first, so they get their own places.
  const routes = Object.entries(w.routes).sort((a, b) => b[1].compared - a[1].compared || (a[0] < b[0] ? -1 : 1))
  // Routes merged into one slot (`other`) are tested on their summed counts.
  const windowBySlot = new Map<string, { n: number; m: number; added: Map<string, { canary: number; noise: number }> }>()
  for (const [name, raw] of routes) {
    const { slot, added } = addRoute(next, name, raw as unknown as Record<string, unknown>, cfg, budget)
    const acc = windowBySlot.get(slot) ?? { n: 0, m: 0, added: new Map() }
    acc.n += raw.compared
    acc.m += raw.noiseSampled
    for (const [k, v] of added) {
      const a = acc.added.get(k) ?? { canary: 0, noise: 0 }
      acc.added.set(k, { canary: a.canary + v.canary, noise: a.noise + v.noise })
    }
    windowBySlot.set(slot, acc)
  }
  // Sampled counts are weighted estimates: one stored point stands for many requests, and testing them as counts
  // would raise the evidence to that power (false calls). They add to the rates, not to the test (an empty window's units).
  const tested = w.sampled !== true
  for (const [slot, acc] of windowBySlot) {
    for (const [field, f] of Object.entries(next.routes[slot]!.fields)) {
      const d = (tested && acc.added.get(field)) || { canary: 0, noise: 0 }
      f.evidence = stepThetas(f.evidence, { n: tested ? acc.m : 0, failed: d.noise }, { n: tested ? acc.n : 0, failed: d.canary }, cfg.thetas)
    }
  }
  next.windows++
  if (span) {
    next.lastEnd = span.end
    next.since = prev.since ?? span.start
    next.until = span.end
  }
  fitBudget(next)
  return next
}

/**
 * Judges one window of a shadow step. Never throws: an invalid window (or a replayed one) leaves the evidence
 * as it was, counted as rejected, with the reason in `problem`; invalid stored state starts afresh.
 */
export function judgeShadow(
  prev: ShadowState | null | undefined,
  window: ShadowWindow,
  cfg: ShadowJudge,
  ignore: readonly string[],
  span?: { start: number; end: number },
): ShadowJudgement {
  const notes: string[] = []
  let base = prev ?? initialShadowState()
  if (!isShadowState(base)) {
    notes.push('the stored shadow evidence was invalid, so it starts afresh')
    base = initialShadowState()
  }
  const ign = Array.isArray(ignore) ? ignore.filter((i): i is string => typeof i === 'string') : []
  let problem = shadowWindowProblem(window)
  if (problem === null && span && base.lastEnd !== null && span.start < base.lastEnd) problem = `window overlaps shadow data counted up to ${base.lastEnd}`
  const state = problem === null ? fold(base, window, cfg, span) : { ...base, rejected: base.rejected + 1 }
  if (problem !== null) notes.push(`shadow window ignored: ${problem}; evidence unchanged`)
  else if (window.sampled === true) notes.push('shadow window sampled: its counts add to the rates but not to the test')
  if (state.overflowFields > 0 || state.overflowRoutes > 0) {
    notes.push(
      `evidence bound reached: ${state.overflowFields} field(s) counted under "${OVERFLOW_FIELD}", ${state.overflowRoutes} route(s) under "${OTHER_ROUTE}"`,
    )
  }
  const fields = callFields(state, cfg, ign)
  return {
    state,
    fields,
    differs: fields.filter((f) => f.verdict === 'differs'),
    pending: fields.filter((f) => f.verdict === 'pending'),
    problem,
    notes,
  }
}
