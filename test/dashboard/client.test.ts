/**
 * @module
 * The dashboard's client code: its rendering functions as units, and the
 * script exactly as served, run against a fake page wired to the real worker.
 * The fake DOM keeps text as text and throws on every HTML sink, so a value
 * that reached one would fail here; a real browser run comes with the e2e suite.
 */
import { env } from 'cloudflare:workers'
import { sign } from 'hono/utils/jwt/jwt'
import { describe, expect, inject, it } from 'vitest'
import { coordinator } from '../../src/control/client.ts'
import type { HistoryEntry, RolloutStatus, SeriesPoint } from '../../src/contract/index.ts'
import * as client from '../../src/dashboard/client/index.ts'
import { clientConfig } from '../../src/dashboard/commands.ts'
import { call, create } from '../support/admin.ts'
import { ACCESS_AUD, ADMIN_TOKEN, READ_TOKEN } from '../support/tokens.ts'
import { type FakeEl, assertNoInjection, fakePage, openDashboard, scriptOf, shellHtml, useFakeDocument } from './fake-page.ts'

const CLIENT_CONFIG = clientConfig()
// The client's parts call each other by plain names, which the served script declares; for the calls made here,
// the exports stand in for them.
Object.assign(globalThis, client)

// ---- units -------------------------------------------------------------------

