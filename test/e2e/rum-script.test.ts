/// <reference lib="dom" />
/**
 * @module
 * The RUM script (src/rum/, as built into src/edge/rum/script.generated.ts) in headless Chromium, against a
 * loopback server that serves it and records its beacons: what a page view sends when it is left, that every
 * beacon passes the contract's `Beacon` schema, and that no query string gets into one.
 */
import { type IncomingHttpHeaders, type Server, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as z from 'zod/mini'
import { Beacon, RUM_BEACON_PATH, RUM_SCRIPT_PATH } from '../../src/contract/rum.ts'
import { RUM_SCRIPT } from '../../src/edge/rum/script.generated.ts'
import { launch, newVisitor } from './support.ts'

interface Received {
  body: string
  headers: IncomingHttpHeaders
}

const head = (extra = '') =>
  `<!doctype html><html><head><meta charset="utf-8"><title>rum</title><script src="${RUM_SCRIPT_PATH}" async></script>${extra}</head>`
/** The largest paint: a text block well above the button. */
const body = `<body><p style="font-size:48px;margin:0">${'Largest contentful paint. '.repeat(20)}</p><button id="go">go</button>`

/**
 * The RUM script is async, so what happens before it runs goes unseen; the load event waits for it, so the faults
 * start there. `boom` throws on one line, so its three calls are one error counted three times. The page records
 * that each fault reached it (after the RUM script's listeners, which came first) in `window.faults`.
 */
const FAULTY = `${head()}${body}
<script>window.faults = []; addEventListener('error', () => faults.push('error'), true); addEventListener('unhandledrejection', () => faults.push('rejection'))</script>
<script>function boom() { null.f() }</script>
<script>addEventListener('load', () => boom())</script>
<script>addEventListener('load', () => boom())</script>
<script>addEventListener('load', () => boom())</script>
<script>addEventListener('load', () => {
  Promise.reject(new RangeError('no luck'))
  const s = document.createElement('script')
  s.src = '/missing.js?secret=1'
  document.body.append(s)
})</script>
<script>document.getElementById('go').addEventListener('click', () => { const end = performance.now() + 60; while (performance.now() < end); })</script>
</body></html>`

const CLEAN = `${head()}${body}</body></html>`
/** sendBeacon refusing (as it does over its quota) sends the beacon with fetch. */
const NO_BEACON = `${head('<script>navigator.sendBeacon = () => false</script>')}${body}</body></html>`

let server: Server
let origin: string
let browser: Browser
const received: Received[] = []

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (req.method === 'POST' && url.pathname === RUM_BEACON_PATH) {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        received.push({ body: Buffer.concat(chunks).toString('utf8'), headers: req.headers })
        res.writeHead(204).end()
      })
      return
    }
    const pages: Record<string, string> = { '/faulty': FAULTY, '/clean': CLEAN, '/no-beacon': NO_BEACON, '/next': '<!doctype html><title>next</title>' }
    if (url.pathname === RUM_SCRIPT_PATH) res.writeHead(200, { 'content-type': 'text/javascript' }).end(RUM_SCRIPT)
    else if (pages[url.pathname]) res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(pages[url.pathname])
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  browser = await launch()
}, 30_000)

