import fc from 'fast-check'
import * as z from 'zod/mini'
import { describe, expect, it } from 'vitest'
import { parse, serialize } from 'hono/utils/cookie'
import { assign, cookieValue, derivedId, parseOverride, safeEqual } from '../../src/core/cohort/assign.ts'
import { bucketOf } from '../../src/core/cohort/hash.ts'
import { compileRollout } from '../../src/core/config/compile.ts'
import { Rollout, type RolloutInput } from '../../src/core/config/schema.ts'

const compiled = (over: Partial<RolloutInput> = {}) =>
  compileRollout(z.parse(Rollout, { id: 'web', stable: 'https://stable.example', canary: 'https://canary.example', weight: 50, ...over }))

let counter = 0
const facts = (headers: Record<string, string> = {}, url = 'https://shop.example/', clientIp = '203.0.113.9') => ({
  headers: new Headers(headers),
  url: new URL(url),
  clientIp,
  newId: () => `new-id-${String(++counter).padStart(8, '0')}`,
})

const chromium = {
  'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'sec-ch-ua': '"Google Chrome";v="131", "Chromium";v="131", "Not_A Brand";v="24"',
  'sec-ch-ua-mobile': '?0',
  'sec-ch-ua-platform': '"Windows"',
  'accept-encoding': 'gzip, deflate, br, zstd',
  'accept-language': 'en-GB,en;q=0.9',
}
const firefox = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'accept-encoding': 'gzip, deflate, br, zstd',
  'accept-language': 'en-GB,en;q=0.5',
}
const safari = {
  'user-agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'accept-encoding': 'gzip, deflate, br',
  'accept-language': 'en-GB,en;q=0.9',
}
const navigate = { 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'upgrade-insecure-requests': '1' }
const xhr = { accept: '*/*', 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' }
const script = { accept: '*/*', 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'script' }
const image = (accept: string) => ({ accept, 'sec-fetch-site': 'same-origin', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' })

/** What each browser sends on a first visit and on the subresource loads that follow it (Sec-Fetch-User only where it does). */
const browsers: Record<string, Record<string, string>> = {
  'Chromium navigation': {
    ...chromium,
    ...navigate,
    'sec-fetch-user': '?1',
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8',
  },
  'Chromium fetch()': { ...chromium, ...xhr },
  'Chromium image': { ...chromium, ...image('image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8') },
  'Chromium script': { ...chromium, ...script },
  'Firefox navigation': {
    ...firefox,
    ...navigate,
    'sec-fetch-user': '?1',
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    priority: 'u=0, i',
  },
  'Firefox XMLHttpRequest': { ...firefox, ...xhr },
  'Firefox image': { ...firefox, ...image('image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5') },
  'Firefox script': { ...firefox, ...script },
  'Safari navigation': { ...safari, ...navigate, accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' },
  'Safari fetch()': { ...safari, ...xhr },
  'Safari image': {
    ...safari,
    ...image('image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5'),
  },
  'Safari script': { ...safari, ...script },
}

/** Clients that keep no cookies, with the headers they send by default (Node's fetch does send one Sec-Fetch-* header). */
const nonBrowsers: Record<string, Record<string, string>> = {
  'Node fetch (undici)': { accept: '*/*', 'accept-language': '*', 'sec-fetch-mode': 'cors', 'user-agent': 'node', 'accept-encoding': 'gzip, deflate' },
  'Python requests': { 'user-agent': 'python-requests/2.32.3', 'accept-encoding': 'gzip, deflate', accept: '*/*', connection: 'keep-alive' },
  "Go's net/http": { 'user-agent': 'Go-http-client/1.1', 'accept-encoding': 'gzip' },
  curl: { 'user-agent': 'curl/8.5.0', accept: '*/*' },
}

const browserHeaders = browsers['Chromium navigation']!

describe('identity', () => {
  it('uses the identity header first, so a signed-in user has one cohort on every device', () => {
    const r = compiled({ identity: { header: 'x-user-id' } })
    const a = assign(r, facts({ 'x-user-id': 'user-123', cookie: 'sluice=cookie-id-0001', ...browserHeaders }))
    expect(a).toMatchObject({ source: 'header', bucket: bucketOf('web', 'user-123') })
    expect(a.setId).toBeUndefined()
  })

  it('uses a valid cookie next and sets nothing', () => {
    const a = assign(compiled(), facts({ cookie: 'other=1; sluice=abcdef0123456789', ...browserHeaders }))
    expect(a).toMatchObject({ source: 'cookie', bucket: bucketOf('web', 'abcdef0123456789') })
    expect(a.setId).toBeUndefined()
  })

  it('gives a browser without a cookie a new random id to store', () => {
    const a = assign(compiled(), facts(browserHeaders))
    expect(a.source).toBe('new')
    expect(a.setId).toMatch(/^new-id-/)
    expect(a.bucket).toBe(bucketOf('web', a.setId!))
  })

  it('treats a malformed or forged cookie as absent', () => {
    for (const cookie of ['sluice=short', 'sluice=' + 'x'.repeat(65), 'sluice=<script>alert(1)</script>', 'sluice=a%20b%20c%20d%20e', 'sluice']) {
      const a = assign(compiled(), facts({ cookie, ...browserHeaders }))
      expect(a.source, cookie).toBe('new')
    }
  })

  it('knows a browser by the three Sec-Fetch-* headers Chromium, Firefox and Safari send on every request', () => {
    for (const [client, headers] of Object.entries(browsers)) {
      const a = assign(compiled(), facts(headers))
      expect(a.source, client).toBe('new')
      expect(a.setId, client).toMatch(/^new-id-/)
    }
  })

  it('keeps cookie-less HTTP clients sticky on the derived id, Node’s fetch and its lone Sec-Fetch-Mode included', () => {
    const r = compiled({ weight: 10 })
    for (const [client, headers] of Object.entries(nonBrowsers)) {
      const runs = Array.from({ length: 40 }, () => assign(r, facts(headers)))
      expect(new Set(runs.map((a) => a.source)), client).toEqual(new Set(['derived']))
      expect(new Set(runs.map((a) => a.cohort)).size, client).toBe(1)
      expect(
        runs.some((a) => a.setId !== undefined),
        client,
      ).toBe(false)
    }
  })

  it('keeps a cookie-less non-browser client in one cohort, derived from address and User-Agent', () => {
    const headers = { 'user-agent': 'curl/8.5.0' }
    const first = assign(compiled(), facts(headers))
    const again = assign(compiled(), facts(headers))
    expect(first.source).toBe('derived')
    expect(first.setId).toBeUndefined()
    expect(again.bucket).toBe(first.bucket)
    expect(derivedId('203.0.113.9', 'curl/8.5.0')).not.toBe(derivedId('203.0.113.10', 'curl/8.5.0'))
  })

  it('spreads browsers behind one shared address over both cohorts (office NAT)', () => {
    const cohorts = new Set(Array.from({ length: 40 }, () => assign(compiled(), facts(browserHeaders, 'https://shop.example/', '198.51.100.1')).cohort))
    expect(cohorts).toEqual(new Set(['stable', 'canary']))
  })

  it('uses the salt, defaulting to the rollout id', () => {
    const id = 'abcdef0123456789'
    expect(assign(compiled({ salt: 'pepper' }), facts({ cookie: `sluice=${id}` })).bucket).toBe(bucketOf('pepper', id))
    expect(assign(compiled(), facts({ cookie: `sluice=${id}` })).bucket).toBe(bucketOf('web', id))
  })
})

describe('tester overrides and bots', () => {
  it('pins the cohort from a link, even at weight 0, and asks to store the pin', () => {
    const a = assign(compiled({ weight: 0 }), facts(browserHeaders, 'https://shop.example/?sluice-cohort=canary'))
    expect(a).toMatchObject({ cohort: 'canary', reason: 'override', pin: 'canary' })
  })

  it('stores the canonical pin whatever the link’s case and spaces, so the pin cookie is honoured on the next request', () => {
    const secret = 'tester-secret-0123'
    for (const [over, suffix] of [
      [{}, ''],
      [{ secret }, `.${secret}`],
    ] as const) {
      const r = compiled({ weight: 0, overrides: over })
      for (const typed of [' canary', 'CANARY', ' canary ', 'Canary']) {
        const link = `https://shop.example/?sluice-cohort=${encodeURIComponent(typed + suffix)}`
        const pinned = assign(r, facts(browserHeaders, link))
        expect(pinned, typed).toMatchObject({ cohort: 'canary', pin: `canary${suffix}` })
        // The cookie exactly as the edge writes it, sent back as a browser would.
        const setCookie = serialize('sluice_pin', pinned.pin!, { path: '/' })
        const next = assign(r, facts({ ...browserHeaders, cookie: setCookie.split(';')[0]! }))
        expect(next, typed).toMatchObject({ cohort: 'canary', reason: 'override' })
      }
    }
  })

  it('pins nothing for a value that is not a cohort', () => {
    for (const typed of ['canaryx', 'can ary', '%20canary', 'canary.', 'prod', '']) {
      const a = assign(compiled({ weight: 0 }), facts(browserHeaders, `https://shop.example/?sluice-cohort=${encodeURIComponent(typed)}`))
      expect(a.pin, typed).toBeUndefined()
      expect(a.reason, typed).toBe('weight')
    }
  })

  it('honours the override header and the pin cookie', () => {
    expect(assign(compiled({ weight: 0 }), facts({ 'x-sluice-cohort': 'canary' })).cohort).toBe('canary')
    expect(assign(compiled({ weight: 100 }), facts({ cookie: 'sluice_pin=stable' }))).toMatchObject({ cohort: 'stable', reason: 'override' })
  })

  it('clears the pin with ?sluice-cohort=clear and falls back to the weight', () => {
    const a = assign(compiled({ weight: 100 }), facts({ cookie: 'sluice_pin=stable' }, 'https://shop.example/?sluice-cohort=clear'))
    expect(a).toMatchObject({ cohort: 'canary', reason: 'weight', pin: null })
  })

  it('ignores overrides when disabled', () => {
    const r = compiled({ weight: 0, overrides: { enabled: false } })
    expect(assign(r, facts({ 'x-sluice-cohort': 'canary' })).cohort).toBe('stable')
    expect(assign(r, facts({}, 'https://shop.example/?sluice-cohort=canary')).pin).toBeUndefined()
  })

  it('requires the secret when one is configured', () => {
    const secret = 'tester-secret-0123'
    const r = compiled({ weight: 0, overrides: { secret } })
    expect(assign(r, facts({ 'x-sluice-cohort': 'canary' })).cohort).toBe('stable')
    expect(assign(r, facts({ 'x-sluice-cohort': 'canary.wrong-secret-0000' })).cohort).toBe('stable')
    expect(assign(r, facts({ 'x-sluice-cohort': `canary.${secret}` })).cohort).toBe('canary')
    expect(assign(r, facts({}, `https://shop.example/?sluice-cohort=canary.${secret}`)).pin).toBe(`canary.${secret}`)
  })

  it('sends known bots to stable whatever their bucket', () => {
    const r = compiled({ weight: 100 })
    expect(assign(r, facts({ 'user-agent': 'Mozilla/5.0 (compatible; Googlebot/2.1)' }))).toMatchObject({ cohort: 'stable', reason: 'bot' })
    expect(assign(compiled({ weight: 100, bots: { userAgents: ['acme-monitor'] } }), facts({ 'user-agent': 'ACME-Monitor/1' })).cohort).toBe('stable')
  })

  it('compares secrets in constant time, correctly for every length', () => {
    fc.assert(fc.property(fc.string(), fc.string(), (a, b) => safeEqual(a, b) === (a === b)))
    expect(safeEqual('abc', 'abc')).toBe(true)
    expect(safeEqual('abc', 'abcd')).toBe(false)
  })
})

describe('cookieValue', () => {
  it('agrees with Hono’s cookie parser on well-formed headers', () => {
    const name = fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/)
    const value = fc.stringMatching(/^[A-Za-z0-9._-]{0,40}$/)
    const sep = fc.constantFrom(';', '; ', ';  ', ' ; ')
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value), { maxLength: 8 }), sep, name, (pairs, separator, wanted) => {
        const header = pairs.map(([k, v]) => `${k}=${v}`).join(separator)
        const parsed = parse(header, wanted)
        // (Hono returns a plain `{}` when the name is absent, so guard against inherited keys like "toString".)
        return cookieValue(header, wanted) === (Object.hasOwn(parsed, wanted) ? parsed[wanted] : undefined)
      }),
    )
  })

  it('does not match a name inside another cookie’s name or value', () => {
    expect(cookieValue('xsluice=1; a=sluice=2', 'sluice')).toBeUndefined()
    expect(cookieValue('a=1;sluice=abc; sluice=def', 'sluice')).toBe('abc')
    expect(cookieValue('sluice="quoted"', 'sluice')).toBe('quoted')
  })
})

describe('parsers never throw', () => {
  it('assign() on arbitrary headers, cookies and URLs', () => {
    const r = compiled({ identity: { header: 'x-user-id' }, overrides: { secret: 'tester-secret-0123' } })
    const headerValue = fc.string({ maxLength: 300 }).map((s) => s.replace(/[\r\n\0]/g, ''))
    fc.assert(
      fc.property(headerValue, headerValue, headerValue, headerValue, fc.webUrl({ withQueryParameters: true }), (cookie, ua, user, override, url) => {
        let headers: Headers
        try {
          headers = new Headers({ cookie, 'user-agent': ua, 'x-user-id': user, 'x-sluice-cohort': override })
        } catch {
          return true // not representable as an HTTP header at all: the runtime rejects it before Sluice sees it
        }
        const a = assign(r, { headers, url: new URL(url), clientIp: '::1', newId: () => 'fresh-id-00000000' })
        return a.cohort === 'stable' || a.cohort === 'canary'
      }),
    )
  })

  it('cookieValue and parseOverride on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (value, name) => {
        parseOverride(value, undefined)
        parseOverride(value, 'secret-secret-secret')
        const v = cookieValue(value, name)
        return v === undefined || typeof v === 'string'
      }),
    )
  })
})