describe('rendering functions', () => {
  const doc = useFakeDocument()

  const evil = '<script>alert(1)</script><img src=x onerror=alert(2)>'

  it('h() keeps strings as text and refuses event-handler attributes', () => {
    const el = client.h('p', { title: evil, hidden: true, skipped: null, off: false }, evil, 3) as unknown as FakeEl
    expect(el.kids).toEqual([evil, '3'])
    expect(el.getAttribute('title')).toBe(evil)
    expect(el.getAttribute('hidden')).toBe('')
    expect(el.attrs.has('skipped') || el.attrs.has('off')).toBe(false)
    expect(() => client.h('a', { onclick: 'alert(1)' })).toThrow(/event-handler/)
    expect(() => client.h('a', { OnMouseOver: 'x' })).toThrow(/event-handler/)
    expect(client.cls('awaiting-approval')).toBe('awaiting-approval')
    expect(client.cls('" onmouseover="alert(1)')).toBe('onmouseoveralert1')
  })

  it('renders a history entry whose every field is hostile as text', () => {
    const entry: HistoryEntry = {
      seq: 7,
      at: '2026-01-02T03:04:05.000Z',
      rollout: 'web',
      actor: { kind: 'operator', name: evil },
      command: `start" onclick="${evil}`,
      from: { phase: 'idle', weight: 0, revision: 1 },
      to: { phase: evil, weight: 10, revision: 2 },
      reason: evil,
      data: { [evil]: evil, numbers: { canaryErrorRate: 0.0123456, stableP95: null, windows: 12 }, list: [1, 2] },
    }
    const li = client.renderEntry(entry) as unknown as FakeEl
    assertNoInjection(doc())
    const texts = [...li.texts()]
    expect(texts).toContain(evil)
    expect(texts).toContain(`operator ${evil}`)
    const kind = li.find((el) => el.getAttribute('class')?.startsWith('kind') ?? false)[0]!
    expect(kind.getAttribute('class')).toBe('kind kind-startonclickscriptalert1scriptimgsrcxonerroralert2')
    const kv = li.find((el) => el.tagName === 'DL')[0]!
    const pairs = kv.kids.map((d) => [...(d as FakeEl).kids].map((k) => (k as FakeEl).textContent))
    expect(pairs).toEqual([
      [evil, evil],
      ['numbers.canaryErrorRate', '0.01235'],
      ['numbers.stableP95', '—'],
      ['numbers.windows', '12'],
      ['list', '[1,2]'],
    ])
  })

  it('renders a rollout list item and a problem with hostile values as text', () => {
    const status = { id: 'web', phase: evil, weight: 12.5, release: evil } as unknown as RolloutStatus
    const li = client.renderItem(status, true) as unknown as FakeEl
    expect(li.getAttribute('data-testid')).toBe('rollout-web')
    expect([...li.texts()]).toEqual(['web', evil, evil, '12.5 %'])
    const p = client.renderProblem({ title: evil, status: 400, detail: evil, errors: [{ field: evil, message: evil }] }) as unknown as FakeEl
    expect(p.textContent).toBe(`${evil} (400) ${evil}${evil}: ${evil}`)
    assertNoInjection(doc())
  })

  it('formats numbers, durations and the time left in a step', () => {
    expect([12.5, 0.1 + 0.2, null, Number.NaN].map((n) => client.num(n))).toEqual(['12.5', '0.3', '—', '—'])
    expect([client.pct(100), client.pct(undefined)]).toEqual(['100 %', '—'])
    expect([0, 59_400, 61_000, 3_725_000].map(client.duration)).toEqual(['0s', '59s', '1m 01s', '1h 02m'])
    expect(client.show(0.000123456)).toBe('0.0001235')
    const step = { index: 1, weight: 50, bakeEndsAt: new Date(1_000_000 + 240_000).toISOString() }
    const base = { phase: 'progressing', spec: { schedule: [{}, {}, {}] }, step } as unknown as RolloutStatus
    expect(client.bakeText(base, 1_000_000)).toBe('4m 00s left')
    expect(client.bakeText(base, 1_000_000 + 300_000)).toMatch(/^baked/)
    expect(client.bakeText({ ...base, phase: 'awaiting-approval' }, 0)).toBe('waiting for approval')
    expect(client.bakeText({ ...base, step: null }, 0)).toBe('—')
    expect(client.stepText(base)).toBe('2 of 3 · 50 %')
  })

  const ringed = (over: Partial<RolloutStatus> = {}) =>
    ({
      id: 'web',
      phase: 'progressing',
      weight: 5,
      rings: { [evil]: 100, nz: 25 },
      spec: {
        schedule: [
          { audience: evil, weight: 100, bakeMinutes: 5 },
          { weight: 5, bakeMinutes: 5 },
          { audience: 'nz', weight: 25, bakeMinutes: 10, gate: true },
          { weight: 100, bakeMinutes: 0 },
        ],
      },
      step: { index: 2, weight: 25, audience: 'nz', bakeMinutes: 10, minRequests: 0, startedAt: null, bakeEndsAt: null },
      ...over,
    }) as unknown as RolloutStatus

  it('renders ring steps in the schedule distinctly, labelled with their audience as text', () => {
    const ol = client.renderSchedule(ringed()) as unknown as FakeEl
    const items = ol.kids as FakeEl[]
    expect(items.map((li) => li.getAttribute('class'))).toEqual(['past ring', 'past', 'on ring', null])
    expect(items.map((li) => li.getAttribute('data-testid'))).toEqual(['ring-step', null, 'ring-step', null])
    const rings = ol.find((el) => el.getAttribute('data-testid') === 'ring-step')
    expect(rings.map((li) => [...li.texts()])).toEqual([
      [evil, '100 %', '5 min'],
      ['nz', '25 %', 'gate', '10 min'],
    ])
    expect(rings[0]!.getAttribute('title')).toBe(`only the ${evil} audience's weight rises`)
    expect(rings[0]!.find((el) => el.getAttribute('class') === 'ring-label')[0]!.kids).toEqual([evil])
    expect([...items[1]!.texts()]).toEqual(['5 %', '5 min'])
    expect(client.stepText(ringed())).toBe('3 of 4 · ring nz · 25 %')
    assertNoInjection(doc())
  })

  it("shows each ring's weight beside everyone's, hidden while no ring is in force", () => {
    const el = client.renderRingWeights(ringed()) as unknown as FakeEl
    expect(el.getAttribute('data-testid')).toBe('ring-weights')
    expect(el.hidden || el.attrs.has('hidden')).toBe(false)
    const rings = el.find((e) => e.getAttribute('data-testid') === 'ring-weight')
    expect(rings.map((r) => r.getAttribute('data-ring'))).toEqual([evil, 'nz'])
    expect(rings.map((r) => [...r.texts()])).toEqual([
      [evil, ' ', '100 %'],
      ['nz', ' ', '25 %'],
    ])
    expect(el.textContent).toMatch(/everyone else 5 %$/)
    expect((client.renderRingWeights(ringed({ rings: {} })) as unknown as FakeEl).getAttribute('hidden')).toBe('')
    assertNoInjection(doc())
  })

  it("draws each ring's verdict with its own numbers, apart from the decision's other data", () => {
    const numbers = { windowCanaryRequests: 40, windowCanaryErrors: 3, canaryUnits: 12, canaryUnitFailures: null }
    const rings = {
      [evil]: { label: evil, weight: 100, verdict: 'pause', reason: evil, numbers },
      'everyone-else': { label: 'everyone else', weight: 5, verdict: 'healthy', reason: '', numbers: { windowCanaryRequests: 7 } },
      broken: 'not a ring',
    }
    const entry: HistoryEntry = {
      seq: 9,
      at: '2026-01-02T03:04:05.000Z',
      rollout: 'web',
      actor: { kind: 'controller', name: 'controller' },
      command: 'pause',
      from: { phase: 'progressing', weight: 5, revision: 3 },
      to: { phase: 'paused', weight: 5, revision: 4 },
      reason: 'a ring paused',
      data: { verdict: 'pause', rings },
    }
    const li = client.renderEntry(entry) as unknown as FakeEl
    const kv = li.find((el) => el.tagName === 'DL')
    // The decision's own data first, then one list item per ring, each with its numbers.
    expect(kv[0]!.textContent).toBe('verdictpause')
    const verdicts = li.testid('ring-verdicts')!
    const items = verdicts.find((el) => el.getAttribute('data-testid') === 'ring-verdict')
    expect(items.map((el) => el.getAttribute('data-ring'))).toEqual([evil, 'everyone-else'])
    expect(items[0]!.find((el) => el.getAttribute('class')?.startsWith('kind ') ?? false)[0]!.getAttribute('class')).toBe('kind kind-pause')
    expect([...items[0]!.find((el) => el.getAttribute('class') === 'entry-head')[0]!.texts()]).toEqual([evil, '100 %', 'pause'])
    expect(items[0]!.find((el) => el.getAttribute('class') === 'reason')[0]!.kids).toEqual([evil])
    const pairs = (el: FakeEl) => el.find((e) => e.tagName === 'DL')[0]!.kids.map((d) => (d as FakeEl).kids.map((k) => (k as FakeEl).textContent))
    expect(pairs(items[0]!)).toEqual([
      ['windowCanaryRequests', '40'],
      ['windowCanaryErrors', '3'],
      ['canaryUnits', '12'],
      ['canaryUnitFailures', '—'],
    ])
    expect(pairs(items[1]!)).toEqual([['windowCanaryRequests', '7']])
    expect(items[1]!.find((el) => el.getAttribute('class') === 'reason')).toHaveLength(0)
    expect(client.renderRingVerdicts(undefined)).toBeNull()
    expect(client.renderRingVerdicts({ only: 1 })).toBeNull()
    assertNoInjection(doc())
  })

  const point = (at: number, over: Partial<SeriesPoint> = {}): SeriesPoint => ({
    at,
    weight: 10,
    stable: { requests: 1000, errors: 5, p95: 120 },
    canary: { requests: 100, errors: 2, p95: 180 },
    ...over,
  })
  const attrsOf = (root: FakeEl) => [...root.walk()].flatMap((el) => [...el.attrs.values()])
  const byClass = (root: FakeEl, c: string) => root.find((el) => el.getAttribute('class') === c)

  it('draws no points as an empty chart with its legend, and says so', () => {
    const svg = client.renderChart([]) as unknown as FakeEl
    expect(svg.getAttribute('data-testid')).toBe('chart')
    expect(svg.ns).toBe('http://www.w3.org/2000/svg')
    expect(svg.textContent).toContain('No judged windows yet')
    expect(svg.textContent).toContain('canary weight')
    expect(svg.find((el) => el.tagName === 'path')).toHaveLength(0)
  })

  it('draws one point as dots (a line needs two) on a finite scale', () => {
    const svg = client.renderChart([point(1_700_000_000_000)]) as unknown as FakeEl
    expect(svg.find((el) => el.tagName === 'path')).toHaveLength(0)
    expect(byClass(svg, 'dot weight')).toHaveLength(1)
    expect(byClass(svg, 'dot stable')).toHaveLength(2) // error rate and p95
    expect(byClass(svg, 'dot canary')).toHaveLength(2)
    for (const v of attrsOf(svg)) expect(v).not.toMatch(/NaN|Infinity|undefined/)
    const times = byClass(svg, 'tick')
      .map((el) => el.textContent)
      .filter((t) => /^\d\d:\d\d/.test(t))
    expect(times).toHaveLength(5)
    expect(new Set(times).size, `distinct time labels: ${times}`).toBe(5)
  })

  it('draws lines with axes and labels, breaking them at gaps in time and at windows without traffic', () => {
    const t = 1_700_000_000_000
    const pts = [0, 1, 2, 3, 30, 31, 32].map((m) => point(t + m * 60_000, { weight: m < 30 ? 10 : 50 }))
    pts[5] = { ...pts[5]!, canary: { requests: 0, errors: 0, p95: null } }
    const svg = client.renderChart(pts) as unknown as FakeEl
    // stable: one run before the gap, one after; canary: the second run is cut again by the empty window.
    expect(byClass(svg, 'line stable')).toHaveLength(4) // 2 panels x 2 runs
    expect(byClass(svg, 'line canary')).toHaveLength(2) // 2 panels x the first run
    expect(byClass(svg, 'dot canary')).toHaveLength(4) // 2 panels x 2 lone points after the gap
    expect(byClass(svg, 'line weight')).toHaveLength(2)
    expect(byClass(svg, 'area weight')).toHaveLength(2)
    const titles = byClass(svg, 'ptitle').map((el) => el.textContent)
    expect(titles).toEqual(['Canary weight (%)', 'Error rate (%)', 'p95 latency (ms)'])
    const ticks = byClass(svg, 'tick').map((el) => el.textContent)
    expect(ticks).toEqual(expect.arrayContaining(['0', '50', '100', '200', 'window end, local time']))
    expect(svg.find((el) => el.tagName === 'desc')[0]!.textContent).toMatch(
      /^7 windows .* canary weight 50 %; stable 0.5 % errors of 1000 requests, p95 120 ms; canary 2 % errors of 100 requests, p95 180 ms\.$/,
    )
    expect(client.chartSummary([pts[5]!])).toMatch(/canary — errors of 0 requests, no p95\.$/)
    for (const v of attrsOf(svg)) expect(v).not.toMatch(/NaN|Infinity|undefined/)
  })

  it('keeps at most 360 points, with exact error rates and the worst p95', () => {
    const t = 1_700_000_000_000
    const week = Array.from({ length: 10_080 }, (_, i) => point(t + i * 60_000, { stable: { requests: 10, errors: i % 2, p95: i } }))
    const few = client.downsample(week, 360)
    expect(few.length).toBeLessThanOrEqual(360)
    expect(few.reduce((n, p) => n + p.stable.requests, 0)).toBe(100_800)
    expect(few.reduce((n, p) => n + p.stable.errors, 0)).toBe(5_040)
    expect(few[0]!.stable.p95).toBe(27) // the first 28 windows merged
    expect(few.at(-1)!.at).toBe(week.at(-1)!.at)
    expect([0, 0.37, 1.2].map((v) => client.niceMax(v, 0.1))).toEqual([0.1, 0.5, 2])
    expect([240, 600].map((v) => client.niceMax(v, 10))).toEqual([250, 1000])
  })
})

