/**
 * Shadow traffic at the edge, in workerd against loopback origins (test/support/shadow-origin.ts): which requests
 * are mirrored, the copies the canary gets, the visitor's answer (stable's, byte for byte, never held back by the
 * canary), the budgets, and the data point each comparison writes.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { inject } from 'vitest'
import { MAX_DIFFS_BYTES, MAX_POINT_DIFFS, decodeDiffs, decodeShadowPoint, encodeDiffs, shadowIndex } from '../../src/contract/datapoint.ts'
import { bucketOf } from '../../src/core/cohort/hash.ts'
import { clientKey } from '../../src/core/cohort/client.ts'
import type { RolloutInput } from '../../src/core/config/schema.ts'
import { MAX_FIELD_LENGTH, routeOf } from '../../src/core/shadow/index.ts'
import { ConfigStore } from '../../src/edge/config-store.ts'
import { fallbackConfig } from '../../src/edge/fallback.ts'
import { createGateway } from '../../src/edge/gateway.ts'
import { shadowBudget } from '../../src/edge/shadow/index.ts'
import { deadline } from '../../src/edge/shadow/budget.ts'
import { capture } from '../../src/edge/shadow/capture.ts'
import { DRIP_BYTES, bigByte } from '../support/shadow-origin.ts'
import { deadUrl, publish } from '../support/worker.ts'

const stableUrl = () => `http://127.0.0.1:${inject('shadowStablePort')}`
const canaryUrl = () => `http://127.0.0.1:${inject('shadowCanaryPort')}`

type Shadow = NonNullable<RolloutInput['shadow']>
const shadowing = (shadow: Shadow = {}, over: Partial<RolloutInput> = {}): RolloutInput => ({
  id: 'web',
  stable: stableUrl(),
  canary: canaryUrl(),
  weight: 0,
  shadowWeight: 100,
  release: 'v2',
  shadow: { noiseSampleRate: 0, ...shadow },
  ...over,
})

/** The edge with a recording METRICS binding; `fetch` hands back the answer at once and `done` when the background work has ended. */
function edge() {
  const points: AnalyticsEngineDataPoint[] = []
  const e = { ...env, METRICS: { writeDataPoint: (p?: AnalyticsEngineDataPoint) => void points.push(p!) } } as unknown as EdgeEnv
  const store = new ConfigStore({ ttlMs: 0, fallback: () => fallbackConfig(e) })
  const app = createGateway({ store })
  return {
    /** The shadow points written so far, decoded. */
    shadows: () => points.filter((p) => p.indexes?.[0] === shadowIndex('web')).map((p) => ({ raw: p, ...decodeShadowPoint(p)! })),
    async fetch(path: string | Request, init: RequestInit = {}) {
      const ctx = createExecutionContext()
      const req = typeof path === 'string' ? new Request(new URL(path, 'https://shop.example.com'), init) : path
      const res = await app.fetch(req, e, ctx)
      return { res, done: waitOnExecutionContext(ctx) }
    },
    /** The answer, read to its end, once the background work has ended too. */
    async get(path: string | Request, init: RequestInit = {}) {
      const { res, done } = await this.fetch(path, init)
      const body = new Uint8Array(await res.arrayBuffer())
      await done
      return { res, body }
    },
  }
}

interface Arrival {
  origin: 'stable' | 'canary'
  method: string
  path: string
  headers: Record<string, string>
}
const arrivals = async (prefix: string): Promise<Arrival[]> => (await fetch(`${canaryUrl()}/__ctl/log?prefix=${encodeURIComponent(prefix)}`)).json()
const atCanary = async (prefix: string) => (await arrivals(prefix)).filter((a) => a.origin === 'canary')

