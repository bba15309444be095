import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isReserved } from '../../src/edge/gateway.ts'
import { browser, canaryUrl, deadUrl, publish, rollout, sluice, stableUrl } from '../support/worker.ts'

const echoOf = async (res: Response) =>
  (await res.json()) as { origin: string; method: string; path: string; query: string; headers: Record<string, string>; bodyBytes: number }

describe('forwarding', () => {
  it('forwards method, path, query, headers and body, and tells the origin the cohort', async () => {
    await publish(rollout({ weight: 100 }))
    const res = await sluice().fetch('https://shop.example.com/echo/a%20b?x=1&y=2', {
      method: 'POST',
      body: 'hello world',
      headers: {
        'content-type': 'text/plain',
        'x-custom': 'kept',
        'cf-connecting-ip': '203.0.113.7',
        connection: 'x-hop',
        'x-hop': 'dropped',
        'x-sluice-cohort': 'bogus', // not a valid override: the origin must still hear the real cohort
        cookie: 'sluice=abcdef0123456789; theme=dark; sluice_pin=bogus',
      },
    })
    expect(res.status).toBe(200)
    const echo = await echoOf(res)
    expect(echo).toMatchObject({ origin: 'canary', method: 'POST', path: '/echo/a%20b', query: '?x=1&y=2', bodyBytes: 11 })
    expect(echo.headers['x-custom']).toBe('kept')
    expect(echo.headers['x-hop']).toBeUndefined()
    expect(echo.headers['x-sluice-cohort']).toBe('canary')
    expect(echo.headers['x-forwarded-host']).toBe('shop.example.com')
    expect(echo.headers['x-forwarded-proto']).toBe('https')
    expect(echo.headers['x-forwarded-for']).toBe('203.0.113.7')
    expect(echo.headers.cookie).toBe('theme=dark')
    expect(echo.headers.host).toBe(new URL(canaryUrl()).host)
  })

  it('no hop-by-hop header reaches the origin, whether Sluice or the runtime drops it', async () => {
    // Sluice deletes only the ones workerd's fetch would pass on (src/edge/proxy.ts): this holds the runtime to the rest.
    await publish(rollout())
    const hop = {
      connection: 'x-named, keep-alive',
      'x-named': '1',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      'proxy-authenticate': 'Basic',
      'proxy-authorization': 'Basic eDp5',
      te: 'trailers',
      trailer: 'x-trailer',
      upgrade: 'h2c',
      host: 'spoofed.example.net',
    }
    const echo = await echoOf(await sluice().fetch('/echo', { headers: { ...hop, 'x-kept': '1' } }))
    for (const name of Object.keys(hop)) if (name !== 'host') expect(echo.headers[name], name).toBeUndefined()
    expect(echo.headers.host).toBe(new URL(stableUrl()).host)
    expect(echo.headers['x-kept']).toBe('1')
    // A body's framing is the runtime's own, whatever the client's Transfer-Encoding said.
    const upload = await echoOf(await sluice().fetch('/echo', { method: 'POST', body: 'abc', headers: { 'transfer-encoding': 'gzip, chunked' } }))
    expect(upload.bodyBytes).toBe(3)
    expect(upload.headers['transfer-encoding'] ?? '').not.toContain('gzip')
  })

  it('does not forward a tester override header, which may carry its secret', async () => {
    await publish(rollout({ overrides: { header: 'x-tester', secret: 'tester-secret-0123' } }))
    const echo = await echoOf(await sluice().fetch('/echo', { headers: { 'x-tester': 'canary.tester-secret-0123' } }))
    expect(echo.origin).toBe('canary')
    expect(echo.headers['x-tester']).toBeUndefined()
  })

  it('drops the Cookie header entirely when only Sluice cookies were sent', async () => {
    await publish(rollout())
    const echo = await echoOf(await sluice().fetch('/echo', { headers: { cookie: 'sluice=abcdef0123456789' } }))
    expect(echo.headers.cookie).toBeUndefined()
  })

  it('never proxies the reserved /__sluice/ prefix: it goes, unchanged, to the control worker', async () => {
    await publish(rollout({ weight: 100 }))
    const res = await sluice().fetch('/__sluice/api/rollouts?x=1', {
      method: 'POST',
      body: '{"a":1}',
      headers: { authorization: 'Bearer t', origin: 'https://shop.example.com' },
    })
    expect(res.headers.get('x-origin')).toBeNull()
    expect(res.headers.get('x-fake-control')).toBe('1')
    const got = (await res.json()) as { method: string; url: string; headers: Record<string, string>; body: string }
    expect(got).toMatchObject({ method: 'POST', url: 'https://shop.example.com/__sluice/api/rollouts?x=1', body: '{"a":1}' })
    expect(got.headers).toMatchObject({ authorization: 'Bearer t', origin: 'https://shop.example.com' })
    expect(got.headers['x-sluice-cohort']).toBeUndefined()
  })

  it('treats encoded and slash-less forms of the reserved prefix as reserved too', async () => {
    await publish(rollout({ weight: 100 }))
    for (const path of ['/__sluice', '/%5F%5Fsluice/api/rollouts', '/%5f%5fsluice/', '/__sluice%2Fapi']) {
      const res = await sluice().fetch(path)
      expect(res.headers.get('x-origin'), path).toBeNull()
      expect(res.headers.get('x-fake-control'), path).toBe('1')
    }
    // A malformed escape is judged as written, and neither it nor a look-alike is reserved.
    for (const path of ['/%E0%A4%A', '/__sluicex', '/x/__sluice/']) expect((await sluice().fetch(path)).headers.get('x-origin'), path).toBe('canary')
    // Never throws, and agrees with the plain prefix test on paths without escapes.
    fc.assert(
      fc.property(fc.constantFrom('', '__sluice', '__sluice/', '%5F%5Fsluice', '%'), fc.string(), (head, tail) => {
        const path = `/${head}${tail}`
        const reserved = isReserved(path)
        if (!path.includes('%')) expect(reserved).toBe(path === '/__sluice' || path.startsWith('/__sluice/'))
      }),
    )
  })

  it('answers /__sluice/ itself when the control worker is missing (404) or unreachable (503), as problem documents', async () => {
    await publish(rollout())
    const missing = await sluice({ env: { CONTROL: undefined } }).fetch('/__sluice/api/rollouts')
    expect(missing.status).toBe(404)
    expect(missing.headers.get('content-type')).toBe('application/problem+json')
    expect(missing.headers.get('x-origin')).toBeNull()
    const unreachable = { fetch: () => Promise.reject(new Error('control worker is down')) } as unknown as EdgeEnv['CONTROL']
    const down = await sluice({ env: { CONTROL: unreachable } }).fetch('/__sluice/api/rollouts')
    expect(down.status).toBe(503)
    expect(await down.json()).toMatchObject({ status: 503, detail: expect.stringContaining('control worker') })
    // Traffic is unaffected.
    expect((await sluice().fetch('/echo')).headers.get('x-origin')).toBe('stable')
  })

  it('routes several rollouts by host and path prefix, most specific first', async () => {
    await publish(
      rollout({ id: 'everything', weight: 0 }),
      rollout({ id: 'api', match: { host: 'shop.example.com', pathPrefix: '/api/' }, weight: 100 }),
      rollout({ id: 'example', match: { host: '*.example.com' }, weight: 0 }),
      rollout({ id: 'blog', match: { host: '*.blog.example.com' }, weight: 100 }),
    )
    const app = sluice()
    expect((await app.fetch('https://shop.example.com/api/cart')).headers.get('x-origin')).toBe('canary')
    expect((await app.fetch('https://shop.example.com/cart')).headers.get('x-origin')).toBe('stable')
    expect((await app.fetch('https://en.blog.example.com/post')).headers.get('x-origin')).toBe('canary')
    expect((await app.fetch('https://blog.example.com/post')).headers.get('x-origin')).toBe('stable')
    expect((await app.fetch('https://cdn.example.com/x')).headers.get('x-origin')).toBe('stable')
  })
})

