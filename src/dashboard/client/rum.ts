/**
 * @module
 * A decision's figures per cohort in the status view: the server's (requests, 5xx, latency), the 4xx test's
 * (`data.clientErrors`) and, for a rollout with real-user signals, the beacons' (`data.rum`: page views, those with a
 * JavaScript error, Web Vitals p75 with web.dev's rating, pages left untagged for their CSP, and the canary's most
 * frequent first errors), as `judgeSignals` (src/core/judge/signals.ts) writes them. Drawn apart from the decision's
 * other numbers, as rings are. History outlives the code that wrote it: every field is checked before use.
 * One part of the dashboard's browser code: see `index.ts` for the rules it keeps.
 */
import type { RolloutStatus } from '../../contract/index.ts'
import type { El } from '../dom.ts'
import type * as Dom from './dom.ts'
import type * as Format from './format.ts'
import type * as Rings from './rings.ts'

declare const h: typeof Dom.h, cls: typeof Dom.cls
declare const num: typeof Format.num, pct: typeof Format.pct
declare const isObject: typeof Rings.isObject

export interface Pair<T> {
  stable: T
  canary: T
}

export interface VitalFigure {
  p75: number
  n: number
}

export interface FirstError {
  fingerprint: string
  /** Distinct clients that reported it. */
  clients: number
  newInCanary: boolean
}

/** `data.rum`, checked: a part that is missing or malformed is null (or empty), never a guess. */
export interface RumFigures {
  injection: Pair<{ injected: number; csp: number }> | null
  window: Pair<{ pageViews: number; errored: number }> | null
  pageViews: Pair<number> | null
  vitals: Pair<Record<string, VitalFigure>>
  canaryErrors: FirstError[]
}

/** A count or measure from the data: a finite number at or above zero, else null. */
export function count(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null
}

/** Both cohorts read by `read`; null unless both are readable. */
export function pairOf<T>(v: unknown, read: (x: unknown) => T | null): Pair<T> | null {
  if (!isObject(v)) return null
  const stable = read(v.stable)
  const canary = read(v.canary)
  return stable === null || canary === null ? null : { stable, canary }
}

/** An object whose listed keys are all counts, as those counts; else null. */
export function countsOf<K extends string>(v: unknown, keys: K[]): Record<K, number> | null {
  if (!isObject(v)) return null
  const out = {} as Record<K, number>
  for (const k of keys) {
    const n = count(v[k])
    if (n === null) return null
    out[k] = n
  }
  return out
}

/** One cohort's vitals: those of lcp, inp and cls with a p75 and a page-view count. */
export function vitalsOf(v: unknown): Record<string, VitalFigure> {
  const out: Record<string, VitalFigure> = {}
  if (!isObject(v)) return out
  for (const k of ['lcp', 'inp', 'cls']) {
    const f = countsOf(v[k], ['p75', 'n'])
    if (f) out[k] = f
  }
  return out
}

export function rumOf(v: unknown): RumFigures | null {
  if (!isObject(v)) return null
  const errors = Array.isArray(v.canaryErrors) ? v.canaryErrors : []
  return {
    injection: pairOf(v.injection, (x) => countsOf(x, ['injected', 'csp'])),
    window: pairOf(v.window, (x) => countsOf(x, ['pageViews', 'errored'])),
    pageViews: pairOf(v.pageViews, count),
    vitals: { stable: vitalsOf(isObject(v.vitals) ? v.vitals.stable : null), canary: vitalsOf(isObject(v.vitals) ? v.vitals.canary : null) },
    canaryErrors: errors.flatMap((e): FirstError[] =>
      isObject(e) && typeof e.fingerprint === 'string' && count(e.clients) !== null
        ? [{ fingerprint: e.fingerprint, clients: e.clients as number, newInCanary: e.newInCanary === true }]
        : [],
    ),
  }
}

/**
 * web.dev's rating of a vital's p75: good at or under the first threshold, poor over the second. A copy of
 * src/core/judge/vital-rating.ts, since the served script imports nothing; a test holds the two to one table.
 */
