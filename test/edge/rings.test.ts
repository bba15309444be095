/**
 * @module
 * Audience rings at the edge: every kind of predicate, with `request.cf` set by
 * the test (country, continent, colo, ASN), headers, cookies and client
 * addresses; the ring each request was in goes into its data point.
 */
import { describe, expect, it } from 'vitest'
import { decodeRequestPoint } from '../../src/contract/datapoint.ts'
import { publish, rollout, sluice } from '../support/worker.ts'

const audiences = {
  staff: { header: { name: 'x-staff', values: ['1'] } },
  beta: { cookie: { name: 'beta', values: ['on'] } },
  office: { ip: ['198.51.100.0/24', '2001:db8:5::/48'] },
  nz: { country: ['NZ'] },
  oceania: { continent: ['OC'] as 'OC'[] },
  akl: { colo: ['AKL'] },
  isp: { asn: [64500] },
}

function recorder() {
  const points: AnalyticsEngineDataPoint[] = []
  return { points, dataset: { writeDataPoint: (p?: AnalyticsEngineDataPoint) => void points.push(p!) } as AnalyticsEngineDataset }
}

const request = (o: { headers?: Record<string, string>; cf?: Record<string, unknown>; id?: string } = {}) =>
  new Request('https://shop.example.com/echo', {
    headers: { 'user-agent': 'curl/8', cookie: `sluice=${o.id ?? 'visitor-00000001'}`, ...o.headers },
    ...(o.cf ? { cf: o.cf } : {}),
  })

describe('audience rings at the edge', () => {
  it("puts a request in the ring of each kind of predicate, and everyone else at everyone's weight", async () => {
    const rings = { staff: 100, beta: 100, office: 100, nz: 100, oceania: 100, akl: 100, isp: 100 }
    await publish(rollout({ weight: 0, audiences, rings }))
    const { points, dataset } = recorder()
    const app = sluice({ env: { METRICS: dataset } })
    const cases: [string, Request][] = [
      ['staff', request({ headers: { 'x-staff': '1' } })],
      ['beta', request({ headers: { cookie: 'sluice=visitor-00000001; beta=on' } })],
      ['office', request({ headers: { 'cf-connecting-ip': '198.51.100.77' } })],
      ['office', request({ headers: { 'cf-connecting-ip': '2001:db8:5:1::9' } })],
      ['nz', request({ cf: { country: 'NZ' } })],
      ['oceania', request({ cf: { continent: 'OC', country: 'AU' } })],
      ['akl', request({ cf: { colo: 'AKL' } })],
      ['isp', request({ cf: { asn: 64500 } })],
      ['', request({ cf: { country: 'DE', continent: 'EU', colo: 'FRA', asn: 3320 }, headers: { 'cf-connecting-ip': '192.0.2.1' } })],
    ]
    for (const [ring, req] of cases) {
      const res = await app.fetch(req)
      expect(res.headers.get('x-sluice-cohort'), ring || 'everyone else').toBe(ring ? 'canary' : 'stable')
      expect(decodeRequestPoint(points.at(-1))!.ring).toBe(ring)
    }
  })

  it("gives a ring's visitors the higher of its weight and everyone's, keeps stickiness by visitor, and a bot stays on stable", async () => {
    await publish(rollout({ weight: 10, audiences, rings: { nz: 50 } }))
    const app = sluice()
    const ids = Array.from({ length: 400 }, (_, i) => `visitor-${String(i).padStart(8, '0')}`)
    const share = async (cf: Record<string, unknown>) => {
      let canary = 0
      for (const id of ids) if ((await app.fetch(request({ id, cf }))).headers.get('x-sluice-cohort') === 'canary') canary++
      return canary / ids.length
    }
    const nz = await share({ country: 'NZ' })
    const de = await share({ country: 'DE' })
    // 400 visitors: within about four standard deviations of 50 % and of 10 %.
    expect(nz).toBeGreaterThan(0.4)
    expect(nz).toBeLessThan(0.6)
    expect(de).toBeGreaterThan(0.04)
    expect(de).toBeLessThan(0.16)
    // Everyone at 10 % who is canary is canary in the NZ ring too: the rings only add buckets.
    for (const id of ids.slice(0, 100)) {
      const everywhere = (await app.fetch(request({ id, cf: { country: 'DE' } }))).headers.get('x-sluice-cohort')
      if (everywhere === 'canary') expect((await app.fetch(request({ id, cf: { country: 'NZ' } }))).headers.get('x-sluice-cohort')).toBe('canary')
    }
    const bot = await app.fetch(request({ cf: { country: 'NZ' }, headers: { 'user-agent': 'Googlebot/2.1' } }))
    expect(bot.headers.get('x-sluice-cohort')).toBe('stable')
  })

  it('ignores rings for audiences the document does not define, and rings end when the document drops them', async () => {
    await publish(rollout({ weight: 0, audiences: { nz: { country: ['NZ'] } }, rings: { nz: 100, ghost: 100 } }))
    const { points, dataset } = recorder()
    const app = sluice({ env: { METRICS: dataset } })
    expect((await app.fetch(request({ cf: { country: 'NZ' } }))).headers.get('x-sluice-cohort')).toBe('canary')
    expect((await app.fetch(request({ cf: { country: 'DE' } }))).headers.get('x-sluice-cohort')).toBe('stable')
    await publish(rollout({ weight: 0 }))
    expect((await app.fetch(request({ cf: { country: 'NZ' } }))).headers.get('x-sluice-cohort')).toBe('stable')
    expect(points.map((p) => decodeRequestPoint(p)!.ring)).toEqual(['nz', '', ''])
  })
})
