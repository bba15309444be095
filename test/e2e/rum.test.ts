/// <reference lib="dom" />
/**
 * @module
 * Real-user signals through the whole `npm start` loop: real Chromium visitors browse the demo site, the edge adds
 * its RUM script to their pages and takes their beacons, and the controller judges them. A canary whose pages throw
 * in the browser, while every answer it sends is 200, must be rolled back for its JavaScript errors; the same
 * visitors on a healthy canary must see it promoted.
 *
 * The visitors are a small pool of browser contexts (each its own cookie jar), picked so that each cohort has the
 * same number: cohorts come from a hash of each visitor's id, and a pool left to chance is all in one cohort now and
 * then. The same pool browses both releases: the hash does not depend on the release, so each keeps its cohort. Every visitor has the same loopback address, as people trying `npm start` do, so the rollout counts page
 * views rather than clients (`judge.errorUnit: "request"`, as config/demo.rollout.json does).
 */
import { type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Stack } from '../../scripts/lib/stack.ts'
import { type Status, api, launch, newVisitor, stack, until, whileRunning } from './support.ts'

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36'

/** Visitors kept in each cohort. */
const PER_COHORT = 4

/**
 * One step at 50 % (both cohorts alike, and the most page views for the canary), judged on 5-second windows.
 * A canary throwing on half its page views alarms after about 12 errored page views with none on stable (the
 * JavaScript error test at its default alpha, 0.5 %), so about 24 canary page views; `minPageViews` 60 keeps a
 * healthy verdict, which would promote at once (no bake), well behind that, and is the wait a healthy canary has.
 * Web Vitals are compared from 10 page views with the vital per cohort rather than 100: these visitors never reach
 * 100, and a guard that never compares must not be what decides (or holds) either case.
 */
const RUM_ROLLOUT = {
  id: 'demo',
  rum: { enabled: true },
  schedule: [{ weight: 50, bakeMinutes: 0, minRequests: 0 }, { weight: 100 }],
  judge: { errorUnit: 'request', minRequests: 100, rum: { minPageViews: 60, jsErrors: { minErrors: 5 }, vitals: { minPageViews: 10 } } },
  analysis: { lagMinutes: 0, windowSeconds: 5, settleSeconds: 3, noDataPauseMinutes: 5 },
}

type Cohort = 'stable' | 'canary'

interface Visitor {
  ctx: BrowserContext
  page: Page
  cohort: Cohort
}

let s: Stack
let browser: Browser
let visitors: Visitor[] | undefined
/** Every answer the visitors' pages got, by path: the site's and Sluice's. */
let seen: { path: string; status: number }[] = []
/** Uncaught errors in the visitors' pages, by the cohort that served the page. */
let thrown: Record<Cohort, number> = { stable: 0, canary: 0 }

beforeAll(async () => {
  ;[s, browser] = await Promise.all([stack(RUM_ROLLOUT), desktopChrome()])
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await s?.stop()
}, 30_000)

/**
 * The support browser with a person's User-Agent for the whole browser rather than per context only (newVisitor):
 * the beacon a page queues as it is left is sent by the browser process once the page is gone, with the browser's
 * own User-Agent, and "HeadlessChrome" there would put every such beacon in stable's bot cohort, outside the judge.
 */
const desktopChrome = () => launch([`--user-agent=${CHROME}`])

const status = () => api<Status & { lastDecision: { kind: string; reason: string } | null }>(s, '/rollouts/demo')

/**
 * One page view: the page, its script done (it fills in the API answer) and a paint after it. The view ends when
 * the next one begins: the page is hidden then, which is when the RUM script sends its beacon.
 */
async function view(page: Page): Promise<Cohort> {
  await page.goto(`${s.url}/`)
  await page.waitForFunction(() => document.getElementById('api')?.textContent?.includes('version'))
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))))
  const cohort = await page.locator('#cohort').textContent()
  if (cohort !== 'stable' && cohort !== 'canary') throw new Error(`the page names no cohort: ${cohort}`)
  return cohort
}

