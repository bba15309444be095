/// <reference lib="dom" />
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Stack } from '../../scripts/lib/stack.ts'
import { api, launch, newVisitor, stack } from './support.ts'

let s: Stack
let browser: Browser

beforeAll(async () => {
  ;[s, browser] = await Promise.all([stack(), launch()])
  await api(s, '/rollouts/demo/start', { release: 'v2' })
  await api(s, '/rollouts/demo/weight', { weight: 50 })
}, 120_000)

afterAll(async () => {
  await browser?.close()
  await s?.stop()
}, 30_000)

/** Visits the site in a fresh browser profile; returns the cohort and the versions of everything loaded. */
async function visit(context = undefined as Awaited<ReturnType<Browser['newContext']>> | undefined, path = '/') {
  const ctx = context ?? (await newVisitor(browser))
  const page = await ctx.newPage()
  const versions = new Map<string, string>()
  page.on('response', (r) => {
    const v = r.headers()['x-demo-version']
    if (v) versions.set(new URL(r.url()).pathname, v)
  })
  await page.goto(s.url + path)
  await page.waitForFunction(() => document.getElementById('api')?.textContent?.includes('version'))
  const cohort = await page.locator('#cohort').textContent()
  const jsVersion = await page.evaluate(() => document.body.dataset.jsVersion)
  await page.close()
  return { ctx, cohort, versions, jsVersion }
}

describe('visitors in a real browser', () => {
  it('get exactly one Sluice cookie on the first visit, and the page and all its assets from one cohort', async () => {
    const { ctx, cohort, versions, jsVersion } = await visit()
    const cookies = (await ctx.cookies()).filter((c) => c.name.startsWith('sluice'))
    expect(cookies).toHaveLength(1)
    expect(cookies[0]).toMatchObject({ name: 'sluice', httpOnly: true, sameSite: 'Lax', path: '/' })
    const expected = cohort === 'canary' ? 'v2' : 'v1'
    expect([...versions.keys()].sort()).toEqual(['/', '/api/info', '/app.css', '/app.js'])
    expect(new Set(versions.values())).toEqual(new Set([expected]))
    expect(jsVersion).toBe(expected)
    await ctx.close()
  })

  it('stay in their cohort across reloads and new tabs', async () => {
    const first = await visit()
    for (let i = 0; i < 3; i++) expect((await visit(first.ctx)).cohort).toBe(first.cohort)
    const cookies = (await first.ctx.cookies()).filter((c) => c.name === 'sluice')
    expect(cookies).toHaveLength(1)
    await first.ctx.close()
  })

  it('are never moved back from canary to stable when the weight rises', async () => {
    await api(s, '/rollouts/demo/weight', { weight: 30 })
    // The edge re-reads its config every second (CONFIG_TTL_SECONDS=1) plus one request in flight.
    await new Promise((r) => setTimeout(r, 2500))
    const visitors = await Promise.all(Array.from({ length: 24 }, () => visit()))
    const before = visitors.map((v) => v.cohort)
    expect(before).toContain('stable')
    expect(before).toContain('canary')
    await api(s, '/rollouts/demo/weight', { weight: 70 })
    await new Promise((r) => setTimeout(r, 2500))
    const after: (string | null)[] = []
    for (const v of visitors) after.push((await visit(v.ctx)).cohort)
    visitors.forEach((_, i) => {
      if (before[i] === 'canary') expect(after[i], `visitor ${i}`).toBe('canary')
    })
    expect(after.filter((c) => c === 'canary').length).toBeGreaterThanOrEqual(before.filter((c) => c === 'canary').length)
    await Promise.all(visitors.map((v) => v.ctx.close()))
  })

  it('can be pinned to the canary by a tester link, even at weight 0, and the pin sticks', async () => {
    await api(s, '/rollouts/demo/weight', { weight: 0 })
    await new Promise((r) => setTimeout(r, 2500))
    const plain = await visit()
    expect(plain.cohort).toBe('stable')
    const pinned = await visit(plain.ctx, '/?sluice-cohort=canary')
    expect(pinned.cohort).toBe('canary')
    expect(pinned.versions.get('/app.js')).toBe('v2')
    expect((await visit(plain.ctx)).cohort).toBe('canary')
    expect((await visit(plain.ctx, '/?sluice-cohort=clear')).cohort).toBe('stable')
    await plain.ctx.close()
  })
})
