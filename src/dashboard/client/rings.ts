/**
 * @module
 * Audience rings (src/core/rollout/rings.ts) in the status view: each ring's weight beside everyone's, and each
 * ring's own verdict and numbers in a decision (`data.rings`, as `ringsRecord` in src/core/rollout/decide.ts writes it).
 * One part of the dashboard's browser code: see `index.ts` for the rules it keeps.
 */
import type { RolloutStatus } from '../../contract/index.ts'
import type { El } from '../dom.ts'
import type * as Dom from './dom.ts'
import type * as Format from './format.ts'

declare const h: typeof Dom.h, cls: typeof Dom.cls
declare const pct: typeof Format.pct, flatten: typeof Format.flatten

/** One ring's part of a decision. History outlives the code that wrote it, so every field is checked before use. */
export interface RingRecord {
  label: string
  weight: unknown
  verdict: string
  reason: string
  numbers: Record<string, unknown> | null
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** A decision's `data.rings` as [key, ring] pairs; none for a decision without rings (or of another shape). */
export function ringsOf(rings: unknown): [string, RingRecord][] {
  if (!isObject(rings)) return []
  return Object.entries(rings).flatMap(([key, r]): [string, RingRecord][] => {
    if (!isObject(r)) return []
    const text = (v: unknown, fallback: string) => (typeof v === 'string' ? v : fallback)
    return [
      [
        key,
        {
          label: text(r.label, key),
          weight: r.weight,
          verdict: text(r.verdict, '?'),
          reason: text(r.reason, ''),
          numbers: isObject(r.numbers) ? r.numbers : null,
        },
      ],
    ]
  })
}

/** Each ring's weight, then everyone else's (visitors in no ring); hidden while no ring is in force. */
export function renderRingWeights(s: RolloutStatus): El {
  const rings = Object.entries(s.rings ?? {})
  return h(
    'span',
    { class: 'rings', 'data-testid': 'ring-weights', 'aria-label': 'Ring weights', hidden: rings.length === 0 },
    ...rings.map(([name, w]) =>
      h('span', { 'data-testid': 'ring-weight', 'data-ring': name }, h('span', { class: 'ring-label' }, name), ' ', h('span', { class: 'num' }, pct(w))),
    ),
    h('span', { class: 'muted' }, 'everyone else ', h('span', { class: 'num' }, pct(s.weight))),
  )
}

/** Each ring's verdict at its weight, its reason and its numbers (drawn as every decision's numbers are); null for none. */
export function renderRingVerdicts(rings: unknown): El | null {
  const all = ringsOf(rings)
  if (all.length === 0) return null
  return h(
    'ul',
    { class: 'ring-verdicts', 'data-testid': 'ring-verdicts', 'aria-label': 'Verdict per ring' },
    ...all.map(([key, r]) =>
      h(
        'li',
        { 'data-testid': 'ring-verdict', 'data-ring': key },
        h(
          'div',
          { class: 'entry-head' },
          h('span', { class: 'ring-label' }, r.label),
          h('span', { class: 'num' }, pct(r.weight)),
          h('span', { class: `kind kind-${cls(r.verdict)}` }, r.verdict),
        ),
        r.reason ? h('p', { class: 'reason' }, r.reason) : null,
        r.numbers ? renderKv(r.numbers) : null,
      ),
    ),
  )
}

/** Numbers as a definition list, nested objects flattened (`a.b`): a decision's data, and each ring's. */
export function renderKv(data: Record<string, unknown>): El {
  return h('dl', { class: 'kv' }, ...flatten(data).map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))))
}
