import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { parseConfig } from '../../src/core/config/published.ts'
import { CONFIG_KEY } from '../../src/edge/config-store.ts'
import { publish, rollout, sluice } from '../support/worker.ts'
import fc from 'fast-check'

/** A KV binding whose reads can be made to fail, hang or count; writes go to the real binding. */
function faultyKv(mode: { fail?: boolean; hang?: boolean }) {
  let reads = 0
  const kv = {
    get: (key: string, opts: unknown) => {
      reads++
      if (mode.fail) return Promise.reject(new Error('KV GET failed: 503'))
      if (mode.hang) return new Promise(() => {})
      return env.SLUICE_KV.get(key, opts as KVNamespaceGetOptions<'text'>)
    },
  } as unknown as KVNamespace
  return { kv, reads: () => reads }
}

afterEach(() => vi.restoreAllMocks())

describe('config cache', () => {
  it('reads KV once, then serves from the isolate at steady state', async () => {
    await publish(rollout({ weight: 100 }))
    const app = sluice({ ttlMs: 60_000 })
    for (let i = 0; i < 20; i++) expect((await app.fetch('/echo')).headers.get('x-origin')).toBe('canary')
    expect(app.store.stats.kvReads).toBe(1)
  })

  /** An app with a 5 s TTL on a fake clock that has served weight 0, after which weight 100 is published. */
  async function weightRaisedBehindCache() {
    await publish(rollout({ weight: 0 }))
    const clock = { now: 1_000_000 }
    vi.spyOn(Date, 'now').mockImplementation(() => clock.now)
    const app = sluice({ ttlMs: 5_000 })
    const origin = async () => (await app.fetch('/echo')).headers.get('x-origin')
    expect(await origin()).toBe('stable')
    await publish(rollout({ weight: 100 }))
    return { app, clock, origin }
  }

  it('picks up a published change after the TTL, refreshing in the background', async () => {
    const { app, clock, origin } = await weightRaisedBehindCache()
    clock.now += 4_000
    expect(await origin()).toBe('stable') // within TTL: cached
    clock.now += 2_000
    // Past the TTL this request is still served from the cached copy while the refresh runs...
    expect(await origin()).toBe('stable')
    // ...and the next one sees the new weight.
    expect(await origin()).toBe('canary')
    expect(app.store.stats.kvReads).toBe(2)
  })

  it('does not serve an idle isolate’s old copy: past twice the TTL the request waits for KV', async () => {
    const { clock, origin } = await weightRaisedBehindCache()
    clock.now += 60_000 // an hour of silence would be the same
    expect(await origin()).toBe('canary')
  })

  it('serves the [vars] default at weight 0 when KV throws, and logs once, not per request', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    const { kv, reads } = faultyKv({ fail: true })
    const app = sluice({ env: { SLUICE_KV: kv } })
    for (let i = 0; i < 5; i++) {
      const res = await app.fetch('/echo')
      expect(res.status).toBe(200)
      expect(res.headers.get('x-origin')).toBe('stable')
    }
    expect(reads()).toBeGreaterThan(1)
    expect(errors.mock.calls.filter(([line]) => String(line).includes('kv-read-failed')).length).toBeLessThanOrEqual(1)
  })

  it('keeps the last good config when KV starts failing', async () => {
    await publish(rollout({ weight: 100 }))
    vi.spyOn(console, 'error').mockImplementation(() => {})
    const mode = { fail: false }
    const { kv } = faultyKv(mode)
    const app = sluice({ env: { SLUICE_KV: kv } })
    expect((await app.fetch('/echo')).headers.get('x-origin')).toBe('canary')
    mode.fail = true
    for (let i = 0; i < 3; i++) expect((await app.fetch('/echo')).headers.get('x-origin')).toBe('canary')
  })

  it('keeps the last good config when KV holds a document that fails the schema', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    await publish(rollout({ weight: 100 }))
    const app = sluice()
    expect((await app.fetch('/echo')).headers.get('x-origin')).toBe('canary')
    await env.SLUICE_KV.put(CONFIG_KEY, JSON.stringify({ rollouts: [{ id: 'web', stable: 'ftp://nope', canary: 'x', weight: 250 }] }))
    expect((await app.fetch('/echo')).headers.get('x-origin')).toBe('canary')
    await env.SLUICE_KV.put(CONFIG_KEY, '{not json')
    expect((await app.fetch('/echo')).headers.get('x-origin')).toBe('canary')
    expect(app.store.stats.source).toBe('kv')
  })

  it('does not make the first request wait on a hanging KV for long', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    const { kv } = faultyKv({ hang: true })
    const app = sluice({ env: { SLUICE_KV: kv } })
    const res = await app.fetch('/echo')
    expect(res.status).toBe(200)
    expect(res.headers.get('x-origin')).toBe('stable')
  })

  it('recovers from a KV read that never settles: the next refresh reads again', { timeout: 15_000 }, async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    await publish(rollout({ weight: 100 }))
    const mode = { hang: true }
    const { kv, reads } = faultyKv(mode)
    const app = sluice({ env: { SLUICE_KV: kv } })
    // Fallback while the read hangs; the helper also waits for the request's waitUntil work, i.e. until the
    // hung read has timed out (3 s) and freed the refresh.
    expect((await app.fetch('/echo')).headers.get('x-origin')).toBe('stable')
    mode.hang = false
    expect((await app.fetch('/echo')).headers.get('x-origin')).toBe('canary')
    expect(reads()).toBe(2)
  })

  it('serves the default without a KV binding at all', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    const app = sluice({ env: { SLUICE_KV: undefined as unknown as KVNamespace } })
    expect((await app.fetch('/echo')).headers.get('x-origin')).toBe('stable')
  })

  it('answers 503 (not 500) when neither KV nor [vars] give a rollout', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    await env.SLUICE_KV.delete(CONFIG_KEY)
    const app = sluice({ env: { STABLE_ORIGIN: 'not a url', CANARY_ORIGIN: '' } })
    const res = await app.fetch('/echo')
    expect(res.status).toBe(503)
    expect(await res.text()).toBe('No rollout is configured for this host.\n')
  })
})

