/**
 * @module
 * The admin API under `/__sluice/api/`: rollouts as resources, commands as
 * POSTs, history, series, a shadow step's diff report, and the OpenAPI
 * document. Every write goes to the coordinator (the single writer); this
 * layer authenticates, validates and translates results into HTTP.
 */
import { type Context, Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import * as z from 'zod/mini'
import en from 'zod/v4/locales/en.js'
import type { $ZodType } from 'zod/v4/core'
import { coordinator } from '../control/client.ts'
import { type Actor, COMMAND_BODIES, type Result, type RolloutStatus, type WriteOptions, commandOf } from '../contract/index.ts'
import { RolloutId } from '../core/config/schema.ts'
import { parseStrict } from '../core/config/unknown-fields.ts'
import { COMMANDS, type CommandName } from '../core/rollout/machine.ts'
import { type AuthVars, authenticate, requireWrite, sameOriginWrites } from './auth.ts'
import openApi from './openapi.json'
import { HistoryQuery, PutRolloutBody, SeriesQuery } from './schemas.ts'
import { badRequest, invalid, problem } from '../shared/problem.ts'
import { keepSecrets, keptSecrets, redact } from './secrets.ts'

// zod/mini ships without messages ("Invalid input"); operators deserve "Too big: expected number to be <=100".
z.config(en())

type ApiEnv = { Bindings: ControlEnv; Variables: AuthVars }
type C = Context<ApiEnv>

export const MAX_BODY_BYTES = 64 * 1024

const actorOf = (c: C): Actor => ({ kind: 'operator', name: c.get('caller').name })

/** `If-Match: "7"` (or 7, or W/"7") -> 7; absent or `*` (any current revision) -> undefined; anything else -> a 400. */
function ifMatchOf(c: C): number | undefined | Response {
  const h = c.req.header('if-match')
  if (h === undefined || h.trim() === '*') return undefined
  const m = /^\s*(?:W\/)?"?(\d{1,15})"?\s*$/.exec(h)
  return m
    ? Number(m[1])
    : problem(400, 'Invalid request', 'If-Match must be a revision such as "7"', [{ field: 'header.if-match', message: 'must be a revision such as "7"' }])
}

/** Reads a JSON body; an empty body is `{}`. */
async function jsonBody(c: C): Promise<unknown> {
  const text = await c.req.text()
  if (text.trim() === '') return {}
  const type = c.req.header('content-type') ?? ''
  if (!/^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type)) return problem(415, 'Unsupported Media Type', 'send the body as application/json')
  try {
    return JSON.parse(text)
  } catch {
    return problem(400, 'Invalid request', 'the body is not valid JSON', [{ field: '(body)', message: 'not valid JSON' }])
  }
}

/** Validates a JSON body; unknown fields at any depth are refused (a typo would otherwise fall back to a default). */
function valid<S extends $ZodType>(schema: S, json: unknown): z.output<S> | Response {
  const r = parseStrict(schema, json)
  return r.success ? r.data : invalid(r.issues)
}

async function body<S extends $ZodType>(c: C, schema: S): Promise<z.output<S> | Response> {
  const json = await jsonBody(c)
  return json instanceof Response ? json : valid(schema, json)
}

function reply<T>(c: C, r: Result<T>, ok: (v: T) => Response): Response {
  return r.ok ? ok(r.value) : problem(r.problem.status, r.problem.title, r.problem.detail, r.problem.errors)
}

/** Who writes, the revision they saw, and why (`?reason=` on PUT and DELETE, whose bodies are not commands). */
function writeOptions(c: C, ifMatch: number | undefined, reason = c.req.query('reason')): WriteOptions {
  return { actor: actorOf(c), ...(ifMatch !== undefined ? { ifMatch } : {}), ...(reason ? { reason: reason.slice(0, 500) } : {}) }
}

const etag = (revision: number) => ({ etag: `"${revision}"` })

/** A status as the API shows it: secrets are write-only. */
const shown = (c: C, s: RolloutStatus, status: 200 | 201 = 200) => c.json(redact(s), status, etag(s.revision))

/**
 * A PUT body's `"set"` secrets replaced by the current values. The write must then land on the revision those were
 * read from (If-Match), or a secret changed in between would be overwritten with the older one.
 */
async function withKeptSecrets(
  c: C,
  id: string,
  input: unknown,
  ifMatch: number | undefined,
): Promise<{ input: unknown; ifMatch: number | undefined } | Response> {
  if (keptSecrets(input).length === 0) return { input, ifMatch }
  const current = await coordinator(c.env).status(id)
  const kept = keepSecrets(input, current?.spec)
  return kept.errors.length > 0 ? badRequest(kept.errors) : { input: kept.value, ifMatch: ifMatch ?? current?.revision }
}

