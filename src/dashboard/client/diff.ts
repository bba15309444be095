/**
 * @module
 * A shadow step's diff report in the detail view (`GET /rollouts/:id/diff`): per route the requests compared, and
 * per field the judge's call as a badge, how the canary's answer differs there, its rate of differences against
 * stable's own (noise), and one example pair. Asked for only for a rollout whose schedule has a shadow step, and
 * shown only while it mirrors or once it has compared something. Every value of an example comes from an origin's
 * answer: like all data here it only ever becomes text (`h`).
 * One part of the dashboard's browser code: see `index.ts` for the rules it keeps.
 */
import type { DiffField, DiffReport, DiffRoute, RolloutStatus } from '../../contract/index.ts'
import type { El } from '../dom.ts'
import type { Reply } from './api.ts'
import type { State } from './state.ts'
import type * as Api from './api.ts'
import type * as Dom from './dom.ts'
import type * as Format from './format.ts'
import type * as Status from './status.ts'

declare const asProblem: typeof Api.asProblem
declare const redraw: typeof Dom.redraw
declare const byId: typeof Dom.byId, h: typeof Dom.h, cls: typeof Dom.cls
declare const num: typeof Format.num, pct: typeof Format.pct
declare const renderProblem: typeof Status.renderProblem

/** The report's path for a rollout that has a shadow step and a release (the only ones that can have a report), else null. */
export function diffPath(s: RolloutStatus | null): string | null {
  if (s === null || s.release === null || !(s.spec?.schedule ?? []).some((step) => step.shadow !== undefined)) return null
  return `/rollouts/${encodeURIComponent(s.id)}/diff`
}

/** A share (0 to 1) as a percentage; a dash for none. */
export function rateText(r: number | null): string {
  return typeof r === 'number' ? pct(r * 100) : '—'
}

export function verdictBadge(verdict: string): El {
  return h('span', { class: `badge verdict verdict-${cls(verdict)}`, 'data-testid': 'verdict' }, verdict)
}

/** The two values, each labelled by its cohort. */
export function renderExample(e: DiffField['example']): El | string {
  if (!e) return '—'
  return h(
    'div',
    { class: 'example', 'data-testid': 'example' },
    h('div', null, h('span', { class: 'muted' }, 'stable '), h('code', { 'data-cohort': 'stable' }, e.stable)),
    h('div', null, h('span', { class: 'muted' }, 'canary '), h('code', { 'data-cohort': 'canary' }, e.canary)),
  )
}

/** One field: verdict, path and kind, the canary's differences of the compared, noise's of the noise-sampled, the example. */
export function renderDiffField(f: DiffField, route: DiffRoute): El {
  return h(
    'tr',
    { 'data-field': f.field },
    h('td', null, verdictBadge(f.verdict)),
    h('th', { scope: 'row' }, h('code', null, f.field), ' ', h('span', { class: 'muted small' }, f.kind)),
    h('td', { class: 'num' }, `${rateText(f.canaryRate)} (${num(f.canary)})`),
    h('td', { class: 'num' }, `${rateText(f.noiseRate)} (${num(f.noise)}/${num(route.noiseSampled)})`),
    h('td', null, renderExample(f.example)),
  )
}

export function renderDiffRoute(r: DiffRoute): El {
  const head = ['verdict', 'field', 'canary ≠ stable', 'stable ≠ stable', 'example'].map((t) => h('th', { scope: 'col' }, t))
  return h(
    'div',
    { class: 'diff-route', 'data-route': r.route },
    h(
      'p',
      null,
      h('code', { class: 'route' }, r.route),
      h(
        'span',
        { class: 'muted small' },
        ` ${num(r.compared)} compared, ${num(r.noiseSampled)} noise-sampled, ${num(r.statusMismatches)} status mismatches, ` +
          `errors canary ${num(r.canaryErrors)} / stable ${num(r.stableErrors)}`,
      ),
    ),
    r.fields.length
      ? h('table', { class: 'diff-fields' }, h('thead', null, h('tr', null, ...head)), h('tbody', null, ...r.fields.map((f) => renderDiffField(f, r))))
      : h('p', { class: 'muted small' }, 'no field differed'),
  )
}

/** The whole report: its verdict and counts, then each route. */
export function renderDiff(r: DiffReport): El {
  const mirroring = r.shadowWeight > 0 ? `; mirroring ${pct(r.shadowWeight)} of visitors` : ''
  return h(
    'div',
    { 'data-testid': 'diff-report' },
    h(
      'p',
      null,
      verdictBadge(r.verdict),
      h('span', { class: 'muted small' }, ` ${num(r.compared)} compared, ${num(r.noiseSampled)} noise-sampled${mirroring}`),
    ),
    ...(r.routes.length ? r.routes.map(renderDiffRoute) : [h('p', { class: 'muted small' }, 'No mirrored request compared yet.')]),
  )
}

/** The report's card: hidden without a report (`r` null), or for a report that neither mirrors nor has compared anything. */
export function drawDiff(st: State, r: Reply | null): void {
  const card = byId('diff-card')
  const box = byId('diff')
  if (r !== null && r.status !== 200) {
    st.drawn.diff = ''
    card.hidden = false
    box.replaceChildren(renderProblem(asProblem(r)))
    return
  }
  const report = r === null ? null : (r.body as DiffReport)
  const shown = report !== null && (report.shadowWeight > 0 || report.compared > 0)
  redraw(st, 'diff', shown ? report : null, () => {
    card.hidden = !shown
    if (shown) box.replaceChildren(renderDiff(report))
    else box.replaceChildren()
  })
}
