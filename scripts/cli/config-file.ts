/**
 * @module
 * `apply`'s local half: reads a rollout config file, validates it with the
 * same zod schema the worker uses (so a bad file never reaches the API), and
 * diffs it field by field against the live spec.
 *
 * Files may carry comments as `"//field": "…"` keys and a `"$schema"` key;
 * both are dropped before validation. Any other key the schema does not know
 * is an error: zod (and the API) would silently drop it, so a typo such as
 * `"cokie"` would otherwise be applied as "use the defaults".
 */
import { readFile } from 'node:fs/promises'
import * as z from 'zod/mini'
import { RolloutSpec } from '../../src/core/config/schema.ts'
import { InvalidConfig } from './errors.ts'
import type { FieldError } from './http.ts'

// zod/mini ships without messages ("Invalid input" for everything); the CLI can afford the English ones.
z.config(z.locales.en())

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

export interface LoadedConfig {
  id: string
  /** The spec as the worker will store it: validated, with defaults filled in. */
  spec: { [key: string]: Json }
}

const isObject = (v: unknown): v is { [key: string]: Json } => v !== null && typeof v === 'object' && !Array.isArray(v)

const isComment = (key: string) => key.startsWith('//')

/** Drops `//…` comment keys at any depth, and `$schema` at the top. */
export function stripComments(v: Json, top = true): Json {
  if (Array.isArray(v)) return v.map((x) => stripComments(x, false))
  if (!isObject(v)) return v
  const out: { [key: string]: Json } = {}
  for (const [k, x] of Object.entries(v)) if (!isComment(k) && !(top && k === '$schema')) out[k] = stripComments(x, false)
  return out
}

interface JsonSchema {
  properties?: Record<string, JsonSchema>
  items?: JsonSchema
}

// The JSON Schema knows every field even when validation fails, unlike zod's output.
const SCHEMA = z.toJSONSchema(RolloutSpec, { io: 'input', unrepresentable: 'any' }) as JsonSchema

/** Keys the schema does not know; zod would drop them without a word. */
function unknownFields(input: Json, schema: JsonSchema | undefined, path: string[] = []): string[] {
  if (!schema) return []
  if (Array.isArray(input)) return input.flatMap((x, i) => unknownFields(x, schema.items, [...path, String(i)]))
  if (!isObject(input) || !schema.properties) return []
  const known = schema.properties
  return Object.entries(input).flatMap(([k, x]) => (k in known ? unknownFields(x, known[k], [...path, k]) : [[...path, k].join('.')]))
}

export async function loadConfig(file: string): Promise<LoadedConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new InvalidConfig(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
  let json: Json
  try {
    json = JSON.parse(text) as Json
  } catch (err) {
    throw new InvalidConfig(`${file} is not valid JSON: ${(err as Error).message}`)
  }
  if (!isObject(json)) throw new InvalidConfig(`${file} must hold one rollout: a JSON object`)
  const input = stripComments(json)
  const r = z.safeParse(RolloutSpec, input)
  const errors: FieldError[] = r.success
    ? []
    : r.error.issues.map((i) => ({ field: i.path.map(String).join('.') || '(file)', message: i.message }))
  for (const field of unknownFields(input, SCHEMA)) errors.push({ field, message: 'unknown field (a typo? the worker would ignore it)' })
  if (errors.length > 0 || !r.success) throw new InvalidConfig(`${file} is not a valid rollout`, errors)
  return { id: r.data.id, spec: r.data as unknown as { [key: string]: Json } }
}

export interface Change {
  path: string
  /** Absent on the side where the field does not exist. */
  from?: Json
  to?: Json
}

const same = (a: Json | undefined, b: Json | undefined) => JSON.stringify(a) === JSON.stringify(b)

/** How a value is compared: field by field (objects, lists of objects) or as one value. */
function shapeOf(v: Json | undefined): 'absent' | 'object' | 'list' | 'value' {
  if (v === undefined) return 'absent'
  if (isObject(v)) return 'object'
  // Lists of plain values (status codes, bot patterns) are one value: a shifted list diffs badly index by index.
  return Array.isArray(v) && v.some((x) => x !== null && typeof x === 'object') ? 'list' : 'value'
}

/** Field-level changes from `live` to `next`, in the config's own field order, with dotted paths (`schedule.2.weight`). */
export function diff(live: Json | undefined, next: Json | undefined, path: string[] = []): Change[] {
  if (same(live, next)) return []
  const a = shapeOf(live)
  const b = shapeOf(next)
  const shape = a === 'absent' ? b : a
  if ((shape === 'object' || shape === 'list') && (a === shape || a === 'absent') && (b === shape || b === 'absent')) {
    if (shape === 'list') {
      const [x, y] = [(live ?? []) as Json[], (next ?? []) as Json[]]
      return Array.from({ length: Math.max(x.length, y.length) }, (_, i) => diff(x[i], y[i], [...path, String(i)])).flat()
    }
    const [x, y] = [(live ?? {}) as { [key: string]: Json }, (next ?? {}) as { [key: string]: Json }]
    return [...new Set([...Object.keys(y), ...Object.keys(x)])].flatMap((k) => diff(x[k], y[k], [...path, k]))
  }
  return [{ path: path.join('.') || '(root)', ...(live !== undefined ? { from: live } : {}), ...(next !== undefined ? { to: next } : {}) }]
}

/** `- cookie.name: "sluice"` / `+ cookie.name: "cohort"`, one line per side. */
export function formatChanges(changes: Change[]): string {
  return changes
    .flatMap((c) => [
      ...('from' in c ? [`- ${c.path}: ${JSON.stringify(c.from)}`] : []),
      ...('to' in c ? [`+ ${c.path}: ${JSON.stringify(c.to)}`] : []),
    ])
    .join('\n')
}