describe('parseConfig', () => {
  it('never throws, whatever KV holds', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify({ rollouts: [v] })),
        ),
        (text) => {
          const r = parseConfig(text)
          return r.ok ? Array.isArray(r.config.rollouts) : typeof r.error === 'string'
        },
      ),
    )
  })

  it('names the invalid field', () => {
    const r = parseConfig(JSON.stringify({ rollouts: [{ id: 'web', stable: 'https://a.example', canary: 'https://b.example', weight: 12.345 }] }))
    expect(r).toEqual({
      ok: true,
      config: { rollouts: [] },
      rejected: [{ rollout: 'web', error: expect.stringContaining('rollouts.0.weight: must be a multiple of 0.01') }],
    })
  })

  it('rejects an invalid entry, every entry of a repeated id and the entries past 256 alone, keeping the rest', () => {
    const entry = (id: string) => ({ id, stable: 'https://a.example', canary: 'https://b.example' })
    const rollouts = [entry('twice'), { ...entry('bad'), weight: 250 }, entry('twice'), ...Array.from({ length: 254 }, (_, i) => entry(`r${i}`))]
    const r = parseConfig(JSON.stringify({ rollouts }))
    if (!r.ok) throw new Error(r.error)
    expect(r.config.rollouts.map((x) => x.id)).toEqual(Array.from({ length: 253 }, (_, i) => `r${i}`))
    expect(r.rejected).toEqual([
      { rollout: 'twice', error: 'rollouts.0.id: another entry has the same id' },
      { rollout: 'bad', error: expect.stringContaining('rollouts.1.weight') },
      { rollout: 'twice', error: 'rollouts.2.id: another entry has the same id' },
      { rollout: 'r253', error: 'rollouts.256: past the 256 rollouts the edge accepts' },
    ])
  })

  it('refuses whole only a document that is not JSON with a rollouts array', () => {
    expect(parseConfig('{not json')).toEqual({ ok: false, error: 'not JSON' })
    expect(parseConfig('{"rollout":[]}')).toEqual({ ok: false, error: 'rollouts: must be an array' })
  })
})

describe('a document with a rejected rollout', () => {
  const shop = (weight: number) => rollout({ id: 'shop', match: { host: 'shop.example.com' }, weight })
  const blog = (weight: number) => rollout({ id: 'blog', match: { host: 'blog.example.com' }, weight })
  const origin = async (app: ReturnType<typeof sluice>, host: string) => (await app.fetch(`https://${host}/echo`)).headers.get('x-origin')

  /** An app that has served shop and blog at 100 %, then reads a document where shop rolled back and blog's entry is invalid. */
  async function shopRolledBackBlogBroken(...more: ReturnType<typeof rollout>[]) {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    await publish(shop(100), blog(100))
    const app = sluice()
    expect(await origin(app, 'shop.example.com')).toBe('canary')
    expect(await origin(app, 'blog.example.com')).toBe('canary')
    await publish(shop(0), blog(12.345), ...more)
    return app
  }

  it('still delivers every other rollout’s new version: a rollback is never held back by another rollout', async () => {
    const app = await shopRolledBackBlogBroken()
    expect(await origin(app, 'shop.example.com')).toBe('stable')
  })

  it('keeps the rejected rollout’s last good version, and gives one that never had one the [vars] default', async () => {
    const app = await shopRolledBackBlogBroken(rollout({ id: 'news', match: { host: 'news.example.com' }, weight: 100, stable: 'ftp://nope' }))
    expect(await origin(app, 'blog.example.com')).toBe('canary')
    const news = await app.fetch('https://news.example.com/echo')
    expect([news.status, news.headers.get('x-origin')]).toEqual([200, 'stable'])
    // Still its last good version when the next document changes only the others.
    await publish(shop(100), blog(12.345))
    expect(await origin(app, 'shop.example.com')).toBe('canary')
    expect(await origin(app, 'blog.example.com')).toBe('canary')
  })

  it('is reported by healthz: when, which rollout and why', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    await publish(shop(100), blog(100))
    const app = sluice()
    // healthz reports the cache; a proxied request is what loads it.
    const health = async () => {
      await app.fetch('/echo')
      return ((await (await app.fetch('/__sluice/healthz')).json()) as { config: Record<string, unknown> }).config
    }
    expect(await health()).toMatchObject({ source: 'kv', rejected: null })
    await publish(shop(0), blog(12.345))
    expect(await health()).toMatchObject({
      source: 'kv',
      rejected: {
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        errors: [{ rollout: 'blog', error: expect.stringContaining('rollouts.1.weight: must be a multiple of 0.01') }],
      },
    })
    await env.SLUICE_KV.put(CONFIG_KEY, '{not json')
    expect(await health()).toMatchObject({ source: 'kv', rejected: { errors: [{ error: 'not JSON' }] } })
  })

  it('does not parse or compile a document again while it is unchanged', async () => {
    await publish(shop(100))
    const app = sluice()
    const load = async () => {
      await app.store.refresh(env.SLUICE_KV)
      return app.store.get(env.SLUICE_KV, () => {})
    }
    const first = await load()
    expect(await load()).toBe(first)
    await publish(shop(0))
    expect(await load()).not.toBe(first)
  })
})
