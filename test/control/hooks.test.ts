import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, inject, it } from 'vitest'
import { coordinator } from '../../src/control/client.ts'
import { runController } from '../../src/control/controller.ts'
import { NOTIFY, sendWebhook } from '../../src/control/notify.ts'
import type { RolloutSpecInput } from '../../src/core/config/schema.ts'
import { CONFIG_KEY } from '../../src/edge/config-store.ts'
import healthy from '../fixtures/ae-sql/healthy.json'
import healthyClients from '../fixtures/ae-sql/healthy-clients.json'
import failing from '../fixtures/ae-sql/failing-canary.json'
import failingClients from '../fixtures/ae-sql/failing-canary-clients.json'
import { call, spec } from '../support/admin.ts'

const services = () => `http://127.0.0.1:${inject('servicesPort')}`
const hookUrl = (name: string) => `${services()}/hook/${name}`
const operator = { actor: { kind: 'operator' as const, name: 'alice' } }
const MINUTE = 60_000
const SECRET = 'hook-signing-secret-0123'
const controllerEnv = () => ({ ...env, AE_ACCOUNT_ID: 'acc', AE_API_TOKEN: 'ae-token', AE_SQL_ENDPOINT: `${services()}/sql` }) as ControlEnv
const tick = (now: number) => runController(controllerEnv(), now)
const put = (key: string, answers: unknown[]) => fetch(`${services()}/script/${key}`, { method: 'PUT', body: JSON.stringify(answers) })
const received = async <T>(key: string) => (await (await fetch(`${services()}/received/${key}`)).json()) as T[]

/** Both metrics queries of `rollout` answer this traffic from now on. */
async function traffic(rollout: string, kind: 'healthy' | 'failing') {
  await put(rollout, [{ body: kind === 'healthy' ? healthy : failing }])
  await put(`${rollout}:clients`, [{ body: kind === 'healthy' ? healthyClients : failingClients }])
}

/** What the hook `name` answers next: each in turn, the last one from then on. */
const answers = (name: string, list: { status?: number; raw?: string; delayMs?: number }[]) => put(`hook:${name}`, list)

interface Delivery {
  event: string
  delivery: string
  signature: string | null
  body: string
}

/** Checks a delivery's signature the way a receiver would: the HMAC of "<t>.<body>", and t no older than 5 minutes. */
async function verify(d: Delivery, secret: string) {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(d.signature ?? '')
  expect(m, `signature of ${d.event}`).not.toBeNull()
  const enc = new TextEncoder()
  const key = await crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
  const mac = Uint8Array.from(m![2]!.match(/../g)!, (h) => parseInt(h, 16))
  expect(await crypto.subtle.verify('HMAC', key, mac, enc.encode(`${m![1]}.${d.body}`)), `signature of ${d.event}`).toBe(true)
  expect(Math.abs(Date.now() / 1000 - Number(m![1]))).toBeLessThan(300)
}

const ids: string[] = []

/** A started rollout judged on small numbers, no bake time at its first step, with these hooks. */
async function started(id: string, over: Partial<RolloutSpecInput>) {
  ids.push(id)
  const c = coordinator(env)
  const r = await c.put(
    id,
    spec(id, { schedule: [{ weight: 10, bakeMinutes: 0 }, { weight: 50, bakeMinutes: 5 }, { weight: 100 }], judge: { minRequests: 100 }, ...over }),
    operator,
  )
  expect(r.ok, JSON.stringify(r)).toBe(true)
  await c.command(id, { name: 'start', release: 'v2' }, operator)
  return c
}

/** The newest history entry of `id`. */
const last = async (id: string) => (await coordinator(env).history(id, { limit: 1 })).entries[0]!

/** The weight the edge is sent for `id`. */
async function published(id: string) {
  const doc = JSON.parse((await env.SLUICE_KV.get(CONFIG_KEY))!) as {
    rollouts: { id: string; weight: number; hooks?: unknown[]; notify: { secret?: string } }[]
  }
  return doc.rollouts.find((r) => r.id === id)!
}