/** A returning visitor with cookie id `id` (ids of 8+ characters are accepted as they are). */
const visitor = (id: string, extra: Record<string, string> = {}) => ({ cookie: `sluice=${id}`, 'user-agent': 'Mozilla/5.0 Test', ...extra })
const ids = (n: number, tag: string) => Array.from({ length: n }, (_, i) => `visitor-${tag}-${String(i).padStart(4, '0')}`)
/**
 * A GET or HEAD carrying a body as the runtime hands it to the worker (`curl -X GET --data x`), which the Request
 * constructor refuses to build: built as a POST and given the method (as in proxy.test.ts).
 */
const withBody = (method: string, path: string, body: BodyInit) =>
  Object.defineProperty(new Request(new URL(path, 'https://shop.example.com'), { method: 'POST', body, headers: visitor('visitor-methods') }), 'method', {
    value: method,
  })
let unique = 0
/** A path of `route` no other test asks for, so the origins' logs tell this test's requests apart. */
const fresh = (route: string) => `/${route}/t${++unique}-${Date.now().toString(36)}`

describe('what is mirrored', () => {
  it('only GET and HEAD without a body: POST, PUT, DELETE and a GET with a body never reach the canary', async () => {
    await publish(shadowing())
    const app = edge()
    const path = fresh('same')
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const { res } = await app.get(path, { method, body: 'x', headers: visitor('visitor-methods') })
      expect(res.headers.get('x-origin'), method).toBe('stable')
    }
    // Refused before any origin is asked, as without shadowing.
    expect((await app.get(withBody('GET', path, 'x'))).res.status).toBe(400)
    expect(await atCanary(path)).toEqual([])
    expect(app.shadows()).toEqual([])

    await app.get(path, { headers: visitor('visitor-methods') })
    await app.get(path, { method: 'HEAD', headers: visitor('visitor-methods') })
    // A chunked body with no bytes is no body: such a GET is forwarded, and so mirrored, without one.
    await app.get(withBody('GET', path, new ReadableStream({ start: (c) => c.close() })))
    expect((await atCanary(path)).map((a) => a.method)).toEqual(['GET', 'HEAD', 'GET'])
    expect(app.shadows().map((p) => [p.raw.blobs![3], p.diffs])).toEqual([
      ['GET', []],
      ['HEAD', []],
      ['GET', []],
    ])
  })

  it('mirrors whole sessions: exactly the visitors whose bucket is below shadowWeight, on every request', async () => {
    await publish(shadowing({}, { shadowWeight: 30 }))
    const app = edge()
    const path = fresh('same')
    const all = ids(40, 'bucket')
    for (const id of all) for (let i = 0; i < 2; i++) await app.get(`${path}?v=${id}`, { headers: visitor(id) })
    const expected = all.filter((id) => bucketOf('web', id) < 3000)
    expect(expected.length).toBeGreaterThan(0)
    expect(expected.length).toBeLessThan(all.length)
    const mirrored = (await atCanary(path)).map((a) => new URL(a.path, 'http://x').searchParams.get('v'))
    expect(mirrored).toEqual(expected.flatMap((id) => [id, id]))
    expect(app.shadows()).toHaveLength(expected.length * 2)
  })

  it('never mirrors testers, bots, the canary’s own visitors, or anyone when shadowWeight is 0', async () => {
    await publish(shadowing())
    const app = edge()
    const path = fresh('same')
    await app.get(path, { headers: visitor('visitor-tester', { 'x-sluice-cohort': 'stable' }) })
    await app.get(path, { headers: visitor('visitor-bot', { 'user-agent': 'Googlebot/2.1' }) })
    await publish(shadowing({}, { weight: 100 }))
    expect((await app.get(path, { headers: visitor('visitor-canary') })).res.headers.get('x-origin')).toBe('canary')
    await publish(shadowing({}, { shadowWeight: 0 }))
    await app.get(path, { headers: visitor('visitor-plain') })
    // Only the canary visitor's own request, which is no copy.
    expect((await atCanary(path)).map((a) => a.headers['x-sluice-shadow'] ?? 'real')).toEqual(['real'])
    expect(app.shadows()).toEqual([])
    // The control: the same plain visitor is mirrored once shadowWeight is up.
    await publish(shadowing())
    await app.get(path, { headers: visitor('visitor-plain') })
    expect(app.shadows()).toHaveLength(1)
  })

  it('obeys include and exclude prefixes', async () => {
    await publish(shadowing({ include: ['/same/in'], exclude: ['/same/in/private'] }))
    const app = edge()
    const tag = fresh('x').slice(3)
    for (const path of ['/same/in', '/same/in/private/a', '/same/out', '/same/inside'])
      await app.get(`${path}?t=${tag}`, { headers: visitor('visitor-prefix') })
    const seen = (await atCanary('/same/')).filter((a) => a.path.endsWith(`?t=${tag}`)).map((a) => a.path.split('?')[0])
    expect(seen).toEqual(['/same/in', '/same/inside'])
  })

  it('skips answers and requests that cannot be compared: event streams, ranges, conditional requests, upgrades', async () => {
    await publish(shadowing())
    const app = edge()
    const sse = fresh('sse')
    const { res, body } = await app.get(sse, { headers: visitor('visitor-skip') })
    expect([res.headers.get('content-type'), new TextDecoder().decode(body)]).toEqual(['text/event-stream', 'data: stable\n\n'])
    const path = fresh('same')
    const skipped: Record<string, string>[] = [
      { range: 'bytes=0-3' },
      { 'if-none-match': '"v1"' },
      { 'if-modified-since': new Date(0).toUTCString() },
      { upgrade: 'h2c' },
    ]
    for (const headers of skipped) {
      expect((await app.get(path, { headers: visitor('visitor-skip', headers) })).res.headers.get('x-origin')).toBe('stable')
    }
    expect(await atCanary(sse)).toEqual([])
    expect(await atCanary(path)).toEqual([])
    expect(app.shadows()).toEqual([])
  })
})

