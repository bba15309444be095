import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { CONFIG_KEY, parseConfig } from '../../src/edge/config-store.ts'
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
      fc.property(fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify({ rollouts: [v] }))), (text) => {
        const r = parseConfig(text)
        return r.ok ? Array.isArray(r.config.rollouts) : typeof r.error === 'string'
      }),
    )
  })

  it('names the invalid field', () => {
    const r = parseConfig(JSON.stringify({ rollouts: [{ id: 'web', stable: 'https://a.example', canary: 'https://b.example', weight: 12.345 }] }))
    expect(r).toEqual({ ok: false, error: expect.stringContaining('rollouts.0.weight: must be a multiple of 0.01') })
  })
})
