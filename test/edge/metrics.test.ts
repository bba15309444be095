import { describe, expect, it } from 'vitest'
import { deadUrl, publish, rollout, sluice } from '../support/worker.ts'

/** Records data points as Analytics Engine would receive them (miniflare's binding drops them). */
function recorder() {
  const points: AnalyticsEngineDataPoint[] = []
  return { points, dataset: { writeDataPoint: (p?: AnalyticsEngineDataPoint) => void points.push(p!) } as AnalyticsEngineDataset }
}

describe('metrics', () => {
  it('writes exactly one data point per proxied request, in the documented layout', async () => {
    await publish(rollout({ weight: 100, release: 'v2.4.0' }))
    const { points, dataset } = recorder()
    const app = sluice({ env: { METRICS: dataset } })
    await app.fetch('/status/404', { method: 'GET' })
    await app.fetch('/echo', { method: 'POST', body: 'x' })
    await app.fetch('/__sluice/healthz')
    expect(points).toHaveLength(2)
    expect(points[0]).toEqual({
      indexes: ['web/canary'],
      blobs: ['web', 'canary', 'v2.4.0', 'GET', '4xx', '', ''],
      doubles: [404, expect.any(Number), 0, 0],
    })
    expect(points[1]!.blobs![3]).toBe('POST')
  })

  it('keeps testers and bots out of the indexes the judge compares', async () => {
    await publish(rollout({ weight: 0 }))
    const { points, dataset } = recorder()
    const app = sluice({ env: { METRICS: dataset } })
    await app.fetch('/echo', { headers: { 'x-sluice-cohort': 'canary' } })
    await app.fetch('/echo', { headers: { 'user-agent': 'Googlebot/2.1' } })
    await app.fetch('/echo', { headers: { 'user-agent': 'curl/8' } })
    expect(points.map((p) => p.indexes![0])).toEqual(['web/canary-override', 'web/stable-bot', 'web/stable'])
    expect(points.map((p) => p.blobs![1])).toEqual(['canary', 'stable', 'stable'])
  })

  it('counts a canary failure against the canary even when stable served the retry', async () => {
    await publish(rollout({ canary: deadUrl(), weight: 100 }))
    const { points, dataset } = recorder()
    const res = await sluice({ env: { METRICS: dataset } }).fetch('/echo')
    expect(res.status).toBe(200)
    expect(points).toEqual([{ indexes: ['web/canary'], blobs: ['web', 'canary', '', 'GET', 'err', '', ''], doubles: [0, expect.any(Number), 1, 1] }])
  })

  it('flags 5xx as errors and never lets a metrics fault break the request', async () => {
    await publish(rollout())
    const { points, dataset } = recorder()
    await sluice({ env: { METRICS: dataset } }).fetch('/status/500')
    expect(points[0]!.doubles).toEqual([500, expect.any(Number), 1, 0])
    const broken = { writeDataPoint: () => { throw new Error('AE down') } } as unknown as AnalyticsEngineDataset
    expect((await sluice({ env: { METRICS: broken } }).fetch('/echo')).status).toBe(200)
  })
})
