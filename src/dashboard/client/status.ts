/**
 * @module
 * The status view: a rollout's step, bake, enabled commands, list item, schedule, weight bar and history entries.
 * One part of the dashboard's browser code: see `index.ts` for the rules it keeps.
 */
import type { HistoryEntry, RolloutStatus } from '../../contract/index.ts'
import type { ClientConfig } from '../commands.ts'
import type { El } from '../dom.ts'
import type { Problem } from './api.ts'
import type * as Dom from './dom.ts'
import type * as Format from './format.ts'
import type * as Rings from './rings.ts'
import type * as Rum from './rum.ts'

declare const h: typeof Dom.h, svg: typeof Dom.svg, cls: typeof Dom.cls
declare const pct: typeof Format.pct, stamp: typeof Format.stamp, duration: typeof Format.duration
declare const renderRingVerdicts: typeof Rings.renderRingVerdicts, isObject: typeof Rings.isObject, renderKv: typeof Rings.renderKv
declare const renderFigures: typeof Rum.renderFigures

export function stepText(s: RolloutStatus): string {
  if (!s.step) return 'not started'
  const ring = s.step.audience === undefined ? '' : `ring ${s.step.audience} · `
  return `${s.step.index + 1} of ${s.spec.schedule.length} · ${ring}${pct(s.step.weight)}`
}

/** What the current step is waiting for; counts down from `step.bakeEndsAt` while progressing. */
export function bakeText(s: RolloutStatus, now: number): string {
  if (!s.step || s.phase === 'idle' || s.phase === 'rolled-back') return '—'
  if (s.phase === 'promoted') return 'promoted: complete when ready'
  if (s.phase === 'awaiting-approval') return 'waiting for approval'
  if (s.phase === 'paused') return 'paused: the bake restarts on resume'
  const end = s.step.bakeEndsAt === null ? NaN : Date.parse(s.step.bakeEndsAt)
  if (!Number.isFinite(end)) return '—'
  return end > now ? `${duration(end - now)} left` : 'baked: next decision on the next tick'
}

/**
 * Commands whose buttons are enabled: the state machine accepts them in this
 * state (see `acceptedPhases`), and no command is in flight, except rollback:
 * the brake stays usable.
 */
export function enabled(s: RolloutStatus | null, cfg: ClientConfig, busy: boolean): Set<string> {
  const out = new Set<string>()
  if (!s) return out
  for (const c of cfg.commands) {
    if (busy && c !== 'rollback') continue
    const accepted = cfg.accepted[c]
    if (accepted && (s.release === null ? accepted.none : accepted.release).includes(s.phase)) out.add(c)
  }
  return out
}

export function move(e: HistoryEntry): string {
  const at = (x: { phase: string; weight: number }) => `${x.phase} ${pct(x.weight)}`
  if (e.from && e.to) return e.from.phase === e.to.phase && e.from.weight === e.to.weight ? at(e.to) : `${at(e.from)} → ${at(e.to)}`
  if (e.to) return `→ ${at(e.to)}`
  if (e.from) return `${at(e.from)} → deleted`
  return ''
}

export function renderItem(s: RolloutStatus, selected: boolean): El {
  return h(
    'li',
    { 'data-testid': `rollout-${s.id}`, 'data-rollout': s.id },
    h(
      'a',
      { href: `#${encodeURIComponent(s.id)}`, 'aria-current': selected ? 'true' : null, 'data-rollout': s.id },
      h('span', { class: 'rid' }, s.id),
      h('span', { class: `badge phase-${cls(s.phase)}` }, s.phase),
      h('span', { class: 'muted small' }, s.release ?? 'no release'),
      h('span', { class: 'num' }, pct(s.weight)),
    ),
  )
}

export function renderSchedule(s: RolloutStatus): El {
  const at = s.step?.index ?? -1
  return h(
    'ol',
    { class: 'steps', 'aria-label': 'Schedule' },
    ...s.spec.schedule.map((step, i) =>
      h(
        'li',
        {
          class: [i === at ? 'on' : i < at ? 'past' : '', step.audience === undefined ? '' : 'ring'].filter(Boolean).join(' ') || null,
          'aria-current': i === at ? 'step' : null,
          'data-testid': step.audience === undefined ? null : 'ring-step',
          title: step.audience === undefined ? null : `only the ${step.audience} audience's weight rises`,
        },
        step.audience === undefined ? null : h('span', { class: 'ring-label' }, step.audience),
        h('span', { class: 'num' }, pct(step.weight)),
        step.gate ? h('span', { class: 'gate', title: 'needs approval' }, 'gate') : null,
        h('span', { class: 'muted small' }, `${step.bakeMinutes} min`),
      ),
    ),
  )
}

/** A horizontal bar for the weight: SVG, because the CSP allows no inline style attributes. */
export function renderBar(weight: number): El {
  const w = Math.max(0, Math.min(100, Number.isFinite(weight) ? weight : 0))
  return svg(
    'svg',
    { class: 'bar', viewBox: '0 0 100 4', preserveAspectRatio: 'none', 'aria-hidden': 'true' },
    svg('rect', { class: 'bar-bg', x: 0, y: 0, width: 100, height: 4 }),
    svg('rect', { class: 'bar-fg', x: 0, y: 0, width: w, height: 4 }),
  )
}

export function renderEntry(e: HistoryEntry): El {
  // A decision's rings are drawn per ring, and its 4xx and real-user figures per cohort, not flattened into the other numbers.
  const { rings, rum, clientErrors, ...data } = isObject(e.data) ? e.data : {}
  const actor = e.actor?.kind === 'controller' ? 'controller' : `operator ${e.actor?.name ?? '?'}`
  return h(
    'li',
    { class: 'entry', 'data-seq': e.seq },
    h(
      'div',
      { class: 'entry-head' },
      h('time', { datetime: e.at, title: e.at }, stamp(e.at)),
      h('span', { class: `kind kind-${cls(e.command)}` }, e.command),
      h('span', { class: 'num' }, move(e)),
      h('span', { class: 'muted' }, actor),
      e.to ? h('span', { class: 'muted small num' }, `rev ${e.to.revision}`) : null,
    ),
    e.reason ? h('p', { class: 'reason' }, e.reason) : null,
    Object.keys(data).length > 0 ? renderKv(data) : null,
    renderFigures({ rum, clientErrors }, { server: false }),
    renderRingVerdicts(rings),
  )
}

export function renderProblem(p: Problem): El {
  const errors = Array.isArray(p.errors) ? p.errors : []
  return h(
    'div',
    null,
    h('strong', null, p.title ?? 'Error', typeof p.status === 'number' && p.status > 0 ? ` (${p.status})` : ''),
    p.detail ? h('span', null, ` ${p.detail}`) : null,
    errors.length > 0 ? h('ul', null, ...errors.map((e) => h('li', null, h('code', null, String(e.field)), ': ', String(e.message)))) : null,
  )
}
