import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { coordinator } from '../../src/control/client.ts'
import type { RolloutStatus } from '../../src/contract/index.ts'
import { CONFIG_KEY } from '../../src/contract/index.ts'
import { parseConfig } from '../../src/core/config/published.ts'
import { initialJudgeState } from '../../src/core/judge/judge.ts'
import { call, create, spec } from '../support/admin.ts'

type Problem = { status: number; errors?: { field: string; message: string }[] }
const operator = { actor: { kind: 'operator' as const, name: 'alice' } }
const MIN = 60_000
const STABLE = 'https://blue.origin.example.com'
const CANARY = 'https://green.origin.example.com:8443'

const status = async (id: string) => (await call(`/rollouts/${id}`)).json() as Promise<RolloutStatus>
const history = async (id: string) =>
  (await call(`/rollouts/${id}/history`)).json() as Promise<{ entries: { command: string; data?: Record<string, unknown> }[] }>
const published = async (id: string) => {
  const doc = parseConfig((await env.SLUICE_KV.get(CONFIG_KEY))!)
  if (!doc.ok) throw new Error(doc.error)
  return doc.config.rollouts.find((r) => r.id === id)
}

describe('start with its own origins', () => {
  it('sets the release and both origins in one write: one revision, one history entry, one published document', async () => {
    const before = await create('own-origins')
    const res = await call('/rollouts/own-origins/start', { body: { release: 'v2', canary: CANARY, stable: STABLE, reason: 'blue/green' } })
    expect(res.status).toBe(200)
    const started = (await res.json()) as RolloutStatus
    expect(started).toMatchObject({ phase: 'progressing', release: 'v2', revision: before.revision + 1, spec: { stable: STABLE, canary: CANARY } })
    // No series yet: nothing to warn about.
    expect(started.warnings).toBeUndefined()

    const { entries } = await history('own-origins')
    expect(entries.map((e) => e.command)).toEqual(['start', 'create'])
    expect(entries[0]!.data).toEqual({ release: 'v2', stable: STABLE, canary: CANARY })
    expect(await published('own-origins')).toMatchObject({ release: 'v2', weight: 10, stable: STABLE, canary: CANARY })
  })

  it('keeps the origins it is not given, and records them with the start', async () => {
    const before = await create('one-origin')
    await call('/rollouts/one-origin/start', { body: { release: 'v3', canary: CANARY } })
    expect((await status('one-origin')).spec).toMatchObject({ stable: before.spec.stable, canary: CANARY })
    expect((await history('one-origin')).entries[0]!.data).toEqual({ release: 'v3', stable: before.spec.stable, canary: CANARY })
  })

  for (const [field, body] of [
    ['canary', { release: 'v2', canary: 'ftp://files.example.com' }],
    ['stable', { release: 'v2', stable: 'https://blue.example.com/app' }],
  ] as const) {
    it(`refuses an invalid ${field} with a 400 naming it, and changes nothing`, async () => {
      const id = `bad-${field}`
      await create(id)
      const [statusBefore, historyBefore, kvBefore] = [await status(id), await history(id), await env.SLUICE_KV.get(CONFIG_KEY)]
      const res = await call(`/rollouts/${id}/start`, { body })
      expect(res.status).toBe(400)
      const { errors } = (await res.json()) as Problem
      expect(new Set(errors!.map((e) => e.field))).toEqual(new Set([field]))
      // Checked like the config's origins, not refused as a field the body does not have.
      expect(errors).toContainEqual({ field, message: expect.stringContaining('must be an http(s) origin') })
      expect(await status(id)).toEqual(statusBefore)
      expect(await history(id)).toEqual(historyBefore)
      expect(await env.SLUICE_KV.get(CONFIG_KEY)).toBe(kvBefore)
    })
  }

  it('runs the edge’s check on the document with the new origins (a caller other than the API gets a 409, nothing changed)', async () => {
    const c = coordinator(env)
    await c.put('edge-checked', spec('edge-checked'), operator)
    const before = await c.status('edge-checked')
    const r = await c.command('edge-checked', { name: 'start', release: 'v2', canary: 'https://canary.example.com/with/a/path' }, operator)
    expect(r).toMatchObject({ ok: false, problem: { status: 409, errors: [{ field: 'edge-checked', message: expect.stringContaining('canary') }] } })
    expect(await c.status('edge-checked')).toEqual(before)
  })
})

