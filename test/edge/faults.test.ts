/**
 * KV hanging under an edge that already has a good config: traffic is served from that copy, and no request waits
 * on the hung read longer than the first-load wait. Faults covered elsewhere: KV throwing, a hang on an isolate's
 * very first request, a read that never settles, and corrupt or schema-failing documents (config-store.test.ts);
 * the control worker unreachable (proxy.test.ts, "answers /__sluice/ itself ... unreachable (503)"); a publish
 * that fails or is corrupted on its way to KV (test/control/faults.test.ts).
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { ConfigStore } from '../../src/edge/config-store.ts'
import { fallbackConfig } from '../../src/edge/fallback.ts'
import { createGateway } from '../../src/edge/gateway.ts'
import { publish, rollout } from '../support/worker.ts'

const TTL_MS = 5_000

afterEach(() => vi.restoreAllMocks())

/** A KV binding whose reads can be made to hang; it counts the reads that have not settled. */
function hangingKv() {
  const kv = { hang: false, pending: 0 }
  const binding = {
    get: (key: string, opts: unknown) => {
      if (kv.hang) {
        kv.pending++
        return new Promise(() => {})
      }
      return env.SLUICE_KV.get(key, opts as KVNamespaceGetOptions<'text'>)
    },
  } as unknown as KVNamespace
  return { kv, binding }
}

describe('KV hanging after the edge has a good config', () => {
  it('serves the last good copy: past the TTL without waiting, past twice the TTL after only the first-load wait', { timeout: 15_000 }, async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    await publish(rollout({ weight: 100 }))
    const clock = { now: 1_000_000 }
    vi.spyOn(Date, 'now').mockImplementation(() => clock.now)
    const { kv, binding } = hangingKv()
    const e = { ...env, SLUICE_KV: binding } as EdgeEnv
    // A first-load wait far below the store's own 3 s limit on a KV read, so the two cannot be mistaken.
    const store = new ConfigStore({ ttlMs: TTL_MS, firstLoadTimeoutMs: 50, fallback: () => fallbackConfig(e) })
    const gateway = createGateway({ store })
    /** One request; `pending` is how many KV reads were still hanging when its answer came. */
    const request = async () => {
      const ctx = createExecutionContext()
      const res = await gateway.fetch(new Request('https://shop.example.com/echo'), e, ctx)
      const pending = kv.pending
      await res.body?.cancel()
      return { origin: res.headers.get('x-origin'), pending, done: () => waitOnExecutionContext(ctx) }
    }

    expect((await request()).origin).toBe('canary')
    kv.hang = true
    clock.now += 1.5 * TTL_MS
    // Stale but trusted: answered from the cached copy while the background refresh hangs.
    const stale = await request()
    expect([stale.origin, stale.pending]).toEqual(['canary', 1])
    // The store gives up on the hung read (its own limit), so a later refresh can read again.
    await stale.done()
    clock.now += 10 * TTL_MS
    // Too old to trust: this request waits for a new read, which hangs too, and is answered once the wait is over.
    const idle = await request()
    expect([idle.origin, idle.pending]).toEqual(['canary', 2])
    await idle.done()
    expect(store.stats).toMatchObject({ source: 'kv', kvReads: 3 })
  })
})
