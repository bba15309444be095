/**
 * @module
 * A decision's figures per cohort in the dashboard (src/dashboard/client/rum.ts): the server's, the 4xx test's and
 * the real-user signals' (`data.rum`, as `judgeSignals` writes it), and the chart's page-view error panel; as units,
 * then through the served script against the worker. A rollout without real-user signals shows none of them.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { coordinator } from '../../src/control/client.ts'
import type { HistoryEntry, RolloutStatus, SeriesPoint } from '../../src/contract/index.ts'
import { VITAL_THRESHOLDS, vitalRating } from '../../src/core/judge/vital-rating.ts'
import * as client from '../../src/dashboard/client/index.ts'
import { call, create } from '../support/admin.ts'
import { ADMIN_TOKEN } from '../support/tokens.ts'
import { type FakeEl, assertNoInjection, openDashboard, useFakeDocument } from './fake-page.ts'
import { clientErrors, numbersWithRum, rumOf, serverNumbers } from './rum-data.ts'

Object.assign(globalThis, client)

const evil = '<script>alert(1)</script><img src=x onerror=alert(2)>'
const evilError = `TypeError: ${evil} at /app.js:12`

const rumData = () => ({ clientErrors, rum: rumOf(evilError) })

const statusWith = (data: Record<string, unknown> | undefined) =>
  ({
    id: 'web',
    phase: 'progressing',
    weight: 10,
    spec: { schedule: [{ weight: 10, bakeMinutes: 5 }], judge: { latency: { quantile: 'p95' } } },
    lastDecision: { kind: 'hold', reason: 'healthy; baking', at: '2026-01-02T03:04:05.000Z', ...(data ? { data } : {}) },
  }) as unknown as RolloutStatus

/** Each row of the figures table as [row key, label, stable cell, canary cell]. */
const rowsOf = (el: FakeEl) =>
  el
    .find((e) => e.tagName === 'TR' && e.attrs.has('data-row'))
    .map((tr) => [tr.getAttribute('data-row'), ...tr.kids.map((k) => (typeof k === 'string' ? k : k.textContent))])

