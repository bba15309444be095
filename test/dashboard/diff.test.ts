/**
 * @module
 * The dashboard's panel for a shadow step's diff report (src/dashboard/client/diff.ts): as units, from a report as
 * core builds it, then through the served script against the worker. Example values come from origin answers, so
 * one of them holds markup: it must stay text.
 */
import { describe, expect, it } from 'vitest'
import type { RolloutStatus } from '../../src/contract/index.ts'
import * as client from '../../src/dashboard/client/index.ts'
import { call, create } from '../support/admin.ts'
import { ADMIN_TOKEN } from '../support/tokens.ts'
import { EVIL_VALUE, diffReport } from './diff-data.ts'
import { type FakeEl, assertNoInjection, openDashboard, useFakeDocument } from './fake-page.ts'
import { SHADOW_ROUTE, shadowRollout } from './shadow-seed.ts'

Object.assign(globalThis, client)

/** Each field row's cells as text: verdict, path and kind, canary, noise, example. */
const fieldsOf = (el: FakeEl) => el.find((e) => e.tagName === 'TR' && e.attrs.has('data-field')).map((tr) => tr.kids.map((k) => (k as FakeEl).textContent))

describe('the diff panel', () => {
  const doc = useFakeDocument()

  it('shows the verdict and counts, each route, and per field a verdict badge, the rates and the example pair, as text', () => {
    const el = client.renderDiff(diffReport()) as unknown as FakeEl
    expect(el.getAttribute('data-testid')).toBe('diff-report')
    expect(el.kids[0] && (el.kids[0] as FakeEl).textContent).toBe('differs 240 compared, 50 noise-sampled; mirroring 10 % of visitors')
    expect(el.find((e) => e.attrs.has('data-route')).map((e) => e.getAttribute('data-route'))).toEqual(['/api/users/:id', '/api/orders'])
    expect(fieldsOf(el)).toEqual([
      ['differs', '/name missing', '12 % (24)', '0 % (0/40)', `stable ${EVIL_VALUE}canary `],
      ['pending', '/age type', '1.5 % (3)', '0 % (0/40)', 'stable 42canary "42"'],
      ['noise', '/at value', '100 % (200)', '100 % (40/40)', '—'],
      ['differs', 'status value', '5 % (2)', '— (0/0)', 'stable 200canary 500'],
    ])
    const badges = el.find((e) => e.getAttribute('data-testid') === 'verdict').map((e) => e.getAttribute('class'))
    expect(badges).toEqual([
      'badge verdict verdict-differs',
      'badge verdict verdict-differs',
      'badge verdict verdict-pending',
      'badge verdict verdict-noise',
      'badge verdict verdict-differs',
    ])
    // The origin's `<img onerror>` is a text node of its <code>, never an element or an attribute.
    const stable = el.find((e) => e.tagName === 'CODE' && e.getAttribute('data-cohort') === 'stable')[0]!
    expect(stable.kids).toEqual([EVIL_VALUE])
    assertNoInjection(doc())
  })

  it('says so before any mirrored request, and a route whose fields never differed', () => {
    const empty = client.renderDiff(diffReport({ compared: 0, noiseSampled: 0, verdict: 'pending', routes: [] })) as unknown as FakeEl
    expect(empty.textContent).toBe('pending 0 compared, 0 noise-sampled; mirroring 10 % of visitors' + 'No mirrored request compared yet.')
    const [route] = diffReport().routes
    const clean = client.renderDiffRoute({ ...route!, fields: [] }) as unknown as FakeEl
    expect(clean.textContent).toMatch(/no field differed$/)
  })

  it('asks for a report only for a started rollout whose schedule has a shadow step', () => {
    const status = (release: string | null, schedule: object[]) => ({ id: 'web shop', release, spec: { schedule } }) as unknown as RolloutStatus
    const shadow = [{ shadow: 10, weight: 0 }, { weight: 100 }]
    expect(client.diffPath(status('v2', shadow))).toBe('/rollouts/web%20shop/diff')
    expect(client.diffPath(status(null, shadow))).toBeNull()
    expect(client.diffPath(status('v2', [{ weight: 10 }, { weight: 100 }]))).toBeNull()
    expect(client.diffPath(null)).toBeNull()
  })
})

describe('the served script, for a rollout in its shadow step', () => {
  it("shows the report from the controller's evidence, with the origin's values as text", async () => {
    await shadowRollout('dash-shadow')
    const { p, $ } = await openDashboard(ADMIN_TOKEN, 'dash-shadow')
    expect(p.requests.map((r) => r.url)).toContain('/__sluice/api/rollouts/dash-shadow/diff')
    expect($('diff-card').hidden).toBe(false)
    const report = $('diff').testid('diff-report')!
    expect(report.find((e) => e.attrs.has('data-route')).map((e) => e.getAttribute('data-route'))).toEqual([SHADOW_ROUTE])
    expect(fieldsOf(report)).toEqual([
      ['differs', '/name missing', '100 % (200)', '0 % (0/200)', `stable ${EVIL_VALUE}canary `],
      ['noise', '/at value', '100 % (200)', '100 % (200/200)', '—'],
    ])
    assertNoInjection(p.document)
  })

  it('asks for no report, and shows no panel, for a rollout without a shadow step', async () => {
    await create('dash-unshadowed')
    expect((await call('/rollouts/dash-unshadowed/start', { body: { release: 'r1' } })).status).toBe(200)
    const { p, $ } = await openDashboard(ADMIN_TOKEN, 'dash-unshadowed')
    expect(p.requests.some((r) => r.url.endsWith('/diff'))).toBe(false)
    expect($('diff-card').hidden).toBe(true)
  })
})
