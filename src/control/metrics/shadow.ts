/**
 * @module
 * A window's shadow comparisons (`ShadowWindow`) from groups of shadow points: the one arithmetic of the SQL sources
 * (a group is a row of the shadow fields query, sql.ts) and of the local source (which groups its points the same
 * way), so both cap, merge and pick examples alike.
 *
 * A group is the points of one route with the same `diffs` and `noise` lists: Analytics Engine cannot explode a
 * list, so it counts the lists whole and the lists are exploded here, each field counted once per point that names
 * it. Routes beyond MAX_WINDOW_ROUTES (the least compared) are merged into OTHER_ROUTE; each route keeps its
 * MAX_WINDOW_FIELDS most differing fields (by canary count, then noise count) and drops the rest, whose counts a
 * judge could not use without their route's other fields anyway. Examples are untrusted JSON from the edge: one that
 * does not parse as a DiffExample is skipped.
 */
import { DIFF_KINDS, type DiffKind, decodeDiffs } from '../../contract/datapoint.ts'
import type { CohortCounts } from '../../core/judge/state.ts'
import { MAX_EXAMPLE_LENGTH } from '../../core/shadow/diff.ts'
import { MAX_FIELD_LENGTH } from '../../core/shadow/fields.ts'
import { type DiffExample, MAX_WINDOW_FIELDS, MAX_WINDOW_ROUTES, OTHER_ROUTE, type ShadowRouteCounts, type ShadowWindow } from '../../core/shadow/window.ts'

/** The points of one route whose lists are these, with their counts (weighted by the sample interval). */
export interface ShadowGroup {
  route: string
  /** The `diffs` blob as written (`encodeDiffs`). */
  diffs: string
  /** The `noise` blob of noise-sampled points; '' for points whose stable was asked once, whatever they carry. */
  noise: string
  compared: number
  noiseSampled: number
  canaryErrors: number
  stableErrors: number
  /** One of the points' `example` blobs (the latest), '' for none. */
  example: string
}

interface FieldTally {
  canary: number
  noise: number
  canaryKinds: Partial<Record<DiffKind, number>>
  noiseKinds: Partial<Record<DiffKind, number>>
}

interface RouteTally {
  compared: number
  noiseSampled: number
  canaryErrors: number
  stableErrors: number
  fields: Map<string, FieldTally>
  /** Example blobs in the order of their groups (the most compared first). */
  examples: string[]
}

const noRoute = (): RouteTally => ({ compared: 0, noiseSampled: 0, canaryErrors: 0, stableErrors: 0, fields: new Map(), examples: [] })

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** The order of the SQL's `ORDER BY compared DESC, route, diffs, noise`, so every source sees groups alike. */
const groupOrder = (a: ShadowGroup, b: ShadowGroup) =>
  b.compared - a.compared || byName(a.route, b.route) || byName(a.diffs, b.diffs) || byName(a.noise, b.noise)

/** Each field a list names, once, with the first kind it is named with. */
function fieldsOf(blob: string): Map<string, DiffKind> {
  const out = new Map<string, DiffKind>()
  for (const d of decodeDiffs(blob)) if (!out.has(d.field)) out.set(d.field, d.kind)
  return out
}

function tally(fields: Map<string, FieldTally>, blob: string, weight: number, side: 'canary' | 'noise') {
  for (const [field, kind] of fieldsOf(blob)) {
    const t = fields.get(field) ?? { canary: 0, noise: 0, canaryKinds: {}, noiseKinds: {} }
    t[side] += weight
    const kinds = side === 'canary' ? t.canaryKinds : t.noiseKinds
    kinds[kind] = (kinds[kind] ?? 0) + weight
    fields.set(field, t)
  }
}

/** Adds `from` into `into` (a route merged into OTHER_ROUTE). */
function merge(into: RouteTally, from: RouteTally) {
  into.compared += from.compared
  into.noiseSampled += from.noiseSampled
  into.canaryErrors += from.canaryErrors
  into.stableErrors += from.stableErrors
  for (const [field, t] of from.fields) {
    const o = into.fields.get(field)
    if (!o) {
      into.fields.set(field, t)
      continue
    }
    o.canary += t.canary
    o.noise += t.noise
    for (const k of DIFF_KINDS) {
      if (t.canaryKinds[k]) o.canaryKinds[k] = (o.canaryKinds[k] ?? 0) + t.canaryKinds[k]
      if (t.noiseKinds[k]) o.noiseKinds[k] = (o.noiseKinds[k] ?? 0) + t.noiseKinds[k]
    }
  }
  into.examples.push(...from.examples)
}

