/**
 * Real-user monitoring at the edge, in workerd against the loopback origins: which answers get the script tag
 * (HTML only, both cohorts, the page's CSP respected, streaming), the script itself, and the beacon endpoint
 * (the cohort recomputed from the cookie, floods bounded, bad beacons a 4xx).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as z from 'zod/mini'
import { RolloutSpec, type RolloutInput } from '../../src/core/config/schema.ts'
import { decodeRumPoint, rumIndex } from '../../src/contract/datapoint.ts'
import { MAX_BEACON_BYTES } from '../../src/contract/rum.ts'
import { SCRIPT_URL, inject, scriptPermission } from '../../src/edge/rum/index.ts'
import { RUM_SCRIPT, RUM_SCRIPT_HASH } from '../../src/edge/rum/script.generated.ts'
import { browser, publish, rollout, sluice, stableUrl } from '../support/worker.ts'

const recorder = () => {
  const points: AnalyticsEngineDataPoint[] = []
  return { points, dataset: { writeDataPoint: (p?: AnalyticsEngineDataPoint) => void points.push(p!) } as AnalyticsEngineDataset }
}
const withRum = (over: Partial<RolloutInput> = {}) => rollout({ rum: { enabled: true }, ...over })
const html = (headers: Record<string, string> = {}) => `/html?h=${encodeURIComponent(JSON.stringify(headers))}`
const visitor = (id = 'visitor0001') => ({ ...browser, cookie: `sluice=${id}` })
// Absolute: after a <base href> a relative src would point at another host.
const TAG = `<script src="https://shop.example.com${SCRIPT_URL}" async></script>`

describe('the script tag', () => {
  it('goes last into <head> of an HTML page in both cohorts, without Content-Length, every other header kept', async () => {
    for (const weight of [0, 100]) {
      await publish(withRum({ weight }))
      const { points, dataset } = recorder()
      const res = await sluice({ env: { METRICS: dataset } }).fetch(
        html({ etag: '"v1"', 'x-kept': 'yes', 'cache-control': 'max-age=60', 'content-type': 'text/html; charset=UTF-8' }),
        {
          headers: visitor(),
        },
      )
      const body = await res.text()
      expect(res.headers.get('x-sluice-cohort')).toBe(weight ? 'canary' : 'stable')
      expect(body).toContain(`</title>${TAG}</head>`)
      expect(body.match(/<script/g)).toHaveLength(1)
      expect(res.headers.get('content-length')).toBeNull()
      // The bytes differ from the origin's: the validator is weakened, not passed on as if they were the same.
      expect(res.headers.get('etag')).toBe('W/"v1"')
      expect([res.headers.get('x-kept'), res.headers.get('cache-control')]).toEqual(['yes', 'max-age=60'])
      expect(points.at(-1)!.blobs![9]).toBe('injected')
      expect(res.headers.get('vary')).toBe('Sec-Fetch-Dest')
    }
  })

  it('reaches a new visitor with the cohort cookie set on the same answer', async () => {
    await publish(withRum({ weight: 50 }))
    const res = await sluice({ newId: () => 'newvisitor01' }).fetch(html(), { headers: browser })
    expect(await res.text()).toContain(TAG)
    expect(res.headers.get('set-cookie')).toMatch(/^sluice=newvisitor01;/)
    expect(res.headers.get('x-sluice-cohort')).toMatch(/^(stable|canary)$/)
  })

  it('leaves everything but a 200 HTML GET byte for byte as the origin sent it', async () => {
    await publish(withRum())
    const cases: [string, RequestInit][] = [
      ['/echo', { headers: visitor() }], // JSON
      [html({ 'content-type': 'text/plain' }), { headers: visitor() }],
      [html({ 'cache-control': 'public, no-transform' }), { headers: visitor() }],
      [html({ 'content-encoding': 'zstd' }), { headers: visitor() }],
      // workerd passes deflate through undecoded, and charsets HTMLRewriter cannot parse would make it throw.
      [html({ 'content-encoding': 'deflate' }), { headers: visitor() }],
      [html({ 'content-type': 'text/html; charset=utf-16' }), { headers: visitor() }],
      [html({ 'content-type': 'text/html; charset="ISO-2022-JP"' }), { headers: visitor() }],
      [html({ 'content-type': 'text/html; charset=x-unknown' }), { headers: visitor() }],
      [html({ 'content-type': 'text/html; charset=latin-1' }), { headers: visitor() }],
      // A page a script fetches (htmx, Turbo) runs no tag of its own.
      [html(), { headers: { ...visitor(), 'sec-fetch-dest': 'empty', 'sec-fetch-mode': 'cors' } }],
      [html(), { headers: visitor(), method: 'HEAD' }],
      ['/status/404', { headers: visitor() }],
    ]
    for (const [path, init] of cases) {
      const direct = await fetch(stableUrl() + path, { method: init.method ?? 'GET' })
      const res = await sluice().fetch(path, init)
      const [a, b] = [await direct.text(), await res.text()]
      if (!path.startsWith('/echo')) expect(b, path).toBe(a)
      expect(b, path).not.toContain('rum.js')
    }
    // And nothing at all with RUM off, the default.
    await publish(rollout())
    expect(await (await sluice().fetch(html(), { headers: visitor() })).text()).not.toContain('rum.js')
  })

  it('respects the page’s Content-Security-Policy: self, a nonce copied onto the tag, or no tag and the skip counted', async () => {
    await publish(withRum())
    const cases: [string, string | null][] = [
      ["default-src 'self'", TAG],
      ["script-src 'nonce-r4nd0m' 'strict-dynamic'; object-src 'none'", `<script src="https://shop.example.com${SCRIPT_URL}" async nonce="r4nd0m"></script>`],
      ["default-src 'none'", null],
      ['script-src https://cdn.example.com', null],
      ["script-src 'self' 'strict-dynamic'", null],
      // The beacon must be allowed too, and a sandboxed page has no origin to beacon from.
      ["default-src 'none'; script-src 'nonce-x'", null],
      ["script-src 'self'; connect-src https://api.example.com", null],
      ["script-src 'self'; connect-src 'self'", TAG],
      ['sandbox allow-scripts', null],
    ]
    for (const [csp, tag] of cases) {
      const { points, dataset } = recorder()
      const body = await (await sluice({ env: { METRICS: dataset } }).fetch(html({ 'content-security-policy': csp }), { headers: visitor() })).text()
      if (tag) expect(body, csp).toContain(tag)
      else expect(body, csp).not.toContain('rum.js')
      expect(points.at(-1)!.blobs![9], csp).toBe(tag ? 'injected' : 'csp')
    }
  })

  it('obeys a <meta> policy in <head> as it obeys the header: no tag where it forbids one, its nonce where it asks', async () => {
    await publish(withRum())
    const meta = (content: string) => `/meta?csp=${encodeURIComponent(content)}`
    expect(await (await sluice().fetch(meta("script-src 'none'"), { headers: visitor() })).text()).not.toContain('rum.js')
    const nonced = await (await sluice().fetch(meta("script-src 'nonce-m3ta'"), { headers: visitor() })).text()
    expect(nonced).toContain(`<script src="https://shop.example.com${SCRIPT_URL}" async nonce="m3ta"></script></head>`)
    expect(await (await sluice().fetch(meta("img-src 'self'"), { headers: visitor() })).text()).toContain(`${TAG}</head>`)
  })

  it('streams: the page’s first bytes arrive before the origin has finished', async () => {
    await publish(withRum())
    const res = await sluice().fetch('/html-held/rum-stream', { headers: visitor() })
    const reader = res.body!.getReader()
    const decoder = new TextDecoder()
    let seen = ''
    while (!seen.includes('filler')) {
      const r = await reader.read()
      expect(r.done).toBe(false)
      seen += decoder.decode(r.value, { stream: true })
    }
    expect(seen).not.toContain('last')
    expect(seen).toContain(`${TAG}</head>`)
    await fetch(`${stableUrl()}/release/rum-stream`)
    for (let r = await reader.read(); !r.done; r = await reader.read()) seen += decoder.decode(r.value, { stream: true })
    expect(seen.endsWith('<p>filler</p><p>last</p></body></html>')).toBe(true)
  })

  it('samples visitors, not page views: the same id always gets the same answer, about the rate of ids get the tag', async () => {
    await publish(withRum({ rum: { enabled: true, sampleRate: 0.3 } }))
    const app = sluice()
    let tagged = 0
    for (let i = 0; i < 200; i++) {
      const id = `visitor${String(i).padStart(4, '0')}`
      const first = (await (await app.fetch(html(), { headers: visitor(id) })).text()).includes('rum.js')
      const again = (await (await app.fetch(html(), { headers: visitor(id) })).text()).includes('rum.js')
      expect(again).toBe(first)
      if (first) tagged++
    }
    expect(tagged).toBeGreaterThan(35)
    expect(tagged).toBeLessThan(85)
  })
})

describe('the setting', () => {
  it('refuses real-user signals with a cohort cookie the beacon endpoint would never receive', () => {
    const base = { id: 'web', stable: 'https://a.example', canary: 'https://b.example', rum: { enabled: true } }
    const r = z.safeParse(RolloutSpec, { ...base, cookie: { path: '/shop' } })
    expect(r.success).toBe(false)
    expect(r.error!.issues[0]!.path).toEqual(['rum', 'enabled'])
    expect(z.safeParse(RolloutSpec, base).success).toBe(true)
  })
})

describe('the rewriter', () => {
  it('hands back the page as it came when HTMLRewriter refuses it', async () => {
    const page = new Response('<html><head></head></html>', { headers: { 'content-type': 'text/html; charset=utf-16' } })
    expect(inject(page, { allowed: true }, 'https', 'shop.example.com')).toBe(page)
  })
})

describe('the CSP reading', () => {
  it('never throws, and allows only what a browser would', () => {
    fc.assert(fc.property(fc.option(fc.string(), { nil: null }), (h) => void scriptPermission(h, 'https', 'shop.example.com')))
    expect(scriptPermission("script-src 'self', script-src 'nonce-a'", 'https', 'x')).toEqual({ allowed: true, nonce: 'a' })
    expect(scriptPermission("script-src 'nonce-a', script-src 'nonce-b'", 'https', 'x').allowed).toBe(false)
    expect(scriptPermission("img-src 'none'", 'https', 'x')).toEqual({ allowed: true })
    expect(scriptPermission('script-src https:', 'https', 'x').allowed).toBe(true)
    expect(scriptPermission('script-src https:', 'http', 'x').allowed).toBe(false)
    expect(scriptPermission('script-src shop.example.com', 'https', 'shop.example.com').allowed).toBe(true)
  })
})

describe('the script', () => {
  it('is served from memory, immutable under its hash and revalidated under any other URL', async () => {
    const res = await sluice().fetch(SCRIPT_URL)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable')
    expect(await res.text()).toBe(RUM_SCRIPT)
    expect((await sluice().fetch('/__sluice/rum.js?v=old')).headers.get('cache-control')).toBe('no-cache')
    expect(SCRIPT_URL).toContain(RUM_SCRIPT_HASH)
    expect((await sluice().fetch('/__sluice/rum.js', { method: 'POST' })).status).toBe(405)
  })
})

const beacon = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ v: 1, pv: 'pv_abcdefgh', first: true, path: '/', errors: [], vitals: { lcp: 1200 }, ...over })
/** A beacon as a browser sends it from the page: same origin, the visitor's cookie. */
const post = (app: ReturnType<typeof sluice>, body: BodyInit, headers: Record<string, string> = {}) =>
  app.fetch('/__sluice/rum', {
    method: 'POST',
    body,
    headers: { 'content-type': 'text/plain;charset=UTF-8', ...visitor(), 'sec-fetch-site': 'same-origin', 'sec-fetch-dest': 'empty', ...headers },
  })