async function newcomer(): Promise<Visitor> {
  const ctx = await newVisitor(browser)
  const page = await ctx.newPage()
  // An error counts against the cohort that served the page it happened in, which a decision can change.
  let served: Cohort | undefined
  page.on('response', (r) => {
    seen.push({ path: new URL(r.url()).pathname, status: r.status() })
    if (r.request().isNavigationRequest()) served = r.headers()['x-sluice-cohort'] as Cohort
  })
  page.on('pageerror', () => served && thrown[served]++)
  return { ctx, page, cohort: await view(page) }
}

/** Fresh visitors until each cohort has PER_COHORT of them; the others are sent away. */
async function pool(): Promise<Visitor[]> {
  const kept: Record<Cohort, Visitor[]> = { stable: [], canary: [] }
  for (let batch = 0; kept.stable.length < PER_COHORT || kept.canary.length < PER_COHORT; batch++) {
    if (batch === 10) throw new Error(`no even pool after 10 batches: ${kept.stable.length} stable, ${kept.canary.length} canary`)
    for (const v of await Promise.all(Array.from({ length: PER_COHORT }, newcomer))) {
      if (kept[v.cohort].length < PER_COHORT) kept[v.cohort].push(v)
      else await v.ctx.close()
    }
  }
  return [...kept.stable, ...kept.canary]
}

/** The visitors keep viewing pages, each at its own pace, for as long as `fn` runs. */
async function browsing<T>(visitors: Visitor[], fn: () => Promise<T>): Promise<T> {
  // No check that each keeps its cohort: once the controller decides, before `fn` sees it, a rollback serves the
  // canary's visitors from stable and a promotion the stable ones from the canary.
  return whileRunning(
    visitors,
    async (v, running) => {
      while (running()) await view(v.page)
    },
    fn,
  )
}

/** Starts a release and waits out the edge's config cache (CONFIG_TTL_SECONDS=1, plus a request in flight), so new visitors meet its weight. */
async function release(name: string) {
  await api(s, '/rollouts/demo/start', { release: name })
  await new Promise((r) => setTimeout(r, 2500))
}

describe('real-user signals', () => {
  it('roll back a canary whose pages throw in the browser while it answers every request with 200', async () => {
    seen = []
    thrown = { stable: 0, canary: 0 }
    await s.canary.configure({ jsErrorRate: 0.5 })
    await release('v2-throws')
    const end = await browsing((visitors ??= await pool()), () => until('automatic rollback', status, (st) => st.phase !== 'progressing', 90_000))

    expect(end).toMatchObject({ phase: 'rolled-back', weight: 0, lastDecision: { kind: 'rollback' } })
    expect(end.lastDecision!.reason).toMatch(/^canary JavaScript errors are disproportionate/)
    expect(end.lastDecision!.reason).toContain('new in canary: TypeError')
    const history = await api<{ entries: { command: string; actor: { kind: string } }[] }>(s, '/rollouts/demo/history?limit=5')
    expect(history.entries[0]).toMatchObject({ command: 'rollback', actor: { kind: 'controller' } })
    // The server side saw nothing wrong: every answer the browsers got was a 200.
    expect(seen.length).toBeGreaterThan(0)
    expect(seen.filter((r) => r.status !== 200)).toEqual([])
    expect(thrown.canary).toBeGreaterThan(0)
    expect(thrown.stable).toBe(0)
  }, 100_000)

  it('promote a healthy canary the same visitors browse', async () => {
    thrown = { stable: 0, canary: 0 }
    await s.canary.configure({ jsErrorRate: 0 })
    await release('v2-fixed')
    const end = await browsing((visitors ??= await pool()), () => until('automatic promotion', status, (st) => st.phase !== 'progressing', 90_000))

    expect(end).toMatchObject({ phase: 'promoted', weight: 100, lastDecision: { kind: 'promote' } })
    const history = await api<{ entries: { command: string; actor: { kind: string } }[] }>(s, '/rollouts/demo/history?limit=5')
    expect(history.entries[0]).toMatchObject({ command: 'promote', actor: { kind: 'controller' } })
    expect(thrown).toEqual({ stable: 0, canary: 0 })
  }, 100_000)
})
