import { exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { publish, rollout, sluice } from '../support/worker.ts'

describe('worker', () => {
  it('answers healthz without proxying', async () => {
    const res = await exports.default.fetch('https://shop.example.com/__sluice/healthz')
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ ok: true })
  })

  it('serves stable from the [vars] default when KV is empty', async () => {
    const res = await exports.default.fetch('https://shop.example.com/echo')
    expect(res.status).toBe(200)
    expect(res.headers.get('x-origin')).toBe('stable')
    expect(res.headers.get('x-sluice-cohort')).toBe('stable')
  })

  it('routes a published 100 % rollout to the canary', async () => {
    await publish(rollout({ weight: 100 }))
    const res = await sluice().fetch('/echo', { headers: { 'user-agent': 'curl/8' } })
    expect(res.headers.get('x-origin')).toBe('canary')
  })
})
