import { env } from 'cloudflare:workers'
import { createExecutionContext } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import example from '../../config/example.rollout.json'
import { CONFIG_KEY } from '../../src/edge/config-store.ts'
import { createControlApp } from '../../src/workers/control.ts'
import type { ShadowReport } from '../../src/core/shadow/report.ts'
import { EVIL_VALUE } from '../dashboard/diff-data.ts'
import { SHADOW_ROUTE, shadowRollout } from '../dashboard/shadow-seed.ts'
import { call, create, spec } from '../support/admin.ts'
import { READ_TOKEN } from '../support/tokens.ts'
import { sluice } from '../support/worker.ts'

type Status = {
  id: string
  phase: string
  weight: number
  revision: number
  release: string | null
  spec: { stable: string; canary: string }
  step: { index: number } | null
}
type Problem = { type: string; title: string; status: number; detail: string; errors?: { field: string; message: string }[] }

const json = <T>(res: Response) => res.json() as Promise<T>

async function problemOf(res: Response, status: number): Promise<Problem> {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  const p = await json<Problem>(res)
  expect(p).toMatchObject({ type: 'about:blank', status })
  return p
}

describe('authentication', () => {
  it('refuses a request without credentials, or with a wrong token (401)', async () => {
    const missing = await problemOf(await call('/rollouts', { token: null }), 401)
    expect(missing.detail).toMatch(/Bearer/)
    await problemOf(await call('/rollouts', { token: 'not-the-token-000000' }), 401)
    await problemOf(await call('/rollouts', { headers: { authorization: 'Basic abc' }, token: null }), 400)
  })

  it('lets a read-only token read but not write (403)', async () => {
    expect((await call('/rollouts', { token: READ_TOKEN })).status).toBe(200)
    const p = await problemOf(await call('/rollouts/ro-test', { method: 'PUT', body: spec('ro-test'), token: READ_TOKEN }), 403)
    expect(p.detail).toContain('viewer')
  })

  it('fails closed, and says why, when no credentials are configured', async () => {
    const app = createControlApp()
    const bare = {
      ...env,
      SLUICE_ADMIN_TOKEN: undefined,
      SLUICE_TOKENS: undefined,
      ACCESS_TEAM_DOMAIN: undefined,
      ACCESS_AUD: undefined,
    } as unknown as ControlEnv
    const res = await app.fetch(
      new Request('https://x.example/__sluice/api/rollouts', { headers: { authorization: 'Bearer anything-at-all-123' } }),
      bare,
      createExecutionContext(),
    )
    const p = await problemOf(res, 503)
    expect(p.detail).toContain('SLUICE_ADMIN_TOKEN')
  })

  it('serves the OpenAPI document generated from the schemas', async () => {
    const res = await call('/openapi.json', { token: null })
    const doc = await json<{
      openapi: string
      paths: Record<string, unknown>
      components: { schemas: Record<string, { properties?: Record<string, unknown> }> }
    }>(res)
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/rollouts', '/rollouts/{id}', '/rollouts/{id}/history', '/rollouts/{id}/diff', '/rollouts/{id}/start', '/rollouts/{id}/weight']),
    )
    expect(Object.keys(doc.components.schemas.PutRolloutBody!.properties!)).toEqual(
      expect.arrayContaining(['stable', 'canary', 'schedule', 'cookie', 'failover']),
    )
  })
})