export function createAdminApi() {
  const api = new Hono<ApiEnv>()

  // Every answer, success or problem, is per-caller and current: no browser or proxy may keep one.
  api.use('*', async (c, next) => {
    await next()
    c.header('cache-control', 'no-store')
  })

  api.get('/openapi.json', (c) => c.json(openApi))

  api.use('*', authenticate())
  // Reject oversized bodies before reading them into memory.
  api.use('*', bodyLimit({ maxSize: MAX_BODY_BYTES, onError: () => problem(413, 'Content Too Large', `bodies are limited to ${MAX_BODY_BYTES} bytes`) }))
  api.on(['PUT', 'POST', 'DELETE'], '*', sameOriginWrites(), requireWrite())

  // Validate the id once for every /rollouts/:id route, so a bad id is a 400 and an unknown one a 404.
  api.use('/rollouts/:id/*', async (c, next) => {
    const r = z.safeParse(RolloutId, c.req.param('id'))
    return r.success ? next() : invalid(r.error.issues, 'path.id')
  })

  api.get('/rollouts', async (c) => c.json({ rollouts: (await coordinator(c.env).list()).map(redact) }))

  api.get('/rollouts/:id', async (c) => {
    const s = await coordinator(c.env).status(c.req.param('id'))
    return s ? shown(c, s) : problem(404, 'Not Found', `no rollout ${c.req.param('id')}`)
  })

  api.put('/rollouts/:id', async (c) => {
    const id = c.req.param('id')
    const ifMatch = ifMatchOf(c)
    if (ifMatch instanceof Response) return ifMatch
    const json = await jsonBody(c)
    if (json instanceof Response) return json
    const kept = await withKeptSecrets(c, id, json, ifMatch)
    if (kept instanceof Response) return kept
    const spec = valid(PutRolloutBody, kept.input)
    if (spec instanceof Response) return spec
    if (spec.id !== undefined && spec.id !== id) {
      return problem(400, 'Invalid request', `id: "${spec.id}" does not match the URL`, [{ field: 'id', message: 'must match the id in the URL' }])
    }
    const createOnly = c.req.header('if-none-match')?.trim() === '*'
    const r = await coordinator(c.env).put(id, spec, { ...writeOptions(c, kept.ifMatch), createOnly })
    return reply(c, r, (v) => shown(c, v.status, v.created ? 201 : 200))
  })

  api.delete('/rollouts/:id', async (c) => {
    const ifMatch = ifMatchOf(c)
    if (ifMatch instanceof Response) return ifMatch
    const r = await coordinator(c.env).remove(c.req.param('id'), writeOptions(c, ifMatch))
    return reply(c, r, () => c.body(null, 204))
  })

  api.get('/rollouts/:id/history', async (c) => {
    const q = z.safeParse(HistoryQuery, c.req.query())
    if (!q.success) return invalid(q.error.issues, 'query')
    const id = c.req.param('id')
    const page = await coordinator(c.env).history(id, q.data)
    if (page.entries.length === 0 && q.data.before === undefined) return problem(404, 'Not Found', `no rollout ${id}`)
    return c.json(page)
  })

  api.get('/rollouts/:id/series', async (c) => {
    const q = z.safeParse(SeriesQuery, c.req.query())
    if (!q.success) return invalid(q.error.issues, 'query')
    const id = c.req.param('id')
    const coord = coordinator(c.env)
    const [status, points] = await Promise.all([coord.status(id), coord.series(id, q.data.limit)])
    if (!status && points.length === 0) return problem(404, 'Not Found', `no rollout ${id}`)
    return c.json({ points })
  })

  // Read role: the report holds origin values, cut short, but never a credential header's (src/core/shadow/report.ts).
  api.get('/rollouts/:id/diff', async (c) => {
    const report = await coordinator(c.env).diff(c.req.param('id'))
    return report ? c.json(report) : problem(404, 'Not Found', `no rollout ${c.req.param('id')}`)
  })

  api.post('/rollouts/:id/:command', async (c) => {
    const name = c.req.param('command') as CommandName
    if (!COMMANDS.includes(name)) return problem(404, 'Not Found', `unknown command "${name}"; commands: ${COMMANDS.join(', ')}`)
    const ifMatch = ifMatchOf(c)
    if (ifMatch instanceof Response) return ifMatch
    const b = await body(c, COMMAND_BODIES[name])
    if (b instanceof Response) return b
    const r = await coordinator(c.env).command(c.req.param('id'), commandOf(name, b), writeOptions(c, ifMatch, b.reason))
    return reply(c, r, (s) => shown(c, s))
  })

  api.all('*', () => problem(404, 'Not Found', 'no such admin API route; see /__sluice/api/openapi.json'))
  return api
}