describe('the copies', () => {
  it('carry the visitor’s headers as stable got them, cohort canary and x-sluice-shadow: 1, never Sluice’s cookies; a visitor’s own x-sluice-shadow never reaches an origin', async () => {
    await publish(shadowing({ noiseSampleRate: 1 }))
    const app = edge()
    const path = `${fresh('echo')}?q=a%20b`
    const headers = visitor('visitor-copies', {
      cookie: 'sluice=visitor-copies; theme=dark; sluice_pin=bogus',
      'x-custom': 'kept',
      'x-sluice-cohort': 'bogus',
      // A visitor claiming to be shadow traffic: an origin that skips side effects for it must never see the claim.
      'x-sluice-shadow': '1',
      'cf-connecting-ip': '203.0.113.5',
    })
    await app.get(path, { headers })
    const got = await arrivals(path.split('?')[0]!)
    // The three are sent at once: sorted, the visitor's own request first.
    const seen = got
      .map((a) => [a.origin, a.path, a.headers['x-sluice-cohort'], a.headers['x-sluice-shadow'] ?? ''])
      .sort((x, y) => x.join().localeCompare(y.join()))
    expect(seen).toEqual([
      ['canary', path, 'canary', '1'],
      ['stable', path, 'stable', ''],
      ['stable', path, 'stable', '1'],
    ])
    for (const a of got) {
      expect(a.headers.cookie).toBe('theme=dark')
      expect(a.headers['x-custom']).toBe('kept')
      expect(a.headers['x-forwarded-for']).toBe('203.0.113.5')
      expect(a.headers['x-forwarded-host']).toBe('shop.example.com')
    }
  })
})