describe('cohort cookie', () => {
  it('sets exactly one cookie on a first browser visit, then none, and keeps the cohort', async () => {
    await publish(rollout({ weight: 50 }))
    const app = sluice()
    const first = await app.fetch('https://shop.example.com/echo', { headers: browser })
    const cookies = first.headers.getSetCookie()
    expect(cookies).toHaveLength(1)
    expect(cookies[0]).toMatch(/^sluice=[0-9a-f-]{36}; Max-Age=34560000; Path=\/; HttpOnly; Secure; SameSite=Lax$/)
    const cohort = first.headers.get('x-sluice-cohort')
    const id = cookies[0]!.split(';')[0]!
    for (let i = 0; i < 5; i++) {
      const again = await app.fetch('https://shop.example.com/echo', { headers: { ...browser, cookie: id } })
      expect(again.headers.getSetCookie()).toHaveLength(0)
      expect(again.headers.get('x-sluice-cohort')).toBe(cohort)
    }
  })

  it('omits Secure on plain http and honours cookie settings', async () => {
    await publish(rollout({ cookie: { name: 'cohort', maxAge: 3600, sameSite: 'Strict', domain: '.example.com' } }))
    const res = await sluice().fetch('http://shop.example.com/echo', { headers: browser })
    expect(res.headers.getSetCookie()).toEqual([
      expect.stringMatching(/^cohort=[^;]+; Max-Age=3600; Domain=\.example\.com; Path=\/; HttpOnly; SameSite=Strict$/),
    ])
  })

  it('sets no cookie for a cookie-less client such as curl or Node’s fetch, yet keeps it in one cohort', async () => {
    await publish(rollout({ weight: 10 }))
    const app = sluice()
    const clients: Record<string, string>[] = [
      { 'user-agent': 'curl/8.5.0', accept: '*/*' },
      // Node's fetch (undici) sends Sec-Fetch-Mode alone, without the Sec-Fetch-Site and -Dest a browser sends with it.
      { 'user-agent': 'node', accept: '*/*', 'accept-language': '*', 'sec-fetch-mode': 'cors', 'accept-encoding': 'gzip, deflate' },
    ]
    for (const client of clients) {
      const cohorts = new Set<string | null>()
      for (let i = 0; i < 40; i++) {
        const res = await app.fetch('/echo', { headers: { ...client, 'cf-connecting-ip': '198.51.100.4' } })
        expect(res.headers.getSetCookie(), client['user-agent']).toHaveLength(0)
        cohorts.add(res.headers.get('x-sluice-cohort'))
      }
      expect(cohorts.size, client['user-agent']).toBe(1)
    }
  })

  it('pins a tester from a link, strips only that parameter before proxying, and stores the pin', async () => {
    await publish(rollout({ weight: 0 }))
    const res = await sluice().fetch('https://shop.example.com/echo?flag&q=a%20b&sluice-cohort=canary&sig=x%2By', { headers: browser })
    const echo = await echoOf(res)
    expect(echo.origin).toBe('canary')
    expect(echo.query).toBe('?flag&q=a%20b&sig=x%2By')
    expect(res.headers.getSetCookie()).toContainEqual(expect.stringMatching(/^sluice_pin=canary; Max-Age=86400;/))
  })

  it('pins from a link however the cohort is typed, and honours the pin cookie it set on the next request', async () => {
    await publish(rollout({ weight: 0 }))
    const app = sluice()
    for (const typed of ['%20canary', 'CANARY', '%20canary%20', '+canary+']) {
      const res = await app.fetch(`/echo?sluice-cohort=${typed}`, { headers: browser })
      expect(res.headers.get('x-origin'), typed).toBe('canary')
      const pin = res.headers.getSetCookie().find((c) => c.startsWith('sluice_pin='))
      expect(pin, typed).toMatch(/^sluice_pin=canary;/)
      const next = await app.fetch('/echo', { headers: { ...browser, cookie: pin!.split(';')[0]! } })
      expect(next.headers.get('x-origin'), typed).toBe('canary')
    }
    const garbage = await app.fetch('/echo?sluice-cohort=%20can%20ary', { headers: browser })
    expect(garbage.headers.get('x-origin')).toBe('stable')
    expect(garbage.headers.getSetCookie().filter((c) => c.startsWith('sluice_pin='))).toEqual([])
  })

  it('can leave the cohort response header out', async () => {
    await publish(rollout({ proxy: { responseCohortHeader: false } }))
    expect((await sluice().fetch('/echo')).headers.get('x-sluice-cohort')).toBeNull()
  })
})

