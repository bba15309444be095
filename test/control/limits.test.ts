import { env } from 'cloudflare:workers'
import { beforeAll, describe, expect, it } from 'vitest'
import { coordinator } from '../../src/control/client.ts'
import { MAX_ROLLOUTS } from '../../src/core/config/limits.ts'
import { parseConfig } from '../../src/core/config/published.ts'
import { CONFIG_KEY } from '../../src/edge/config-store.ts'
import { call, spec } from '../support/admin.ts'

const operator = { actor: { kind: 'operator' as const, name: 'alice' } }

/** What the edge makes of the document the coordinator published. */
async function atTheEdge() {
  const r = parseConfig((await env.SLUICE_KV.get(CONFIG_KEY))!)
  if (!r.ok) throw new Error(r.error)
  return r
}

describe(`a published config at the edge's limit of ${MAX_ROLLOUTS} rollouts`, () => {
  beforeAll(async () => {
    const c = coordinator(env)
    for (let i = 0; i < MAX_ROLLOUTS - 1; i++) await c.put(`filler-${String(i).padStart(3, '0')}`, spec('x'), operator)
    await c.put('demo', spec('demo'), operator)
    await c.command('demo', { name: 'weight', weight: 100 }, operator)
  }, 120_000)

  it('refuses a 257th rollout with a 409 naming the limit, and still replaces an existing one', async () => {
    const res = await call('/rollouts/one-too-many', { method: 'PUT', body: spec('one-too-many') })
    expect(res.status).toBe(409)
    expect(await res.json()).toMatchObject({
      status: 409,
      errors: [{ field: 'id', message: `the published config already holds ${MAX_ROLLOUTS} rollouts, the most the edge accepts` }],
    })
    expect(await call('/rollouts/one-too-many')).toHaveProperty('status', 404)
    const replaced = await call('/rollouts/filler-000', { method: 'PUT', body: spec('filler-000', { salt: 'reshuffled' }) })
    expect(replaced.status).toBe(200)
  })

  it('delivers a rollback to the edge: demo, refused a 257th neighbour, reads weight 0 from KV', async () => {
    expect((await call('/rollouts/one-too-many', { method: 'PUT', body: spec('one-too-many') })).status).toBe(409)
    expect((await atTheEdge()).config.rollouts.find((r) => r.id === 'demo')).toMatchObject({ weight: 100 })
    expect((await call('/rollouts/demo/rollback', { method: 'POST', body: { reason: 'pager' } })).status).toBe(200)
    const edge = await atTheEdge()
    expect(edge.rejected).toEqual([])
    expect(edge.config.rollouts).toHaveLength(MAX_ROLLOUTS)
    expect(edge.config.rollouts.find((r) => r.id === 'demo')).toMatchObject({ weight: 0 })
  })
})
