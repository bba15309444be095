/**
 * @module
 * Audience rings in the control worker: ring steps publish ring weights, the
 * schema refuses bad audiences and ring steps naming the field, and the
 * controller judges each ring on its own (a regression in one ring rolls the
 * release back, naming the ring), reading per-ring windows from the SQL API.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, inject, it } from 'vitest'
import { coordinator } from '../../src/control/client.ts'
import { runController } from '../../src/control/controller.ts'
import { CONFIG_KEY } from '../../src/contract/index.ts'
import { parseConfig } from '../../src/core/config/published.ts'
import { call, spec } from '../support/admin.ts'

const services = () => `http://127.0.0.1:${inject('servicesPort')}`
const operator = { actor: { kind: 'operator' as const, name: 'alice' } }
const MINUTE = 60_000
const controllerEnv = () => ({ ...env, AE_ACCOUNT_ID: 'acc', AE_API_TOKEN: 'ae-token', AE_SQL_ENDPOINT: `${services()}/sql` }) as ControlEnv

const audiences = { staff: { header: { name: 'x-staff', values: ['1'] } }, nz: { country: ['NZ'] } }
const ringSchedule = [
  { audience: 'staff', weight: 100, bakeMinutes: 0 },
  { audience: 'nz', weight: 25, bakeMinutes: 0 },
  { weight: 5, bakeMinutes: 0 },
  { weight: 100 },
]

async function published(id: string) {
  const parsed = parseConfig((await env.SLUICE_KV.get(CONFIG_KEY))!)
  if (!parsed.ok) throw new Error(parsed.error)
  return parsed.config.rollouts.find((r) => r.id === id)!
}

async function script(key: string, body: unknown) {
  await fetch(`${services()}/script/${key}`, { method: 'PUT', body: JSON.stringify([{ body }]) })
}

/** AE answers (FORMAT JSON) from per-cohort counts; each request its own first-time client. */
const answers = (rows: { ring?: string; cohort: string; requests: number; errors: number }[]) => ({
  requests: {
    data: rows.map((r) => ({
      ...(r.ring === undefined ? {} : { ring: r.ring }),
      cohort: r.cohort,
      requests: r.requests,
      errors: r.errors,
      p50: 40,
      p95: 100,
      p99: 150,
    })),
  },
  clients: {
    data: rows.map((r) => ({
      ...(r.ring === undefined ? {} : { ring: r.ring }),
      cohort: r.cohort,
      seen: r.requests,
      failing: r.errors,
      fresh: r.requests,
      first_failures: r.errors,
      failing_4xx: 0,
      fresh_4xx: r.requests,
      first_failures_4xx: 0,
      capped_requests: r.requests,
    })),
  },
})

describe('audience rings in the control plane', () => {
  it('publishes ring weights as the rollout steps through its rings, and ends them on rollback', async () => {
    const c = coordinator(env)
    await c.put('rings-steps', spec('rings-steps', { audiences, schedule: ringSchedule }), operator)
    await c.command('rings-steps', { name: 'start', release: 'v2' }, operator)
    expect(await c.status('rings-steps')).toMatchObject({ weight: 0, rings: { staff: 100 }, step: { index: 0, audience: 'staff' } })
    expect(await published('rings-steps')).toMatchObject({ weight: 0, rings: { staff: 100 } })
    const s = (await c.progressing()).find((r) => r.spec.id === 'rings-steps')!.state
    await c.decide(
      'rings-steps',
      { kind: 'advance', reason: 'healthy' },
      { revision: s.revision, windowEnd: s.windowEnd },
      { evidence: s.evidence, windowEnd: Date.now() },
    )
    expect(await published('rings-steps')).toMatchObject({ weight: 0, rings: { staff: 100, nz: 25 } })
    await c.command('rings-steps', { name: 'rollback' }, operator)
    expect(await published('rings-steps')).toMatchObject({ weight: 0, rings: {} })
  })

  it('refuses a ring step naming an undefined audience, an invalid audience, and a ring below everyone, naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ schedule: [{ audience: 'staff', weight: 100 }, { weight: 100 }] }, 'schedule.0.audience'],
      [{ audiences: { nz: { country: ['NZL'] } } }, 'audiences.nz.country.0'],
      [{ audiences: { office: { ip: ['10.0.0.0/33'] } } }, 'audiences.office.ip.0'],
      [{ audiences, schedule: [{ weight: 10 }, { audience: 'nz', weight: 5 }, { weight: 100 }] }, 'schedule.1.weight'],
    ]
    for (const [over, field] of cases) {
      const res = await call('/rollouts/rings-bad', { method: 'PUT', body: spec('rings-bad', over as object) })
      expect(res.status, field).toBe(400)
      const body = (await res.json()) as { errors: { field: string }[] }
      expect(
        body.errors.map((e) => e.field),
        field,
      ).toContain(field)
    }
  })

  it('rolls back a regression in a ring, naming the ring, from the per-ring windows of the SQL API', async () => {
    const c = coordinator(env)
    const id = 'rings-judged'
    await c.put(id, spec(id, { audiences, schedule: [{ audience: 'nz', weight: 25, bakeMinutes: 5 }, { weight: 100 }], judge: { minRequests: 100 } }), operator)
    await c.command(id, { name: 'start', release: 'v2' }, operator)
    // The canary errs at 3.3 % in New Zealand, against stable's 1 % there and everywhere.
    const global = answers([
      { cohort: 'stable', requests: 20_000, errors: 200 },
      { cohort: 'canary', requests: 1_500, errors: 50 },
    ])
    const rings = answers([
      { ring: 'nz', cohort: 'stable', requests: 4_500, errors: 45 },
      { ring: 'nz', cohort: 'canary', requests: 1_500, errors: 50 },
      { ring: '', cohort: 'stable', requests: 15_500, errors: 155 },
    ])
    await script(id, global.requests)
    await script(`${id}:clients`, global.clients)
    await script(`${id}:rings`, rings.requests)
    await script(`${id}:rings:clients`, rings.clients)
    await runController(controllerEnv(), Date.now() + 3 * MINUTE)
    expect(await c.status(id)).toMatchObject({ phase: 'rolled-back', weight: 0, rings: {} })
    const [entry] = (await c.history(id, { limit: 1 })).entries
    expect(entry).toMatchObject({ command: 'rollback', actor: { kind: 'controller' } })
    // During New Zealand's ring only its visitors have the canary, so the global comparison sees it too; the ring's
    // own verdict is in the reason and in the numbers.
    expect(entry!.reason).toMatch(/ring nz \(25 %\): canary errors are disproportionate/)
    expect((entry!.data as { rings: Record<string, { verdict: string }> }).rings.nz!.verdict).toBe('rollback')
  })
})
