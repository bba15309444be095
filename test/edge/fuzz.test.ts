/**
 * Generated requests through the edge worker, inside workerd, against the healthy loopback origins: cookies (valid,
 * forged, oversized, quoted ids; pins), override links and headers (with right, wrong and no secrets, in any case),
 * identity headers, odd and encoded reserved paths, methods, query strings, bodies, every Sec-Fetch-* combination and
 * client addresses. Each request is generated with what it is meant to be (a valid override? a bot? which id?), so
 * the cohort rules are checked against that label rather than against Sluice's own code:
 *
 * - no Sluice-made 5xx (`x-sluice-error` with a 5xx), no request that throws, no unhandled error logged;
 * - Sluice refuses exactly the GET/HEAD with a body (400) and TRACE (405), and never proxies a reserved path;
 * - a valid override pins its cohort (link, then header, then pin cookie; a `clear` link pins nothing);
 * - otherwise a bot gets stable;
 * - otherwise the same id (identity header, cookie, or address + User-Agent) always lands in the same cohort, and a
 *   browser given a new id keeps its cohort when it comes back with the cookie;
 * - a new id is set exactly for a browser with no valid id.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { browser, publish, rollout, sluice } from '../support/worker.ts'

const SECRET = 'fuzz-secret-0123456789'
const HOSTS = {
  'open.example.com': rollout({ id: 'fz-open', match: { host: 'open.example.com' }, weight: 50, identity: { header: 'x-user-id' } }),
  'secret.example.com': rollout({ id: 'fz-secret', match: { host: 'secret.example.com' }, weight: 50, overrides: { secret: SECRET } }),
  'closed.example.com': rollout({ id: 'fz-closed', match: { host: 'closed.example.com' }, weight: 50, overrides: { enabled: false } }),
}
type Host = keyof typeof HOSTS
type Cohort = 'stable' | 'canary'

const BATCH = 50
const RUNS = 200

interface Override {
  cohort: Cohort | 'bogus'
  secret: 'right' | 'wrong' | 'none'
  form: 'plain' | 'upper' | 'spaced'
}

const overrideText = (o: Override) => {
  const cohort = o.form === 'upper' ? o.cohort.toUpperCase() : o.form === 'spaced' ? ` ${o.cohort}` : o.cohort
  return o.secret === 'none' ? cohort : `${cohort}.${o.secret === 'right' ? SECRET : 'wrong-secret-000000'}`
}
const isValid = (o: Override | undefined, host: Host): o is Override & { cohort: Cohort } =>
  o !== undefined && HOSTS[host].overrides?.enabled !== false && o.cohort !== 'bogus' && o.secret === (HOSTS[host].overrides?.secret ? 'right' : 'none')

const overrideIn = (...forms: Override['form'][]) =>
  fc.record<Override>({
    cohort: fc.constantFrom('canary', 'stable', 'bogus'),
    secret: fc.constantFrom('right', 'wrong', 'none'),
    form: fc.constantFrom(...forms),
  })
const override = overrideIn('plain', 'upper', 'spaced')

/** A labelled value: what the request carries, and whether Sluice must take it as an id. */
const labelled = (valid: string[], forged: string[]) =>
  fc.oneof(
    fc.constantFrom(...valid).map((value) => ({ value, valid: true })),
    fc.constantFrom(...forged).map((value) => ({ value, valid: false })),
  )

const VALID_IDS = Array.from({ length: 8 }, (_, i) => `visitor${i}-0123456789abcdef`)
const idCookie = labelled([...VALID_IDS, `"${VALID_IDS[0]}"`], ['', 'short', 'x'.repeat(65), 'bad id!', 'a;b', '../../etc', '%F0%9F%8D%AA'])
// The header is trimmed, so ` user-1 ` is user-1; past 256 characters it is ignored.
const identity = labelled(['user-1', ' user-1 ', 'user-2', 'user-3@example.com', 'u'.repeat(256)], ['', '   ', 'u'.repeat(257)])
const userAgent = fc.oneof(
  fc.constantFrom('Mozilla/5.0 Test', 'curl/8.5.0', 'node', '', 'Mozilla/5.0 (Macintosh) Safari/605.1.15').map((value) => ({ value, bot: false })),
  fc
    .constantFrom(
      'Googlebot/2.1 (+http://www.google.com/bot.html)',
      'Mozilla/5.0 HeadlessChrome/120',
      'facebookexternalhit/1.1',
      'Mozilla/5.0 (compatible; BINGBOT/2.0)',
    )
    .map((value) => ({ value, bot: true })),
)
// Few enough that address + User-Agent pairs repeat, so derived ids are compared across requests.
const clientIp = fc.option(fc.constantFrom('203.0.113.7', '203.0.113.8', '2001:db8::1', '2001:db8:0:0:ffff::2', '::ffff:198.51.100.1', 'not-an-address', ''), {
  nil: undefined,
})