describe('the visitor', () => {
  it('gets stable’s answer byte for byte, bodies far past maxBodyBytes included', async () => {
    await publish(shadowing({ maxBodyBytes: 1024 }))
    const app = edge()
    for (const bytes of [200_000, 9 * 1024 * 1024]) {
      const path = `/big/${bytes}/${fresh('t').slice(3)}`
      const { res, body } = await app.get(path, { headers: visitor('visitor-bytes') })
      expect(res.headers.get('content-length')).toBe(String(bytes))
      expect(body.byteLength).toBe(bytes)
      let wrong = -1
      for (let i = 0; i < bytes && wrong === -1; i++) if (body[i] !== bigByte(i)) wrong = i
      expect(wrong, `first wrong byte of ${bytes}`).toBe(-1)
      expect(await atCanary(path)).toHaveLength(1)
    }
    // Compared by content-length and the hash of their first maxBodyBytes: the same, so no difference.
    const [small, huge] = app.shadows()
    expect([small!.truncated, small!.diffs]).toEqual([true, []])
    expect([huge!.truncated, huge!.diffs]).toEqual([true, []])
    expect(shadowBudget().inFlight).toBe(0)
  })

  it('costs at most maxBodyBytes of each body: the comparison ends while the origins still hold the rest, and the visitor then gets all of it', async () => {
    // Stable, the canary and stable again each send their first maxBodyBytes and hold the rest until released: a
    // comparison that wanted one byte more would wait for it until its deadline (25 s, past the test's timeout).
    const max = 4096
    await publish(shadowing({ maxBodyBytes: max, timeoutMs: 25_000, noiseSampleRate: 1 }))
    const app = edge()
    const key = fresh('k').slice(3)
    const bytes = 300_000
    const path = `/gated/${bytes}/${key}?sent=${max}`
    const { res, done } = await app.fetch(path, { headers: visitor('visitor-gated') })
    await done
    expect((await arrivals(`/gated/${bytes}/${key}`)).map((a) => a.origin).sort()).toEqual(['canary', 'stable', 'stable'])
    // Compared by the declared content-length (the canary's one byte longer) and the hash of the bytes read.
    const [p] = app.shadows()
    expect([p!.truncated, p!.diffs, p!.noise, p!.canaryError]).toEqual([true, [{ kind: 'length', field: 'body' }], [], false])
    // The visitor's branch flows on after the comparison cancelled its own.
    const released = (await (await fetch(`${canaryUrl()}/__ctl/release/${key}`)).json()) as { released: number }
    expect(released.released).toBeGreaterThanOrEqual(1)
    const body = new Uint8Array(await res.arrayBuffer())
    expect(body.byteLength).toBe(bytes)
    let wrong = -1
    for (let i = 0; i < bytes && wrong === -1; i++) if (body[i] !== bigByte(i)) wrong = i
    expect(wrong).toBe(-1)
    expect(shadowBudget().inFlight).toBe(0)
  })

  it('gets the same status and headers as an unmirrored visitor', async () => {
    const path = fresh('same')
    const seen = async (shadowWeight: number) => {
      await publish(shadowing({}, { shadowWeight }))
      const { res, body } = await edge().get(path, { headers: visitor('visitor-headers') })
      const headers = [...res.headers].filter(([name]) => name !== 'date')
      return { status: res.status, headers, body: new TextDecoder().decode(body) }
    }
    const plain = await seen(0)
    expect(await seen(100)).toEqual(plain)
    expect((await atCanary(path)).length).toBe(1)
  })

  it('is answered while a canary that never answers is still held, and the comparison ends at timeoutMs with a canary error', async () => {
    await publish(shadowing({ timeoutMs: 400 }))
    const app = edge()
    const path = fresh('hold')
    const events: string[] = []
    const { res, done } = await app.fetch(path, { headers: visitor('visitor-hold') })
    const background = done.then(() => events.push(`background done, ${app.shadows().length} point`))
    expect(await res.json()).toEqual({ held: false })
    events.push(`visitor read, ${app.shadows().length} points`)
    // The copy had reached the canary, which had not answered (it never does).
    expect(await atCanary(path)).toHaveLength(1)
    await background
    expect(events).toEqual(['visitor read, 0 points', 'background done, 1 point'])
    const [p] = app.shadows()
    expect([p!.canaryError, p!.raw.doubles![1], p!.stableError, p!.diffs]).toEqual([true, 0, false, [{ kind: 'value', field: 'status' }]])
    expect(p!.canaryLatencyMs).toBeGreaterThanOrEqual(p!.stableLatencyMs)
    expect(shadowBudget().inFlight).toBe(0)
  })

  it('keeps receiving stable’s body after the comparison gave up on it at its deadline', async () => {
    // maxBodyBytes past the whole body: the comparison would read it all, but its deadline comes first.
    await publish(shadowing({ timeoutMs: 200, maxBodyBytes: 4 * DRIP_BYTES }))
    const app = edge()
    const path = `/drip/600/${fresh('t').slice(3)}`
    const events: string[] = []
    const { res, done } = await app.fetch(path, { headers: visitor('visitor-drip') })
    const background = done.then(() => events.push('background done'))
    const text = await res.text()
    events.push('visitor read')
    await background
    expect(text).toBe('a'.repeat(DRIP_BYTES) + 'b'.repeat(DRIP_BYTES))
    // The comparison ended at its deadline, before stable's body did; it compared neither body.
    expect(events).toEqual(['background done', 'visitor read'])
    const [p] = app.shadows()
    expect([p!.truncated, p!.diffs, p!.canaryError]).toEqual([true, [], false])
    expect(shadowBudget().inFlight).toBe(0)
  })

  it('is served by stable when the canary refuses connections, and the point says so', async () => {
    await publish(shadowing({}, { canary: deadUrl() }))
    const app = edge()
    const { res, body } = await app.get(fresh('same'), { headers: visitor('visitor-down') })
    expect([res.status, res.headers.get('x-origin'), JSON.parse(new TextDecoder().decode(body))]).toEqual([200, 'stable', { ok: true, items: [1, 2, 3] }])
    const [p] = app.shadows()
    expect([p!.canaryError, p!.raw.doubles![1], p!.diffs]).toEqual([true, 0, [{ kind: 'value', field: 'status' }]])
  })
})

