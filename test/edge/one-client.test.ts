/**
 * @module
 * No single client can steer the judge (issue 10, item 2). Real requests go
 * through the edge worker to the loopback origins; the data points land in a
 * LocalMetrics store on a simulated clock, and the real judge reads them back
 * window by window, as the controller does.
 *
 * Healthy traffic: 100 requests/s from 400 visitors, each with its own address
 * and cookie. The attacker: one address, a new User-Agent and a new cookie on
 * every request (each cookie chosen to land in the canary, which anyone can do:
 * the bucket hash and the salt are public), asking for a path the origin
 * answers with a 500, 5 times a second. Counted per request, that rolls the
 * canary back in the first window; counted per client, never.
 */
import * as z from 'zod/mini'
import { describe, expect, it } from 'vitest'
import { LocalMetrics } from '../../src/control/metrics/local.ts'
import { bucketOf } from '../../src/core/cohort/hash.ts'
import { toBasisPoints } from '../../src/core/config/schema.ts'
import { type JudgeState, initialJudgeState, judge } from '../../src/core/judge/judge.ts'
import { JudgeConfig } from '../../src/core/judge/schema.ts'
import { publish, rollout, sluice } from '../support/worker.ts'

const WINDOW_MS = 10_000
const WINDOWS = 6
const WEIGHT = 10
const T0 = Date.UTC(2026, 11, 1, 9, 0)

/** A cookie id that the rollout's salt puts in the canary at WEIGHT. */
function canaryId(salt: string, n: number): string {
  for (let i = n; ; i++) {
    const id = `attack${i.toString(36).padStart(6, '0')}`
    if (bucketOf(salt, id) < toBasisPoints(WEIGHT)) return id
  }
}

async function run(errorUnit: 'client' | 'request') {
  const id = `one-client-${errorUnit}`
  await publish(rollout({ id, weight: WEIGHT }))
  let now = T0
  const metrics = new LocalMetrics(() => now)
  const edge = sluice({ env: { METRICS: metrics as unknown as AnalyticsEngineDataset } })
  const visitors = Array.from({ length: 400 }, (_, i) => ({
    ip: `203.0.${113 + (i >> 8)}.${i & 255}`,
    cookie: `sluice=visitor${String(i).padStart(8, '0')}`,
  }))
  const cfg = z.parse(JudgeConfig, { errorUnit })
  let state: JudgeState = initialJudgeState()
  const verdicts: string[] = []
  let attack = 0
  for (let w = 0; w < WINDOWS; w++) {
    const start = T0 + w * WINDOW_MS
    const sends: Promise<Response>[] = []
    // 100 healthy requests and 5 attacks per simulated second, spread over the window.
    for (let i = 0; i < WINDOW_MS / 10; i++) {
      now = start + i * 10
      const v = visitors[(w * 1000 + i) % visitors.length]!
      sends.push(
        edge.fetch('/echo', { headers: { 'cf-connecting-ip': v.ip, cookie: v.cookie, 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0' } }),
      )
      if (i % 20 === 0) {
        const cookie = `sluice=${canaryId(id, attack)}`
        attack++
        sends.push(edge.fetch('/status/500', { headers: { 'cf-connecting-ip': '198.51.100.7', cookie, 'user-agent': `probe/${attack}` } }))
      }
      // A few at a time: the data point's timestamp is the clock when the edge wrote it.
      if (sends.length >= 20) await Promise.all(sends.splice(0))
    }
    await Promise.all(sends)
    const window = await metrics.window(id, { start, end: start + WINDOW_MS, since: T0 })
    const v = judge(state, window, cfg, { weight: WEIGHT })
    state = v.state
    verdicts.push(v.verdict)
    if (v.verdict === 'rollback') break
  }
  return { verdicts, state }
}

describe('one hostile client', () => {
  it('rolls back a healthy canary when errors are counted per request: the attack is real', async () => {
    const { verdicts } = await run('request')
    expect(verdicts.at(-1)).toBe('rollback')
  }, 120_000)

  it('cannot roll back a healthy canary when errors are counted per client, the default', async () => {
    const { verdicts, state } = await run('client')
    expect(verdicts).toHaveLength(WINDOWS)
    expect(verdicts).not.toContain('rollback')
    // Its hundreds of failing requests count as one failed client, once.
    expect(state.canary.errors).toBeGreaterThanOrEqual(WINDOWS * 50)
    expect(state.units!.canary.errors).toBe(1)
  }, 120_000)
})
