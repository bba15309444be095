import { createExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { type ShadowPoint, encodeShadowPoint } from '../../src/contract/datapoint.ts'
import { LocalMetrics, localMetrics } from '../../src/control/metrics/local.ts'
import ControlWorker from '../../src/workers/control.ts'
import { publish, rollout, sluice } from '../support/worker.ts'

// `npm start` keeps data points in the control worker's memory (Miniflare drops Analytics Engine writes): the edge
// sends them in batches over the CONTROL binding's RPC, and the controller reads them back. The real binding is exercised
// by the `wrangler dev` tests (test/node, test/e2e); here the call goes to the same method in this isolate.
const range = () => ({ start: Date.now() - 60_000, end: Date.now() + 60_000 })
const shadowPoint = (rolloutId: string, o: Partial<ShadowPoint> = {}) =>
  encodeShadowPoint({
    rolloutId,
    route: '/api/:id',
    release: 'v2',
    method: 'GET',
    client: 'c1',
    stableStatus: 200,
    canaryStatus: 200,
    stableLatencyMs: 5,
    canaryLatencyMs: 7,
    diffs: [{ kind: 'missing', field: '/name' }],
    diffCount: 1,
    noise: null,
    noiseDiffCount: 0,
    example: JSON.stringify({ field: '/name', kind: 'missing', stable: '"Ada"', canary: '(absent)' }),
    truncated: false,
    colo: 'FRA',
    country: 'DE',
    ...o,
  })
const worker = (settings: Partial<ControlEnv>) => new ControlWorker(createExecutionContext(), { ...env, ...settings } as ControlEnv)

describe('local metrics (npm start)', () => {
  it('carries every edge data point to the control worker over the service binding', async () => {
    await publish(rollout({ id: 'local-rpc', weight: 100 }))
    const local = worker({ SLUICE_LOCAL_METRICS: '1' })
    // As over RPC: every call returns a promise.
    const control = { writeDataPoints: async (ps: AnalyticsEngineDataPoint[]) => local.writeDataPoints(ps) } as unknown as EdgeEnv['CONTROL']
    const edge = sluice({ env: { SLUICE_LOCAL_METRICS: '1', CONTROL: control, METRICS: undefined as unknown as AnalyticsEngineDataset } })
    const before = await localMetrics.window('local-rpc', range())
    for (let i = 0; i < 3; i++) expect((await edge.fetch('/echo', { headers: { 'user-agent': 'curl/8' } })).status).toBe(200)
    await edge.fetch('/status/500', { headers: { 'user-agent': 'curl/8' } })
    const after = await localMetrics.window('local-rpc', range())
    expect(after.canary.requests - before.canary.requests).toBe(4)
    expect(after.canary.errors - before.canary.errors).toBe(1)
  })

  it('sends the points of requests that overlap in one call, and loses points, not requests, when the call fails', async () => {
    await publish(rollout({ id: 'local-batch', weight: 100 }))
    const calls: number[] = []
    const control = {
      writeDataPoints: async (ps: AnalyticsEngineDataPoint[]) => {
        calls.push(ps.length)
        throw new Error('control worker restarting')
      },
    } as unknown as EdgeEnv['CONTROL']
    const edge = sluice({ env: { SLUICE_LOCAL_METRICS: '1', CONTROL: control, METRICS: undefined as unknown as AnalyticsEngineDataset } })
    const answers = await Promise.all(Array.from({ length: 5 }, () => edge.fetch('/echo', { headers: { 'user-agent': 'curl/8' } })))
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200])
    // Five overlapping requests, fewer calls than points (one, unless a request took longer than the batch waits).
    expect(calls.reduce((a, b) => a + b, 0)).toBe(5)
    expect(calls.length).toBeLessThan(5)
  })

  it('is ignored by a deployed control worker (SLUICE_LOCAL_METRICS unset)', async () => {
    const point = { indexes: ['local-off/canary'], doubles: [500, 1, 1, 0] }
    worker({ SLUICE_LOCAL_METRICS: undefined }).writeDataPoints([point])
    expect((await localMetrics.window('local-off', range())).canary.requests).toBe(0)
    worker({ SLUICE_LOCAL_METRICS: '1' }).writeDataPoints([point])
    expect((await localMetrics.window('local-off', range())).canary.requests).toBe(1)
  })

  it('keeps the edge’s shadow points apart from its requests and reads them back for a shadow window', async () => {
    const local = worker({ SLUICE_LOCAL_METRICS: '1' })
    local.writeDataPoints([0, 1, 2].map((i) => shadowPoint('local-shadow', { canaryStatus: i === 0 ? 500 : 200 })))
    const w = await localMetrics.window('local-shadow', range(), { shadow: true })
    expect([w.stable.requests, w.canary.requests]).toEqual([0, 0])
    expect(w.shadow).toEqual({
      stable: { requests: 3, errors: 0, latencyMs: { p50: 5, p95: 5, p99: 5 } },
      canary: { requests: 3, errors: 1, latencyMs: { p50: 7, p95: 7, p99: 7 } },
      routes: {
        '/api/:id': {
          compared: 3,
          noiseSampled: 0,
          canaryErrors: 1,
          stableErrors: 0,
          fields: { '/name': { kind: 'missing', canary: 3, noise: 0 } },
          examples: { '/name': { field: '/name', kind: 'missing', stable: '"Ada"', canary: '(absent)' } },
        },
      },
    })
  })

  it('keeps an hour of shadow points, as of requests', async () => {
    let clock = 0
    const local = new LocalMetrics(() => clock)
    local.writeDataPoint(shadowPoint('local-shadow-hour'))
    clock = 61 * 60_000
    local.writeDataPoint(shadowPoint('local-shadow-hour'))
    // Bounds are compared to the second (wholeSeconds, src/control/metrics/sql.ts): the end includes the clock's second.
    const w = await local.window('local-shadow-hour', { start: 0, end: clock + 1000 }, { shadow: true })
    expect(w.shadow!.routes['/api/:id']!.compared).toBe(1)
  })
})