describe('responses pass through unchanged', () => {
  it('keeps several Set-Cookie headers separate, next to Sluice’s own', async () => {
    await publish(rollout())
    const res = await sluice().fetch('/cookies', { headers: browser })
    const cookies = res.headers.getSetCookie()
    expect(cookies).toContain('a=1; Path=/')
    expect(cookies).toContain('b=2; Path=/; HttpOnly')
    expect(cookies.filter((c) => c.startsWith('sluice='))).toHaveLength(1)
  })

  it('does not follow redirects, and rewrites a Location on the origin’s own host to the public host', async () => {
    await publish(rollout())
    const app = sluice()
    const own = await app.fetch('https://shop.example.com/redirect?to=self')
    expect(own.status).toBe(302)
    expect(own.headers.get('location')).toBe('https://shop.example.com/landed?x=1')
    const elsewhere = await app.fetch('https://shop.example.com/redirect?to=https://login.example.org/sso')
    expect(elsewhere.headers.get('location')).toBe('https://login.example.org/sso')
    const relative = await app.fetch('https://shop.example.com/redirect?to=/next')
    expect(relative.headers.get('location')).toBe('/next')
    for (const status of [201, 202]) {
      const res = await app.fetch(`https://shop.example.com/redirect?to=self&status=${status}`)
      expect([res.status, res.headers.get('location')]).toEqual([status, 'https://shop.example.com/landed?x=1'])
    }
    // Location means nothing on a 200 (RFC 9110): passed on as the origin wrote it.
    const ok = await app.fetch('https://shop.example.com/redirect?to=self&status=200')
    expect(ok.headers.get('location')).toMatch(/^http:\/\/(127\.0\.0\.1|localhost):\d+\/landed\?x=1$/)
  })

  it('passes origin error statuses through as they are', async () => {
    await publish(rollout())
    const res = await sluice().fetch('/status/404')
    expect(res.status).toBe(404)
    expect(await res.text()).toBe('stable says 404')
  })

  it('streams server-sent events: the first event arrives while the origin still holds the stream open', async () => {
    await publish(rollout())
    const res = await sluice().fetch('/sse/stream-1')
    expect(res.headers.get('content-type')).toBe('text/event-stream')
    const reader = res.body!.getReader()
    const first = new TextDecoder().decode((await reader.read()).value)
    expect(first).toContain('first from stable')
    // Only now let the origin finish: had Sluice buffered, the read above would never have returned.
    await fetch(`${stableUrl()}/release/stream-1`)
    let rest = ''
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value)
    expect(rest).toContain('data: last')
  })

  it('never cuts a stream that outlives the origin timeout: the timeout covers only the wait for headers', async () => {
    await publish(rollout({ proxy: { stableTimeoutMs: 150 } }))
    const res = await sluice().fetch('/sse/stream-2')
    const reader = res.body!.getReader()
    expect(new TextDecoder().decode((await reader.read()).value)).toContain('first from stable')
    await scheduler.wait(400)
    await fetch(`${stableUrl()}/release/stream-2`)
    let rest = ''
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value)
    expect(rest).toContain('data: last')
  })

  it('carries large downloads and uploads', async () => {
    await publish(rollout())
    const app = sluice()
    const size = 24 * 1024 * 1024
    const down = await app.fetch(`/download/${size}`)
    expect((await down.arrayBuffer()).byteLength).toBe(size)
    const body = new Uint8Array(16 * 1024 * 1024).fill(7)
    const up = await echoOf(await app.fetch('/upload', { method: 'PUT', body }))
    expect(up.bodyBytes).toBe(body.byteLength)
  })

  it('passes WebSocket upgrades through to the cohort’s origin', async () => {
    await publish(rollout({ weight: 100 }))
    const res = await sluice().fetch('https://shop.example.com/ws', { headers: { upgrade: 'websocket', connection: 'Upgrade' } })
    expect(res.status).toBe(101)
    expect(res.headers.get('x-sluice-cohort')).toBe('canary')
    const ws = res.webSocket!
    ws.accept()
    const reply = new Promise<string>((resolve) => ws.addEventListener('message', (e) => resolve(String(e.data))))
    ws.send('ping')
    expect(await reply).toBe('canary:ping')
    ws.close()
  })
})

