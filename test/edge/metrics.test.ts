import { describe, expect, it } from 'vitest'
import { BLOB, DOUBLE, decodeRequestPoint, encodeRequestPoint } from '../../src/contract/datapoint.ts'
import { clientKey } from '../../src/core/cohort/client.ts'
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
    await app.fetch('/status/404', { method: 'GET', headers: { 'cf-connecting-ip': '203.0.113.9' } })
    await app.fetch('/echo', { method: 'POST', body: 'x' })
    await app.fetch('/__sluice/healthz')
    expect(points).toHaveLength(2)
    expect(points[0]).toEqual({
      indexes: ['web/canary'],
      blobs: ['web', 'canary', 'v2.4.0', 'GET', '4xx', '', '', clientKey('203.0.113.9'), '', ''],
      doubles: [404, expect.any(Number), 0, 0, 1],
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
    expect(points).toEqual([
      { indexes: ['web/canary'], blobs: ['web', 'canary', '', 'GET', 'err', '', '', clientKey(''), '', ''], doubles: [0, expect.any(Number), 1, 1, 0] },
    ])
  })

  it('flags 5xx as errors and never lets a metrics fault break the request', async () => {
    await publish(rollout())
    const { points, dataset } = recorder()
    await sluice({ env: { METRICS: dataset } }).fetch('/status/500')
    expect(points[0]!.doubles).toEqual([500, expect.any(Number), 1, 0, 0])
    const broken = {
      writeDataPoint: () => {
        throw new Error('AE down')
      },
    } as unknown as AnalyticsEngineDataset
    expect((await sluice({ env: { METRICS: broken } }).fetch('/echo')).status).toBe(200)
  })

  it('writes every field at the position the layout names, and reads back what the judge needs', () => {
    const point = encodeRequestPoint({
      rolloutId: 'web',
      cohort: 'canary',
      reason: 'weight',
      release: 'v2',
      method: 'GET',
      status: 503,
      latencyMs: 42,
      failover: true,
      colo: 'AMS',
      country: 'NL',
      client: 'abc123',
      ring: 'nz',
      rum: 'csp',
    })
    const blob = (k: keyof typeof BLOB) => point.blobs[BLOB[k] - 1]
    const double = (k: keyof typeof DOUBLE) => point.doubles[DOUBLE[k] - 1]
    expect([
      blob('rollout'),
      blob('cohort'),
      blob('release'),
      blob('method'),
      blob('statusClass'),
      blob('colo'),
      blob('country'),
      blob('client'),
      blob('ring'),
      blob('rum'),
    ]).toEqual(['web', 'canary', 'v2', 'GET', '5xx', 'AMS', 'NL', 'abc123', 'nz', 'csp'])
    expect([double('status'), double('latencyMs'), double('error'), double('failover'), double('clientError')]).toEqual([503, 42, 1, 1, 0])
    expect(point.blobs).toHaveLength(Object.keys(BLOB).length)
    expect(point.doubles).toHaveLength(Object.keys(DOUBLE).length)
    expect(decodeRequestPoint(point)).toEqual({ index: 'web/canary', latencyMs: 42, error: true, clientError: false, client: 'abc123', ring: 'nz', rum: 'csp' })
    expect(decodeRequestPoint(undefined)).toBeUndefined()
    expect(decodeRequestPoint({ indexes: [1], doubles: [] })).toBeUndefined()
  })
})