describe('budgets', () => {
  it('holds maxInFlight under a burst: the canary never has more shadow requests at once, the rest are skipped and counted', async () => {
    await publish(shadowing({ maxInFlight: 3 }))
    const app = edge()
    const key = fresh('k').slice(3)
    const path = `/slow/300/${key}`
    const before = shadowBudget().skipped
    const answers = await Promise.all(ids(12, 'burst').map((id) => app.get(`${path}?v=${id}`, { headers: visitor(id) })))
    expect(answers.every((a) => a.res.status === 200 && a.res.headers.get('x-origin') === 'stable')).toBe(true)
    const busy = (await (await fetch(`${canaryUrl()}/__ctl/busy/${key}`)).json()) as { now: number; max: number }
    const copies = (await atCanary(path)).length
    expect(busy.max).toBeGreaterThanOrEqual(1)
    expect(busy.max).toBeLessThanOrEqual(3)
    expect(copies).toBeLessThan(12)
    expect(shadowBudget().skipped - before).toBe(12 - copies)
    expect(app.shadows()).toHaveLength(copies)
    expect(shadowBudget().inFlight).toBe(0)
    // An operator sees the skipped ones in healthz.
    const health = (await (await app.fetch('/__sluice/healthz')).res.json()) as { shadow: { inFlight: number; skipped: number } }
    expect(health.shadow).toEqual({ inFlight: 0, skipped: shadowBudget().skipped })
    expect(health.shadow.skipped - before).toBe(12 - copies)
  })
})