describe('bad input gets a 4xx problem naming the field', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['a non-http origin', { canary: 'ftp://files.example.com' }, 'canary'],
    ['an origin with a path', { stable: 'https://a.example.com/app' }, 'stable'],
    ['a wrong type', { failover: { enabled: 'yes' } }, 'failover.enabled'],
    ['a schedule whose weights do not rise', { schedule: [{ weight: 10 }, { weight: 5 }, { weight: 100 }] }, 'schedule'],
    ['a schedule weight finer than 0.01', { schedule: [{ weight: 1.005 }, { weight: 100 }] }, 'schedule.0.weight'],
    ['a schedule not ending at 100', { schedule: [{ weight: 10 }, { weight: 50 }] }, 'schedule'],
    ['an unknown field (a typo)', { cokie: { name: 'x' } }, 'cokie'],
    ['an unknown nested field', { judge: { maxCanaryErorRate: 0.001 } }, 'judge.maxCanaryErorRate'],
    ['an unknown field two levels down', { judge: { latency: { maxRatoi: 2 } } }, 'judge.latency.maxRatoi'],
    ['an unknown field in a schedule step', { schedule: [{ weight: 10 }, { weight: 100, wieght: 5 }] }, 'schedule.1.wieght'],
    ['an unknown cookie field', { cookie: { nmae: 'x' } }, 'cookie.nmae'],
    ['a cookie path that would break Set-Cookie', { cookie: { path: '/;x' } }, 'cookie.path'],
    ['SameSite=None without Secure (browsers drop it)', { cookie: { sameSite: 'None' } }, 'cookie.secure'],
  ]
  for (const [what, over, field] of cases) {
    it(`rejects ${what}`, async () => {
      const p = await problemOf(await call('/rollouts/bad-input', { method: 'PUT', body: { ...spec('bad-input'), ...over } }), 400)
      expect(p.errors!.map((e) => e.field)).toContain(field)
    })
  }

  it('names every unknown field at once, next to the other errors, rather than storing the defaults', async () => {
    const typos = { judge: { maxCanaryErorRate: 0.001, latency: { maxRatoi: 2 } }, cookie: { nmae: 'x' }, failover: { enabled: 'yes' } }
    const p = await problemOf(await call('/rollouts/typos', { method: 'PUT', body: { ...spec('typos'), ...typos } }), 400)
    expect(p.errors).toEqual(
      expect.arrayContaining([
        { field: 'judge.maxCanaryErorRate', message: 'unknown field' },
        { field: 'judge.latency.maxRatoi', message: 'unknown field' },
        { field: 'cookie.nmae', message: 'unknown field' },
        expect.objectContaining({ field: 'failover.enabled' }),
      ]),
    )
    await problemOf(await call('/rollouts/typos'), 404)
  })

  it('refuses unknown fields in command bodies', async () => {
    await create('cmd-typos')
    for (const [cmd, body, field] of [
      ['start', { release: 'v2', reson: 'x' }, 'reson'],
      ['weight', { weight: 5, wieght: 6 }, 'wieght'],
      ['pause', { reason: 'x', by: 'me' }, 'by'],
    ] as const) {
      const p = await problemOf(await call(`/rollouts/cmd-typos/${cmd}`, { body }), 400)
      expect(p.errors).toEqual([{ field, message: 'unknown field' }])
    }
    expect((await json<Status>(await call('/rollouts/cmd-typos'))).phase).toBe('idle')
  })

  it("accepts every valid field: the example config, and a status's spec with all its defaults put back", async () => {
    // The example's `//` keys are comments for `sluice apply`, which drops them; its $schema is allowed.
    const file = Object.fromEntries(Object.entries(example).filter(([k]) => !k.startsWith('//')))
    const res = await call('/rollouts/web', {
      method: 'PUT',
      body: { ...file, salt: 'pepper', overrides: { ...example.overrides, secret: 'a-secret-of-16-chars' } },
    })
    expect(res.status, await res.clone().text()).toBe(201)
    const created = await json<Status & { spec: Record<string, unknown> }>(res)
    const full = {
      ...created.spec,
      overrides: { ...(created.spec.overrides as object), secret: 'a-secret-of-16-chars' },
      notify: { webhook: 'https://hooks.example.com/x' },
    }
    const again = await call('/rollouts/web', { method: 'PUT', body: full })
    expect(again.status, await again.clone().text()).toBe(200)
    expect((await json<Status>(again)).spec).toEqual({ ...full, overrides: { ...full.overrides, secret: 'set' } })
  })

  it('rejects weights outside 0-100 or finer than 0.01, and wrong types, saying why', async () => {
    await create('weights')
    const why: Record<string, RegExp> = { '150': /<=\s?100/, '-1': />=\s?0/, '12.345': /0\.01/, '"12"': /expected number/ }
    for (const weight of [150, -1, 12.345, '12']) {
      const p = await problemOf(await call('/rollouts/weights/weight', { body: { weight } }), 400)
      expect(p.errors).toEqual([expect.objectContaining({ field: 'weight', message: expect.stringMatching(why[JSON.stringify(weight)]!) })])
    }
    expect((await call('/rollouts/weights/weight', { body: { weight: 12.34 } })).status).toBe(200)
  })

  it('rejects a body id that differs from the URL, a bad id, malformed JSON, the wrong media type and oversized bodies', async () => {
    expect((await problemOf(await call('/rollouts/one', { method: 'PUT', body: spec('two') }), 400)).errors![0]!.field).toBe('id')
    expect((await problemOf(await call('/rollouts/Not_Valid', { method: 'PUT', body: spec('x') }), 400)).errors![0]!.field).toBe('path.id')
    await problemOf(await call('/rollouts/json-x', { method: 'PUT', body: '{"id":' }), 400)
    await problemOf(await call('/rollouts/json-x', { method: 'PUT', body: 'id=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415)
    await problemOf(await call('/rollouts/json-x', { method: 'PUT', body: { ...spec('json-x'), padding: 'x'.repeat(70_000) } }), 413)
  })

  it('answers 404 for unknown rollouts and commands, and 400 for a bad If-Match', async () => {
    await problemOf(await call('/rollouts/nope'), 404)
    await problemOf(await call('/rollouts/nope/pause', { method: 'POST' }), 404)
    await problemOf(await call('/rollouts/nope/history'), 404)
    await create('cmds')
    await problemOf(await call('/rollouts/cmds/explode', { method: 'POST' }), 404)
    await problemOf(await call('/rollouts/cmds/pause', { method: 'POST', headers: { 'if-match': 'yesterday' } }), 400)
    await problemOf(await call('/rollouts/cmds/history?limit=0'), 400)
  })
})

describe('commands and transitions', () => {
  it('walks a release through start, pause, resume, manual weight, promote and complete', async () => {
    const created = await create('walk')
    expect(created).toMatchObject({ phase: 'idle', weight: 0, revision: 1 })
    const post = async (cmd: string, body?: unknown) => {
      const res = await call(`/rollouts/walk/${cmd}`, { method: 'POST', ...(body ? { body } : {}) })
      expect(res.status, `${cmd}: ${res.status}`).toBe(200)
      expect(res.headers.get('etag')).toMatch(/^"\d+"$/)
      return json<Status>(res)
    }
    expect(await post('start', { release: 'v2', reason: 'ship it' })).toMatchObject({ phase: 'progressing', weight: 10, release: 'v2', step: { index: 0 } })
    expect(await post('pause')).toMatchObject({ phase: 'paused', weight: 10 })
    expect(await post('resume')).toMatchObject({ phase: 'progressing', weight: 10 })
    expect(await post('weight', { weight: 12.5 })).toMatchObject({ phase: 'paused', weight: 12.5 })
    expect(await post('resume')).toMatchObject({ phase: 'progressing', weight: 12.5, step: { index: 0 } })
    expect(await post('promote')).toMatchObject({ phase: 'promoted', weight: 100 })
    const done = await post('complete')
    expect(done).toMatchObject({ phase: 'idle', weight: 0, release: null })
    expect(done.spec.stable).toBe(created.spec.canary)
    expect(done.spec.canary).toBe(created.spec.stable)
  })

  it('rolls back from any active phase, and a second rollback is harmless', async () => {
    await create('rb')
    await call('/rollouts/rb/start', { body: { release: 'v3' } })
    const rolled = await json<Status>(await call('/rollouts/rb/rollback', { body: { reason: 'errors up' } }))
    expect(rolled).toMatchObject({ phase: 'rolled-back', weight: 0 })
    const again = await call('/rollouts/rb/rollback', { method: 'POST' })
    expect(again.status).toBe(200)
    expect((await json<Status>(again)).revision).toBe(rolled.revision)
    // A new release can start from rolled-back.
    expect((await json<Status>(await call('/rollouts/rb/start', { body: { release: 'v4' } }))).phase).toBe('progressing')
  })

  it('lets a manual weight come first, then a release start', async () => {
    await create('manual-first')
    expect(await json<Status>(await call('/rollouts/manual-first/weight', { body: { weight: 5 } }))).toMatchObject({
      phase: 'paused',
      weight: 5,
      release: null,
    })
    expect(await json<Status>(await call('/rollouts/manual-first/start', { body: { release: 'v7' } }))).toMatchObject({ phase: 'progressing', release: 'v7' })
  })

  it('answers 409 for commands that make no sense in the current phase', async () => {
    await create('conflicts')
    for (const cmd of ['pause', 'resume', 'approve', 'promote', 'complete']) {
      const p = await problemOf(await call(`/rollouts/conflicts/${cmd}`, { method: 'POST' }), 409)
      expect(p.detail).toContain('idle')
    }
    await call('/rollouts/conflicts/start', { body: { release: 'v1' } })
    await problemOf(await call('/rollouts/conflicts/start', { body: { release: 'v1' } }), 409)
    await problemOf(await call('/rollouts/conflicts/start', { body: {} }), 400)
  })

  it('places a rollout by its weight when a replaced schedule has other steps', async () => {
    await create('reshape', { schedule: [{ weight: 10 }, { weight: 30 }, { weight: 60 }, { weight: 100 }] })
    await call('/rollouts/reshape/start', { body: { release: 'v1' } })
    await call('/rollouts/reshape/weight', { body: { weight: 35 } })
    const res = await call('/rollouts/reshape', { method: 'PUT', body: spec('reshape', { schedule: [{ weight: 20 }, { weight: 100 }] }) })
    expect(await json<Status>(res)).toMatchObject({ weight: 35, step: { index: 0, weight: 20 } })
  })

  it('deletes a rollout but keeps its history, with the reason given', async () => {
    await create('gone')
    expect((await call('/rollouts/gone?reason=retired', { method: 'DELETE' })).status).toBe(204)
    await problemOf(await call('/rollouts/gone'), 404)
    const h = await json<{ entries: { command: string; reason?: string }[] }>(await call('/rollouts/gone/history'))
    expect(h.entries.map((e) => e.command)).toEqual(['delete', 'create'])
    expect(h.entries[0]!.reason).toBe('retired')
  })
})

describe('history', () => {
  it('records every change exactly once, newest first, with who and why, and pages', async () => {
    await create('hist')
    await call('/rollouts/hist/start', { body: { release: 'v9', reason: 'ticket-42' } })
    await call('/rollouts/hist/pause', { method: 'POST' })
    await call('/rollouts/hist/pause', { method: 'POST' }) // 409: not a change, not recorded
    await call('/rollouts/hist/resume', { method: 'POST' })
    await call('/rollouts/hist/weight', { body: { weight: 20 } })
    await call('/rollouts/hist/rollback', { body: { reason: 'latency' } })
    const all = await json<{
      entries: {
        seq: number
        command: string
        actor: { name: string }
        reason?: string
        from: { phase: string } | null
        to: { phase: string; weight: number } | null
      }[]
      next: number | null
    }>(await call('/rollouts/hist/history'))
    expect(all.entries.map((e) => e.command)).toEqual(['rollback', 'weight', 'resume', 'pause', 'start', 'create'])
    expect(all.entries[0]).toMatchObject({ actor: { name: 'admin' }, reason: 'latency', from: { phase: 'paused' }, to: { phase: 'rolled-back', weight: 0 } })
    expect(all.entries.find((e) => e.command === 'start')!.reason).toBe('ticket-42')
    expect(all.next).toBeNull()

    const page1 = await json<typeof all>(await call('/rollouts/hist/history?limit=4'))
    expect(page1.entries.map((e) => e.command)).toEqual(['rollback', 'weight', 'resume', 'pause'])
    const page2 = await json<typeof all>(await call(`/rollouts/hist/history?limit=4&before=${page1.next}`))
    expect(page2.entries.map((e) => e.command)).toEqual(['start', 'create'])
    expect(page2.next).toBeNull()
  })
})

describe('the diff report', () => {
  it("answers the shadow step's report from the controller's evidence, per route and field, to a read-only token", async () => {
    await shadowRollout('diffed')
    const res = await call('/rollouts/diffed/diff', { token: READ_TOKEN })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const report = await json<ShadowReport>(res)
    expect(report).toMatchObject({ rolloutId: 'diffed', release: 'v2', shadowWeight: 10, compared: 200, noiseSampled: 200, verdict: 'differs' })
    expect(Date.parse(report.until!) - Date.parse(report.since!)).toBe(60_000)
    expect(report.routes).toMatchObject([{ route: SHADOW_ROUTE, compared: 200, noiseSampled: 200, statusMismatches: 0, canaryErrors: 0, stableErrors: 0 }])
    const [name, at] = report.routes[0]!.fields
    expect(name).toEqual({
      field: '/name',
      kind: 'missing',
      canary: 200,
      canaryRate: 1,
      noise: 0,
      noiseRate: 0,
      verdict: 'differs',
      example: { stable: EVIL_VALUE, canary: '' },
    })
    expect(at).toMatchObject({ field: '/at', kind: 'value', canaryRate: 1, noiseRate: 1, verdict: 'noise', example: null })
  })

  it('answers an empty report before any comparison, and a 404 problem for an unknown rollout', async () => {
    await create('undiffed')
    expect(await json<ShadowReport>(await call('/rollouts/undiffed/diff'))).toEqual({
      rolloutId: 'undiffed',
      release: null,
      shadowWeight: 0,
      since: null,
      until: null,
      compared: 0,
      noiseSampled: 0,
      verdict: 'clean',
      routes: [],
    })
    expect((await problemOf(await call('/rollouts/nope/diff'), 404)).detail).toBe('no rollout nope')
    expect((await problemOf(await call('/rollouts/Not_Valid/diff'), 400)).errors![0]!.field).toBe('path.id')
  })

  it('refuses a request without credentials', async () => {
    await problemOf(await call('/rollouts/diffed/diff', { token: null }), 401)
  })
})

describe('concurrency', () => {
  it('answers 412 to a write carrying a stale revision', async () => {
    const { revision } = await create('etag')
    expect((await call('/rollouts/etag/start', { body: { release: 'a' }, headers: { 'if-match': `"${revision}"` } })).status).toBe(200)
    const p = await problemOf(await call('/rollouts/etag/pause', { method: 'POST', headers: { 'if-match': `"${revision}"` } }), 412)
    expect(p.detail).toContain(`revision ${revision}`)
  })

  it('lets exactly one of two concurrent writes with the same revision through', async () => {
    const { revision } = await create('race')
    await call('/rollouts/race/start', { body: { release: 'r1' } })
    const current = revision + 1
    const [a, b] = await Promise.all([
      call('/rollouts/race/weight', { body: { weight: 30 }, headers: { 'if-match': `"${current}"` } }),
      call('/rollouts/race', { method: 'PUT', body: spec('race', { salt: 'other' }), headers: { 'if-match': `"${current}"` } }),
    ])
    expect([a.status, b.status].sort()).toEqual([200, 412])
  })

  it('refuses to create over an existing rollout with If-None-Match: *', async () => {
    await create('once')
    await problemOf(await call('/rollouts/once', { method: 'PUT', body: spec('once'), headers: { 'if-none-match': '*' } }), 412)
  })
})

describe('caching', () => {
  it('marks every answer no-store, successes included', async () => {
    await create('cached')
    const answers = [
      await call('/openapi.json', { token: null }),
      await call('/rollouts'),
      await call('/rollouts/cached'),
      await call('/rollouts/cached', { method: 'PUT', body: spec('cached') }),
      await call('/rollouts/cached/start', { body: { release: 'v1' } }),
      await call('/rollouts/cached/history'),
      await call('/rollouts/cached/series'),
      await call('/rollouts/cached', { method: 'DELETE' }),
      await call('/rollouts', { token: null }),
      await call('/rollouts/cached'),
    ]
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200, 200, 204, 401, 404])
    for (const r of answers) expect(r.headers.get('cache-control'), r.url).toBe('no-store')
  })
})

