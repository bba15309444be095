/**
 * Faults around the control plane, each injected into the real coordinator, controller or metrics source:
 * KV failing or corrupting a publish, storage failing in the middle of a command, the metrics source answering
 * garbage or not at all, and a webhook that cannot be reached. Faults covered elsewhere: a 503 from the SQL API
 * (controller.test.ts, "holds when the query fails"), a webhook answering 500 (controller.test.ts, "never lets a
 * failing webhook block or undo a decision").
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, inject, it, vi } from 'vitest'
import { coordinator } from '../../src/control/client.ts'
import { runController } from '../../src/control/controller.ts'
import { SqlApiSource } from '../../src/control/metrics/sql-api.ts'
import { CONFIG_KEY } from '../../src/edge/config-store.ts'
import { spec } from '../support/admin.ts'
import { deadUrl, sluice } from '../support/worker.ts'

const operator = { actor: { kind: 'operator' as const, name: 'alice' } }
const MINUTE = 60_000
const stub = () => env.COORDINATOR.get(env.COORDINATOR.idFromName('global'))
const services = () => `http://127.0.0.1:${inject('servicesPort')}`

afterEach(() => vi.restoreAllMocks())

/** A rollout of its own host (so the edge's answer is this rollout's), started, and set to `weight` if given (which pauses it). */
async function running(id: string, weight?: number, over: Parameters<typeof spec>[1] = {}) {
  const c = coordinator(env)
  await c.put(id, spec(id, { match: { host: `${id}.example.com` }, ...over }), operator)
  await c.command(id, { name: 'start', release: 'v2' }, operator)
  if (weight !== undefined) await c.command(id, { name: 'weight', weight }, operator)
  return c
}

/** The edge, with no config cache, asked for this rollout's host: which origin served it. */
const edgeOrigin = async (id: string) => (await sluice().fetch(`https://${id}.example.com/echo`)).headers.get('x-origin')

/** Runs `body` with the coordinator's KV binding replaced, and puts the real one back. */
async function withCoordinatorKv<T>(kv: Pick<KVNamespace, 'put'>, body: () => Promise<T>): Promise<T> {
  type Swappable = { env: ControlEnv }
  let real: ControlEnv | undefined
  await runInDurableObject(stub(), (o) => {
    real = (o as unknown as Swappable).env
    ;(o as unknown as Swappable).env = { ...real, SLUICE_KV: kv as KVNamespace }
  })
  try {
    return await body()
  } finally {
    await runInDurableObject(stub(), (o) => void ((o as unknown as Swappable).env = real!))
  }
}

const snapshot = async (id: string) => ({
  status: await coordinator(env).status(id),
  history: await coordinator(env).history(id, { limit: 10 }),
  kv: await env.SLUICE_KV.get(CONFIG_KEY),
})

describe('KV faults during a publish', () => {
  it('commits the change when KV throws, retries it from the alarm, and the edge keeps its last good copy meanwhile', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    const c = await running('flt-kv-throws', 100)
    expect(await edgeOrigin('flt-kv-throws')).toBe('canary')
    const r = await withCoordinatorKv({ put: () => Promise.reject(new Error('KV PUT failed: 503')) }, () =>
      c.command('flt-kv-throws', { name: 'rollback' }, operator),
    )
    expect(r).toMatchObject({ ok: true, published: false, value: { phase: 'rolled-back', weight: 0 } })
    expect((await c.history('flt-kv-throws', { limit: 1 })).entries[0]).toMatchObject({ command: 'rollback', to: { weight: 0 } })
    expect(await runInDurableObject(stub(), (_, state) => state.storage.getAlarm())).not.toBeNull()
    expect(await edgeOrigin('flt-kv-throws')).toBe('canary')
    // KV is back: the alarm publishes what was committed.
    expect(await runDurableObjectAlarm(stub())).toBe(true)
    expect(await edgeOrigin('flt-kv-throws')).toBe('stable')
  })

  it('commits the change when KV stores a corrupt document; the edge keeps its last good copy until the next publish', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    const c = await running('flt-kv-corrupt', 100)
    const app = sluice()
    expect((await app.fetch('https://flt-kv-corrupt.example.com/echo')).headers.get('x-origin')).toBe('canary')
    // A write cut short: half the document arrives.
    const truncating = { put: (key: string, value: string) => env.SLUICE_KV.put(key, value.slice(0, value.length >> 1)) }
    const r = await withCoordinatorKv(truncating as Pick<KVNamespace, 'put'>, () => c.command('flt-kv-corrupt', { name: 'weight', weight: 0 }, operator))
    expect(r).toMatchObject({ ok: true, value: { weight: 0 } })
    expect((await app.fetch('https://flt-kv-corrupt.example.com/echo')).headers.get('x-origin')).toBe('canary')
    const health = (await (await app.fetch('/__sluice/healthz')).json()) as { config: { source: string; rejected: { errors: { error: string }[] } } }
    expect(health.config).toMatchObject({ source: 'kv', rejected: { errors: [{ error: 'not JSON' }] } })
    // The next publish, of any rollout's change, writes the whole document again, the committed weight with it.
    await c.put('flt-kv-other', spec('flt-kv-other', { match: { host: 'flt-kv-other.example.com' } }), operator)
    expect((await app.fetch('https://flt-kv-corrupt.example.com/echo')).headers.get('x-origin')).toBe('stable')
  })
})