describe('the data points', () => {
  const one = async (route: string, shadow: Shadow = {}) => {
    await publish(shadowing(shadow))
    const app = edge()
    const path = fresh(route)
    await app.get(path, { headers: visitor('visitor-points', { 'cf-connecting-ip': '198.51.100.4' }) })
    const points = app.shadows()
    expect(points).toHaveLength(1)
    return { path, p: points[0]! }
  }

  it('are in the documented layout: route, release, method, client, statuses and no difference for equal answers', async () => {
    const { path, p } = await one('same')
    expect(p.raw.indexes).toEqual(['web/shadow'])
    expect(p.raw.blobs!.slice(0, 5)).toEqual(['web', routeOf(path), 'v2', 'GET', clientKey('198.51.100.4')])
    expect([p.diffs, p.noise, p.example, p.canaryError, p.stableError, p.truncated]).toEqual([[], null, '', false, false, false])
    expect(p.raw.doubles!.slice(0, 2)).toEqual([200, 200])
  })

  it('name a renamed JSON field as missing at its old path and extra at its new one, with an example', async () => {
    const { p } = await one('renamed')
    expect(p.diffs).toEqual([
      { kind: 'missing', field: '/old' },
      { kind: 'extra', field: '/new' },
    ])
    // The example is of one of the differences, chosen at random (so each field of a route gets examples over time).
    expect([
      { field: '/old', kind: 'missing', stable: '"x"', canary: '(absent)' },
      { field: '/new', kind: 'extra', stable: '(absent)', canary: '"x"' },
    ]).toContainEqual(JSON.parse(p.example))
  })

  it('compare redirects to each origin’s own host as the visitor sees them: no difference', async () => {
    const { p } = await one('moved')
    expect([p.raw.doubles!.slice(0, 2), p.diffs]).toEqual([[302, 302], []])
  })

  it('compare bodies past maxBodyBytes by content-length, then the hash of their first maxBodyBytes', async () => {
    const within = await one('head/70000', { maxBodyBytes: 1000 })
    expect([within.p.truncated, within.p.diffs]).toEqual([true, [{ kind: 'value', field: 'body' }]])
    const longer = await one('longer/70000', { maxBodyBytes: 1000 })
    expect([longer.p.truncated, longer.p.diffs]).toEqual([true, [{ kind: 'length', field: 'body' }]])
    // The documented limit: a change only past maxBodyBytes that keeps the content-length is not seen.
    const past = await one('tail/70000', { maxBodyBytes: 1000 })
    expect([past.p.truncated, past.p.diffs]).toEqual([true, []])
    // An encoded body's content-length counts compressed bytes: the same text compressed harder is no difference.
    const gzip = await one('gzip/70000', { maxBodyBytes: 1000 })
    expect([gzip.p.truncated, gzip.p.diffs]).toEqual([true, []])
  })

  it('name a number turned into a string as a type change', async () => {
    expect((await one('typed')).p.diffs).toEqual([{ kind: 'type', field: '/n' }])
  })

  it('show a canary 500 as a status difference and a canary error', async () => {
    const { p } = await one('fail')
    expect(p.raw.doubles!.slice(0, 2)).toEqual([200, 500])
    expect(p.canaryError).toBe(true)
    expect(p.diffs[0]).toEqual({ kind: 'value', field: 'status' })
  })

  it('list a real change before noise: 20 noisy fields and one changed value, stable asked twice', async () => {
    const { p } = await one('many/value', { noiseSampleRate: 1 })
    const noisy = Array.from({ length: 20 }, (_, i) => ({ kind: 'value', field: `/n${String(i).padStart(2, '0')}` }))
    expect(p.noise).toEqual(noisy.slice(0, MAX_POINT_DIFFS))
    expect(p.diffs).toEqual([{ kind: 'value', field: '/v' }, ...noisy.slice(0, MAX_POINT_DIFFS - 1)])
    // The whole count, before the cut.
    expect(p.raw.doubles![7]).toBe(21)
  })

  it('list a structural change before value changes when stable was asked once: 20 noisy values and a missing field', async () => {
    const { p } = await one('many/missing')
    const noisy = Array.from({ length: 20 }, (_, i) => ({ kind: 'value', field: `/n${String(i).padStart(2, '0')}` }))
    expect(p.noise).toBeNull()
    expect(p.diffs).toEqual([{ kind: 'missing', field: '/v' }, ...noisy.slice(0, MAX_POINT_DIFFS - 1)])
    expect(p.raw.doubles![7]).toBe(21)
  })

  it('keep each list within MAX_DIFFS_BYTES however long and wide the names, so a point never passes its blob limit', () => {
    const ascii = Array.from({ length: 20 }, (_, i) => ({ kind: 'value' as const, field: `/${String(i).padStart(2, '0')}${'a'.repeat(300)}` }))
    expect(decodeDiffs(encodeDiffs(ascii))).toHaveLength(MAX_POINT_DIFFS)
    const wide = ascii.map((d) => ({ ...d, field: d.field.replaceAll('a', '語') }))
    const blob = encodeDiffs(wide)
    expect(new TextEncoder().encode(blob).byteLength).toBeLessThanOrEqual(MAX_DIFFS_BYTES)
    // Whole lines, the first ones in order.
    const kept = decodeDiffs(blob)
    expect(kept.length).toBeGreaterThan(0)
    expect(kept).toEqual(wide.slice(0, kept.length).map((d) => ({ ...d, field: d.field.slice(0, MAX_FIELD_LENGTH) })))
  })

  it('list what also varies between two stable answers as noise', async () => {
    const { p, path } = await one('noisy', { noiseSampleRate: 1 })
    expect(p.diffs).toEqual([{ kind: 'value', field: '/at' }])
    expect(p.noise).toEqual([{ kind: 'value', field: '/at' }])
    expect(p.raw.doubles![8]).toBe(1)
    expect((await arrivals(path)).map((a) => a.origin).sort()).toEqual(['canary', 'stable', 'stable'])
    // The ignore list takes a field out of both lists.
    const ignored = await one('noisy', { noiseSampleRate: 1, ignore: ['/at'] })
    expect([ignored.p.diffs, ignored.p.noise]).toEqual([[], []])
  })
})

