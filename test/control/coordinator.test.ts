import { runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { coordinator } from '../../src/control/client.ts'
import { MAX_PUBLISHED_BYTES } from '../../src/core/config/limits.ts'
import { parseConfig } from '../../src/core/config/published.ts'
import { CONFIG_KEY } from '../../src/edge/config-store.ts'
import { spec } from '../support/admin.ts'

const operator = { actor: { kind: 'operator' as const, name: 'alice' } }
const advance = { kind: 'advance' as const, reason: 'healthy for the whole bake time', data: { canaryRequests: 1200 } }

async function progressing(id: string) {
  const c = coordinator(env)
  await c.put(id, spec(id), operator)
  await c.command(id, { name: 'start', release: 'v2' }, operator)
  const [read] = (await c.progressing()).filter((r) => r.spec.id === id)
  return { c, read: read! }
}

describe('an operator command always beats a controller tick', () => {
  it('discards a decision computed from state older than an operator rollback (tick reads, operator rolls back, tick writes)', async () => {
    const { c, read } = await progressing('race-1')
    // The controller has read the state and is judging...
    const basis = { revision: read.state.revision, windowEnd: read.state.windowEnd }
    // ...when the operator rolls back.
    await c.command('race-1', { name: 'rollback' }, { ...operator, reason: 'pager went off' })
    const r = await c.decide('race-1', advance, basis, { evidence: { x: 1 }, windowEnd: Date.now() })
    expect(r).toMatchObject({ ok: true, value: { applied: false } })
    expect(await c.status('race-1')).toMatchObject({ phase: 'rolled-back', weight: 0 })
    const h = await c.history('race-1', { limit: 10 })
    expect(h.entries.map((e) => e.command)).toEqual(['rollback', 'start', 'create'])
  })

  it('lets a rollback that arrives after the tick stand (tick writes, operator rolls back)', async () => {
    const { c, read } = await progressing('race-2')
    const applied = await c.decide(
      'race-2',
      advance,
      { revision: read.state.revision, windowEnd: read.state.windowEnd },
      { evidence: null, windowEnd: Date.now() },
    )
    expect(applied).toMatchObject({ ok: true, value: { applied: true, status: { phase: 'progressing', weight: 50 } } })
    await c.command('race-2', { name: 'rollback' }, operator)
    expect(await c.status('race-2')).toMatchObject({ phase: 'rolled-back', weight: 0 })
    const h = await c.history('race-2', { limit: 10 })
    expect(h.entries.map((e) => [e.command, e.actor.kind])).toEqual([
      ['rollback', 'operator'],
      ['advance', 'controller'],
      ['start', 'operator'],
      ['create', 'operator'],
    ])
    expect(h.entries[1]!.data).toEqual({ canaryRequests: 1200 })
  })

  it('ignores a duplicated tick: the same window is never acted on twice', async () => {
    const { c, read } = await progressing('dup')
    const basis = { revision: read.state.revision, windowEnd: read.state.windowEnd }
    const patch = { evidence: null, windowEnd: Date.now() }
    const first = await c.decide('dup', advance, basis, patch)
    const second = await c.decide('dup', advance, basis, patch)
    expect(first).toMatchObject({ value: { applied: true } })
    expect(second).toMatchObject({ value: { applied: false } })
    expect(await c.status('dup')).toMatchObject({ weight: 50, step: { index: 1 } })
  })

  it('records a repeated hold once, and holds do not invalidate If-Match', async () => {
    const { c, read } = await progressing('holds')
    let basis = { revision: read.state.revision, windowEnd: read.state.windowEnd }
    for (let minute = 1; minute <= 3; minute++) {
      const windowEnd = read.state.windowEnd! + minute * 60_000
      const r = await c.decide('holds', { kind: 'hold', reason: 'not enough data' }, basis, { evidence: null, windowEnd })
      expect(r).toMatchObject({ value: { applied: true } })
      basis = { revision: basis.revision, windowEnd }
    }
    expect((await c.status('holds'))!.revision).toBe(read.state.revision)
    const h = await c.history('holds', { limit: 10 })
    expect(h.entries.map((e) => e.command)).toEqual(['hold', 'start', 'create'])
  })
})

describe('the coordinator publishes only what the edge accepts', () => {
  const published = async () => parseConfig((await env.SLUICE_KV.get(CONFIG_KEY))!)

  it('refuses a write whose document the edge’s parser would reject, leaving state, history and KV as they were', async () => {
    const c = coordinator(env)
    await c.put('long-release', spec('long-release'), operator)
    const [status, history, kv] = [await c.status('long-release'), await c.history('long-release', { limit: 10 }), await env.SLUICE_KV.get(CONFIG_KEY)]
    // The admin API caps a release at 64 characters too; the coordinator must not rely on every caller doing so.
    const r = await c.command('long-release', { name: 'start', release: 'v'.repeat(65) }, operator)
    expect(r).toMatchObject({
      ok: false,
      problem: { status: 409, errors: [{ field: 'long-release', message: expect.stringContaining('release: Too big') }] },
    })
    expect(await c.status('long-release')).toEqual(status)
    expect(await c.history('long-release', { limit: 10 })).toEqual(history)
    expect(await env.SLUICE_KV.get(CONFIG_KEY)).toBe(kv)
  })

  it('lets an entry the edge already rejects block no other write, and never its own rollback', async () => {
    const c = coordinator(env)
    await c.put('healthy', spec('healthy'), operator)
    await c.put('legacy', spec('legacy'), operator)
    await c.command('legacy', { name: 'start', release: 'v2' }, operator)
    // As a coordinator from before the limits could have stored it.
    const stub = env.COORDINATOR.get(env.COORDINATOR.idFromName('global'))
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec(`UPDATE rollouts SET state = json_set(state, '$.release', ?) WHERE id = 'legacy'`, 'v'.repeat(65))
    })
    expect((await c.command('healthy', { name: 'weight', weight: 20 }, operator)).ok).toBe(true)
    expect((await c.command('legacy', { name: 'rollback' }, operator)).ok).toBe(true)
    const edge = await published()
    if (!edge.ok) throw new Error(edge.error)
    expect(edge.config.rollouts.find((r) => r.id === 'healthy')).toMatchObject({ weight: 20 })
    expect(edge.rejected).toEqual([{ rollout: 'legacy', error: expect.stringContaining('release') }])
  })

  it(`refuses a write that grows the document past ${MAX_PUBLISHED_BYTES} bytes, but not one that shrinks it`, async () => {
    const c = coordinator(env)
    // The largest config the schema allows is audiences: 16 of them, each with 32 header values of 256 characters.
    const values = Array.from({ length: 32 }, (_, i) => `${i}`.padEnd(256, 'v'))
    const audiences = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`a${i}`, { header: { name: 'x-who', values } }]))
    let refused: Awaited<ReturnType<typeof c.put>> | undefined
    for (let i = 0; i < 100 && !refused; i++) {
      const r = await c.put(`big-${i}`, spec(`big-${i}`, { audiences }), operator)
      if (!r.ok) refused = r
    }
    expect(refused).toMatchObject({
      ok: false,
      problem: { status: 409, errors: [{ field: '(config)', message: expect.stringContaining(`over the ${MAX_PUBLISHED_BYTES}`) }] },
    })
    expect(new TextEncoder().encode((await env.SLUICE_KV.get(CONFIG_KEY))!).byteLength).toBeLessThanOrEqual(MAX_PUBLISHED_BYTES)
    expect((await c.put('big-0', spec('big-0'), operator)).ok).toBe(true)
  })
})
