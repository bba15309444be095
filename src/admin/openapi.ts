/**
 * @module
 * Builds the OpenAPI 3.1 document of the admin API from the same zod schemas
 * that validate its requests and type its answers (src/contract/): OpenAPI 3.1
 * schemas are JSON Schema 2020-12, which is what zod emits. Run by
 * `npm run schema`, which writes `openapi.json`; the worker serves that file,
 * so this code stays out of the bundle.
 */
import * as z from 'zod/mini'
import type { $ZodType, ToJSONSchemaParams } from 'zod/v4/core'
import { COMMAND_BODIES, CohortPoint, DiffReport, HistoryPage, Problem, RolloutList, RolloutStatus, SeriesPage } from '../contract/index.ts'
import { RolloutSpec } from '../core/config/schema.ts'
import { COMMANDS } from '../core/rollout/machine.ts'
import { PutRolloutBody } from './schemas.ts'
import { SECRET_PATTERNS, SECRET_SET } from './secrets.ts'

type JsonSchema = { properties?: Record<string, JsonSchema>; items?: JsonSchema; [keyword: string]: unknown }

/**
 * Requests are documented as they may be sent (`io: "input"`: defaulted fields optional), answers as they are
 * sent. The API refuses unknown fields at any depth (parseStrict), so every documented object is closed.
 */
const generate: ToJSONSchemaParams = {
  unrepresentable: 'any',
  override: ({ zodSchema, jsonSchema }) => {
    // Every object refuses unknown fields, but one that says otherwise (a decision's free-form `data`).
    const def = zodSchema._zod.def as { type: string; catchall?: unknown }
    if (def.type === 'object' && def.catchall === undefined) jsonSchema.additionalProperties = false
  },
}

const bare = ({ $schema: _, $id: __, ...rest }: JsonSchema): JsonSchema => rest

const schema = (s: $ZodType): JsonSchema => bare(z.toJSONSchema(s, { ...generate, io: 'input' }) as JsonSchema)

/** The answers' schemas, one component each; where one holds another (a status's spec), it is a `$ref`. */
function answers(): Record<string, JsonSchema> {
  const components = z.registry<{ id: string }>()
  const named = { RolloutList, RolloutStatus, RolloutSpec, HistoryPage, SeriesPage, CohortPoint, DiffReport, Problem }
  for (const [id, s] of Object.entries(named)) components.add(s, { id })
  const { schemas } = z.toJSONSchema(components, { ...generate, io: 'output', uri: (id) => `#/components/schemas/${id}` })
  const out = Object.fromEntries(Object.entries(schemas).map(([id, s]) => [id, bare(s as JsonSchema)] as const))
  out.RolloutSpec = { ...withSecrets(out.RolloutSpec!), description: `The rollout config as stored: every default filled in, secrets shown as "${SECRET_SET}"` }
  return out
}

/** A config schema with its secrets marked write-only, and `"set"` (keep the current value) allowed in their place. */
function withSecrets(body: JsonSchema): JsonSchema {
  for (const path of SECRET_PATTERNS) {
    // `*` is each element of a list: its items schema.
    const parent = path.slice(0, -1).reduce<JsonSchema | undefined>((s, k) => (k === '*' ? s?.items : s?.properties?.[k]), body)
    const name = path.at(-1)!
    const secret = parent?.properties?.[name]
    if (!parent?.properties || !secret) throw new Error(`secret field ${path.join('.')} is not in the config schema`)
    parent.properties[name] = {
      anyOf: [secret, { const: SECRET_SET }],
      writeOnly: true,
      description: `Write-only: responses show "${SECRET_SET}" when it is set; a PUT of "${SECRET_SET}" keeps the current value, and omitting it clears it.`,
    }
  }
  return body
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: ref('Problem') } } })
const errors = {
  400: problemResponse('Invalid input; `errors` names each field'),
  401: problemResponse('Missing or invalid credentials'),
  403: problemResponse('Read-only token on a write'),
  503: problemResponse('No credentials configured: the API refuses everything'),
}
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', pattern: '^[a-z0-9](?:[a-z0-9-]{0,62})$' } }
const ifMatch = {
  name: 'If-Match',
  in: 'header',
  required: false,
  schema: { type: 'string' },
  description: 'The revision you last read, e.g. "7"; a mismatch is a 412.',
}
const status = {
  description: 'The rollout',
  headers: { ETag: { schema: { type: 'string' } } },
  content: { 'application/json': { schema: ref('RolloutStatus') } },
}