/** A progressing rollout on the default schedule, with `windows` one-minute holds of `perMinute` requests judged through the coordinator. */
async function judged(id: string, windows: number, perMinute: { stable: number; canary: number }) {
  const c = coordinator(env)
  await c.put(id, spec(id, { schedule: undefined }), operator)
  await c.command(id, { name: 'start', release: 'v1' }, operator)
  const { state } = (await c.progressing()).find((r) => r.spec.id === id)!
  const startedAt = state.stepStartedAt!
  let windowEnd = state.windowEnd
  let canary = 0
  let stable = 0
  for (let i = 1; i <= windows; i++) {
    const end = startedAt + i * MIN
    canary += perMinute.canary
    stable += perMinute.stable
    const judge = { ...initialJudgeState(), canary: { requests: canary, errors: 0 }, stable: { requests: stable, errors: 0 } }
    const evidence = { judge, step: 0, stepCanaryRequests: canary, lastDataAt: end, since: startedAt }
    const point = {
      at: end,
      weight: 2,
      stable: { requests: perMinute.stable, errors: 0, p95: null },
      canary: { requests: perMinute.canary, errors: 0, p95: null },
    }
    const r = await c.decide(id, { kind: 'hold', reason: 'not enough data' }, { revision: state.revision, windowEnd }, { evidence, windowEnd: end }, point)
    expect(r).toMatchObject({ value: { applied: true } })
    windowEnd = end
  }
  return { c, startedAt }
}

describe('the ETA in the status', () => {
  it('is unknown until a window is judged, then estimated from the canary traffic of the step', async () => {
    await create('eta-new', { schedule: undefined })
    await call('/rollouts/eta-new/start', { body: { release: 'v2' } })
    expect((await status('eta-new')).eta).toEqual({
      stepDoneAt: null,
      rolloutDoneAt: null,
      canaryRequestsPerMinute: null,
      needs: { requestsPerMinute: 6250, step: 0, field: 'judge.minRequests' },
      basis: expect.stringContaining('no canary traffic judged at 2 % yet'),
    })

    // 2.5 requests/s: 3 canary requests a minute at 2 %, over 10 judged minutes.
    const { startedAt } = await judged('eta-judged', 10, { stable: 147, canary: 3 })
    const { eta } = await status('eta-judged')
    expect(eta).toMatchObject({ canaryRequestsPerMinute: 3, needs: { requestsPerMinute: 6250 } })
    expect(eta!.basis).toContain('this step waits for judge.minRequests (470 more canary requests)')
    // 470 more canary requests at 3/min after the 10 judged minutes, then the 1-minute lag: 167m 40s. Then at 150/min
    // in total: 5 % needs 200 (26.7 min + 1), 10 % 500 (33.3 + 1), 25 % 1000 (26.7 + 1), 50 % 1000 (13.3 + 1).
    const second = (minutes: number) => Math.round((startedAt + minutes * MIN) / 1000) * 1000
    expect(Date.parse(eta!.stepDoneAt!)).toBe(second(167 + 2 / 3))
    expect(Date.parse(eta!.rolloutDoneAt!)).toBe(second(271 + 2 / 3))
  })

  it('is null when no release is moving', async () => {
    await create('eta-idle')
    expect((await status('eta-idle')).eta).toBeNull()
  })
})

describe('the low-traffic warning at start', () => {
  it('starts a release that the recent traffic would hold back for more than a day, and says so in the answer and the history', async () => {
    // 12 requests a minute (0.2/s) for the last hour of the previous release.
    const { c } = await judged('thin', 60, { stable: 11, canary: 1 })
    await c.command('thin', { name: 'rollback' }, operator)
    const res = await call('/rollouts/thin/start', { body: { release: 'v2' } })
    expect(res.status).toBe(200)
    const started = (await res.json()) as RolloutStatus
    expect(started).toMatchObject({ phase: 'progressing', release: 'v2' })
    expect(started.warnings).toEqual([
      expect.stringMatching(/^at the 0\.2 requests\/s seen in the last hour of judged windows, this release would take about 2d 7h to reach 100 %/),
    ])
    expect(started.warnings![0]).toContain('step 1 (2 %) waits 1d 10h for judge.minRequests (500 canary requests at 0.24/min)')
    expect(started.warnings![0]).toContain('the schedule keeps to its bake times from 104 requests/s in total')
    const [entry] = (await history('thin')).entries
    expect(entry).toMatchObject({ command: 'start', data: { release: 'v2', warnings: started.warnings } })
    // A warning, not part of the status.
    expect((await status('thin')).warnings).toBeUndefined()
  })

  it('says nothing when the recent traffic finishes the schedule within a day', async () => {
    const { c } = await judged('busy', 60, { stable: 147, canary: 3 })
    await c.command('busy', { name: 'rollback' }, operator)
    const started = (await (await call('/rollouts/busy/start', { body: { release: 'v2' } })).json()) as RolloutStatus
    expect(started.warnings).toBeUndefined()
    expect((await history('busy')).entries[0]!.data).not.toHaveProperty('warnings')
  })
})