// ---- the served script, running ------------------------------------------------

const evilRelease = '<script>alert(1)</script><img src=x onerror=alert(2)>'

async function startedRollout(id: string) {
  await create(id)
  expect((await call(`/rollouts/${id}/start`, { body: { release: evilRelease, reason: '<b>ship</b> it' } })).status).toBe(200)
}

/** Feeds judged windows through the coordinator, as the controller would, so the chart and history have numbers. */
async function judgedWindows(id: string, n: number) {
  const c = coordinator(env)
  for (let i = 0; i < n; i++) {
    const row = (await c.progressing()).find((r) => r.spec.id === id)!
    const end = (row.state.windowEnd ?? Date.now()) + 60_000
    const point = {
      at: end,
      weight: row.state.weight,
      stable: { requests: 900, errors: 3, p95: 110 + i },
      canary: { requests: 100, errors: i, p95: 150 + 10 * i },
    }
    const data = { verdict: 'healthy', numbers: { canaryErrorRate: i / 100, note: evilRelease } }
    const decision = { kind: 'hold' as const, reason: `healthy; baking, ${n - i} min left`, data }
    const basis = { revision: row.state.revision, windowEnd: row.state.windowEnd }
    const r = await c.decide(id, decision, basis, { evidence: null, windowEnd: end }, point)
    expect(r.ok && r.value.applied).toBe(true)
  }
}