describe('secrets are write-only', () => {
  const SECRET = 'canary-pin-secret-0123'
  type Secretive = Status & { spec: { overrides: { secret?: string; pinCookie: string } } }
  const published = async (id: string) => {
    const doc = JSON.parse((await env.SLUICE_KV.get(CONFIG_KEY))!) as { rollouts: { id: string; overrides: { secret?: string } }[] }
    return doc.rollouts.find((r) => r.id === id)!.overrides.secret
  }

  it('shows "set" instead of the secret to every reader, in every status', async () => {
    const res = await call('/rollouts/hidden', { method: 'PUT', body: spec('hidden', { overrides: { secret: SECRET } }) })
    expect((await json<Secretive>(res)).spec.overrides.secret).toBe('set')
    for (const token of [READ_TOKEN, undefined]) {
      expect((await json<Secretive>(await call('/rollouts/hidden', { token }))).spec.overrides.secret).toBe('set')
      const list = await json<{ rollouts: Secretive[] }>(await call('/rollouts', { token }))
      expect(list.rollouts.find((r) => r.id === 'hidden')!.spec.overrides.secret).toBe('set')
    }
    const started = await json<Secretive>(await call('/rollouts/hidden/start', { body: { release: 'v1' } }))
    expect(started.spec.overrides.secret).toBe('set')
    const replaced = await json<Secretive>(await call('/rollouts/hidden', { method: 'PUT', body: spec('hidden', { overrides: { secret: SECRET } }) }))
    expect(replaced.spec.overrides.secret).toBe('set')
    // The edge still gets the real one.
    expect(await published('hidden')).toBe(SECRET)
  })

  it('keeps the secret on a PUT of "set", clears it on a PUT without it, and refuses "set" with nothing to keep', async () => {
    await create('kept', { overrides: { secret: SECRET } })
    const kept = await call('/rollouts/kept', { method: 'PUT', body: spec('kept', { overrides: { secret: 'set', pinCookie: 'pin2' } }) })
    expect(kept.status, await kept.clone().text()).toBe(200)
    expect((await json<Secretive>(kept)).spec.overrides).toMatchObject({ secret: 'set', pinCookie: 'pin2' })
    expect(await published('kept')).toBe(SECRET)

    const cleared = await json<Secretive>(await call('/rollouts/kept', { method: 'PUT', body: spec('kept') }))
    expect(cleared.spec.overrides.secret).toBeUndefined()
    expect(await published('kept')).toBeUndefined()

    for (const id of ['kept', 'never-created']) {
      const p = await problemOf(await call(`/rollouts/${id}`, { method: 'PUT', body: spec(id, { overrides: { secret: 'set' } }) }), 400)
      expect(p.errors).toEqual([{ field: 'overrides.secret', message: expect.stringContaining('none is set') }])
    }
  })
})

describe('publishing to the edge', () => {
  it('makes a command visible to the request path', async () => {
    await create('edge', { match: { host: 'edge.example.com' } })
    // A fresh isolate cache each time: what a new isolate (or one past its TTL) reads from KV.
    const edge = async () => (await sluice().fetch('https://edge.example.com/echo')).headers.get('x-origin')
    expect(await edge()).toBe('stable')
    await call('/rollouts/edge/start', { body: { release: 'v5' } })
    await call('/rollouts/edge/promote', { method: 'POST' })
    expect(await edge()).toBe('canary')
    await call('/rollouts/edge/rollback', { method: 'POST' })
    expect(await edge()).toBe('stable')
  })
})
