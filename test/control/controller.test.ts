import { createExecutionContext, createScheduledController, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, inject, it } from 'vitest'
import { coordinator } from '../../src/control/client.ts'
import { runController } from '../../src/control/controller.ts'
import { BindingSource } from '../../src/control/metrics/binding.ts'
import { type MetricsSource, type MetricsWindow, type WindowOptions, MetricsError } from '../../src/control/metrics/source.ts'
import { SqlApiSource } from '../../src/control/metrics/sql-api.ts'
import ControlWorker from '../../src/workers/control.ts'
import healthy from '../fixtures/ae-sql/healthy.json'
import failing from '../fixtures/ae-sql/failing-canary.json'
import empty from '../fixtures/ae-sql/empty.json'
import nanQuantiles from '../fixtures/ae-sql/nan-quantiles.json'
import sampled from '../fixtures/ae-sql/sampled.json'
import healthyClients from '../fixtures/ae-sql/healthy-clients.json'
import failingClients from '../fixtures/ae-sql/failing-canary-clients.json'
import { spec } from '../support/admin.ts'

const services = () => `http://127.0.0.1:${inject('servicesPort')}`
const operator = { actor: { kind: 'operator' as const, name: 'alice' } }
const MINUTE = 60_000

/** The worker's env, reading metrics from the fake SQL API. */
const controllerEnv = () => ({ ...env, AE_ACCOUNT_ID: 'acc', AE_API_TOKEN: 'ae-token', AE_SQL_ENDPOINT: `${services()}/sql` }) as ControlEnv

interface Scripted {
  status?: number
  body?: unknown
  raw?: string
  delayMs?: number
}

/** The clients query's answer that goes with each requests fixture (same traffic, counted by client). */
const CLIENTS = new Map<unknown, unknown>([
  [healthy, healthyClients],
  [failing, failingClients],
])

/** Scripts the next answers of both queries: the requests query as given, the clients query to match. */
async function script(rollout: string, answers: Scripted[]) {
  const clients = answers.map((a) => ({ ...a, body: CLIENTS.get(a.body) ?? (a.status ? a.body : empty) }))
  await fetch(`${services()}/script/${rollout}`, { method: 'PUT', body: JSON.stringify(answers) })
  await fetch(`${services()}/script/${rollout}:clients`, { method: 'PUT', body: JSON.stringify(clients) })
}
const received = async <T>(key: string) => (await (await fetch(`${services()}/received/${key}`)).json()) as T[]

/** A rollout started now, judged on small numbers, with no bake time at its first step. */
async function started(id: string, notify?: string) {
  const c = coordinator(env)
  await c.put(
    id,
    spec(id, {
      schedule: [{ weight: 10, bakeMinutes: 0 }, { weight: 50, bakeMinutes: 5 }, { weight: 100 }],
      judge: { minRequests: 100 },
      ...(notify ? { notify: { webhook: notify } } : {}),
    }),
    operator,
  )
  await c.command(id, { name: 'start', release: 'v2' }, operator)
  return c
}

async function tick(now: number) {
  return runController(controllerEnv(), now)
}