describe('faults', () => {
  it('answers a clear 502 when stable is down, without internals', async () => {
    await publish(rollout({ stable: deadUrl() }))
    const res = await sluice().fetch('/echo')
    expect(res.status).toBe(502)
    const body = await res.text()
    expect(body).toBe('The origin could not be reached.\n')
    expect(body).not.toContain('127.0.0.1')
  })

  it('answers 504 when stable does not send headers in time', async () => {
    await publish(rollout({ proxy: { stableTimeoutMs: 200 } }))
    const res = await sluice().fetch('/slow/3000')
    expect(res.status).toBe(504)
  })

  it('fails over to stable when the canary is unreachable', async () => {
    await publish(rollout({ canary: deadUrl(), weight: 100 }))
    const res = await sluice().fetch('/echo')
    expect(res.status).toBe(200)
    expect(res.headers.get('x-origin')).toBe('stable')
    expect(res.headers.get('x-sluice-cohort')).toBe('canary')
    expect(res.headers.get('x-sluice-failover')).toBe('1')
  })

  it('fails over on a configured canary status and on a canary timeout', async () => {
    await publish(rollout({ weight: 100, proxy: { canaryTimeoutMs: 200 } }))
    const app = sluice()
    const unavailable = await app.fetch('/status/503')
    expect(unavailable.status).toBe(503) // stable's answer to the same path
    expect(await unavailable.text()).toBe('stable says 503')
    const slow = await app.fetch('/slow/1000')
    expect(slow.headers.get('x-origin')).toBe('stable')
    expect(slow.headers.get('x-sluice-failover')).toBe('1')
    const notListed = await app.fetch('/status/500')
    expect(await notListed.text()).toBe('canary says 500')
  })

  it('serves stable after a canary timeout even when the canary answers while stable is still working', async () => {
    await publish(rollout({ weight: 100, proxy: { canaryTimeoutMs: 100 } }))
    // The canary answers /slow/400 after its deadline but before stable (asked 100 ms later) does: that late answer
    // reaches the abandoned fetch while this request is still open, and must be dropped, not served or leaked.
    const res = await sluice().fetch('/slow/400')
    expect(res.headers.get('x-sluice-failover')).toBe('1')
    expect(((await res.json()) as { origin: string }).origin).toBe('stable')
  })

  it('does not retry a POST even without a body: it may already have taken effect', async () => {
    await publish(rollout({ weight: 100 }))
    const res = await sluice().fetch('/status/503', { method: 'POST' })
    expect(await res.text()).toBe('canary says 503')
  })

  it('treats malformed Connection tokens as absent rather than failing', async () => {
    await publish(rollout())
    const res = await sluice().fetch('/echo', { headers: { connection: 'foo bar, a@b, x-drop', 'x-drop': '1' } })
    expect(res.status).toBe(200)
    expect((await echoOf(res)).headers['x-drop']).toBeUndefined()
  })

  it('does not retry a request whose body was already sent', async () => {
    await publish(rollout({ weight: 100 }))
    const res = await sluice().fetch('/status/503', { method: 'POST', body: 'order=1' })
    expect(await res.text()).toBe('canary says 503')
    expect(res.headers.get('x-sluice-failover')).toBeNull()
  })

  it('does not fail over when failover is disabled', async () => {
    await publish(rollout({ canary: deadUrl(), weight: 100, failover: { enabled: false } }))
    expect((await sluice().fetch('/echo')).status).toBe(502)
  })
})