describe('figures per cohort', () => {
  const doc = useFakeDocument()

  it("shows the server's, the 4xx and the real-user figures per cohort, with each vital's rating", () => {
    const el = client.renderStatusFigures(statusWith({ verdict: 'healthy', numbers: numbersWithRum, ...rumData() })) as unknown as FakeEl
    expect(el.getAttribute('data-testid')).toBe('figures')
    expect(rowsOf(el)).toEqual([
      ['requests', 'requests', '900', '100'],
      ['5xx', '5xx', '3 (0.33 %)', '2 (2 %)'],
      ['latency', 'p95 latency', '110 ms', '152 ms'],
      ['4xx', '4xx', '12 (1.33 %)', '5 (5 %)'],
      ['page-views', 'page views', '1200', '130'],
      ['page-views-release', 'page views since release', '5400', '610'],
      ['page-view-errors', 'with a JS error', '6 (0.5 %)', '4 (3.08 %)'],
      ['lcp', 'LCP p75', '2100 ms good', '2900 ms needs improvement'],
      ['inp', 'INP p75', '180 ms good', '520 ms poor'],
      ['cls', 'CLS p75', '0.05 good', '—'],
      ['csp', 'untagged (CSP)', '0 (0 %)', '4 (10 %)'],
    ])
    const ratings = el.find((e) => e.getAttribute('class')?.startsWith('rating ') ?? false).map((e) => e.getAttribute('class'))
    expect(ratings).toEqual(['rating rating-good', 'rating rating-needs-improvement', 'rating rating-good', 'rating rating-poor', 'rating rating-good'])
    const lcp = el.find((e) => e.getAttribute('data-row') === 'lcp')[0]!
    expect(lcp.find((e) => e.getAttribute('title') === '100 page views reported it')).toHaveLength(1)
    assertNoInjection(doc())
  })

  it("lists the canary's first errors, marks those new in canary, and keeps a fingerprint's markup as text", () => {
    const el = client.renderStatusFigures(statusWith({ numbers: numbersWithRum, ...rumData() })) as unknown as FakeEl
    const items = el.testid('canary-errors')!.find((e) => e.getAttribute('data-testid') === 'canary-error')
    expect(items.map((li) => [...li.texts()])).toEqual([
      ['new in canary', evilError, '37 clients'],
      ['ReferenceError: gtag is not defined at /vendor.js:1', '1 client'],
    ])
    expect(items.map((li) => li.testid('new-in-canary') !== undefined)).toEqual([true, false])
    // The fingerprint is one text node in a <code>, never markup.
    expect(items[0]!.find((e) => e.tagName === 'CODE')[0]!.kids).toEqual([evilError])
    assertNoInjection(doc())
  })

  it('shows nothing real-user without RUM data: the server rows only, or nothing without numbers', () => {
    const el = client.renderStatusFigures(statusWith({ verdict: 'healthy', numbers: serverNumbers })) as unknown as FakeEl
    expect(rowsOf(el).map((r) => r[0])).toEqual(['requests', '5xx', 'latency'])
    expect(el.testid('canary-errors')).toBeUndefined()
    expect(el.textContent).not.toMatch(/page view|LCP|CSP|4xx/)
    expect(client.renderStatusFigures(statusWith({ verdict: 'hold' }))).toBeNull()
    expect(client.renderStatusFigures(statusWith(undefined))).toBeNull()
    expect(client.renderStatusFigures({ ...statusWith(undefined), lastDecision: null })).toBeNull()
  })

  it('skips what is malformed instead of guessing, and shows no CSP row while nothing was left untagged', () => {
    const rum = {
      injection: { stable: { injected: 5, csp: 0 }, canary: { injected: 5, csp: 0 } },
      window: { stable: { pageViews: 'many', errored: 1 }, canary: { pageViews: 3, errored: 0 } },
      pageViews: { stable: 10, canary: -1 },
      vitals: { stable: { lcp: { p75: 'slow', n: 3 }, inp: { p75: 90, n: 3 } }, canary: null },
      canaryErrors: [null, { fingerprint: 3, clients: 1 }, { fingerprint: 'Error: x', clients: 1, newInCanary: 'yes' }],
    }
    const el = client.renderFigures({ rum, clientErrors: { stable: { requests: 1 } } }, { server: true }) as unknown as FakeEl
    expect(rowsOf(el)).toEqual([['inp', 'INP p75', '90 ms good', '—']])
    const items = el.testid('canary-errors')!.find((e) => e.getAttribute('data-testid') === 'canary-error')
    expect(items.map((li) => [...li.texts()])).toEqual([['Error: x', '1 client']])
    expect(client.renderFigures({ rum: 'on', clientErrors: [] }, { server: true })).toBeNull()
    expect(client.renderFigures(null, { server: true })).toBeNull()
  })

  it('rates vitals as web.dev does: good up to the first threshold, poor past the second', () => {
    const r = client.vitalRating
    expect([2500, 2501, 4000, 4001].map((v) => r('lcp', v))).toEqual(['good', 'needs improvement', 'needs improvement', 'poor'])
    expect([200, 201, 500, 501].map((v) => r('inp', v))).toEqual(['good', 'needs improvement', 'needs improvement', 'poor'])
    expect([0.1, 0.11, 0.25, 0.26].map((v) => r('cls', v))).toEqual(['good', 'needs improvement', 'needs improvement', 'poor'])
    expect([client.vitalText('lcp', 2100.4), client.vitalText('cls', 0.12345)]).toEqual(['2100 ms', '0.123'])
    // The served copy and the judge's table (src/core/judge/vital-rating.ts) rate every vital alike.
    for (const [vital, [good, poor]] of Object.entries(VITAL_THRESHOLDS)) {
      for (const v of [0, good, good * 1.01, poor, poor * 1.01]) expect(r(vital, v), `${vital} ${v}`).toBe(vitalRating(vital, v))
    }
  })

  it("draws a history entry's 4xx and real-user figures apart from its numbers, without the server rows again", () => {
    const entry: HistoryEntry = {
      seq: 4,
      at: '2026-01-02T03:04:05.000Z',
      rollout: 'web',
      actor: { kind: 'controller', name: 'controller' },
      command: 'rollback',
      from: { phase: 'progressing', weight: 10, revision: 3 },
      to: { phase: 'rolled-back', weight: 0, revision: 4 },
      reason: `JavaScript errors; new in canary: ${evilError}, from 37 clients`,
      data: { verdict: 'rollback', numbers: { pageViewsCanary: 130 }, ...rumData() },
    }
    const li = client.renderEntry(entry) as unknown as FakeEl
    const kv = li.find((e) => e.tagName === 'DL')[0]!
    expect(kv.kids.map((d) => ((d as FakeEl).kids[0] as FakeEl).textContent)).toEqual(['verdict', 'numbers.pageViewsCanary'])
    const figures = li.testid('figures')!
    expect(rowsOf(figures).map((r) => r[0])).toEqual(['4xx', 'page-views', 'page-views-release', 'page-view-errors', 'lcp', 'inp', 'cls', 'csp'])
    expect(figures.testid('new-in-canary')).toBeDefined()
    assertNoInjection(doc())
  })

  const point = (at: number, pv?: [number, number, number, number]): SeriesPoint => ({
    at,
    weight: 10,
    stable: { requests: 1000, errors: 5, p95: 120, ...(pv ? { pageViews: pv[0], pageViewErrors: pv[1] } : {}) },
    canary: { requests: 100, errors: 2, p95: 180, ...(pv ? { pageViews: pv[2], pageViewErrors: pv[3] } : {}) },
  })
  const byClass = (root: FakeEl, c: string) => root.find((e) => e.getAttribute('class') === c)

  it('charts the share of page views with a JavaScript error per cohort, and says so in its summary', () => {
    const t = 1_700_000_000_000
    const pts = [0, 1, 2].map((m) => point(t + m * 60_000, [1200, 6, 130, 4]))
    const svg = client.renderChart(pts) as unknown as FakeEl
    expect(byClass(svg, 'ptitle').map((e) => e.textContent)).toEqual([
      'Canary weight (%)',
      'Error rate (%)',
      'p95 latency (ms)',
      'Page views with a JavaScript error (%)',
    ])
    expect(byClass(svg, 'line stable')).toHaveLength(3)
    expect(byClass(svg, 'line canary')).toHaveLength(3)
    expect(svg.getAttribute('viewBox')).toBe('0 0 760 520')
    expect(svg.find((e) => e.tagName === 'title')[0]!.textContent).toContain('page views with a JavaScript error')
    const summary = 'Page views with a JavaScript error: stable 0.5 % of 1200 page views; canary 3.08 % of 130 page views.'
    expect(svg.find((e) => e.tagName === 'desc')[0]!.textContent).toMatch(new RegExp(`p95 180 ms\\. ${summary.replace(/[.]/g, '\\.')}$`))
    expect(client.chartSummary(pts)).toContain(summary)
    for (const v of [...svg.walk()].flatMap((e) => [...e.attrs.values()])) expect(v).not.toMatch(/NaN|Infinity|undefined/)
  })

  it('draws no page-view panel and says nothing of page views for windows without beacons', () => {
    const t = 1_700_000_000_000
    const pts = [0, 1, 2].map((m) => point(t + m * 60_000))
    const svg = client.renderChart(pts) as unknown as FakeEl
    expect(byClass(svg, 'ptitle')).toHaveLength(3)
    expect(svg.getAttribute('viewBox')).toBe('0 0 760 400')
    expect(client.chartSummary(pts)).not.toMatch(/page view/i)
    expect(client.hasPageViews(pts)).toBe(false)
  })

  it('keeps page views exact when merging windows, and only where windows had beacons', () => {
    const t = 1_700_000_000_000
    const week = Array.from({ length: 1000 }, (_, i) => point(t + i * 60_000, [10, i % 2, 2, 1]))
    const few = client.downsample(week, 100)
    expect(few.reduce((n, p) => n + (p.stable.pageViews ?? 0), 0)).toBe(10_000)
    expect(few.reduce((n, p) => n + (p.stable.pageViewErrors ?? 0), 0)).toBe(500)
    expect(few.reduce((n, p) => n + (p.canary.pageViewErrors ?? 0), 0)).toBe(1000)
    expect(client.mergeCohort([{ requests: 1, errors: 0, p95: null }])).toEqual({ requests: 1, errors: 0, p95: null })
    expect(client.pageViewRatio({ requests: 1, errors: 0, p95: null, pageViews: 0, pageViewErrors: 0 })).toBeNull()
  })
})