/** The most frequent kind, canary against stable, else stable against stable; ties go to DIFF_KINDS' order. */
function kindOf(t: FieldTally): DiffKind {
  const kinds = t.canary > 0 ? t.canaryKinds : t.noiseKinds
  let best: DiffKind = DIFF_KINDS[0]
  for (const k of DIFF_KINDS) if ((kinds[k] ?? 0) > (kinds[best] ?? 0)) best = k
  return best
}

/** An example blob as a DiffExample, cut as the edge cuts it; undefined when it is not one (the blob is untrusted). */
export function parseExample(blob: string): DiffExample | undefined {
  let v: unknown
  try {
    v = JSON.parse(blob)
  } catch {
    return undefined
  }
  const e = v as Partial<Record<keyof DiffExample, unknown>> | null
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return undefined
  const { field, kind, stable, canary } = e
  if (typeof field !== 'string' || field === '' || typeof stable !== 'string' || typeof canary !== 'string') return undefined
  if (!(DIFF_KINDS as readonly unknown[]).includes(kind)) return undefined
  return {
    field: field.slice(0, MAX_FIELD_LENGTH),
    kind: kind as DiffKind,
    stable: stable.slice(0, MAX_EXAMPLE_LENGTH),
    canary: canary.slice(0, MAX_EXAMPLE_LENGTH),
  }
}

function routeCounts(t: RouteTally): ShadowRouteCounts {
  // The fields most above noise are kept: by raw count, noise fields on every answer (timestamps, ids) would fill the
  // places and drop a real change on a few percent of them.
  const excess = (f: FieldTally) => (t.compared > 0 ? f.canary / t.compared : 0) - (t.noiseSampled > 0 ? f.noise / t.noiseSampled : 0)
  const kept = [...t.fields]
    .sort(([a, x], [b, y]) => excess(y) - excess(x) || y.canary - x.canary || y.noise - x.noise || byName(a, b))
    .slice(0, MAX_WINDOW_FIELDS)
  const fields: ShadowRouteCounts['fields'] = {}
  for (const [field, f] of kept) fields[field] = { kind: kindOf(f), canary: f.canary, noise: f.noise }
  const examples: NonNullable<ShadowRouteCounts['examples']> = {}
  for (const blob of t.examples) {
    const e = parseExample(blob)
    if (e && !examples[e.field] && (fields[e.field]?.canary ?? 0) > 0) examples[e.field] = e
  }
  const out: ShadowRouteCounts = { compared: t.compared, noiseSampled: t.noiseSampled, canaryErrors: t.canaryErrors, stableErrors: t.stableErrors, fields }
  return Object.keys(examples).length > 0 ? { ...out, examples } : out
}

/** The window's ShadowWindow: both sides' counts as given, routes and fields from the groups. */
export function shadowWindow(sides: { stable: CohortCounts; canary: CohortCounts }, groups: readonly ShadowGroup[], sampled = false): ShadowWindow {
  const routes = new Map<string, RouteTally>()
  for (const g of [...groups].sort(groupOrder)) {
    const r = routes.get(g.route) ?? noRoute()
    r.compared += g.compared
    r.noiseSampled += g.noiseSampled
    r.canaryErrors += g.canaryErrors
    r.stableErrors += g.stableErrors
    tally(r.fields, g.diffs, g.compared, 'canary')
    tally(r.fields, g.noise, g.compared, 'noise')
    if (g.example !== '') r.examples.push(g.example)
    routes.set(g.route, r)
  }
  let ranked = [...routes].sort(([a, x], [b, y]) => y.compared - x.compared || byName(a, b))
  if (ranked.length > MAX_WINDOW_ROUTES) {
    // The cap counts OTHER_ROUTE itself: the most compared routes but one, and everything else merged into it.
    const kept = ranked.filter(([name]) => name !== OTHER_ROUTE).slice(0, MAX_WINDOW_ROUTES - 1)
    const other = noRoute()
    const keptNames = new Set(kept.map(([name]) => name))
    for (const [name, t] of ranked) if (!keptNames.has(name)) merge(other, t)
    ranked = [...kept, [OTHER_ROUTE, other]]
  }
  const out: ShadowWindow = { stable: sides.stable, canary: sides.canary, routes: Object.fromEntries(ranked.map(([name, t]) => [name, routeCounts(t)])) }
  return sampled ? { ...out, sampled } : out
}