describe('SQL API metrics source', () => {
  const source = (timeoutMs?: number) =>
    new SqlApiSource({ accountId: 'acc', token: 'ae-token', dataset: 'sluice_requests', endpoint: `${services()}/sql`, ...(timeoutMs ? { timeoutMs } : {}) })
  const range = { start: Date.UTC(2026, 10, 24, 5, 0), end: Date.UTC(2026, 10, 24, 5, 5) }

  it('sends a weighted query with the bearer token, and parses 64-bit numbers sent as strings', async () => {
    await script('src-ok', [{ body: healthy }])
    const w = await source().window('src-ok', { ...range, since: range.start - 10 * MINUTE })
    expect(w).toEqual({
      start: range.start,
      end: range.end,
      sampled: false,
      stable: {
        requests: 90000,
        errors: 90,
        latencyMs: { p50: 41, p95: 120, p99: 250 },
        clients: { seen: 30000, failing: 88, fresh: 29990, firstFailures: 85, cappedRequests: 59000 },
      },
      canary: {
        requests: 10000,
        errors: 9,
        latencyMs: { p50: 42, p95: 118, p99: 240 },
        clients: { seen: 3300, failing: 9, fresh: 3299, firstFailures: 9, cappedRequests: 6500 },
      },
      // The same two queries count 4xx answers, per cohort and per client, for the 4xx test.
      signals: {
        clientErrors: {
          stable: { requests: 90000, errors: 900, clients: { seen: 30000, failing: 300, fresh: 29900, firstFailures: 272, cappedRequests: 59000 } },
          canary: { requests: 10000, errors: 100, clients: { seen: 3300, failing: 33, fresh: 3289, firstFailures: 30, cappedRequests: 6500 } },
        },
      },
    })
    const [req] = await received<{ authorization: string; query: string }>('sql:src-ok')
    expect(req!.authorization).toBe('Bearer ae-token')
    expect(req!.query).toContain('SUM(_sample_interval) AS requests')
    expect(req!.query).toContain("index1 IN ('src-ok/stable', 'src-ok/canary')")
    expect(req!.query).toContain(`timestamp >= toDateTime(${range.start / 1000}) AND timestamp < toDateTime(${range.end / 1000})`)
    // The clients query: one row per client inside, its failures before the window read since the release began.
    const [clients] = await received<{ authorization: string; query: string }>('sql:src-ok:clients')
    expect(clients!.authorization).toBe('Bearer ae-token')
    expect(clients!.query).toContain('GROUP BY cohort, client')
    expect(clients!.query).toContain(`timestamp >= toDateTime(${range.start / 1000 - 600}) AND timestamp < toDateTime(${range.end / 1000})`)
    expect(clients!.query).toContain(`AND (timestamp >= toDateTime(${range.start / 1000}) OR double3 > 0 OR double5 > 0)`)
  })

  it('reads an empty result as no traffic, and NaN quantiles as absent', async () => {
    await script('src-empty', [{ body: empty }])
    expect(await source().window('src-empty', range)).toMatchObject({ stable: { requests: 0, errors: 0 }, canary: { requests: 0, errors: 0 } })
    await script('src-nan', [{ body: nanQuantiles }])
    expect((await source().window('src-nan', range)).canary).toEqual({
      requests: 3,
      errors: 0,
      clients: { seen: 0, failing: 0, fresh: 0, firstFailures: 0, cappedRequests: 0 },
    })
  })

  it('judges sampled data on the rows actually stored, and marks it sampled', async () => {
    await script('src-sampled', [{ body: sampled }])
    const w = await source().window('src-sampled', range)
    // Stable was sampled 1 in 10, the canary not at all: each cohort keeps its own observations.
    expect(w).toMatchObject({ sampled: true, stable: { requests: 90000, errors: 90 }, canary: { requests: 100000, errors: 100 } })
    await script('src-unsampled', [{ body: healthy }])
    expect((await source().window('src-unsampled', range)).sampled).toBe(false)
  })

  it('turns error statuses, malformed JSON, wrong shapes and timeouts into MetricsError', async () => {
    const cases: [string, Scripted[]][] = [
      ['src-500', [{ status: 500, body: { errors: [{ message: 'boom' }] } }]],
      ['src-403', [{ status: 403, body: { errors: [{ code: 10000, message: 'Authentication error' }] } }]],
      ['src-bad-json', [{ raw: '{"data": [' }]],
      ['src-shape', [{ body: { result: [] } }]],
      ['src-neg', [{ body: { data: [{ cohort: 'canary', requests: '-5', errors: 0 }] } }]],
      ['src-more-errors', [{ body: { data: [{ cohort: 'canary', requests: '5', errors: 9 }] } }]],
      ['src-slow', [{ delayMs: 1500, body: healthy }]],
    ]
    for (const [id, answers] of cases) {
      await script(id, answers)
      await expect(source(300).window(id, range), id).rejects.toBeInstanceOf(MetricsError)
    }
    // A clients answer that contradicts itself (more first failures than failing clients) is a fault too.
    await script('src-bad-clients', [{ body: healthy }])
    const bad = { data: [{ cohort: 'canary', seen: '10', failing: '1', fresh: '10', first_failures: '3', capped_requests: '10' }] }
    await fetch(`${services()}/script/src-bad-clients:clients`, { method: 'PUT', body: JSON.stringify([{ body: bad }]) })
    await expect(source().window('src-bad-clients', range)).rejects.toBeInstanceOf(MetricsError)
  })
})