describe('the served script against the worker', () => {
  it('asks for a token, refuses bad ones, then shows rollouts, chart and history with hostile labels as text', async () => {
    await startedRollout('dash-ui')
    await judgedWindows('dash-ui', 3)
    const html = await shellHtml()
    const p = fakePage(html)
    const $ = (id: string) => p.document.$(id)
    p.run(scriptOf(html))
    await p.settle()

    // No token, no Access: the API says 401, so the form shows and nothing else does.
    expect($('token-form').hidden).toBe(false)
    expect($('app').hidden).toBe(true)
    expect(p.requests.map((r) => r.headers.authorization)).toEqual([undefined])

    // A malformed token is refused before any request; a wrong one by the API, and it is not kept.
    const before = p.requests.length
    $('token-input').value = 'has spaces in it'
    $('token-form').emit('submit')
    await p.settle()
    expect(p.requests.length).toBe(before)
    expect($('token-error').hidden).toBe(false)
    $('token-input').value = 'wrong-token-0000000000'
    expect($('token-form').emit('submit').defaultPrevented).toBe(true)
    await p.settle()
    expect($('token-form').hidden).toBe(false)
    expect($('token-error').textContent).toMatch(/not accepted/)
    expect(p.storage.size).toBe(0)

    $('token-input').value = ADMIN_TOKEN
    $('token-form').emit('submit')
    await p.settle()
    expect($('token-form').hidden).toBe(true)
    expect($('app').hidden).toBe(false)
    expect($('forget').hidden).toBe(false)
    expect([...p.storage.values()]).toEqual([ADMIN_TOKEN])
    expect(p.requests.at(-1)!.headers.authorization).toBe(`Bearer ${ADMIN_TOKEN}`)

    // Pick the rollout through the URL fragment, as its list link does.
    const item = $('rollout-list').testid('rollout-dash-ui')!
    const link = item.find((el) => el.tagName === 'A')[0]!
    expect(link.getAttribute('href')).toBe('#dash-ui')
    p.g.location.hash = link.getAttribute('href')!
    p.emit('hashchange')
    await p.settle()

    expect($('rollout-title').textContent).toBe('dash-ui')
    expect($('phase').textContent).toBe('progressing')
    expect($('phase').getAttribute('class')).toContain('phase-progressing')
    expect($('weight').textContent).toBe('10 %')
    expect($('step').textContent).toBe('1 of 3 · 10 %')
    expect($('time-left').textContent).toMatch(/left$|^baked/)
    expect($('release').textContent).toBe(evilRelease)
    expect(item.textContent).toContain(evilRelease)

    const chart = $('chart-box').testid('chart')!
    expect(chart.find((el) => el.getAttribute('class') === 'line canary')).toHaveLength(2)
    expect(chart.find((el) => el.tagName === 'desc')[0]!.textContent).toMatch(/^3 windows/)

    const history = $('history')
    expect(history.kids.length).toBe(5) // three holds with new reasons, start, create
    expect(history.textContent).toContain('<b>ship</b> it')
    expect(history.textContent).toContain(`release${evilRelease}`)
    expect(history.textContent).toContain('numbers.canaryErrorRate0.02')
    assertNoInjection(p.document)

    // Every id the script looked up is in the shell (a typo would have thrown above, this names them).
    for (const id of p.document.looked) expect(html).toContain(`id="${id}"`)
  })

  it("shows a ringed rollout's ring weights, ring steps and each ring's verdict", async () => {
    const audiences = { staff: { header: { name: 'x-staff', values: ['1'] } } }
    const schedule = [{ audience: 'staff', weight: 50, bakeMinutes: 1 }, { weight: 10, bakeMinutes: 1 }, { weight: 100 }]
    await create('dash-rings', { audiences, schedule })
    expect((await call('/rollouts/dash-rings/start', { body: { release: 'r1' } })).status).toBe(200)
    // One judged window, as the controller records it for a rollout with rings.
    const c = coordinator(env)
    const row = (await c.progressing()).find((r) => r.spec.id === 'dash-rings')!
    const numbers = { windowCanaryRequests: 120, windowCanaryErrors: 1, windowStableRequests: 118, windowStableErrors: 0 }
    const rings = {
      staff: { label: 'ring staff', weight: 50, verdict: 'healthy', reason: 'enough data and no alarm', numbers },
      'everyone-else': { label: 'everyone else', weight: 0, verdict: 'hold', reason: `not enough data: ${evilRelease}`, numbers: { windowCanaryRequests: 0 } },
    }
    const decision = { kind: 'hold' as const, reason: 'healthy; baking, 1 min left', data: { verdict: 'hold', rings } }
    const end = (row.state.windowEnd ?? Date.now()) + 60_000
    const r = await c.decide('dash-rings', decision, { revision: row.state.revision, windowEnd: row.state.windowEnd }, { evidence: null, windowEnd: end })
    expect(r.ok && r.value.applied).toBe(true)

    const { p, $ } = await openDashboard(ADMIN_TOKEN, 'dash-rings')
    expect($('weight').textContent).toBe('0 %')
    const weights = $('weight-bar').testid('ring-weights')!
    expect(weights.find((el) => el.getAttribute('data-testid') === 'ring-weight').map((el) => el.textContent)).toEqual(['staff 50 %'])
    expect(weights.textContent).toContain('everyone else 0 %')
    expect($('step').textContent).toBe('1 of 3 · ring staff · 50 %')
    const steps = $('schedule').find((el) => el.getAttribute('data-testid') === 'ring-step')
    expect(steps.map((el) => [el.getAttribute('class'), el.textContent])).toEqual([['on ring', 'staff50 %1 min']])

    const last = $('last-decision').testid('ring-verdicts')!
    const verdicts = last.find((el) => el.getAttribute('data-testid') === 'ring-verdict')
    expect(verdicts.map((el) => el.getAttribute('data-ring'))).toEqual(['staff', 'everyone-else'])
    expect(verdicts[0]!.textContent).toContain('windowCanaryRequests120')
    expect(verdicts[1]!.textContent).toContain(`not enough data: ${evilRelease}`)
    // The history's entry of that decision draws the rings the same way.
    expect($('history').testid('ring-verdicts')!.textContent).toBe(last.textContent)
    assertNoInjection(p.document)
  })

  it('sends commands, asks before drastic ones, and shows the problem when the API refuses', async () => {
    await startedRollout('dash-cmd')
    const { p, $ } = await openDashboard(ADMIN_TOKEN, 'dash-cmd')
    expect($('token-form').hidden).toBe(true)
    expect($('phase').textContent).toBe('progressing')
    const enabled = () => CLIENT_CONFIG.commands.filter((c) => !$(`cmd-${c}`).disabled).sort()
    expect(enabled()).toEqual(['pause', 'promote', 'rollback', 'weight'])

    // Pause: at once, with the reason typed, and without If-Match (a brake must not be refused as stale).
    $('reason').value = 'looking into <it>'
    $('cmd-pause').click()
    await p.settle()
    const pause = p.requests.find((r) => r.method === 'POST')!
    expect(pause.url).toBe('/__sluice/api/rollouts/dash-cmd/pause')
    expect(JSON.parse(pause.body!)).toEqual({ reason: 'looking into <it>' })
    expect(pause.headers['if-match']).toBeUndefined()
    expect($('phase').textContent).toBe('paused')
    expect($('notice').hidden).toBe(false)
    expect($('reason').value).toBe('')
    expect(enabled()).toEqual(['promote', 'resume', 'rollback', 'weight'])

    // Someone else moves the rollout on; resume carries the revision on screen, so it is refused, and says why.
    expect((await call('/rollouts/dash-cmd/weight', { body: { weight: 20 } })).status).toBe(200)
    $('cmd-resume').click()
    await p.settle()
    const resume = p.requests.filter((r) => r.method === 'POST').at(-1)!
    expect(resume.url).toBe('/__sluice/api/rollouts/dash-cmd/resume')
    expect(resume.headers['if-match']).toMatch(/^"\d+"$/)
    expect($('problem').hidden).toBe(false)
    expect($('problem').textContent).toMatch(/Precondition Failed \(412\).*changed since this page showed it/)
    expect($('weight').textContent).toBe('20 %') // refreshed after the refusal

    // Weight: checked here first, then confirmed in the dialog.
    $('weight-input').value = '100.001'
    $('cmd-weight').click()
    expect($('problem').textContent).toMatch(/Invalid weight/)
    expect($('dialog').open).toBe(false)
    $('weight-input').value = '12.5'
    $('cmd-weight').click()
    expect($('dialog').open).toBe(true)
    expect($('dialog-text').textContent).toContain('12.5 %')
    $('dialog-cancel').click()
    expect($('dialog').open).toBe(false)
    await p.settle()
    expect($('weight').textContent).toBe('20 %')
    $('cmd-weight').click()
    $('dialog-form').emit('submit')
    await p.settle()
    expect($('weight').textContent).toBe('12.5 %')

    // Rollback asks, then goes through.
    $('cmd-rollback').click()
    expect($('dialog').open).toBe(true)
    expect($('dialog-confirm').getAttribute('class')).toBe('danger')
    expect($('dialog-field').hidden).toBe(true)
    $('dialog-form').emit('submit')
    await p.settle()
    expect($('phase').textContent).toBe('rolled-back')
    expect($('weight').textContent).toBe('0 %')
    expect(enabled()).toEqual(['rollback', 'start', 'weight'])

    // Start asks for a release label and will not go without one.
    $('cmd-start').click()
    expect($('dialog-field').hidden).toBe(false)
    $('dialog-input').value = '   '
    $('dialog-form').emit('submit')
    expect($('dialog').open).toBe(true)
    expect($('dialog-error').textContent).toMatch(/release label/)
    $('dialog-input').value = 'v2 <i>'
    $('dialog-form').emit('submit')
    await p.settle()
    expect($('phase').textContent).toBe('progressing')
    expect($('release').textContent).toBe('v2 <i>')
    expect($('history').textContent).toContain('v2 <i>')
    assertNoInjection(p.document)
  })

  it('shows a read-only token its 403, and forgets the token on request', async () => {
    await startedRollout('dash-ro')
    const { p, $ } = await openDashboard(READ_TOKEN, 'dash-ro')
    $('cmd-pause').click()
    await p.settle()
    expect($('problem').textContent).toMatch(/Forbidden \(403\).*read-only/)
    expect($('phase').textContent).toBe('progressing')

    $('forget').click()
    await p.settle()
    expect(p.storage.size).toBe(0)
    expect($('token-form').hidden).toBe(false)
    expect($('app').hidden).toBe(true)
    expect($('rollout-list').kids).toHaveLength(0)
    expect($('history').kids).toHaveLength(0)
    expect($('problem').hidden).toBe(true)
  })

  it('behind Cloudflare Access, asks for no token at all', async () => {
    const team = `http://127.0.0.1:${inject('accessPort')}`
    const access = async () => {
      const now = Math.floor(Date.now() / 1000)
      const claims = { iss: team, aud: [ACCESS_AUD], email: 'ops@example.com', iat: now, nbf: now, exp: now + 300 }
      return sign(claims, inject('accessPrivateJwk') as JsonWebKey, 'RS256')
    }
    await startedRollout('dash-access')
    const html = await shellHtml()
    const p = fakePage(html, { access })
    p.run(scriptOf(html))
    await p.settle()
    expect(p.document.$('token-form').hidden).toBe(true)
    expect(p.document.$('app').hidden).toBe(false)
    expect(p.document.$('forget').hidden).toBe(true)
    expect(p.document.$('who').textContent).toMatch(/Cloudflare Access/)
    expect(p.requests.every((r) => r.headers.authorization === undefined)).toBe(true)
  })

  it('polls without redrawing what did not change, and picks up what did', async () => {
    await startedRollout('dash-poll')
    const { p, $ } = await openDashboard(ADMIN_TOKEN, 'dash-poll')
    const list = $('rollout-list').kids[0]
    const chart = $('chart-box').kids[0]
    const history = $('history').kids[0]
    const requests = p.requests.length

    p.poll()
    await p.settle()
    expect(p.requests.length).toBe(requests + 3) // list, series, history
    expect($('rollout-list').kids[0]).toBe(list)
    expect($('chart-box').kids[0]).toBe(chart)
    expect($('history').kids[0]).toBe(history)

    await call('/rollouts/dash-poll/pause', { method: 'POST' })
    p.poll()
    await p.settle()
    expect($('phase').textContent).toBe('paused')
    expect($('history').kids[0]).not.toBe(history)

    // A hidden tab does not poll.
    p.document.hidden = true
    const quiet = p.requests.length
    p.poll()
    await p.settle()
    expect(p.requests.length).toBe(quiet)
  })
})