afterAll(async () => {
  await browser?.close()
  await new Promise((resolve) => server?.close(resolve))
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Opens `path` in a fresh profile and, once it has painted, lets `act` drive it (`since()` is what the server has
 * received from this visit so far), then navigates away, which hides the page and fires pagehide. Returns all the
 * visit's beacons, after a quiet moment for a late one. `leaving`: whether leaving should send one (waited for up to 3 s).
 */
async function visit(path: string, act: (page: Page, since: () => Received[]) => Promise<void> = async () => {}, leaving = true): Promise<Received[]> {
  const before = received.length
  const since = () => received.slice(before)
  const ctx = await newVisitor(browser)
  try {
    const page = await ctx.newPage()
    await page.goto(origin + path, { waitUntil: 'load' })
    // Load can come before the first paint, and a page left unpainted has no LCP to report.
    await page.evaluate(() => new Promise((painted) => new PerformanceObserver(painted).observe({ type: 'largest-contentful-paint', buffered: true })))
    await act(page, since)
    const sent = since().length
    await page.goto(`${origin}/next`)
    const deadline = Date.now() + 3000
    while (leaving && since().length === sent && Date.now() < deadline) await sleep(50)
    await sleep(300)
    return since()
  } finally {
    await ctx.close()
  }
}

/** Until the visit has sent `n` beacons (bounded), then a quiet moment to show that no more follow. */
async function settle(since: () => Received[], n: number) {
  const deadline = Date.now() + 3000
  while (since().length < n && Date.now() < deadline) await sleep(50)
  await sleep(300)
  expect(since()).toHaveLength(n)
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)
const parse = (r: Received[]) => r.map((b) => z.parse(Beacon, JSON.parse(b.body)))

describe('the RUM script in a real browser', () => {
  it('sends one first beacon with each error once, counted, the vitals, and no query string anywhere', async () => {
    const got = await visit('/faulty?q=secret#frag', async (page, since) => {
      await page.waitForFunction(() => (window as unknown as { faults: string[] }).faults.length >= 5, undefined, { timeout: 3000 })
      await page.click('#go')
      // An interaction's entry reaches the observer after the next paint.
      await page.waitForTimeout(200)
      // Batched: nothing is sent while the page is visible.
      expect(since()).toHaveLength(0)
    })
    expect(got.length).toBeGreaterThanOrEqual(1)
    for (const b of got) expect(b.body).not.toContain('secret')
    for (const b of got) expect(b.headers['content-type']).toBe('text/plain;charset=UTF-8')
    const beacons = parse(got)
    expect(beacons.filter((b) => b.first)).toHaveLength(1)
    expect(beacons[0]!.first).toBe(true)
    expect(new Set(beacons.map((b) => b.pv)).size).toBe(1)
    for (const b of beacons) expect(b.path).toBe('/faulty')

    const errors = beacons.flatMap((b) => b.errors)
    const typeErrors = errors.filter((e) => e.name === 'TypeError')
    expect(typeErrors).toHaveLength(1)
    expect(typeErrors[0]).toMatchObject({ kind: 'error', source: '/faulty', count: 3 })
    expect(typeErrors[0]!.line).toBeGreaterThan(0)
    expect(errors).toContainEqual(expect.objectContaining({ kind: 'rejection', name: 'RangeError', message: 'no luck', count: 1 }))
    expect(errors).toContainEqual(expect.objectContaining({ kind: 'resource', name: 'script', source: '/missing.js', count: 1 }))
    expect(errors).toHaveLength(3)

    const vitals = Object.assign({}, ...beacons.map((b) => b.vitals)) as Beacon['vitals']
    expect(vitals.lcp).toBeGreaterThan(0)
    expect(Number.isFinite(vitals.lcp)).toBe(true)
    expect(vitals.inp).toBeGreaterThan(0)
    expect(vitals.ttfb).toBeGreaterThanOrEqual(0)
    expect(Number.isFinite(vitals.ttfb)).toBe(true)
    // Each vital once per page view.
    const sent = beacons.flatMap((b) => Object.keys(b.vitals))
    expect(sent).toHaveLength(new Set(sent).size)
  })

  it('sends one first beacon without errors from an error-free page', async () => {
    const got = await visit('/clean')
    const beacons = parse(got)
    expect(beacons).toHaveLength(1)
    expect(beacons[0]).toMatchObject({ v: 1, first: true, path: '/clean', errors: [] })
    expect(beacons[0]!.vitals.lcp).toBeGreaterThan(0)
  })

  it('falls back to a keepalive fetch of JSON when sendBeacon refuses', async () => {
    const got = await visit('/no-beacon')
    const beacons = parse(got)
    expect(beacons).toHaveLength(1)
    expect(beacons[0]).toMatchObject({ first: true, path: '/no-beacon', errors: [] })
    expect(got[0]!.headers['content-type']).toBe('application/json')
  })

  it('splits errors over beacons of at most 10, stops at 20 per page view, and sends a later beacon only with news', async () => {
    const got = await visit(
      '/clean',
      async (page, since) => {
        // Headless Chromium never hides a tab, so the page is told it is hidden, and shown again, as a browser would.
        await page.evaluate(() => {
          let state: DocumentVisibilityState = 'visible'
          Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state })
          Object.assign(window, {
            visibility: (s: DocumentVisibilityState) => {
              state = s
              document.dispatchEvent(new Event('visibilitychange', { bubbles: true }))
            },
          })
        })
        const visibility = (s: DocumentVisibilityState) => page.evaluate((v) => (window as unknown as { visibility(s: string): void }).visibility(v), s)
        /** Throws `Error('e<i>')` for each i, each from its own task, and waits until all have been reported. */
        const throwAll = (ids: number[]) =>
          page.evaluate(
            (list) =>
              new Promise<void>((resolve) => {
                for (const i of list)
                  setTimeout(() => {
                    throw new Error(`e${i}`)
                  })
                setTimeout(resolve, 50)
              }),
            ids,
          )

        await throwAll(range(0, 12))
        await visibility('hidden')
        await settle(since, 2)
        // Shown and hidden again with nothing new: no beacon.
        await visibility('visible')
        await visibility('hidden')
        await settle(since, 2)
        // A repeat of an error already sent is no news; of 12 new ones, 8 fit in the page view's 20.
        await visibility('visible')
        await throwAll([0, ...range(12, 24)])
        await visibility('hidden')
        await settle(since, 3)
      },
      false,
    )
    // Leaving (the page is already hidden) had nothing new to send either.
    expect(got).toHaveLength(3)
    const beacons = parse(got)
    expect(new Set(beacons.map((b) => b.pv)).size).toBe(1)
    const first = beacons.filter((b) => b.first)
    expect(first).toHaveLength(1)
    expect(first[0]!.errors.map((e) => e.message)).toEqual(range(0, 10).map((i) => `e${i}`))
    expect(first[0]!.vitals.lcp).toBeGreaterThan(0)
    const messages = beacons.flatMap((b) => b.errors.map((e) => e.message)).sort()
    expect(messages).toEqual(
      range(0, 20)
        .map((i) => `e${i}`)
        .sort(),
    )
    for (const e of beacons.flatMap((b) => b.errors)) expect(e).toMatchObject({ kind: 'error', name: 'Error', count: 1 })
    const sent = beacons.flatMap((b) => Object.keys(b.vitals))
    expect(sent).toHaveLength(new Set(sent).size)
  })
})