describe('Analytics SQL binding source', () => {
  const range = { start: Date.UTC(2026, 10, 24, 5, 0), end: Date.UTC(2026, 10, 24, 5, 1) }

  it('sends the same query through the binding and reads its rows, whether wrapped in { data } or bare', async () => {
    const queries: string[] = []
    const answer = (query: string) => (/\bAS client\b/.test(query) ? healthyClients : healthy)
    const wrapped = new BindingSource({ query: async ({ query }) => (queries.push(query), answer(query)) }, 'sluice_requests')
    expect((await wrapped.window('bind', range)).canary).toMatchObject({ requests: 10000, errors: 9, clients: { seen: 3300, firstFailures: 9 } })
    expect(queries).toHaveLength(2)
    for (const q of queries) expect(q).toContain("index1 IN ('bind/stable', 'bind/canary')")
    const bare = new BindingSource({ query: async ({ query }) => answer(query).data }, 'sluice_requests')
    expect((await bare.window('bind', range)).stable).toMatchObject({ requests: 90000, errors: 90, clients: { seen: 30000 } })
  })

  it('turns a failing binding into MetricsError', async () => {
    const broken = new BindingSource({ query: async () => Promise.reject(new Error('binding unavailable')) }, 'sluice_requests')
    await expect(broken.window('bind', range)).rejects.toBeInstanceOf(MetricsError)
  })
})