/** The edge worker, with the data points it writes. */
function measured() {
  const points: AnalyticsEngineDataPoint[] = []
  const METRICS = { writeDataPoint: (p?: AnalyticsEngineDataPoint) => void points.push(p!) } as AnalyticsEngineDataset
  return { points, app: sluice({ env: { METRICS } }) }
}

/**
 * A request as the runtime hands it to the worker. `curl -X GET --data x` arrives as a GET whose body is not null,
 * which the Request constructor refuses to build: such a request is built as a POST and given the client's method.
 */
function incoming(method: string, body: BodyInit | null, headers: Record<string, string> = {}) {
  const req = new Request('https://shop.example.com/echo', { method: body === null ? method : 'POST', body, headers })
  return body === null ? req : Object.defineProperty(req, 'method', { value: method })
}

/** A chunked body: the given chunks, then the end (or a failure, as when the client goes away mid-upload). */
const chunked = (chunks: Uint8Array[], end: 'close' | 'error' = 'close') =>
  new ReadableStream<Uint8Array>({
    start(c) {
      for (const chunk of chunks) c.enqueue(chunk)
      if (end === 'close') c.close()
      else c.error(new Error('the client went away'))
    },
  })

const expectRefusal = async (res: Response, status: number, text: string) => {
  expect(res.status).toBe(status)
  expect(res.headers.get('x-sluice-error')).toBe('1')
  expect(res.headers.get('cache-control')).toBe('no-store')
  expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8')
  expect(res.headers.get('x-origin')).toBeNull()
  expect(await res.text()).toBe(text)
}

