import { createExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { localMetrics } from '../../src/control/metrics/local.ts'
import ControlWorker from '../../src/workers/control.ts'
import { publish, rollout, sluice } from '../support/worker.ts'

// `npm start` keeps data points in the control worker's memory (Miniflare drops Analytics Engine writes): the edge
// sends each one over the CONTROL binding's RPC, and the controller reads them back. The real binding is exercised
// by the `wrangler dev` tests (test/node, test/e2e); here the call goes to the same method in this isolate.
const range = () => ({ start: Date.now() - 60_000, end: Date.now() + 60_000 })
const worker = (settings: Partial<ControlEnv>) => new ControlWorker(createExecutionContext(), { ...env, ...settings } as ControlEnv)

describe('local metrics (npm start)', () => {
  it('carries every edge data point to the control worker over the service binding', async () => {
    await publish(rollout({ id: 'local-rpc', weight: 100 }))
    const local = worker({ SLUICE_LOCAL_METRICS: '1' })
    // As over RPC: every call returns a promise.
    const control = { writeDataPoint: async (p?: AnalyticsEngineDataPoint) => local.writeDataPoint(p) } as unknown as EdgeEnv['CONTROL']
    const edge = sluice({ env: { SLUICE_LOCAL_METRICS: '1', CONTROL: control, METRICS: undefined as unknown as AnalyticsEngineDataset } })
    const before = await localMetrics.window('local-rpc', range())
    for (let i = 0; i < 3; i++) expect((await edge.fetch('/echo', { headers: { 'user-agent': 'curl/8' } })).status).toBe(200)
    await edge.fetch('/status/500', { headers: { 'user-agent': 'curl/8' } })
    const after = await localMetrics.window('local-rpc', range())
    expect(after.canary.requests - before.canary.requests).toBe(4)
    expect(after.canary.errors - before.canary.errors).toBe(1)
  })

  it('is ignored by a deployed control worker (SLUICE_LOCAL_METRICS unset)', async () => {
    const point = { indexes: ['local-off/canary'], doubles: [500, 1, 1, 0] }
    worker({ SLUICE_LOCAL_METRICS: undefined }).writeDataPoint(point)
    expect((await localMetrics.window('local-off', range())).canary.requests).toBe(0)
    worker({ SLUICE_LOCAL_METRICS: '1' }).writeDataPoint(point)
    expect((await localMetrics.window('local-off', range())).canary.requests).toBe(1)
  })
})