export function openApiDocument(): object {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Sluice admin API',
      version: '1',
      description: 'Drive progressive rollouts. Authenticate with `Authorization: Bearer <token>` or Cloudflare Access.',
    },
    servers: [{ url: '/__sluice/api' }],
    security: [{ bearer: [] }],
    paths: {
      '/rollouts': {
        get: {
          summary: 'List rollouts',
          responses: { 200: { description: 'All rollouts', content: { 'application/json': { schema: ref('RolloutList') } } }, ...errors },
        },
      },
      '/rollouts/{id}': {
        parameters: [idParam],
        get: {
          summary: 'Status: config, phase, weight, revision, current step, last decision',
          responses: { 200: status, 404: problemResponse('No such rollout'), ...errors },
        },
        put: {
          summary: 'Create or replace a rollout (its phase and weight are kept on replace)',
          parameters: [ifMatch, { name: 'If-None-Match', in: 'header', required: false, schema: { const: '*' }, description: 'Create only' }],
          requestBody: { required: true, content: { 'application/json': { schema: ref('PutRolloutBody') } } },
          responses: {
            200: status,
            201: status,
            412: problemResponse('Revision mismatch'),
            413: problemResponse('Body too large'),
            415: problemResponse('Not JSON'),
            ...errors,
          },
        },
        delete: {
          summary: 'Delete a rollout (its history is kept)',
          parameters: [ifMatch],
          responses: { 204: { description: 'Deleted' }, 404: problemResponse('No such rollout'), 412: problemResponse('Revision mismatch'), ...errors },
        },
      },
      '/rollouts/{id}/history': {
        parameters: [idParam],
        get: {
          summary: 'Append-only history, newest first',
          parameters: [
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 200, default: 50 } },
            { name: 'before', in: 'query', schema: { type: 'integer', minimum: 1 }, description: 'The `next` cursor of the previous page' },
          ],
          responses: {
            200: { description: 'A page of history', content: { 'application/json': { schema: ref('HistoryPage') } } },
            404: problemResponse('No such rollout, and no history of one'),
            ...errors,
          },
        },
      },
      '/rollouts/{id}/series': {
        parameters: [idParam],
        get: {
          summary: 'Judged one-minute windows for charts, oldest first',
          parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 10080, default: 360 } }],
          responses: {
            200: { description: 'Points', content: { 'application/json': { schema: ref('SeriesPage') } } },
            404: problemResponse('No such rollout'),
            ...errors,
          },
        },
      },
      '/rollouts/{id}/diff': {
        parameters: [idParam],
        get: {
          summary: "The shadow step's diff report: per route and field, the canary's differences from stable against stable's own (noise)",
          responses: {
            200: { description: 'The report (empty before any mirrored request)', content: { 'application/json': { schema: ref('DiffReport') } } },
            404: problemResponse('No such rollout'),
            ...errors,
          },
        },
      },
      ...Object.fromEntries(
        COMMANDS.map((name) => [
          `/rollouts/{id}/${name}`,
          {
            parameters: [idParam],
            post: {
              summary: `Command: ${name}`,
              parameters: [ifMatch],
              // Required where the command has a required field: an empty body is `{}`.
              requestBody: {
                required: !z.safeParse(COMMAND_BODIES[name], {}).success,
                content: { 'application/json': { schema: schema(COMMAND_BODIES[name]) } },
              },
              responses: {
                200: status,
                404: problemResponse('No such rollout'),
                409: problemResponse('Not allowed in the current phase'),
                412: problemResponse('Revision mismatch'),
                ...errors,
              },
            },
          },
        ]),
      ),
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        PutRolloutBody: withSecrets(schema(PutRolloutBody)),
        ...answers(),
      },
    },
  }
}