describe('capture', () => {
  const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('')
  /** A byte stream of `bytes` in chunks of at most `size`, handing out only what its reader asks for, and counting it. */
  const probe = (bytes: Uint8Array, size: number) => {
    let at = 0
    const stream = new ReadableStream({
      type: 'bytes',
      pull(c) {
        const request = c.byobRequest
        if (at >= bytes.length) {
          c.close()
          request?.respond(0)
          return
        }
        if (request?.view) {
          const view = new Uint8Array(request.view.buffer, request.view.byteOffset, request.view.byteLength)
          const n = Math.min(size, view.byteLength, bytes.length - at)
          view.set(bytes.subarray(at, at + n))
          at += n
          request.respond(n)
        } else {
          const n = Math.min(size, bytes.length - at)
          c.enqueue(bytes.slice(at, at + n))
          at += n
        }
      },
    })
    return { stream, handedOut: () => at }
  }

  it('reads at most maxBodyBytes, however the chunks fall around it; past it, the declared length and the hash of what was read', async () => {
    const bytes = Uint8Array.from({ length: 3000 }, (_, i) => bigByte(i))
    for (const declared of [null, '3000'] as const) {
      for (const [max, size] of [
        [1000, 1],
        [1000, 7],
        [1000, 1000],
        [1000, 3000],
        [0, 512],
        // Exactly maxBodyBytes: only a further read could tell that it ended, so it counts as cut.
        [3000, 999],
        [4096, 1024],
      ] as const) {
        const d = deadline(5_000)
        const { stream, handedOut } = probe(bytes, size)
        const res = new Response(null, { headers: declared === null ? {} : { 'content-length': declared } })
        const a = await capture(res, stream, { headers: [], maxBodyBytes: max, origin: '', deadline: d })
        d.clear()
        const label = `max ${max}, chunks of ${size}, content-length ${declared}`
        const read = bytes.slice(0, Math.min(max, bytes.length))
        const complete = max > bytes.length
        expect(handedOut(), label).toBe(read.length)
        expect(a.body, label).toEqual(read)
        expect([a.complete, a.length, a.hash], label).toEqual([
          complete,
          complete ? 3000 : declared === null ? null : 3000,
          hex(await crypto.subtle.digest('SHA-256', read)),
        ])
      }
    }
  })
})
