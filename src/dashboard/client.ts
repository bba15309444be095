/**
 * @module
 * The dashboard's browser code. It runs in the page, not in the worker: the
 * worker serves these functions' own source text (see `script.ts`), so the
 * client is TypeScript that is type-checked and unit-tested like the rest,
 * with no build step of its own.
 *
 * Serving source text sets three rules:
 * - every function is a top-level `export function`: the served script is the
 *   list of this module's exports, so an unexported helper would be missing;
 * - no top-level constants and no runtime imports (`import type` only);
 * - browser globals are reached through `page()` (that is, `globalThis`), so a
 *   test can run the served script against a fake page.
 *
 * Safety: values from the API only ever become text nodes (strings passed to
 * `append`) or attribute values (`setAttribute`); nothing is parsed as HTML.
 */
import type { CohortPoint, HistoryEntry, RolloutStatus, SeriesPoint } from '../control/coordinator.ts'
import type { ClientConfig } from './commands.ts'
import type { Child, El, Ev, Page } from './dom.ts'

export type Attrs = Record<string, string | number | boolean | null | undefined>
export type Kid = Child | number | null | undefined | false

export interface Problem {
  title?: string
  status?: number
  detail?: string
  errors?: { field: string; message: string }[]
}

export interface Reply {
  status: number
  body: unknown
}

export interface State {
  cfg: ClientConfig
  token: string | null
  rollouts: RolloutStatus[]
  selected: string | null
  status: RolloutStatus | null
  /** What each region last showed: a refresh that changes nothing touches nothing (no flicker, focus kept). */
  drawn: Record<string, string>
  /** Bumped per refresh, so a slow older refresh cannot overwrite a newer one. */
  gen: number
  timer: number | undefined
  /** The command waiting in the dialog for confirmation. */
  pending: { name: string; body: Record<string, unknown> } | null
  busy: boolean
  /** Series points to ask for (one per judged minute). */
  range: number
  historyLimit: number
}

// ---- DOM -------------------------------------------------------------------

/** The page's globals. Reached only through here, so tests can swap them. */
export function page(): Page {
  return globalThis as unknown as Page
}

export function byId(id: string): El {
  const el = page().document.getElementById(id)
  if (!el) throw new Error(`dashboard: #${id} is missing from the page`)
  return el
}

export function h(tag: string, attrs?: Attrs | null, ...kids: Kid[]): El {
  return fill(page().document.createElement(tag), attrs, kids)
}

export function svg(tag: string, attrs?: Attrs | null, ...kids: Kid[]): El {
  return fill(page().document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, kids)
}

/**
 * Sets attributes and appends children. Strings become text nodes, so a value
 * holding markup shows as text. `on*` attributes are refused: handlers are
 * attached with addEventListener (the CSP would block inline ones anyway).
 */
export function fill(el: El, attrs: Attrs | null | undefined, kids: Kid[]): El {
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (/^on/i.test(k)) throw new Error(`dashboard: refusing event-handler attribute ${k}`)
    if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v === true ? '' : String(v))
  }
  for (const k of kids) if (k !== null && k !== undefined && k !== false) el.append(typeof k === 'number' ? String(k) : k)
  return el
}

/** A class-name token from data (a phase, a command): only `a-z0-9-` survive. */
export function cls(v: unknown): string {
  return String(v).toLowerCase().replace(/[^a-z0-9-]/g, '')
}

// ---- formatting --------------------------------------------------------------

/** At most `digits` decimals, no trailing zeros; a dash for no number. */
export function num(n: unknown, digits = 2): string {
  return typeof n === 'number' && Number.isFinite(n) ? String(Number(n.toFixed(digits))) : '—'
}

export function pct(n: unknown, digits = 2): string {
  const v = num(n, digits)
  return v === '—' ? v : `${v} %`
}

export function ratio(c: CohortPoint): number | null {
  return c.requests > 0 ? c.errors / c.requests : null
}

export function pad2(n: number): string {
  return String(n).padStart(2, '0')
}