describe('scheduled controller', () => {
  it('advances a healthy canary one step, and records the numbers behind it', async () => {
    const c = await started('ctl-healthy')
    await script('ctl-healthy', [{ body: healthy }])
    const reports = await tick(Date.now() + 3 * MINUTE)
    expect(reports.find((r) => r.rollout === 'ctl-healthy')).toMatchObject({ decision: 'advance', applied: true })
    expect(await c.status('ctl-healthy')).toMatchObject({ phase: 'progressing', weight: 50 })
    const [entry] = (await c.history('ctl-healthy', { limit: 1 })).entries
    expect(entry).toMatchObject({ command: 'advance', actor: { kind: 'controller' }, from: { weight: 10 }, to: { weight: 50 } })
    expect(entry!.data).toMatchObject({
      verdict: 'healthy',
      numbers: { windowCanaryRequests: 10000, windowStableErrors: 90 },
      window: { start: expect.any(String) },
    })
    expect(await c.series('ctl-healthy', 10)).toEqual([expect.objectContaining({ weight: 10, canary: { requests: 10000, errors: 9, p95: 118 } })])
  })

  it('rolls back a failing canary', async () => {
    const c = await started('ctl-failing')
    await script('ctl-failing', [{ body: failing }])
    await tick(Date.now() + 3 * MINUTE)
    expect(await c.status('ctl-failing')).toMatchObject({ phase: 'rolled-back', weight: 0 })
    const [entry] = (await c.history('ctl-failing', { limit: 1 })).entries
    expect(entry).toMatchObject({ command: 'rollback', actor: { kind: 'controller' } })
    expect(entry!.reason).toMatch(/error/)
  })

  it('holds when the query fails, consuming no window, and never promotes or rolls back on it', async () => {
    const c = await started('ctl-fail-query')
    const before = await c.progressing()
    const windowEnd = before.find((r) => r.spec.id === 'ctl-fail-query')!.state.windowEnd
    await script('ctl-fail-query', [{ status: 503, body: { errors: [] } }])
    const [report] = (await tick(Date.now() + 3 * MINUTE)).filter((r) => r.rollout === 'ctl-fail-query')
    expect(report).toMatchObject({ decision: 'hold', applied: true })
    expect(report!.reason).toContain('query failed')
    expect(await c.status('ctl-fail-query')).toMatchObject({ phase: 'progressing', weight: 10 })
    const after = (await c.progressing()).find((r) => r.spec.id === 'ctl-fail-query')!.state
    expect(after.windowEnd).toBe(windowEnd)
  })

  it('pauses after too long without data while the canary has traffic', async () => {
    const c = await started('ctl-silent')
    await script('ctl-silent', [{ body: empty }])
    await tick(Date.now() + 30 * MINUTE)
    expect(await c.status('ctl-silent')).toMatchObject({ phase: 'paused', weight: 10 })
  })

  it('lets an operator rollback issued during a tick stand', async () => {
    const c = await started('ctl-race')
    await script('ctl-race', [{ delayMs: 400, body: healthy }])
    const ticking = tick(Date.now() + 3 * MINUTE)
    // Wait until the controller has read the state and its query is in flight, then roll back.
    for (let i = 0; i < 100 && (await received('sql:ctl-race')).length === 0; i++) await new Promise((r) => setTimeout(r, 20))
    await c.command('ctl-race', { name: 'rollback' }, { ...operator, reason: 'operator saw errors' })
    const [report] = (await ticking).filter((r) => r.rollout === 'ctl-race')
    expect(report).toMatchObject({ decision: 'advance', applied: false })
    expect(await c.status('ctl-race')).toMatchObject({ phase: 'rolled-back', weight: 0 })
  })

  it('does nothing on a duplicated tick', async () => {
    const c = await started('ctl-dup')
    await script('ctl-dup', [{ body: healthy }])
    const now = Date.now() + 3 * MINUTE
    const [a, b] = await Promise.all([tick(now), tick(now)])
    const applied = [...a, ...b].filter((r) => r.rollout === 'ctl-dup' && r.applied)
    expect(applied).toHaveLength(1)
    expect(await tick(now)).not.toContainEqual(expect.objectContaining({ rollout: 'ctl-dup' }))
    expect(await c.status('ctl-dup')).toMatchObject({ weight: 50 })
    expect((await c.history('ctl-dup', { limit: 10 })).entries.filter((e) => e.command === 'advance')).toHaveLength(1)
  })

  it('keeps watching a canary parked at a gate, and rolls it back if it goes bad', async () => {
    const c = coordinator(env)
    await c.put(
      'ctl-gate',
      spec('ctl-gate', { schedule: [{ weight: 10, bakeMinutes: 0 }, { weight: 50, gate: true }, { weight: 100 }], judge: { minRequests: 100 } }),
      operator,
    )
    await c.command('ctl-gate', { name: 'start', release: 'v2' }, operator)
    await script('ctl-gate', [{ body: healthy }, { body: failing }])
    await tick(Date.now() + 3 * MINUTE)
    expect(await c.status('ctl-gate')).toMatchObject({ phase: 'awaiting-approval', weight: 10 })
    await tick(Date.now() + 5 * MINUTE)
    expect(await c.status('ctl-gate')).toMatchObject({ phase: 'rolled-back', weight: 0 })
  })

  it("applies a rollback without waiting for another rollout's slow metrics query", async () => {
    const slow = await started('ctl-slow-query')
    await started('ctl-fast-failing')
    await script('ctl-slow-query', [{ delayMs: 4_000, body: healthy }])
    await script('ctl-fast-failing', [{ body: failing }])
    let done = false
    const ticking = tick(Date.now() + 3 * MINUTE).then((r) => ((done = true), r))
    for (let i = 0; i < 150 && (await slow.status('ctl-fast-failing'))?.phase !== 'rolled-back'; i++) await new Promise((r) => setTimeout(r, 10))
    expect(await slow.status('ctl-fast-failing')).toMatchObject({ phase: 'rolled-back' })
    // The slow rollout's query is still out: its decision, and the tick, come later.
    expect(done).toBe(false)
    expect(await slow.status('ctl-slow-query')).toMatchObject({ phase: 'progressing', weight: 10 })
    expect((await ticking).find((r) => r.rollout === 'ctl-slow-query')).toMatchObject({ decision: 'advance', applied: true })
  })

  it('runs from scheduled() in the control worker', async () => {
    const c = await started('ctl-cron')
    await script('ctl-cron', [{ body: healthy }])
    const ctx = createExecutionContext()
    await new ControlWorker(ctx, controllerEnv()).scheduled(createScheduledController({ scheduledTime: Date.now() + 3 * MINUTE, cron: '* * * * *' }))
    await waitOnExecutionContext(ctx)
    expect(await c.status('ctl-cron')).toMatchObject({ weight: 50 })
  })
})