const ORIGIN_ROUTES = /^\/(status|slow|redirect|cookies|download|sse|release|ws)(\/|$)/
/** Paths: `reserved` ones are Sluice's own. Non-reserved ones never name a test-origin route other than echo. */
const path = fc.oneof(
  fc
    .constantFrom('/__sluice', '/__sluice/', '/__sluice/api/rollouts', '/%5F%5Fsluice/api', '/%5f%5fsluice/x', '/__sluice/healthz')
    .map((p) => ({ p, reserved: true })),
  fc
    .oneof(
      fc.constantFrom(
        '/',
        '/p',
        '/p/a%20b',
        '/p/%2e%2e/x',
        '/p/ü',
        '/p/%zz',
        '//p',
        '/p;a=b',
        '/P/../../etc/passwd',
        '/__SLUICE/x',
        '/_sluice',
        `/p/${'a'.repeat(2000)}`,
      ),
      fc.constantFrom('/status/200', '/status/404', '/status/500', '/status/503'),
      fc
        .array(fc.stringMatching(/^[a-z0-9._~%!$&'()*+,;=:@-]{0,12}$/), { maxLength: 4 })
        .map((segs) => `/p${segs.join('/')}`)
        // Dot segments could make one of them name another route of the test origin (/sse/ would hold the stream).
        .filter((p) => !ORIGIN_ROUTES.test(new URL(p, 'https://x').pathname)),
    )
    .map((p) => ({ p, reserved: false })),
)
// Never the override parameter: links are generated apart, so the label knows which one the request carries.
const noise = fc.oneof(
  fc.constantFrom('', '?', '?&&', '?a', '?%zz', '?a=%E0%A4%A', '?a=1&a=2', '?sluice=1', '?cohort=canary'),
  fc
    .array(fc.tuple(fc.stringMatching(/^[a-z%+]{1,6}$/), fc.stringMatching(/^[a-z0-9%+=]{0,8}$/)), { maxLength: 3 })
    .map((kv) => (kv.length ? `?${kv.map(([k, v]) => `${k}=${v}`).join('&')}` : '')),
)
const link = fc.option(
  fc.oneof(
    override.map((o) => ({ o, text: encodeURIComponent(overrideText(o)) })),
    fc.constantFrom('clear', 'CLEAR', 'off', 'auto').map((text) => ({ o: 'clear' as const, text })),
  ),
  { nil: undefined },
)
const body = fc.option(fc.oneof(fc.string({ maxLength: 64 }), fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.constant('')), { nil: undefined })
const secFetch = fc
  .subarray(['site', 'mode', 'dest'] as const)
  .map((names) => Object.fromEntries(names.map((n) => [`sec-fetch-${n}`, browser[`sec-fetch-${n}`]])))

const request = fc
  .record({
    host: fc.constantFrom(...(Object.keys(HOSTS) as Host[])),
    method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'PROPFIND'),
    path,
    noise,
    link,
    linkFirst: fc.boolean(),
    header: fc.option(override, { nil: undefined }),
    // A cookie value is read undecoded: no spaced form.
    pin: fc.option(overrideIn('plain', 'upper'), { nil: undefined }),
    idCookie: fc.option(idCookie, { nil: undefined }),
    identity: fc.option(identity, { nil: undefined }),
    ua: fc.option(userAgent, { nil: undefined }),
    secFetch,
    ip: clientIp,
    xff: fc.option(fc.constantFrom('10.0.0.1', '10.0.0.1, 203.0.113.9', 'garbage'), { nil: undefined }),
    otherCookies: fc.subarray([
      ['theme', 'dark'],
      ['xsluice', VALID_IDS[1]!],
      ['sluicex', VALID_IDS[2]!],
      ['big', 'x'.repeat(4000)],
    ] as const),
    body,
  })
  // The stand-in control worker runs in Node, whose fetch cannot build a TRACE request (a deployed one can).
  .filter((g) => !(g.path.reserved && g.method === 'TRACE'))
type Gen = typeof request extends fc.Arbitrary<infer T> ? T : never

/** The request as a client would send it; `cookies` replaces the generated Cookie header (a returning browser). */
function build(g: Gen, cookies?: [string, string][]): Request {
  const query =
    g.link === undefined
      ? g.noise
      : g.linkFirst || g.noise === ''
        ? `?sluice-cohort=${g.link.text}${g.noise.replace(/^\?/, '&')}`
        : `${g.noise}&sluice-cohort=${g.link.text}`
  const headers = new Headers(g.secFetch)
  const jar = cookies ?? cookieJar(g)
  if (jar.length) headers.set('cookie', jar.map(([k, v]) => `${k}=${v}`).join('; '))
  if (g.header) headers.set('x-sluice-cohort', overrideText(g.header))
  if (g.identity) headers.set('x-user-id', g.identity.value)
  if (g.ua) headers.set('user-agent', g.ua.value)
  if (g.ip !== undefined) headers.set('cf-connecting-ip', g.ip)
  if (g.xff) headers.set('x-forwarded-for', g.xff)
  const url = `https://${g.host}${g.path.p}${query}`
  if (g.body === undefined) return new Request(url, { method: g.method, headers })
  // A client can send a GET or HEAD with a body, which the Request constructor refuses to build.
  const req = new Request(url, { method: 'POST', headers, body: g.body })
  return Object.defineProperty(req, 'method', { value: g.method })
}

const cookieJar = (g: Gen): [string, string][] => [
  ...g.otherCookies.map(([k, v]) => [k, v] as [string, string]),
  ...(g.idCookie ? [['sluice', g.idCookie.value] as [string, string]] : []),
  ...(g.pin ? [['sluice_pin', overrideText(g.pin)] as [string, string]] : []),
]

/** A browser's jar after the response: Set-Cookie replaces a cookie of the same name, Max-Age=0 removes it. */
function returning(jar: [string, string][], res: Response): [string, string][] {
  const next = new Map(jar)
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';')
    const eq = pair!.indexOf('=')
    if (/max-age=0\b/i.test(line)) next.delete(pair!.slice(0, eq))
    else next.set(pair!.slice(0, eq), pair!.slice(eq + 1))
  }
  return [...next]
}

