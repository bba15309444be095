/// <reference lib="dom" />
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Stack } from '../../scripts/lib/stack.ts'
import { runTraffic } from '../../scripts/traffic.ts'
import { FAST_ROLLOUT, SCREENSHOTS, type Status, api, launch, newVisitor, stack, until } from './support.ts'

let s: Stack
let browser: Browser

beforeAll(async () => {
  ;[s, browser] = await Promise.all([stack(FAST_ROLLOUT), launch()])
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await s?.stop()
}, 30_000)

const status = () => api<Status>(s, '/rollouts/demo')

/** Visitors for as long as `fn` runs (bounded by `maxS`), like `npm run traffic`. */
async function underTraffic<T>(fn: () => Promise<T>, maxS = 150): Promise<T> {
  const stop = new AbortController()
  const traffic = runTraffic({ url: s.url, rps: 40, durationS: maxS, visitors: 300, cookieless: 0.2, rollout: 'demo', signal: stop.signal })
  try {
    return await fn()
  } finally {
    stop.abort()
    await traffic
  }
}

describe('the whole loop', () => {
  it('rolls a bad canary back by itself', async () => {
    await s.canary.configure({ errorRate: 0.25 })
    await api(s, '/rollouts/demo/start', { release: 'v2-bad' })
    const end = await underTraffic(() => until('automatic rollback', status, (st) => st.phase !== 'progressing', 120_000))
    expect(end).toMatchObject({ phase: 'rolled-back', weight: 0 })
    const history = await api<{ entries: { command: string; actor: { kind: string } }[] }>(s, '/rollouts/demo/history?limit=5')
    expect(history.entries[0]).toMatchObject({ command: 'rollback', actor: { kind: 'controller' } })
  }, 150_000)

  it('promotes a healthy canary by itself', async () => {
    await s.canary.configure({ errorRate: 0 })
    await api(s, '/rollouts/demo/start', { release: 'v2-good' })
    const end = await underTraffic(() => until('automatic promotion', status, (st) => st.phase !== 'progressing', 150_000), 170)
    expect(end).toMatchObject({ phase: 'promoted', weight: 100 })
    const history = await api<{ entries: { command: string; actor: { kind: string } }[] }>(s, '/rollouts/demo/history?limit=10')
    expect(history.entries.filter((e) => e.actor.kind === 'controller').map((e) => e.command)).toContain('promote')
  }, 180_000)

  it('shows the rollout in the dashboard, with a chart, and its rollback button rolls back (checked through the site)', async () => {
    const ctx = await newVisitor(browser)
    const page = await ctx.newPage()
    await page.setViewportSize({ width: 1280, height: 1000 })
    await page.goto(`${s.url}/__sluice/`)
    await page.getByTestId('token-form').waitFor()
    await page.fill('#token-input', s.token)
    await page.press('#token-input', 'Enter')
    await page.getByTestId('rollout-demo').click()
    await expect.poll(() => page.getByTestId('phase').textContent(), { timeout: 15_000 }).toMatch(/promoted/)
    expect(await page.getByTestId('weight').textContent()).toMatch(/100/)
    // The chart has data from the two rollouts above: an SVG with drawn series.
    const chart = page.getByTestId('chart')
    await chart.waitFor()
    expect(await chart.evaluate((el) => el.querySelectorAll('path, polyline, circle').length)).toBeGreaterThan(0)
    expect((await page.getByTestId('history').textContent()) ?? '').toMatch(/promote/)
    await page.screenshot({ path: new URL('dashboard-promoted.png', SCREENSHOTS).pathname, fullPage: true })

    // A visitor's view before and after the button.
    const visitor = await newVisitor(browser)
    const site = await visitor.newPage()
    // The API says promoted at once; the edge's config cache may serve the step before for up to twice its TTL.
    await expect
      .poll(
        async () => {
          await site.goto(s.url)
          return site.locator('#cohort').textContent()
        },
        { timeout: 15_000 },
      )
      .toBe('canary')

    await page.getByTestId('cmd-rollback').click()
    await page.locator('#dialog-confirm').click()
    await expect.poll(() => page.getByTestId('phase').textContent(), { timeout: 15_000 }).toMatch(/rolled-back/)
    await page.screenshot({ path: new URL('dashboard-rolled-back.png', SCREENSHOTS).pathname, fullPage: true })
    // The edge picks the new weight up within two config TTLs (1 s each here).
    await until(
      'the site to serve stable',
      async () => {
        await site.reload()
        return site.locator('#cohort').textContent()
      },
      (c) => c === 'stable',
      15_000,
    )
    await Promise.all([ctx.close(), visitor.close()])
  }, 60_000)
})
