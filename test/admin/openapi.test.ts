/**
 * The OpenAPI document against the answers it describes: each documented
 * response of the real admin API is checked against that response's schema in
 * the generated `openapi.json`, converted by zod's JSON Schema reader. So the
 * document cannot drift from the code that answers, as it did when
 * `lastDecision.at` was documented as an integer.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, expectTypeOf, it } from 'vitest'
import * as z from 'zod'
import type { DiffReport, Problem } from '../../src/contract/index.ts'
import { coordinator } from '../../src/control/client.ts'
import openApi from '../../src/admin/openapi.json'
import type { ProblemBody } from '../../src/shared/problem.ts'
import type { ShadowReport } from '../../src/core/shadow/report.ts'
import { shadowRollout } from '../dashboard/shadow-seed.ts'
import { call, create, spec } from '../support/admin.ts'

type Responses = Record<string, { content?: Record<string, { schema: object }> }>
type Paths = Record<string, Record<string, { responses?: Responses }>>

/** A schema of the document with its `$ref`s pointed at `$defs`, where zod's reader looks them up. */
const retargeted = <T>(schema: object): T => JSON.parse(JSON.stringify(schema).replaceAll('#/components/schemas/', '#/$defs/')) as T

const defs = retargeted<Record<string, z.core.JSONSchema.JSONSchema>>(openApi.components.schemas)

const schemaOf = (schema: object) => z.fromJSONSchema({ ...retargeted<z.core.JSONSchema.JSONSchema>(schema), $defs: defs })

/** The component names the checked answers' schemas refer to, so the test can tell that it covered every one. */
const checked = new Set<string>()

/** Checks an answer against what the document says `method template` answers with that status, and returns its body. */
async function documented(res: Response, method: string, template: string): Promise<unknown> {
  const response = (openApi.paths as unknown as Paths)[template]?.[method]?.responses?.[String(res.status)]
  expect(response, `${method} ${template} ${res.status} is documented`).toBeDefined()
  const [[type, { schema }]] = Object.entries(response!.content!) as [[string, { schema: { $ref?: string } }]]
  expect(res.headers.get('content-type')).toContain(type)
  if (schema.$ref) checked.add(schema.$ref.split('/').at(-1)!)
  const body: unknown = await res.json()
  const r = schemaOf(schema).safeParse(body)
  expect(r.success, `${method} ${template} ${res.status}: ${r.error?.message}\n${JSON.stringify(body)}`).toBe(true)
  return body
}

describe('every documented answer matches its schema in openapi.json', () => {
  it('list, status, PUT, a command, history, series, a diff report and the problems', async () => {
    const id = 'documented'
    const body = spec(id, { overrides: { secret: 'a-secret-of-16-chars' } })
    await documented(await call(`/rollouts/${id}`, { method: 'PUT', body }), 'put', '/rollouts/{id}')
    await documented(await call(`/rollouts/${id}`, { method: 'PUT', body }), 'put', '/rollouts/{id}')
    await documented(await call(`/rollouts/${id}/start`, { body: { release: 'v2', reason: 'ship it' } }), 'post', '/rollouts/{id}/start')

    // A judged window, as the controller records it: the status gets a last decision, the series a point.
    const c = coordinator(env)
    const row = (await c.progressing()).find((r) => r.spec.id === id)!
    const end = row.state.windowEnd! + 60_000
    const point = { at: end, weight: row.state.weight, stable: { requests: 900, errors: 1, p95: 120 }, canary: { requests: 100, errors: 0, p95: null } }
    const decision = { kind: 'hold' as const, reason: 'healthy; baking', data: { verdict: 'healthy' } }
    const r = await c.decide(id, decision, { revision: row.state.revision, windowEnd: row.state.windowEnd }, { evidence: null, windowEnd: end }, point)
    expect(r.ok && r.value.applied).toBe(true)

    const status = (await documented(await call(`/rollouts/${id}`), 'get', '/rollouts/{id}')) as {
      lastDecision: { at: unknown }
      spec: { overrides: { secret: string } }
    }
    expect(typeof status.lastDecision.at).toBe('string')
    expect(status.spec.overrides.secret).toBe('set')
    await documented(await call('/rollouts'), 'get', '/rollouts')
    expect(((await documented(await call(`/rollouts/${id}/history`), 'get', '/rollouts/{id}/history')) as { entries: unknown[] }).entries).toHaveLength(4)
    expect(((await documented(await call(`/rollouts/${id}/series`), 'get', '/rollouts/{id}/series')) as { points: unknown[] }).points).toEqual([point])

    await documented(await call(`/rollouts/${id}/weight`, { body: { weight: 150 } }), 'post', '/rollouts/{id}/weight')
    await documented(await call('/rollouts/absent'), 'get', '/rollouts/{id}')

    // A diff report with routes, fields and an example, as the controller's shadow evidence makes it; and a 404.
    await shadowRollout('documented-diff')
    const report = (await documented(await call('/rollouts/documented-diff/diff'), 'get', '/rollouts/{id}/diff')) as ShadowReport
    expect(report.routes[0]!.fields.map((f) => f.verdict)).toEqual(['differs', 'noise'])
    await documented(await call('/rollouts/absent/diff'), 'get', '/rollouts/{id}/diff')
    await documented(await call(`/rollouts/${id}/start`, { body: { release: 'v3' } }), 'post', '/rollouts/{id}/start')
    expect([...checked].sort()).toEqual(['DiffReport', 'HistoryPage', 'Problem', 'RolloutList', 'RolloutStatus', 'SeriesPage'])
    // The problem body the API writes (src/shared/problem.ts) is the contract's, field for field; so is core's report.
    expectTypeOf<ProblemBody>().toEqualTypeOf<Problem>()
    expectTypeOf<ShadowReport>().toEqualTypeOf<DiffReport>()
  })

  it('and the schemas refuse what the code does not send, so a drift fails the check above', async () => {
    await create('refusals')
    const valid = await (await call('/rollouts/refusals')).json<Record<string, unknown>>()
    const rolloutStatus = schemaOf(openApi.components.schemas.RolloutStatus)
    expect(rolloutStatus.safeParse(valid).success).toBe(true)
    const decision = { kind: 'hold', reason: 'x', at: Date.now() }
    expect(rolloutStatus.safeParse({ ...valid, lastDecision: decision }).success, 'lastDecision.at in ms').toBe(false)
    expect(rolloutStatus.safeParse({ ...valid, lastDecision: { ...decision, at: new Date().toISOString() } }).success).toBe(true)
    expect(rolloutStatus.safeParse({ ...valid, phase: 'exploded' }).success, 'an unknown phase').toBe(false)
    expect(rolloutStatus.safeParse({ ...valid, extra: 1 }).success, 'an undocumented field').toBe(false)
    const { revision: _, ...missing } = valid
    expect(rolloutStatus.safeParse(missing).success, 'a missing field').toBe(false)
    expect(schemaOf(openApi.components.schemas.Problem).safeParse({ title: 'x', status: 400, detail: 'y' }).success, 'a problem without type').toBe(false)
    const report = schemaOf(openApi.components.schemas.DiffReport)
    const empty = { rolloutId: 'x', release: null, shadowWeight: 0, since: null, until: null, compared: 0, noiseSampled: 0, verdict: 'clean', routes: [] }
    expect(report.safeParse(empty).success).toBe(true)
    expect(report.safeParse({ ...empty, verdict: 'noise' }).success, 'a field verdict as the report verdict').toBe(false)
    expect(report.safeParse({ ...empty, since: Date.now() }).success, 'since in ms').toBe(false)
  })
})