export function vitalRating(vital: string, p75: number): 'good' | 'needs improvement' | 'poor' {
  const limits: Record<string, [number, number]> = { lcp: [2500, 4000], inp: [200, 500], cls: [0.1, 0.25] }
  const [good, poor] = limits[vital] ?? [Infinity, Infinity]
  return p75 <= good ? 'good' : p75 <= poor ? 'needs improvement' : 'poor'
}

/** A p75 in its unit: milliseconds for LCP and INP, unitless (three decimals) for CLS. */
export function vitalText(vital: string, p75: number): string {
  return vital === 'cls' ? num(p75, 3) : `${num(p75, 0)} ms`
}

/** `part of whole` as a percentage; null when there is no whole. */
export function share(part: number | null, whole: number | null): number | null {
  return part === null || whole === null || whole <= 0 ? null : (part / whole) * 100
}

/** `3 (0.33 %)`: a count and its share of the cohort's total. */
export function countShare(part: number | null, whole: number | null): string {
  if (part === null) return '—'
  const s = share(part, whole)
  return s === null ? num(part) : `${num(part)} (${pct(s)})`
}

/** One row: a header cell and one cell per cohort. Cells are text, or elements built from text. */
export function figureRow(key: string, label: string, cells: Pair<(string | El)[]>, title?: string): El {
  return h(
    'tr',
    { 'data-row': key, title: title ?? null },
    h('th', { scope: 'row' }, label),
    h('td', { 'data-cohort': 'stable' }, ...cells.stable),
    h('td', { 'data-cohort': 'canary' }, ...cells.canary),
  )
}

/** Both cohorts' cell from one cohort's value. */
export function cellsOf<T>(p: Pair<T>, show: (v: T, cohort: 'stable' | 'canary') => string | (string | El)[]): Pair<(string | El)[]> {
  const one = (c: 'stable' | 'canary') => {
    const v = show(p[c], c)
    return typeof v === 'string' ? [v] : v
  }
  return { stable: one('stable'), canary: one('canary') }
}

/** The server's rows, from the judge's numbers for the window: requests, 5xx and the judged latency quantile. */
export function serverRows(numbers: unknown, quantile: string): El[] {
  if (!isObject(numbers)) return []
  const n = (k: string) => count(numbers[k])
  const requests = { stable: n('windowStableRequests'), canary: n('windowCanaryRequests') }
  if (requests.stable === null && requests.canary === null) return []
  const errors = { stable: n('windowStableErrors'), canary: n('windowCanaryErrors') }
  const latency = { stable: n('latencyStable'), canary: n('latencyCanary') }
  return [
    figureRow(
      'requests',
      'requests',
      cellsOf(requests, (v) => num(v)),
    ),
    figureRow(
      '5xx',
      '5xx',
      cellsOf(errors, (v, c) => countShare(v, requests[c])),
    ),
    latency.stable === null && latency.canary === null
      ? null
      : figureRow(
          'latency',
          `${quantile} latency`,
          cellsOf(latency, (v) => (v === null ? '—' : `${num(v, 0)} ms`)),
        ),
  ].filter((r): r is El => r !== null)
}

/** The 4xx test's row: 4xx answers of the window's requests, per cohort. */
export function clientErrorRows(v: unknown): El[] {
  const ce = pairOf(v, (x) => countsOf(x, ['requests', 'errors']))
  return ce
    ? [
        figureRow(
          '4xx',
          '4xx',
          cellsOf(ce, (c) => countShare(c.errors, c.requests)),
          '4xx answers of the requests in the window',
        ),
      ]
    : []
}

/** A vital's cell: its p75 and rating, or a dash where the cohort reported none. */
export function vitalCell(vital: string, f: VitalFigure | undefined): (string | El)[] | string {
  if (!f) return '—'
  const rating = vitalRating(vital, f.p75)
  return [
    h('span', { class: 'num', title: `${f.n} page views reported it` }, vitalText(vital, f.p75)),
    ' ',
    h('span', { class: `rating rating-${cls(rating.replace(/ /g, '-'))}` }, rating),
  ]
}