describe('client-caused refusals', () => {
  it('answers a GET with a body 400 itself: no origin is asked, and no cohort is charged with an error', async () => {
    await publish(rollout({ weight: 100 }))
    const { points, app } = measured()
    await expectRefusal(await app.fetch(incoming('GET', 'x', { 'user-agent': 'curl/8.5.0' })), 400, 'A GET request cannot carry a body.\n')
    expect(points).toEqual([])
    // With both origins down the answer is the same: it never depended on one.
    await publish(rollout({ weight: 100, stable: deadUrl(), canary: deadUrl() }))
    await expectRefusal(await app.fetch(incoming('GET', 'x')), 400, 'A GET request cannot carry a body.\n')
    expect(points).toEqual([])
  })

  it('answers a HEAD with a body, or a GET whose body fails mid-upload, the same way', async () => {
    await publish(rollout({ weight: 100 }))
    const { points, app } = measured()
    const head = await app.fetch(incoming('HEAD', chunked([new Uint8Array(0), new Uint8Array([1, 2, 3])])))
    expect(head.status).toBe(400)
    expect(head.headers.get('x-sluice-error')).toBe('1')
    await expectRefusal(await app.fetch(incoming('GET', chunked([new Uint8Array([1])], 'error'))), 400, 'A GET request cannot carry a body.\n')
    expect(points).toEqual([])
  })

  it('does not forward TRACE, whose echo would show the visitor’s cookies and the headers Sluice adds', async () => {
    await publish(rollout({ weight: 100 }))
    const { points, app } = measured()
    await expectRefusal(await app.fetch('/echo', { method: 'TRACE', headers: { cookie: 'session=secret' } }), 405, 'TRACE requests are not forwarded.\n')
    expect(points).toEqual([])
  })

  it('forwards a GET whose chunked body is empty without a body, and can still fail it over', async () => {
    await publish(rollout({ weight: 100 }))
    const { points, app } = measured()
    for (const body of [chunked([]), chunked([new Uint8Array(0)])]) {
      const res = await app.fetch(incoming('GET', body))
      expect(res.status).toBe(200)
      const echo = await echoOf(res)
      expect(echo).toMatchObject({ origin: 'canary', method: 'GET', bodyBytes: 0 })
      expect(echo.headers['transfer-encoding']).toBeUndefined()
    }
    expect(points).toHaveLength(2)
    // Nothing was streamed, so it is as safe to repeat as any GET.
    await publish(rollout({ weight: 100, canary: deadUrl() }))
    const failedOver = await app.fetch(incoming('GET', chunked([])))
    expect(failedOver.headers.get('x-origin')).toBe('stable')
    expect(failedOver.headers.get('x-sluice-failover')).toBe('1')
  })

  it('never answers a Sluice-made 5xx, whatever the method and body, while the origins are healthy', async () => {
    await publish(rollout({ weight: 50 }))
    const methods =
      'GET HEAD POST PUT DELETE PATCH OPTIONS TRACE PURGE COPY LOCK MKCOL MOVE PROPFIND PROPPATCH SEARCH UNLOCK ACL REPORT MKACTIVITY CHECKOUT MERGE MSEARCH NOTIFY SUBSCRIBE UNSUBSCRIBE QUERY BAN'.split(
        ' ',
      )
    const bytes = fc.uint8Array({ maxLength: 64 })
    const body = fc.oneof(
      fc.constant(null),
      fc.string({ maxLength: 64 }),
      bytes,
      fc.record({ chunks: fc.array(bytes, { maxLength: 4 }), end: fc.constantFrom('close' as const, 'error' as const) }),
    )
    const headers = fc.record(
      {
        expect: fc.constant('100-continue'),
        upgrade: fc.constantFrom('websocket', 'h2c'),
        'content-type': fc.constant('application/json'),
        'user-agent': fc.constantFrom('curl/8.5.0', 'node'),
      },
      { requiredKeys: [] },
    )
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...methods), body, headers, async (method, b, h) => {
        const { points, app } = measured()
        const res = await app.fetch(incoming(method, b !== null && typeof b === 'object' && 'chunks' in b ? chunked(b.chunks, b.end) : b, h))
        await res.body?.cancel()
        const sluiceMade = res.headers.get('x-sluice-error') === '1'
        expect(sluiceMade && res.status >= 500, `${method} ${res.status}`).toBe(false)
        // Either Sluice refused it and wrote no data point, or the origin answered and the request was measured.
        expect(points.length, `${method} ${res.status}`).toBe(sluiceMade ? 0 : 1)
      }),
      { numRuns: 150 },
    )
  })
})
