/**
 * @module
 * Test helpers that run inside workerd: a fresh edge worker per test (its own
 * isolate cache), with a config published to the real KV binding.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { inject } from 'vitest'
import { CONFIG_KEY, ConfigStore } from '../../src/edge/config-store.ts'
import { fallbackConfig } from '../../src/edge/fallback.ts'
import { createGateway } from '../../src/edge/gateway.ts'
import type { RolloutInput } from '../../src/core/config/schema.ts'

export const stableUrl = () => `http://127.0.0.1:${inject('stablePort')}`
export const canaryUrl = () => `http://127.0.0.1:${inject('canaryPort')}`
export const deadUrl = () => `http://127.0.0.1:${inject('deadPort')}`

export function rollout(over: Partial<RolloutInput> = {}): RolloutInput {
  return { id: 'web', stable: stableUrl(), canary: canaryUrl(), weight: 0, ...over }
}

export async function publish(...rollouts: RolloutInput[]) {
  await env.SLUICE_KV.put(CONFIG_KEY, JSON.stringify({ rollouts }))
}

export interface TestApp {
  fetch(input: string | Request, init?: RequestInit): Promise<Response>
  store: ConfigStore
}

/** The edge worker with its own config cache (TTL 0 unless given), so each test sees what it published. */
export function sluice(opts: { ttlMs?: number; env?: Partial<EdgeEnv>; newId?: () => string } = {}): TestApp {
  const e = { ...env, ...opts.env } as EdgeEnv
  const store = new ConfigStore({ ttlMs: opts.ttlMs ?? 0, fallback: () => fallbackConfig(e) })
  const app = createGateway({ store, ...(opts.newId ? { newId: opts.newId } : {}) })
  return {
    store,
    async fetch(input, init) {
      const req = typeof input === 'string' ? new Request(new URL(input, 'https://shop.example.com'), init) : input
      const ctx = createExecutionContext()
      const res = await app.fetch(req, e, ctx)
      await waitOnExecutionContext(ctx)
      return res
    },
  }
}

/** Headers a browser sends on a top-level navigation. */
export const browser = { 'sec-fetch-site': 'none', 'sec-fetch-dest': 'document', 'sec-fetch-mode': 'navigate', 'user-agent': 'Mozilla/5.0 Test' }