describe('a KV write that never settles', () => {
  it('fails the publish at its timeout, so the change is answered, and the alarm publishes it once KV answers again', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    const c = await running('flt-kv-hangs', 100)
    // Queued behind a put that never settles, every later publish would wait too: the timeout frees the queue.
    const r = await withCoordinatorKv({ put: () => new Promise<void>(() => {}) }, () => c.command('flt-kv-hangs', { name: 'rollback' }, operator))
    expect(r).toMatchObject({ ok: true, published: false, value: { phase: 'rolled-back' } })
    expect(await runInDurableObject(stub(), (_, state) => state.storage.getAlarm())).not.toBeNull()
    expect(await runDurableObjectAlarm(stub())).toBe(true)
    expect(await edgeOrigin('flt-kv-hangs')).toBe('stable')
  }, 30_000)
})

describe('storage failing in the middle of a command', () => {
  /** Makes the coordinator's history insert throw, after the rollout's row has been written in the same command. */
  const failHistoryWrites = () =>
    runInDurableObject(stub(), (_, state) => {
      const sql = state.storage.sql
      const exec = sql.exec.bind(sql)
      Object.defineProperty(sql, 'exec', {
        configurable: true,
        value: (query: string, ...bindings: unknown[]) => {
          if (query.startsWith('INSERT INTO history')) throw new Error('SQLITE_FULL: database or disk is full')
          return exec(query, ...bindings)
        },
      })
    })
  const restore = () => runInDurableObject(stub(), (_, state) => void delete (state.storage.sql as { exec?: unknown }).exec)

  it.each([
    ['a weight change', (c: ReturnType<typeof coordinator>, id: string) => c.command(id, { name: 'weight', weight: 20 }, operator)],
    ['a start', (c: ReturnType<typeof coordinator>, id: string) => c.command(id, { name: 'start', release: 'v3' }, operator)],
    [
      'a replaced spec',
      (c: ReturnType<typeof coordinator>, id: string) => c.put(id, spec(id, { match: { host: `${id}.example.com` }, salt: 'new-salt' }), operator),
    ],
    // Rollbacks and deletes skip the edge check, never the transaction: applied and unrecorded would lose history.
    ['a rollback', (c: ReturnType<typeof coordinator>, id: string) => c.command(id, { name: 'rollback' }, operator)],
    ['a delete', (c: ReturnType<typeof coordinator>, id: string) => c.remove(id, operator)],
  ])('applies none of %s: state, history and the published document stay as they were', async (what, write) => {
    const id = `flt-sql-${what.replace(/\W+/g, '-')}`
    const c = await running(id, 10)
    if (what === 'a start') await c.command(id, { name: 'rollback' }, operator)
    const before = await snapshot(id)
    await failHistoryWrites()
    try {
      // Called inside the object rather than over RPC: a fault thrown across RPC is also reported as unhandled.
      await runInDurableObject(stub(), async (o) => {
        await expect(write(o as unknown as ReturnType<typeof coordinator>, id)).rejects.toThrow(/disk is full/)
      })
    } finally {
      await restore()
    }
    expect(await snapshot(id)).toEqual(before)
  })
})

describe('the metrics source failing', () => {
  const script = (key: string, answers: unknown[]) => fetch(`${services()}/script/${key}`, { method: 'PUT', body: JSON.stringify(answers) })
  const source = new SqlApiSource({ accountId: 'acc', token: 't', dataset: 'sluice_requests', endpoint: `${services()}/sql`, timeoutMs: 300 })

  it.each([
    ['garbage', { raw: '<html>502 Bad Gateway</html>' }],
    ['a wrong shape', { body: { data: [{ cohort: 'canary', requests: 'lots', errors: 1 }] } }],
    ['a 500', { status: 500, body: { errors: [{ message: 'internal' }] } }],
    ['no answer in time', { delayMs: 1_000, body: { data: [] } }],
  ])('holds on %s, consuming no window and changing no weight', async (what, answer) => {
    const id = `flt-ae-${what.replace(/\W+/g, '-')}`
    const c = await running(id, undefined, { schedule: [{ weight: 10, bakeMinutes: 0 }, { weight: 100 }], judge: { minRequests: 100 } })
    await script(id, [answer])
    await script(`${id}:clients`, [answer])
    const state = async () => (await c.progressing()).find((r) => r.spec.id === id)!.state
    const { windowEnd, revision } = await state()
    const [report] = (await runController(env, Date.now() + 3 * MINUTE, source)).filter((r) => r.rollout === id)
    expect(report).toMatchObject({ decision: 'hold', applied: true, reason: expect.stringContaining('query failed') })
    expect(await state()).toMatchObject({ windowEnd, revision, weight: 10 })
    expect(await c.status(id)).toMatchObject({ phase: 'progressing', weight: 10 })
  })
})

describe('a webhook that cannot be reached', () => {
  it('never delays or undoes an operator command', async () => {
    const c = await running('flt-hook-down', undefined, { notify: { webhook: `${deadUrl()}/hook` } })
    const r = await c.command('flt-hook-down', { name: 'rollback' }, { ...operator, reason: 'incident' })
    expect(r).toMatchObject({ ok: true, published: true, value: { phase: 'rolled-back', weight: 0 } })
    expect(await edgeOrigin('flt-hook-down')).toBe('stable')
  })
})
