/**
 * @module
 * A started rollout in its shadow step with shadow evidence in its state, as the controller leaves it: one window of
 * comparisons judged by the real shadow judge (src/core/shadow/judge.ts) and recorded through the coordinator's
 * `decide`, for the tests of the diff report's endpoint, its OpenAPI schema and the dashboard's panel.
 */
import { env } from 'cloudflare:workers'
import { expect } from 'vitest'
import { coordinator } from '../../src/control/client.ts'
import { judgeShadow } from '../../src/core/shadow/judge.ts'
import type { ShadowWindow } from '../../src/core/shadow/window.ts'
import { call, create } from '../support/admin.ts'
import { EVIL_VALUE } from './diff-data.ts'

export const SHADOW_ROUTE = '/api/users/:id'

/** The canary drops `/name` on every answer; `/at` differs on every answer, stable's own included (noise). */
export const shadowWindow = (): ShadowWindow => ({
  stable: { requests: 200, errors: 0 },
  canary: { requests: 200, errors: 0 },
  routes: {
    [SHADOW_ROUTE]: {
      compared: 200,
      noiseSampled: 200,
      canaryErrors: 0,
      stableErrors: 0,
      fields: { '/name': { kind: 'missing', canary: 200, noise: 0 }, '/at': { kind: 'value', canary: 200, noise: 200 } },
      examples: { '/name': { field: '/name', kind: 'missing', stable: EVIL_VALUE, canary: '' } },
    },
  },
})

/** Creates `id` with a shadow step first, starts it, and records one judged window of shadow comparisons. */
export async function shadowRollout(id: string): Promise<void> {
  await create(id, { schedule: [{ shadow: 10, bakeMinutes: 5 }, { weight: 100 }] })
  expect((await call(`/rollouts/${id}/start`, { body: { release: 'v2' } })).status).toBe(200)
  const c = coordinator(env)
  const row = (await c.progressing()).find((r) => r.spec.id === id)!
  const start = row.state.windowEnd!
  const end = start + 60_000
  const shadow = judgeShadow(null, shadowWindow(), row.spec.judge.shadow, row.spec.shadow.ignore, { start, end }).state
  const basis = { revision: row.state.revision, windowEnd: row.state.windowEnd }
  const r = await c.decide(id, { kind: 'hold', reason: 'shadow: baking' }, basis, { evidence: { shadow }, windowEnd: end })
  expect(r.ok && r.value.applied).toBe(true)
}