/** One judged window for a started rollout, as the controller records it: a decision with `data`, and its point. */
async function judgedWindow(id: string, reason: string, data: Record<string, unknown>, pageViews?: [number, number, number, number]) {
  const c = coordinator(env)
  const row = (await c.progressing()).find((r) => r.spec.id === id)!
  const end = (row.state.windowEnd ?? Date.now()) + 60_000
  const beacons = (views: number | undefined, errors: number | undefined) => (views === undefined ? {} : { pageViews: views, pageViewErrors: errors })
  const point = {
    at: end,
    weight: row.state.weight,
    stable: { requests: 900, errors: 3, p95: 110, ...beacons(pageViews?.[0], pageViews?.[1]) },
    canary: { requests: 100, errors: 2, p95: 152, ...beacons(pageViews?.[2], pageViews?.[3]) },
  }
  const basis = { revision: row.state.revision, windowEnd: row.state.windowEnd }
  const r = await c.decide(id, { kind: 'hold', reason, data }, basis, { evidence: null, windowEnd: end }, point)
  expect(r.ok && r.value.applied).toBe(true)
}

describe('the served script, for a rollout with real-user signals', () => {
  it('shows the figures in the status panel and the history, and the page-view panel in the chart', async () => {
    await create('dash-rum', { rum: { enabled: true } })
    expect((await call('/rollouts/dash-rum/start', { body: { release: 'r1' } })).status).toBe(200)
    for (const left of [2, 1]) {
      await judgedWindow('dash-rum', `healthy; baking, ${left} min left`, { verdict: 'healthy', numbers: numbersWithRum, ...rumData() }, [1200, 6, 130, 4])
    }

    const { p, $ } = await openDashboard(ADMIN_TOKEN, 'dash-rum')
    const figures = $('last-decision').testid('figures')!
    expect(rowsOf(figures).find((r) => r[0] === 'page-view-errors')).toEqual(['page-view-errors', 'with a JS error', '6 (0.5 %)', '4 (3.08 %)'])
    expect(rowsOf(figures).find((r) => r[0] === 'latency')).toEqual(['latency', 'p95 latency', '110 ms', '152 ms'])
    expect(figures.testid('new-in-canary')!.textContent).toBe('new in canary')
    expect(figures.textContent).toContain(evilError)

    const chart = $('chart-box').testid('chart')!
    expect(chart.find((e) => e.getAttribute('class') === 'ptitle').map((e) => e.textContent)).toContain('Page views with a JavaScript error (%)')
    expect($('chart-latest').textContent).toContain('Page views with a JavaScript error: stable 0.5 % of 1200 page views; canary 3.08 % of 130 page views.')

    const history = $('history')
    expect(history.find((e) => e.getAttribute('data-testid') === 'figures')).toHaveLength(2)
    expect(history.textContent).not.toContain('rum.')
    assertNoInjection(p.document)
  })

  it('shows no real-user figures for a rollout without them', async () => {
    await create('dash-norum')
    expect((await call('/rollouts/dash-norum/start', { body: { release: 'r1' } })).status).toBe(200)
    await judgedWindow('dash-norum', 'healthy; baking', { verdict: 'healthy', numbers: serverNumbers })

    const { $ } = await openDashboard(ADMIN_TOKEN, 'dash-norum')
    const figures = $('last-decision').testid('figures')!
    expect(rowsOf(figures).map((r) => r[0])).toEqual(['requests', '5xx', 'latency'])
    expect($('last-decision').textContent).not.toMatch(/page view|LCP|new in canary/)
    const titles = $('chart-box')
      .testid('chart')!
      .find((e) => e.getAttribute('class') === 'ptitle')
    expect(titles.map((e) => e.textContent)).toEqual(['Canary weight (%)', 'Error rate (%)', 'p95 latency (ms)'])
    expect($('chart-latest').textContent).not.toMatch(/page view/i)
  })
})
