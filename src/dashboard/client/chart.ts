/**
 * @module
 * The chart of judged windows: downsampling, scales, and three SVG panels over one time axis (a fourth, the share of
 * page views with a JavaScript error, when the windows carry real-user beacons).
 * One part of the dashboard's browser code: see `index.ts` for the rules it keeps.
 */
import type { CohortPoint, SeriesPoint } from '../../contract/index.ts'
import type { El } from '../dom.ts'
import type * as Dom from './dom.ts'
import type * as Format from './format.ts'

declare const svg: typeof Dom.svg, cls: typeof Dom.cls
declare const num: typeof Format.num, pct: typeof Format.pct, ratio: typeof Format.ratio, clock: typeof Format.clock, stamp: typeof Format.stamp
declare const pageViewRatio: typeof Format.pageViewRatio

/** Windows merged: requests, errors and page views summed (page views only if a window had beacons), the worst p95. */
export function mergeCohort(cs: CohortPoint[]): CohortPoint {
  let requests = 0
  let errors = 0
  let p95: number | null = null
  let pageViews: number | null = null
  let pageViewErrors = 0
  for (const c of cs) {
    requests += c.requests
    errors += c.errors
    if (c.p95 !== null && (p95 === null || c.p95 > p95)) p95 = c.p95
    if (typeof c.pageViews === 'number') {
      pageViews = (pageViews ?? 0) + c.pageViews
      pageViewErrors += typeof c.pageViewErrors === 'number' ? c.pageViewErrors : 0
    }
  }
  return pageViews === null ? { requests, errors, p95 } : { requests, errors, p95, pageViews, pageViewErrors }
}

/** Whether any window carries beacon counts (the rollout collects real-user signals). */
export function hasPageViews(points: SeriesPoint[]): boolean {
  return points.some((p) => typeof p.stable.pageViews === 'number' || typeof p.canary.pageViews === 'number')
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
export function panel(title: string, top: number, height: number, max: number, lines: Line[], xs: number[], breaks: boolean[], ticks: number[]): El {
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
  const views = (c: CohortPoint) => `${pct(pageViewRatio(c) === null ? null : pageViewRatio(c)! * 100)} of ${num(c.pageViews ?? 0)} page views`
  const rum = typeof p.stable.pageViews === 'number' || typeof p.canary.pageViews === 'number'
  return (
    `${points.length} window${points.length === 1 ? '' : 's'} from ${stamp(points[0]!.at)} to ${stamp(p.at)}. ` +
    `Latest: canary weight ${pct(p.weight)}; stable ${rate(p.stable)} errors of ${p.stable.requests} requests, ${ms(p.stable)}; ` +
    `canary ${rate(p.canary)} errors of ${p.canary.requests} requests, ${ms(p.canary)}.` +
    (rum ? ` Page views with a JavaScript error: stable ${views(p.stable)}; canary ${views(p.canary)}.` : '')
  )
}

/**
 * The chart: three panels over one time axis (canary weight; error rate per
 * cohort; p95 latency per cohort), each with its own y scale, because one
 * shared axis would flatten either the rates or the latencies. Windows with
 * beacons add a fourth: the share of page views with a JavaScript error.
 */
export function renderChart(input: SeriesPoint[]): El {
  const points = downsample(input, 360)
  const rum = hasPageViews(points)
  const width = 760
  // Without points there is only a sentence to show: no need for three empty panels' height.
  const extra = rum ? 120 : 0
  const height = points.length > 0 ? 400 + extra : 120
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
    svg(
      'title',
      { id: 'chart-title' },
      `Canary weight, error rate${rum ? ', p95 latency and page views with a JavaScript error' : ' and p95 latency'} per judged window`,
    ),
    svg('desc', { id: 'chart-desc' }, chartSummary(points)),
  )
  const left = 52
  const right = 748
  const legend = svg('g', { class: 'legend' })
  let lx = left
  for (const [c, label] of [
    ['stable', 'stable'],
    ['canary', 'canary'],
    ['weight', 'canary weight'],
  ]) {
    legend.append(svg('rect', { class: `swatch ${c}`, x: lx, y: 8, width: 14, height: 4, rx: 1 }), svg('text', { x: lx + 20, y: 14 }, label!))
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
    panel(
      'Error rate (%)',
      152,
      84,
      niceMax(top([...stableRates, ...canaryRates]), 0.1),
      [
        { cls: 'stable', values: stableRates },
        { cls: 'canary', values: canaryRates },
      ],
      xs,
      breaks,
      ticks,
    ),
    panel(
      'p95 latency (ms)',
      272,
      84,
      niceMax(top([...stableP95, ...canaryP95]), 10),
      [
        { cls: 'stable', values: stableP95 },
        { cls: 'canary', values: canaryP95 },
      ],
      xs,
      breaks,
      ticks,
    ),
  )
  if (rum) {
    const views = (c: CohortPoint) => (pageViewRatio(c) === null ? null : pageViewRatio(c)! * 100)
    const stableViews = points.map((p) => views(p.stable))
    const canaryViews = points.map((p) => views(p.canary))
    const lines = [
      { cls: 'stable', values: stableViews },
      { cls: 'canary', values: canaryViews },
    ]
    root.append(panel('Page views with a JavaScript error (%)', 392, 84, niceMax(top([...stableViews, ...canaryViews]), 0.1), lines, xs, breaks, ticks))
  }
  // Over a day, ticks need the date; under a few minutes (one point, say), seconds, or labels would repeat.
  const span = t1 - t0
  tickTimes.forEach((t, i) => {
    const anchor = i === 0 ? 'start' : i === tickTimes.length - 1 ? 'end' : 'middle'
    const label = span > 86_400_000 ? `${stamp(t).slice(5, 10)} ${clock(t)}` : clock(t, span < 300_000)
    root.append(svg('text', { class: 'tick', x: ticks[i]!, y: 376 + extra, 'text-anchor': anchor }, label))
  })
  root.append(svg('text', { class: 'tick', x: right, y: 394 + extra, 'text-anchor': 'end' }, 'window end, local time'))
  return root
}