describe('beacons', () => {
  it('are counted in the cohort the cookie places the visitor in, whatever the payload says', async () => {
    for (const weight of [0, 100]) {
      await publish(withRum({ weight }))
      const { points, dataset } = recorder()
      const app = sluice({ env: { METRICS: dataset } })
      const body = beacon({
        cohort: weight ? 'stable' : 'canary',
        errors: [{ kind: 'error', name: 'TypeError', message: 'x is undefined', source: '/app.js?v=2', line: 12 }],
      })
      const res = await post(app, body, { 'cf-connecting-ip': '203.0.113.9' })
      expect([res.status, res.headers.get('x-sluice-beacon')]).toEqual([204, 'counted'])
      const cohort = weight ? 'canary' : 'stable'
      expect(points).toHaveLength(1)
      expect(points[0]!.indexes).toEqual([rumIndex('web', cohort)])
      expect(decodeRumPoint(points[0])).toMatchObject({ pageView: true, errored: true, fingerprint: 'TypeError: x is undefined at /app.js:12', lcp: 1200 })
    }
  })

  it('from a visitor without an id, or for a rollout without RUM, are acknowledged and dropped', async () => {
    await publish(withRum())
    const { points, dataset } = recorder()
    const app = sluice({ env: { METRICS: dataset } })
    const res = await post(app, beacon(), { cookie: '' })
    expect([res.status, res.headers.get('x-sluice-beacon')]).toEqual([204, 'ignored: no visitor id'])
    // Another site's page posting its visitors' cookies here is not a beacon of this site.
    expect((await post(app, beacon(), { 'sec-fetch-site': 'cross-site' })).headers.get('x-sluice-beacon')).toBe('ignored: not from this site')
    expect((await post(app, beacon(), { origin: 'https://evil.example' })).headers.get('x-sluice-beacon')).toBe('ignored: not from this site')
    await publish(rollout())
    expect((await post(app, beacon())).status).toBe(204)
    expect(points).toHaveLength(0)
  })

  it('answer bad input with a 4xx naming the problem, and never a 5xx', async () => {
    await publish(withRum())
    const app = sluice()
    expect((await post(app, 'not json')).status).toBe(400)
    const wrong = await post(app, beacon({ errors: [{ kind: 'boom', name: 'x', message: 'y' }] }))
    expect(wrong.status).toBe(400)
    expect(JSON.stringify(await wrong.json())).toContain('errors.0.kind')
    expect((await post(app, beacon(), { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(415)
    expect((await post(app, 'x'.repeat(MAX_BEACON_BYTES + 1))).status).toBe(413)
    // Without a Content-Length the edge stops reading at the limit.
    const chunks = new ReadableStream({
      pull(c) {
        c.enqueue(new TextEncoder().encode('x'.repeat(4096)))
      },
    })
    expect((await post(app, chunks)).status).toBe(413)
    expect((await app.fetch('/__sluice/rum', { headers: visitor() })).status).toBe(405)
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify({ v: 1, pv: 'pv_abcdefgh', first: true, path: '/', errors: v })),
        ),
        async (body) => {
          const res = await post(app, body)
          expect(res.status).toBeLessThan(500)
        },
      ),
      { numRuns: 60 },
    )
  })

  it('from one visitor are bounded per minute; another visitor is unaffected', async () => {
    await publish(withRum({ rum: { enabled: true, maxBeaconsPerMinute: 5 } }))
    const { points, dataset } = recorder()
    const app = sluice({ env: { METRICS: dataset } })
    const statuses: number[] = []
    for (let i = 0; i < 8; i++) statuses.push((await post(app, beacon())).status)
    expect(statuses).toEqual([204, 204, 204, 204, 204, 429, 429, 429])
    expect((await post(app, beacon(), { cookie: 'sluice=visitor0002' })).status).toBe(204)
    expect(points).toHaveLength(6)
  })
})