/** Local wall-clock time: operators read times against their own clock. */
export function clock(ms: number, seconds = false): string {
  const d = new Date(ms)
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}${seconds ? `:${pad2(d.getSeconds())}` : ''}`
}

/** A time from the API, ISO string or ms since epoch, as local `YYYY-MM-DD HH:MM:SS`. */
export function stamp(at: unknown): string {
  const ms = typeof at === 'string' ? Date.parse(at) : at
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—'
  const d = new Date(ms)
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${clock(ms, true)}`
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${pad2(s % 60)}s`
  return `${Math.floor(m / 60)}h ${pad2(m % 60)}m`
}

/** One value of a decision's numbers: 4 significant digits, a dash for null. */
export function show(v: unknown): string {
  if (v === null || v === undefined) return '—'
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)))
  if (typeof v === 'string') return v
  return JSON.stringify(v)
}

/** `{ a: { b: 1 } }` -> `[['a.b', '1']]`, so nested numbers read as one flat list. */
export function flatten(v: unknown, prefix = '', out: [string, string][] = [], depth = 0): [string, string][] {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && depth < 4) {
    for (const [k, x] of Object.entries(v)) flatten(x, prefix ? `${prefix}.${k}` : k, out, depth + 1)
  } else out.push([prefix || 'value', show(v)])
  return out
}

// ---- status ------------------------------------------------------------------

export function stepText(s: RolloutStatus): string {
  if (!s.step) return 'not started'
  return `${s.step.index + 1} of ${s.spec.schedule.length} · ${pct(s.step.weight)}`
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

// ---- rendering -----------------------------------------------------------------

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
        { class: i === at ? 'on' : i < at ? 'past' : null, 'aria-current': i === at ? 'step' : null },
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

export function renderKv(data: Record<string, unknown>): El {
  return h('dl', { class: 'kv' }, ...flatten(data).map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))))
}

export function renderEntry(e: HistoryEntry): El {
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
    e.data && typeof e.data === 'object' && Object.keys(e.data).length > 0 ? renderKv(e.data) : null,
  )
}

export function renderProblem(p: Problem): El {
  const errors = Array.isArray(p.errors) ? p.errors : []
  return h(
    'div',
    null,
    h('strong', null, p.title ?? 'Error', typeof p.status === 'number' && p.status > 0 ? ` (${p.status})` : ''),
    p.detail ? h('span', null, ` ${p.detail}`) : null,
    errors.length > 0
      ? h('ul', null, ...errors.map((e) => h('li', null, h('code', null, String(e.field)), ': ', String(e.message))))
      : null,
  )
}

// ---- chart ---------------------------------------------------------------------

export function mergeCohort(cs: CohortPoint[]): CohortPoint {
  let requests = 0
  let errors = 0
  let p95: number | null = null
  for (const c of cs) {
    requests += c.requests
    errors += c.errors
    if (c.p95 !== null && (p95 === null || c.p95 > p95)) p95 = c.p95
  }
  return { requests, errors, p95 }
}

/**
 * At most `max` points: consecutive windows are merged by summing requests and
 * errors (so error rates stay exact) and keeping the worst p95 and last weight.
 */
export function downsample(points: SeriesPoint[], max: number): SeriesPoint[] {
  if (points.length <= max) return points
  const size = Math.ceil(points.length / max)
  const out: SeriesPoint[] = []
  for (let i = 0; i < points.length; i += size) {
    const g = points.slice(i, i + size)
    const last = g[g.length - 1]!
    out.push({ at: last.at, weight: last.weight, stable: mergeCohort(g.map((p) => p.stable)), canary: mergeCohort(g.map((p) => p.canary)) })
  }
  return out
}

/** A round axis maximum at or above `v` (and at least `floor`): 1, 2, 2.5, 5 or 10 times a power of ten. */
export function niceMax(v: number, floor: number): number {
  const m = Math.max(Number.isFinite(v) ? v : 0, floor)
  const e = 10 ** Math.floor(Math.log10(m))
  const f = m / e
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10) * e
}

/** Where to break lines: a gap much longer than the usual spacing means no windows were judged (paused, idle). */
export function gaps(ats: number[]): boolean[] {
  const d = ats.slice(1).map((t, i) => t - ats[i]!)
  const sorted = [...d].sort((a, b) => a - b)
  const typical = sorted[Math.floor(sorted.length / 2)] ?? 0
  return [false, ...d.map((x) => typical > 0 && x > typical * 2.5)]
}

/** Splits coordinates into runs at `null`s (gaps and windows with no value). */
export function runs(pts: ([number, number] | null)[]): [number, number][][] {
  const out: [number, number][][] = [[]]
  for (const p of pts) {
    if (p) out[out.length - 1]!.push(p)
    else if (out[out.length - 1]!.length > 0) out.push([])
  }
  return out.filter((r) => r.length > 0)
}

/** Path data for one run. Stepped: a window's weight held over the minute before its point. */
export function pathOf(run: [number, number][], stepped: boolean): string {
  const r = (n: number) => String(Math.round(n * 10) / 10)
  let d = `M${r(run[0]![0])} ${r(run[0]![1])}`
  for (const [x, y] of run.slice(1)) d += stepped ? `V${r(y)}H${r(x)}` : `L${r(x)} ${r(y)}`
  return d
}

export interface Line {
  cls: string
  values: (number | null)[]
  stepped?: boolean
  area?: boolean
}

/** One panel: title, y grid with labels, vertical time grid, and its lines (dots where a run is one point long). */
export function panel(
  title: string,
  top: number,
  height: number,
  max: number,
  lines: Line[],
  xs: number[],
  breaks: boolean[],
  ticks: number[],
): El {
  const left = 52
  const right = 748
  const g = svg('g', { class: 'panel' }, svg('text', { class: 'ptitle', x: left, y: top - 8 }, title))
  const y = (v: number) => top + height - (Math.min(v, max) / max) * height
  for (const v of [0, max / 2, max]) {
    g.append(
      svg('line', { class: v === 0 ? 'axis' : 'grid', x1: left, x2: right, y1: y(v), y2: y(v) }),
      svg('text', { class: 'tick', x: left - 6, y: y(v) + 4, 'text-anchor': 'end' }, num(v)),
    )
  }
  for (const x of ticks) g.append(svg('line', { class: 'grid', x1: x, x2: x, y1: top, y2: top + height }))
  for (const line of lines) {
    // A null breaks the line: before a point that follows a gap in time, and where a window has no value.
    const pts: ([number, number] | null)[] = []
    line.values.forEach((v, i) => {
      if (breaks[i]) pts.push(null)
      pts.push(v === null || v === undefined ? null : [xs[i]!, y(v)])
    })
    for (const run of runs(pts)) {
      if (run.length === 1) {
        g.append(svg('circle', { class: `dot ${line.cls}`, cx: run[0]![0], cy: run[0]![1], r: 3 }))
        continue
      }
      const d = pathOf(run, line.stepped === true)
      if (line.area) g.append(svg('path', { class: `area ${line.cls}`, d: `${d}V${top + height}H${run[0]![0]}Z` }))
      g.append(svg('path', { class: `line ${line.cls}`, d }))
    }
  }
  return g
}

export function chartSummary(points: SeriesPoint[]): string {
  if (points.length === 0) return 'No judged windows yet.'
  const p = points[points.length - 1]!
  const ms = (c: CohortPoint) => (c.p95 === null ? 'no p95' : `p95 ${num(c.p95, 0)} ms`)
  const rate = (c: CohortPoint) => pct(ratio(c) === null ? null : ratio(c)! * 100)
  return (
    `${points.length} window${points.length === 1 ? '' : 's'} from ${stamp(points[0]!.at)} to ${stamp(p.at)}. ` +
    `Latest: canary weight ${pct(p.weight)}; stable ${rate(p.stable)} errors of ${p.stable.requests} requests, ${ms(p.stable)}; ` +
    `canary ${rate(p.canary)} errors of ${p.canary.requests} requests, ${ms(p.canary)}.`
  )
}

/**
 * The chart: three panels over one time axis (canary weight; error rate per
 * cohort; p95 latency per cohort), each with its own y scale, because one
 * shared axis would flatten either the rates or the latencies.
 */
export function renderChart(input: SeriesPoint[]): El {
  const points = downsample(input, 360)
  const width = 760
  // Without points there is only a sentence to show: no need for three empty panels' height.
  const height = points.length > 0 ? 400 : 120
  const root = svg(
    'svg',
    {
      id: 'chart',
      'data-testid': 'chart',
      class: 'chart',
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-labelledby': 'chart-title chart-desc',
    },
    svg('title', { id: 'chart-title' }, 'Canary weight, error rate and p95 latency per judged window'),
    svg('desc', { id: 'chart-desc' }, chartSummary(points)),
  )
  const left = 52
  const right = 748
  const legend = svg('g', { class: 'legend' })
  let lx = left
  for (const [c, label] of [['stable', 'stable'], ['canary', 'canary'], ['weight', 'canary weight']]) {
    legend.append(
      svg('rect', { class: `swatch ${c}`, x: lx, y: 8, width: 14, height: 4, rx: 1 }),
      svg('text', { x: lx + 20, y: 14 }, label!),
    )
    lx += 32 + label!.length * 7
  }
  root.append(legend)
  if (points.length === 0) {
    root.append(
      svg(
        'text',
        { class: 'empty', x: width / 2, y: 70, 'text-anchor': 'middle' },
        'No judged windows yet: the controller records one a minute while a rollout progresses.',
      ),
    )
    return root
  }
  const ats = points.map((p) => p.at)
  // One point has no time span: centre it in a two-minute frame.
  const t0 = ats[0]! === ats[ats.length - 1]! ? ats[0]! - 60_000 : ats[0]!
  const t1 = ats[0]! === ats[ats.length - 1]! ? ats[0]! + 60_000 : ats[ats.length - 1]!
  const x = (t: number) => left + ((t - t0) / (t1 - t0)) * (right - left)
  const xs = ats.map(x)
  const breaks = gaps(ats)
  const tickTimes = [0, 1, 2, 3, 4].map((i) => t0 + ((t1 - t0) * i) / 4)
  const ticks = tickTimes.map(x)
  const rate = (c: CohortPoint) => (ratio(c) === null ? null : ratio(c)! * 100)
  const stableRates = points.map((p) => rate(p.stable))
  const canaryRates = points.map((p) => rate(p.canary))
  const stableP95 = points.map((p) => p.stable.p95)
  const canaryP95 = points.map((p) => p.canary.p95)
  const weightLine: Line = { cls: 'weight', values: points.map((p) => p.weight), stepped: true, area: true }
  const top = (vs: (number | null)[]) => Math.max(0, ...vs.filter((v): v is number => v !== null && Number.isFinite(v)))
  root.append(
    panel('Canary weight (%)', 46, 70, 100, [weightLine], xs, breaks, ticks),
    panel('Error rate (%)', 152, 84, niceMax(top([...stableRates, ...canaryRates]), 0.1), [
      { cls: 'stable', values: stableRates },
      { cls: 'canary', values: canaryRates },
    ], xs, breaks, ticks),
    panel('p95 latency (ms)', 272, 84, niceMax(top([...stableP95, ...canaryP95]), 10), [
      { cls: 'stable', values: stableP95 },
      { cls: 'canary', values: canaryP95 },
    ], xs, breaks, ticks),
  )
  // Over a day, ticks need the date; under a few minutes (one point, say), seconds, or labels would repeat.
  const span = t1 - t0
  tickTimes.forEach((t, i) => {
    const anchor = i === 0 ? 'start' : i === tickTimes.length - 1 ? 'end' : 'middle'
    const label = span > 86_400_000 ? `${stamp(t).slice(5, 10)} ${clock(t)}` : clock(t, span < 300_000)
    root.append(svg('text', { class: 'tick', x: ticks[i]!, y: 376, 'text-anchor': anchor }, label))
  })
  root.append(svg('text', { class: 'tick', x: right, y: 394, 'text-anchor': 'end' }, 'window end, local time'))
  return root
}

// ---- talking to the API ------------------------------------------------------

export async function call(st: State, path: string, init: { method?: string; body?: unknown; ifMatch?: number } = {}): Promise<Reply> {
  const headers: Record<string, string> = { accept: 'application/json' }
  // Without a token the request may still pass: behind Cloudflare Access the edge adds its assertion.
  if (st.token) headers.authorization = `Bearer ${st.token}`
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  if (init.ifMatch !== undefined) headers['if-match'] = `"${init.ifMatch}"`
  try {
    const res = await page().fetch(`${st.cfg.api}${path}`, {
      method: init.method ?? 'GET',
      headers,
      cache: 'no-store',
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    })
    const text = await res.text()
    try {
      return { status: res.status, body: text ? JSON.parse(text) : null }
    } catch {
      return { status: res.status, body: { title: 'Unexpected response', status: res.status, detail: text.slice(0, 300) } }
    }
  } catch (err) {
    return {
      status: 0,
      body: {
        title: 'Network error',
        detail: `${String(err)}. Behind Cloudflare Access, an expired session looks like this: reload the page to sign in again.`,
      },
    }
  }
}

export function asProblem(r: Reply): Problem {
  const b = r.body
  const p: Problem = b !== null && typeof b === 'object' ? (b as Problem) : {}
  return {
    title: typeof p.title === 'string' ? p.title : 'Request failed',
    status: r.status,
    detail: typeof p.detail === 'string' ? p.detail : '',
    errors: p.errors ?? [],
  }
}

// ---- the app -------------------------------------------------------------------

export function loadToken(key: string): string | null {
  try {
    return page().sessionStorage.getItem(key)
  } catch {
    return null
  }
}

export function saveToken(key: string, token: string | null): void {
  try {
    if (token === null) page().sessionStorage.removeItem(key)
    else page().sessionStorage.setItem(key, token)
  } catch {
    // Storage refused (private mode, policy): the token then lives only as long as this page.
  }
}

export function hashId(): string {
  try {
    return decodeURIComponent(page().location.hash.replace(/^#/, ''))
  } catch {
    return ''
  }
}

export function redraw(st: State, region: string, data: unknown, draw: () => void): void {
  const sig = JSON.stringify(data)
  if (st.drawn[region] === sig) return
  st.drawn[region] = sig
  draw()
}

/** Fills a message region, hiding it when empty. */
export function region(id: string, el: El | null): void {
  const box = byId(id)
  if (el) box.replaceChildren(el)
  else box.replaceChildren()
  box.hidden = el === null
}

export function showProblem(p: Problem | null): void {
  region('problem', p ? renderProblem(p) : null)
}

export function notice(text: string | null): void {
  region('notice', text === null ? null : h('span', null, text))
}

export function banner(p: Problem | null): void {
  region('banner', p ? renderProblem(p) : null)
}

/** Forgets everything shown: after a refused token, no data from the previous one may stay on screen. */
export function clearData(st: State): void {
  st.rollouts = []
  st.status = null
  st.selected = null
  st.drawn = {}
  byId('rollout-list').replaceChildren()
  byId('history').replaceChildren()
  byId('chart-box').replaceChildren()
  byId('detail').hidden = true
  showProblem(null)
  notice(null)
}

export function askToken(st: State, message: string | null): void {
  if (st.token !== null) saveToken(st.cfg.storageKey, null)
  st.token = null
  clearData(st)
  byId('app').hidden = true
  byId('forget').hidden = true
  byId('who').textContent = ''
  byId('token-form').hidden = false
  const err = byId('token-error')
  err.textContent = message ?? ''
  err.hidden = message === null
  byId('token-input').focus()
}

export function signedIn(st: State): void {
  byId('token-form').hidden = true
  byId('app').hidden = false
  byId('forget').hidden = st.token === null
  byId('who').textContent = st.token === null ? 'signed in via Cloudflare Access' : 'signed in with a token'
}

export function drawList(st: State): void {
  redraw(st, 'list', [st.selected, st.rollouts.map((r) => [r.id, r.phase, r.weight, r.release])], () => {
    const list = byId('rollout-list')
    const active = page().document.activeElement
    const focused = active ? active.getAttribute('data-rollout') : null
    const items = st.rollouts.map((r) => renderItem(r, r.id === st.selected))
    list.replaceChildren(...items)
    byId('list-empty').hidden = st.rollouts.length > 0
    // Rebuilt links are new elements: put keyboard focus back where it was.
    const again = focused === null ? -1 : st.rollouts.findIndex((r) => r.id === focused)
    if (again >= 0) items[again]!.firstElementChild?.focus()
  })
}

export function drawStatus(st: State): void {
  const s = st.status
  byId('detail').hidden = s === null
  drawCommands(st)
  if (!s) return
  redraw(st, 'status', s, () => {
    byId('rollout-title').textContent = s.id
    const phase = byId('phase')
    phase.textContent = s.phase
    phase.setAttribute('class', `badge big-badge phase-${cls(s.phase)}`)
    byId('weight').textContent = pct(s.weight)
    byId('weight-bar').replaceChildren(renderBar(s.weight))
    byId('step').textContent = stepText(s)
    byId('release').textContent = s.release ?? '—'
    byId('revision').textContent = String(s.revision)
    const updated = byId('updated')
    updated.textContent = stamp(s.updatedAt)
    updated.setAttribute('datetime', s.updatedAt)
    byId('origins').replaceChildren(
      h('div', null, h('span', { class: 'muted' }, 'stable '), h('code', null, s.spec.stable)),
      h('div', null, h('span', { class: 'muted' }, 'canary '), h('code', null, s.spec.canary)),
    )
    byId('schedule').replaceChildren(renderSchedule(s))
    const d = s.lastDecision
    byId('last-decision').replaceChildren(
      ...(d
        ? [
            h('span', { class: `kind kind-${cls(d.kind)}` }, d.kind),
            ' ',
            h('span', null, d.reason),
            ' ',
            h('time', { class: 'muted small' }, stamp(d.at)),
          ]
        : ['—']),
    )
    byId('weight-input').setAttribute('placeholder', num(s.weight))
  })
  byId('time-left').textContent = bakeText(s, Date.now())
}

export function drawCommands(st: State): void {
  const on = enabled(st.status, st.cfg, st.busy)
  for (const c of st.cfg.commands) byId(`cmd-${c}`).disabled = !on.has(c)
}

export function drawSeries(st: State, r: Reply): void {
  if (r.status !== 200) {
    st.drawn.series = ''
    byId('chart-box').replaceChildren(renderProblem(asProblem(r)))
    return
  }
  const points = ((r.body as { points?: SeriesPoint[] } | null)?.points ?? []).filter((p) => p && typeof p.at === 'number')
  redraw(st, 'series', points, () => {
    byId('chart-box').replaceChildren(renderChart(points))
    byId('chart-latest').textContent = chartSummary(downsample(points, 360))
  })
}

export function drawHistory(st: State, r: Reply): void {
  if (r.status !== 200) {
    st.drawn.history = ''
    byId('history').replaceChildren(h('li', null, renderProblem(asProblem(r))))
    return
  }
  const body = (r.body ?? {}) as { entries?: HistoryEntry[]; next?: number | null }
  redraw(st, 'history', body, () => {
    byId('history').replaceChildren(...(body.entries ?? []).map(renderEntry))
    byId('history-more').hidden = body.next === null || body.next === undefined || st.historyLimit >= 200
  })
}

/** Picks the rollout to show: the one in the URL, else the one on screen, else the first. */
export function pick(rollouts: RolloutStatus[], current: string | null, wanted: string): string | null {
  if (wanted && rollouts.some((r) => r.id === wanted)) return wanted
  if (current && rollouts.some((r) => r.id === current)) return current
  return rollouts[0]?.id ?? null
}

/** One refresh: the list (which carries each rollout's status), then the selected rollout's series and history. */
export async function load(st: State, gen: number): Promise<boolean> {
  const list = await call(st, '/rollouts')
  if (gen !== st.gen) return false
  // 401: no or wrong credentials. 400 with a token: the token is not even well-formed.
  if (list.status === 401 || (list.status === 400 && st.token !== null)) {
    askToken(st, st.token === null ? null : `The token was not accepted: ${asProblem(list).detail}`)
    return false
  }
  if (list.status !== 200) {
    banner(asProblem(list))
    return true
  }
  banner(null)
  signedIn(st)
  const before = st.selected
  st.rollouts = ((list.body as { rollouts?: RolloutStatus[] } | null)?.rollouts ?? []).filter((r) => r && typeof r.id === 'string')
  st.selected = pick(st.rollouts, st.selected, hashId())
  st.status = st.rollouts.find((r) => r.id === st.selected) ?? null
  if (st.selected !== before) {
    // Another rollout: never show the previous one's chart, history or messages under its name.
    showProblem(null)
    notice(null)
    st.drawn.series = ''
    st.drawn.history = ''
    byId('chart-box').replaceChildren(h('p', { class: 'muted' }, 'Loading…'))
    byId('chart-latest').textContent = ''
    byId('history').replaceChildren()
  }
  drawList(st)
  drawStatus(st)
  if (st.status) {
    const id = encodeURIComponent(st.status.id)
    const [series, history] = await Promise.all([
      call(st, `/rollouts/${id}/series?limit=${st.range}`),
      call(st, `/rollouts/${id}/history?limit=${st.historyLimit}`),
    ])
    if (gen !== st.gen) return false
    drawSeries(st, series)
    drawHistory(st, history)
  }
  byId('refreshed').textContent = `updated ${clock(Date.now(), true)}`
  return true
}

export async function refresh(st: State): Promise<void> {
  const gen = ++st.gen
  page().clearTimeout(st.timer)
  let again = false
  try {
    again = await load(st, gen)
  } catch (err) {
    banner({ title: 'Dashboard error', detail: String(err) })
    again = true
  }
  // Polling waits for the previous refresh, so a slow API never piles up requests; a hidden tab does not poll.
  if (again && gen === st.gen) {
    st.timer = page().setTimeout(() => {
      if (!page().document.hidden) void refresh(st)
    }, st.cfg.refreshMs)
  }
}

export function setBusy(st: State, busy: boolean): void {
  st.busy = busy
  drawCommands(st)
}

export async function send(st: State, name: string, body: Record<string, unknown>): Promise<void> {
  const s = st.status
  if (!s || (st.busy && name !== 'rollback')) return
  const reason = byId('reason').value.trim()
  setBusy(st, true)
  showProblem(null)
  notice(null)
  const r = await call(st, `/rollouts/${encodeURIComponent(s.id)}/${name}`, {
    method: 'POST',
    body: { ...body, ...(reason ? { reason } : {}) },
    ...(st.cfg.ifMatch.includes(name) ? { ifMatch: s.revision } : {}),
  })
  setBusy(st, false)
  if (r.status === 200) {
    const now = r.body as RolloutStatus
    byId('reason').value = ''
    byId('weight-input').value = ''
    notice(`${name} ${s.id}: now ${now.phase} at ${pct(now.weight)}.`)
  } else if (r.status === 401) {
    askToken(st, 'The token was not accepted.')
    return
  } else {
    const p = asProblem(r)
    if (r.status === 412) p.detail = `${p.detail}. The rollout changed since this page showed it: check it and try again.`
    showProblem(p)
  }
  await refresh(st)
}

export interface Confirm {
  title: string
  text: string
  ok: string
  danger: boolean
}

/** Dialog wording per command: what will happen, in the operator's terms. */
export function confirmText(name: string, s: RolloutStatus, body: Record<string, unknown>): Confirm {
  const first = s.spec.schedule[0]
  switch (name) {
    case 'start':
      return {
        title: `Start a release on ${s.id}`,
        text: `The canary gets ${pct(first?.weight)} of traffic at once, then follows the schedule.`,
        ok: 'Start',
        danger: false,
      }
    case 'weight':
      return {
        title: `Set the weight of ${s.id}`,
        text: `Send ${pct(body.weight)} of traffic to the canary? Automation pauses until someone resumes.`,
        ok: 'Set weight',
        danger: false,
      }
    case 'promote':
      return {
        title: `Promote ${s.id}`,
        text: `Send 100 % of traffic to ${s.release ?? 'the canary'} now, skipping the remaining steps and checks?`,
        ok: 'Promote',
        danger: true,
      }
    case 'rollback':
      return { title: `Roll back ${s.id}`, text: 'Send all traffic to stable at once?', ok: 'Roll back', danger: true }
    default:
      return {
        title: `Complete ${s.id}`,
        text: `The canary origin ${s.spec.canary} becomes stable, and ${s.spec.stable} becomes the canary for the next release.`,
        ok: 'Complete',
        danger: true,
      }
  }
}

export function ask(st: State, name: string, body: Record<string, unknown>): void {
  const s = st.status
  if (!s) return
  const t = confirmText(name, s, body)
  st.pending = { name, body }
  byId('dialog-title').textContent = t.title
  byId('dialog-text').textContent = t.text
  byId('dialog-error').textContent = ''
  const input = byId('dialog-input')
  input.value = ''
  byId('dialog-field').hidden = name !== 'start'
  const ok = byId('dialog-confirm')
  ok.textContent = t.ok
  ok.setAttribute('class', t.danger ? 'danger' : 'primary')
  byId('dialog').showModal()
  // Rollback confirms with Enter; the other drastic ones start on Cancel.
  if (name === 'start') input.focus()
  else if (name === 'rollback' || !t.danger) ok.focus()
  else byId('dialog-cancel').focus()
}

export function onCommand(st: State, name: string): void {
  if (!st.status || (st.busy && name !== 'rollback')) return
  let body: Record<string, unknown> = {}
  if (name === 'weight') {
    const raw = byId('weight-input').value.trim()
    const w = Number(raw)
    if (raw === '' || !Number.isFinite(w) || w < 0 || w > 100 || Math.round(w * 100) !== w * 100) {
      showProblem({ title: 'Invalid weight', detail: 'Enter a canary weight from 0 to 100 %, with at most two decimals.' })
      return
    }
    body = { weight: w }
  }
  if (st.cfg.confirm.includes(name)) ask(st, name, body)
  else void send(st, name, body)
}

export function onDialog(st: State, e: Ev): void {
  e.preventDefault()
  const p = st.pending
  if (!p) return
  const body = { ...p.body }
  if (p.name === 'start') {
    const release = byId('dialog-input').value.trim()
    if (release.length < 1 || release.length > 64) {
      byId('dialog-error').textContent = 'Enter a release label of 1 to 64 characters.'
      return
    }
    body.release = release
  }
  st.pending = null
  byId('dialog').close()
  void send(st, p.name, body)
}

export function onToken(st: State, e: Ev): void {
  e.preventDefault()
  const v = byId('token-input').value.trim()
  // What a Bearer header can carry (RFC 6750 token68); anything else would be refused as malformed.
  if (!/^[A-Za-z0-9._~+/-]+=*$/.test(v)) {
    const err = byId('token-error')
    err.textContent = 'A token is letters, digits and - . _ ~ + / only, as issued.'
    err.hidden = false
    return
  }
  st.token = v
  saveToken(st.cfg.storageKey, v)
  byId('token-input').value = ''
  void refresh(st)
}

export function onForget(st: State): void {
  saveToken(st.cfg.storageKey, null)
  st.token = null
  clearData(st)
  // Behind Access this reloads without a token; otherwise the API's 401 brings the form back.
  void refresh(st)
}

/** Keeps "time left" counting between refreshes. */
export function tick(st: State): void {
  if (st.status) byId('time-left').textContent = bakeText(st.status, Date.now())
  page().setTimeout(() => tick(st), 1000)
}

export function main(cfg: ClientConfig): State {
  const st: State = {
    cfg,
    token: loadToken(cfg.storageKey),
    rollouts: [],
    selected: null,
    status: null,
    drawn: {},
    gen: 0,
    timer: undefined,
    pending: null,
    busy: false,
    range: 360,
    historyLimit: 50,
  }
  byId('token-form').addEventListener('submit', (e) => onToken(st, e))
  byId('forget').addEventListener('click', () => onForget(st))
  for (const c of cfg.commands) byId(`cmd-${c}`).addEventListener('click', () => onCommand(st, c))
  byId('dialog-form').addEventListener('submit', (e) => onDialog(st, e))
  byId('dialog-cancel').addEventListener('click', () => byId('dialog').close())
  byId('dialog').addEventListener('close', () => {
    st.pending = null
  })
  const range = byId('range')
  range.addEventListener('change', () => {
    st.range = Number(range.value) || 360
    st.drawn.series = ''
    void refresh(st)
  })
  byId('history-more').addEventListener('click', () => {
    st.historyLimit = Math.min(200, st.historyLimit + 50)
    void refresh(st)
  })
  page().addEventListener('hashchange', () => void refresh(st))
  page().document.addEventListener('visibilitychange', () => {
    if (!page().document.hidden) void refresh(st)
  })
  void refresh(st)
  tick(st)
  return st
}