describe('notifications', () => {
  it('posts a Slack-compatible message on start and on rollback', async () => {
    const c = await started('ntf', `${services()}/hook/ntf`)
    await c.command('ntf', { name: 'rollback' }, { ...operator, reason: 'bad deploy' })
    let hooks: { text: string }[] = []
    for (let i = 0; i < 100 && hooks.length < 2; i++) {
      hooks = await received<{ text: string }>('hook:ntf')
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(hooks.map((h) => h.text)).toEqual([
      expect.stringContaining('ntf: rollout started at 10 %'),
      expect.stringContaining('rolled back to stable: bad deploy'),
    ])
  })

  it('never lets a failing webhook block or undo a decision', async () => {
    const c = await started('ntf-broken', `${services()}/hook/broken?status=500`)
    await script('ntf-broken', [{ body: failing }])
    await tick(Date.now() + 3 * MINUTE)
    expect(await c.status('ntf-broken')).toMatchObject({ phase: 'rolled-back' })
  })
})

describe('shadow step', () => {
  /** A source that answers every window with the given shadow comparisons, and records what it was asked. */
  function shadowSource(shadow: (compared: number) => MetricsWindow['shadow']) {
    const asked: (WindowOptions | undefined)[] = []
    const source: MetricsSource = {
      name: 'fake',
      async window(_id, range, opts) {
        asked.push(opts)
        const empty = { requests: 0, errors: 0 }
        return { start: range.start, end: range.end, stable: empty, canary: empty, ...(opts?.shadow ? { shadow: shadow(400) } : {}) }
      },
    }
    return { source, asked }
  }
  const paired = (compared: number, canaryErrors = 0) => ({
    stable: { requests: compared, errors: 0, latencyMs: { p50: 20, p95: 60, p99: 90 } },
    canary: { requests: compared, errors: canaryErrors, latencyMs: { p50: 20, p95: 60, p99: 90 } },
  })
  const route = (compared: number, fields: Record<string, { kind: 'missing' | 'extra' | 'value'; canary: number; noise: number }>, canaryErrors = 0) => ({
    compared,
    noiseSampled: compared / 2,
    canaryErrors,
    stableErrors: 0,
    fields,
    examples: { '/name': { field: '/name', kind: 'missing' as const, stable: '"Ada"', canary: '' } },
  })
  const noise = (n: number) => ({ '/requestId': { kind: 'value' as const, canary: n, noise: n / 2 } })

  async function shadowStarted(id: string) {
    const c = coordinator(env)
    await c.put(
      id,
      spec(id, {
        schedule: [{ shadow: 10, bakeMinutes: 0, minRequests: 300 }, { weight: 10, bakeMinutes: 5 }, { weight: 100 }],
        judge: { minRequests: 100 },
      }),
      operator,
    )
    await c.command(id, { name: 'start', release: 'v2' }, operator)
    expect(await c.status(id)).toMatchObject({ phase: 'progressing', weight: 0 })
    return c
  }

  it('asks for the shadow comparisons, and advances from a clean shadow step, charting the paired answers', async () => {
    const c = await shadowStarted('ctl-shadow-clean')
    const { source, asked } = shadowSource((n) => ({ ...paired(n), routes: { '/api/users/:id': route(n, noise(n)) } }))
    await runController(controllerEnv(), Date.now() + 3 * MINUTE, source)
    expect(asked).toContainEqual({ shadow: true })
    expect(await c.status('ctl-shadow-clean')).toMatchObject({ phase: 'progressing', weight: 10 })
    const [advance] = (await c.history('ctl-shadow-clean', { limit: 5 })).entries.filter((e) => e.command === 'advance')
    expect(advance).toMatchObject({ reason: expect.stringContaining('in the shadow step (400 compared, no field above noise)') })
    expect(await c.series('ctl-shadow-clean', 10)).toEqual([
      expect.objectContaining({ weight: 0, stable: expect.objectContaining({ requests: 400 }), canary: expect.objectContaining({ requests: 400 }) }),
    ])
    // The next step is judged as any other: no shadow comparisons asked for.
    await runController(controllerEnv(), Date.now() + 6 * MINUTE, source)
    expect(asked.at(-1)?.shadow).toBeUndefined()
  })

  it('pauses on a renamed field, naming the route and the fields, with every visitor still on stable', async () => {
    const c = await shadowStarted('ctl-shadow-renamed')
    const renamed = (n: number) => ({
      '/name': { kind: 'missing' as const, canary: n, noise: 0 },
      '/fullName': { kind: 'extra' as const, canary: n, noise: 0 },
      ...noise(n),
    })
    const { source } = shadowSource((n) => ({ ...paired(n), routes: { '/api/users/:id': route(n, renamed(n)) } }))
    const [report] = (await runController(controllerEnv(), Date.now() + 3 * MINUTE, source)).filter((r) => r.rollout === 'ctl-shadow-renamed')
    expect(report).toMatchObject({ decision: 'pause', applied: true })
    expect(report!.reason).toMatch(/^shadow: \/api\/users\/:id: .*missing \/name/)
    expect(report!.reason).toContain('extra /fullName')
    expect(report!.reason).not.toContain('/requestId')
    expect(await c.status('ctl-shadow-renamed')).toMatchObject({ phase: 'paused', weight: 0 })
  })

  it('pauses, never rolls back, on the canary’s errors to mirrored requests', async () => {
    const c = await shadowStarted('ctl-shadow-errors')
    const { source } = shadowSource((n) => ({ ...paired(n, n / 4), routes: { '/api/users/:id': route(n, noise(n), n / 4) } }))
    const [report] = (await runController(controllerEnv(), Date.now() + 3 * MINUTE, source)).filter((r) => r.rollout === 'ctl-shadow-errors')
    expect(report).toMatchObject({ decision: 'pause', applied: true, reason: expect.stringContaining('no visitor was served by it') })
    expect(await c.status('ctl-shadow-errors')).toMatchObject({ phase: 'paused', weight: 0 })
  })

  it('holds, consuming no window, when the source returns no comparisons', async () => {
    const c = await shadowStarted('ctl-shadow-none')
    const { source } = shadowSource(() => undefined)
    const windowEnd = (await c.progressing()).find((r) => r.spec.id === 'ctl-shadow-none')!.state.windowEnd
    const [report] = (await runController(controllerEnv(), Date.now() + 3 * MINUTE, source)).filter((r) => r.rollout === 'ctl-shadow-none')
    expect(report).toMatchObject({ decision: 'hold', reason: expect.stringContaining('no shadow comparisons') })
    expect((await c.progressing()).find((r) => r.spec.id === 'ctl-shadow-none')!.state.windowEnd).toBe(windowEnd)
  })
})