/** What the request is, by its labels: Sluice's answer must follow from this alone. */
function expected(g: Gen) {
  const enabled = HOSTS[g.host].overrides?.enabled !== false
  const clears = enabled && g.link?.o === 'clear'
  const link = g.link?.o === 'clear' ? undefined : g.link?.o
  const pinned = clears ? undefined : ([link, g.header, g.pin].find((o) => isValid(o, g.host))?.cohort as Cohort | undefined)
  const bot = pinned === undefined && g.ua?.bot === true
  const identityId = g.host === 'open.example.com' && g.identity?.valid ? g.identity.value.trim() : undefined
  const cookieId = g.idCookie?.valid ? g.idCookie.value.replace(/^"|"$/g, '') : undefined
  const isBrowser = Object.keys(g.secFetch).length === 3
  const id =
    identityId !== undefined
      ? `identity:${identityId}`
      : cookieId !== undefined
        ? `cookie:${cookieId}`
        : isBrowser
          ? undefined
          : `derived:${g.ip ?? ''}\n${g.ua?.value ?? ''}`
  const refusal =
    g.method === 'TRACE' ? 405 : (g.method === 'GET' || g.method === 'HEAD') && g.body !== undefined && new Blob([g.body]).size > 0 ? 400 : undefined
  return { pinned, bot, id: pinned === undefined && !bot ? id : undefined, setsId: pinned === undefined && !bot && id === undefined, refusal }
}

describe('edge fuzz', () => {
  const logged = vi.spyOn(console, 'error')
  beforeAll(() => publish(...Object.values(HOSTS)))
  afterAll(() => logged.mockRestore())

  it(`keeps its promises over ${BATCH * RUNS} generated requests`, { timeout: 300_000 }, async () => {
    // One isolate's config for the whole run, as in production between two TTLs.
    const app = sluice({ ttlMs: 600_000 })
    const cohortOf = new Map<string, string>()
    let sent = 0

    const check = async (g: Gen) => {
      const res = await app.fetch(build(g))
      sent++
      const e = expected(g)
      const sluiceMade = res.headers.get('x-sluice-error') === '1'
      const why = `${g.method} ${g.host}${g.path.p} → ${res.status}`
      expect(sluiceMade && res.status >= 500, why).toBe(false)
      if (g.path.reserved) {
        await res.body?.cancel()
        expect(res.headers.get('x-origin'), why).toBeNull()
        return
      }
      if (e.refusal) {
        await res.body?.cancel()
        expect([res.status, sluiceMade], why).toEqual([e.refusal, true])
        return
      }
      expect(res.headers.get('x-origin'), why).not.toBeNull()
      const cohort = res.headers.get('x-sluice-cohort')
      if (e.pinned) expect(cohort, why).toBe(e.pinned)
      if (e.bot) expect(cohort, why).toBe('stable')
      const setId = res.headers.getSetCookie().find((c) => c.startsWith('sluice='))
      expect(setId !== undefined, `${why}: sets an id`).toBe(e.setsId)
      if (e.id !== undefined) {
        const key = `${g.host}|${e.id}`
        expect(cohort, `${why}: ${key}`).toBe(cohortOf.get(key) ?? cohort)
        cohortOf.set(key, cohort!)
      }
      if (setId) {
        // The new visitor comes back with the cookie it was given: same cohort.
        const jar = returning(cookieJar(g), res)
        await res.body?.cancel()
        const again = await app.fetch(build(g, jar))
        sent++
        await again.body?.cancel()
        expect(again.headers.get('x-sluice-cohort'), `${why}: returning visitor`).toBe(cohort)
        expect(
          again.headers.getSetCookie().some((c) => c.startsWith('sluice=')),
          `${why}: returning visitor`,
        ).toBe(false)
      } else await res.body?.cancel()
    }

    await fc.assert(
      fc.asyncProperty(fc.array(request, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        await Promise.all(batch.map(check))
      }),
      { numRuns: RUNS },
    )
    expect(logged.mock.calls.filter(([line]) => String(line).includes('"event":"unhandled"'))).toEqual([])
    // The ids really did repeat, so stickiness was compared, not just recorded.
    expect(cohortOf.size).toBeLessThan(sent / 4)
  })
})