async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await what()
  for (let i = 0; i < 200 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 20))
    v = await what()
  }
  return v
}

// Every tick judges every progressing rollout: those of earlier tests must not take part in later ones.
afterEach(async () => {
  for (const id of ids.splice(0)) await coordinator(env).remove(id, operator)
})

describe('gate hooks', () => {
  it('holds at a confirm-step hook that answers 500, saying why, until it answers 200; then advances', async () => {
    const c = await started('cs-hold', { hooks: [{ on: 'confirm-step', url: hookUrl('cs-hold'), secret: SECRET }] })
    await traffic('cs-hold', 'healthy')
    await answers('cs-hold', [{ status: 500, raw: `migration 42 not applied yet${'.'.repeat(300)}` }, { status: 200 }])
    const now = Date.now()
    expect(await tick(now + 3 * MINUTE)).toContainEqual(expect.objectContaining({ rollout: 'cs-hold', decision: 'hold', applied: true }))
    expect(await c.status('cs-hold')).toMatchObject({ phase: 'progressing', weight: 10 })
    const held = await last('cs-hold')
    expect(held).toMatchObject({
      command: 'hold',
      reason: expect.stringMatching(/^held by confirm-step hooks\.0 \(127\.0\.0\.1:\d+\) answered 500: "migration 42 not applied yet/),
    })
    expect(held.reason).toContain('(1 of 5 failures before pause)')
    const [hook] = (held.data as { hooks: { status: number; body: string }[] }).hooks
    expect(hook).toMatchObject({ hook: 'hooks.0', ok: false, status: 500 })
    expect(new TextEncoder().encode(hook!.body).byteLength).toBe(200)
    expect(held.data).toMatchObject({ gate: 'confirm-step', verdict: 'healthy', numbers: { windowCanaryRequests: 10000 } })

    await tick(now + 4 * MINUTE)
    expect(await c.status('cs-hold')).toMatchObject({ phase: 'progressing', weight: 50 })
    expect(await last('cs-hold')).toMatchObject({ command: 'advance', data: { gate: 'confirm-step', hooks: [{ ok: true, status: 200 }] } })

    // What the hook was asked, both times: the rollout, release, phase, the move, the step and the judge's numbers.
    const calls = await received<Delivery>('delivery:cs-hold')
    expect(calls).toHaveLength(2)
    for (const d of calls) {
      await verify(d, SECRET)
      expect(d.event).toBe('confirm-step')
      expect(JSON.parse(d.body)).toMatchObject({
        event: 'confirm-step',
        rollout: 'cs-hold',
        release: 'v2',
        phase: 'progressing',
        from: { weight: 10 },
        to: { weight: 50 },
        step: { index: 0, weight: 10 },
        judge: { windowCanaryRequests: 10000, windowStableErrors: 90 },
      })
    }
    // Each tick asks anew: a new delivery.
    expect(new Set(calls.map((d) => d.delivery)).size).toBe(2)
  })

  it('keeps the edge at weight 0 when a release waiting for its pre-rollout hooks is paused, or given a weight', async () => {
    const c = await started('pre-paused', { hooks: [{ on: 'pre-rollout', url: hookUrl('pre-paused'), timeoutMs: 1000 }] })
    expect(await published('pre-paused')).toMatchObject({ weight: 0 })
    await c.command('pre-paused', { name: 'pause' }, operator)
    expect(await c.status('pre-paused')).toMatchObject({ phase: 'paused', weight: 10 })
    expect(await published('pre-paused')).toMatchObject({ weight: 0 })
    await c.command('pre-paused', { name: 'weight', weight: 60 }, operator)
    expect(await published('pre-paused')).toMatchObject({ weight: 0 })
    // Resumed past the first step, the release has still not had its go: the edge stays at 0 until the hooks say so.
    await c.command('pre-paused', { name: 'resume' }, operator)
    expect(await c.status('pre-paused')).toMatchObject({ phase: 'progressing', weight: 60, step: { index: 1 } })
    expect(await published('pre-paused')).toMatchObject({ weight: 0 })
  })

  it("gates a release's first traffic on its pre-rollout hooks: weight 0 at the edge and no metrics read until they say go", async () => {
    const c = await started('pre', { hooks: [{ on: 'pre-rollout', url: hookUrl('pre'), timeoutMs: 1000 }] })
    await traffic('pre', 'healthy')
    await answers('pre', [{ status: 503, raw: 'smoke tests running' }, { status: 204 }])
    expect(await published('pre')).toMatchObject({ weight: 0 })
    const now = Date.now()
    await tick(now + MINUTE)
    expect(await last('pre')).toMatchObject({ command: 'hold', reason: expect.stringContaining('pre-rollout hooks.0') })
    expect((await last('pre')).reason).toContain('answered 503: "smoke tests running" (1 of 5 failures before rollback)')
    expect(await published('pre')).toMatchObject({ weight: 0 })
    expect(await received('sql:pre')).toEqual([])

    await tick(now + 2 * MINUTE)
    expect(await last('pre')).toMatchObject({
      command: 'hold',
      reason: 'pre-rollout hooks said go: the canary gets 10 % from now',
      data: { hooks: [{ status: 204 }] },
    })
    expect(await published('pre')).toMatchObject({ weight: 10 })
    const [first] = await received<Delivery>('delivery:pre')
    expect(first!.signature).toBeNull()
    expect(JSON.parse(first!.body)).toMatchObject({
      event: 'pre-rollout',
      from: { weight: 0 },
      to: { weight: 10 },
      step: { index: 0, weight: 10 },
      judge: null,
    })

    // Judged from the go on, and never asked again.
    await tick(now + 5 * MINUTE)
    expect(await c.status('pre')).toMatchObject({ phase: 'progressing', weight: 50 })
    expect(await received('delivery:pre')).toHaveLength(2)
  })

  it('gates the promotion on confirm-promotion, then tells post-rollout hooks, signed', async () => {
    const c = await started('promo', {
      schedule: [{ weight: 10, bakeMinutes: 0 }, { weight: 100 }],
      hooks: [
        { on: 'confirm-promotion', url: hookUrl('promo') },
        { on: 'post-rollout', url: hookUrl('promo-done'), secret: SECRET },
      ],
    })
    await traffic('promo', 'healthy')
    await answers('promo', [{ status: 409 }, { status: 200 }])
    const now = Date.now()
    await tick(now + 3 * MINUTE)
    expect(await c.status('promo')).toMatchObject({ phase: 'progressing', weight: 10 })
    expect((await last('promo')).reason).toContain('confirm-promotion hooks.0')
    await tick(now + 4 * MINUTE)
    expect(await c.status('promo')).toMatchObject({ phase: 'promoted', weight: 100 })
    const [done] = await until(
      () => received<Delivery>('delivery:promo-done'),
      (d) => d.length > 0,
    )
    await verify(done!, SECRET)
    expect(JSON.parse(done!.body)).toMatchObject({
      event: 'post-rollout',
      rollout: 'promo',
      from: { weight: 10 },
      to: { weight: 100 },
      judge: { windowCanaryRequests: 10000 },
    })
    expect(JSON.parse((await received<Delivery>('delivery:promo'))[0]!.body)).toMatchObject({ event: 'confirm-promotion', to: { weight: 100 } })
  })

  it('pauses after hookFailuresBeforePause failures in a row, and notifies', async () => {
    const c = await started('cs-pause', {
      hookFailuresBeforePause: 2,
      hooks: [{ on: 'confirm-step', url: hookUrl('cs-pause') }],
      notify: { webhook: hookUrl('cs-pause-notify'), secret: SECRET },
    })
    await traffic('cs-pause', 'healthy')
    await answers('cs-pause', [{ status: 502 }])
    const now = Date.now()
    await tick(now + 3 * MINUTE)
    expect(await c.status('cs-pause')).toMatchObject({ phase: 'progressing' })
    await tick(now + 4 * MINUTE)
    expect(await c.status('cs-pause')).toMatchObject({ phase: 'paused', weight: 10 })
    expect(await last('cs-pause')).toMatchObject({ command: 'pause', reason: expect.stringContaining('2 gate failures in a row, traffic stays at 10 %') })
    const notes = await until(
      () => received<Delivery>('delivery:cs-pause-notify'),
      (d) => d.length >= 2,
    )
    expect(notes.map((d) => d.event)).toEqual(['start', 'pause'])
    for (const d of notes) await verify(d, SECRET)
    expect(JSON.parse(notes[1]!.body).text).toContain('cs-pause: paused at 10 %')
  })

  it('rolls back a release whose pre-rollout hook keeps failing: it never had traffic, and a pause would give it some', async () => {
    const c = await started('pre-fail', {
      hookFailuresBeforePause: 1,
      hooks: [
        { on: 'pre-rollout', url: hookUrl('pre-fail') },
        { on: 'rollback', url: hookUrl('pre-fail-rb') },
      ],
    })
    await answers('pre-fail', [{ status: 500 }])
    await tick(Date.now() + MINUTE)
    expect(await c.status('pre-fail')).toMatchObject({ phase: 'rolled-back', weight: 0 })
    expect((await last('pre-fail')).reason).toContain('the canary never had traffic')
    const [rb] = await until(
      () => received<Delivery>('delivery:pre-fail-rb'),
      (d) => d.length > 0,
    )
    expect(JSON.parse(rb!.body)).toMatchObject({ event: 'rollback', rollout: 'pre-fail', phase: 'progressing' })
  })

  it("applies another rollout's rollback while one rollout's hook hangs, in the same tick", async () => {
    // Listed first, so a controller working rollout by rollout would reach the failing one only after the timeout.
    const slow = await started('a-hangs', { hooks: [{ on: 'confirm-step', url: hookUrl('a-hangs'), timeoutMs: 2000 }] })
    await started('b-fails', {})
    await traffic('a-hangs', 'healthy')
    await traffic('b-fails', 'failing')
    await answers('a-hangs', [{ delayMs: 60_000, status: 200 }])
    let done = false
    const ticking = tick(Date.now() + 3 * MINUTE).finally(() => (done = true))
    const b = await until(
      () => slow.status('b-fails'),
      (s) => s?.phase === 'rolled-back' || done,
    )
    expect(b).toMatchObject({ phase: 'rolled-back', weight: 0 })
    // Still waiting for its hook: the rollback did not wait for it.
    expect(done).toBe(false)
    expect(await last('a-hangs')).toMatchObject({ command: 'start' })
    const reports = await ticking
    expect(reports.find((r) => r.rollout === 'a-hangs')).toMatchObject({
      decision: 'hold',
      applied: true,
      reason: expect.stringContaining('no answer within 2000 ms'),
    })
    expect(await slow.status('a-hangs')).toMatchObject({ phase: 'progressing', weight: 10 })
  })
})

describe('signed notifications', () => {
  it('keeps the delivery id across retries, and signs every attempt', async () => {
    await answers('retried', [{ status: 503 }, { status: 500 }, { status: 200 }])
    expect(await sendWebhook({ url: hookUrl('retried'), secret: SECRET }, 'advance', { text: 'hi' }, { baseDelayMs: 10 })).toBe(true)
    const attempts = await received<Delivery>('delivery:retried')
    expect(attempts).toHaveLength(3)
    expect(new Set(attempts.map((d) => d.delivery)).size).toBe(1)
    expect(attempts[0]!.delivery).toMatch(/^[0-9a-f-]{36}$/)
    for (const d of attempts) {
      expect(d).toMatchObject({ event: 'advance', body: '{"text":"hi"}' })
      await verify(d, SECRET)
    }
  })
})

describe('hooks in the admin API', () => {
  const hook = { on: 'confirm-step', url: 'https://ci.example.com/gate', secret: SECRET }
  const cases: [string, Record<string, unknown>, string][] = [
    ['a non-http hook URL', { ...hook, url: 'ftp://ci.example.com/gate' }, 'hooks.0.url'],
    ['a hook URL with credentials', { ...hook, url: 'https://ci:pw@ci.example.com/gate' }, 'hooks.0.url'],
    ['a secret under 16 bytes', { ...hook, secret: 'short' }, 'hooks.0.secret'],
    ['an unknown event', { ...hook, on: 'post-promotion' }, 'hooks.0.on'],
    ['a timeout over 30 s', { ...hook, timeoutMs: 60_000 }, 'hooks.0.timeoutMs'],
    ['an unknown hook field', { ...hook, retries: 3 }, 'hooks.0.retries'],
  ]
  for (const [what, bad, field] of cases) {
    it(`refuses ${what}, naming ${field}`, async () => {
      const res = await call('/rollouts/bad-hook', { method: 'PUT', body: spec('bad-hook', { hooks: [bad as never] }) })
      expect(res.status).toBe(400)
      expect(((await res.json()) as { errors: { field: string }[] }).errors.map((e) => e.field)).toContain(field)
    })
  }

  it('refuses more than 16 hooks', async () => {
    const res = await call('/rollouts/many-hooks', { method: 'PUT', body: spec('many-hooks', { hooks: Array.from({ length: 17 }, () => hook as never) }) })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { errors: { field: string }[] }).errors.map((e) => e.field)).toContain('hooks')
  })

  it('shows "set" for hook and notify secrets, keeps them on a PUT of "set", and publishes neither hooks nor notify settings to the edge', async () => {
    ids.push('secret-hooks')
    const body = spec('secret-hooks', {
      hooks: [{ on: 'pre-rollout', url: 'https://ci.example.com/a' }, hook as never],
      notify: { webhook: 'https://chat.example.com/x', secret: SECRET },
    })
    type Shown = { spec: { hooks: { secret?: string }[]; notify: { secret?: string } } }
    const created = (await (await call('/rollouts/secret-hooks', { method: 'PUT', body })).json()) as Shown
    expect(created.spec.hooks.map((h) => h.secret)).toEqual([undefined, 'set'])
    expect(created.spec.notify.secret).toBe('set')
    const read = (await (await call('/rollouts/secret-hooks')).json()) as Shown
    expect(read.spec).toMatchObject({ hooks: [{ url: 'https://ci.example.com/a' }, { secret: 'set', timeoutMs: 5000 }], notify: { secret: 'set' } })

    const kept = await call('/rollouts/secret-hooks', {
      method: 'PUT',
      body: { ...body, hooks: [body.hooks![0], { ...hook, secret: 'set' }], notify: { ...body.notify, secret: 'set' } },
    })
    expect(kept.status).toBe(200)
    const stored = (await coordinator(env).status('secret-hooks'))!.spec
    expect(stored.hooks[1]!.secret).toBe(SECRET)
    expect(stored.notify.secret).toBe(SECRET)

    // The edge gets only what it serves by (EdgeRollout): no hooks, no notify settings, no schedule or judge.
    const edge = await published('secret-hooks')
    expect(Object.keys(edge)).not.toContain('hooks')
    expect(Object.keys(edge)).not.toContain('notify')
    expect(JSON.stringify(edge)).not.toContain(SECRET)

    const none = await call('/rollouts/secret-hooks', { method: 'PUT', body: { ...body, hooks: [{ ...hook, secret: 'set' }] } })
    expect(none.status).toBe(400)
    expect(((await none.json()) as { errors: { field: string }[] }).errors).toEqual([
      { field: 'hooks.0.secret', message: expect.stringContaining('none is set') },
    ])
  })
})

describe('notification text', () => {
  it('escapes what a reason quotes from visitors’ browsers, so it cannot mention a channel or disguise a link', () => {
    const text = NOTIFY.rollback!('web', { weight: 0 }, 'new in canary: Error: <!channel> see <https://evil.example|docs> & more')
    expect(text).toBe(':rotating_light: web: rolled back to stable: new in canary: Error: &lt;!channel&gt; see &lt;https://evil.example|docs&gt; &amp; more')
  })
})