/** The beacons' rows: page views (window and release), those with an error, vitals, pages untagged for their CSP. */
export function rumRows(r: RumFigures): El[] {
  const rows: El[] = []
  const w = r.window
  if (w) {
    rows.push(
      figureRow(
        'page-views',
        'page views',
        cellsOf(w, (c) => num(c.pageViews)),
        'page views reported by beacons in the window',
      ),
    )
  }
  if (r.pageViews)
    rows.push(
      figureRow(
        'page-views-release',
        'page views since release',
        cellsOf(r.pageViews, (v) => num(v)),
      ),
    )
  if (w) {
    const title = 'page views in the window with at least one JavaScript error'
    rows.push(
      figureRow(
        'page-view-errors',
        'with a JS error',
        cellsOf(w, (c) => countShare(c.errored, c.pageViews)),
        title,
      ),
    )
  }
  for (const v of ['lcp', 'inp', 'cls']) {
    if (!r.vitals.stable[v] && !r.vitals.canary[v]) continue
    rows.push(
      figureRow(
        v,
        `${v.toUpperCase()} p75`,
        cellsOf(r.vitals, (x) => vitalCell(v, x[v])),
      ),
    )
  }
  const inj = r.injection
  if (inj && (inj.stable.csp > 0 || inj.canary.csp > 0)) {
    const title = "HTML answers left without the RUM script because the page's Content-Security-Policy would block it"
    rows.push(
      figureRow(
        'csp',
        'untagged (CSP)',
        cellsOf(inj, (c) => countShare(c.csp, c.injected + c.csp)),
        title,
      ),
    )
  }
  return rows
}

/** The canary's most frequent first JavaScript errors, those stable never showed marked; null for none. */
export function renderFirstErrors(errors: FirstError[]): El | null {
  if (errors.length === 0) return null
  return h(
    'div',
    { class: 'first-errors', 'data-testid': 'canary-errors' },
    h('p', { class: 'muted small' }, "Canary's most frequent first JavaScript errors"),
    h(
      'ul',
      null,
      ...errors.map((e) =>
        h(
          'li',
          { 'data-testid': 'canary-error', class: e.newInCanary ? 'new' : null },
          e.newInCanary ? h('span', { class: 'badge new-mark', 'data-testid': 'new-in-canary' }, 'new in canary') : null,
          h('code', null, e.fingerprint),
          h('span', { class: 'muted small num' }, `${num(e.clients)} client${e.clients === 1 ? '' : 's'}`),
        ),
      ),
    ),
  )
}

/**
 * A decision's figures per cohort: a table (the server's rows when `server` is set, then 4xx, then the beacons')
 * and the canary's first errors under it; null when the decision has none of them.
 */
export function renderFigures(data: unknown, opts: { server: boolean; quantile?: unknown }): El | null {
  if (!isObject(data)) return null
  const rum = rumOf(data.rum)
  const quantile = typeof opts.quantile === 'string' ? opts.quantile : 'judged'
  const rows = [...(opts.server ? serverRows(data.numbers, quantile) : []), ...clientErrorRows(data.clientErrors), ...(rum ? rumRows(rum) : [])]
  const errors = rum ? renderFirstErrors(rum.canaryErrors) : null
  if (rows.length === 0 && !errors) return null
  const head = h('tr', null, h('th', { scope: 'col' }, 'last decision'), h('th', { scope: 'col' }, 'stable'), h('th', { scope: 'col' }, 'canary'))
  return h(
    'div',
    { class: 'figures', 'data-testid': 'figures' },
    rows.length
      ? h('table', { class: 'cohorts', 'data-testid': 'cohort-figures', 'aria-label': 'Figures per cohort' }, h('thead', null, head), h('tbody', null, ...rows))
      : null,
    errors,
  )
}

/** The last decision's figures in the status view, the server's among them. */
export function renderStatusFigures(s: RolloutStatus): El | null {
  const d = s.lastDecision
  return d ? renderFigures(d.data, { server: true, quantile: s.spec?.judge?.latency?.quantile }) : null
}
