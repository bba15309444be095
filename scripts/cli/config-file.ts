/**
 * @module
 * `apply`'s local half: reads a rollout config file, validates it with the
 * same zod schema the worker uses (so a bad file never reaches the API), and
 * diffs it field by field against the live spec.
 *
 * Files may carry comments as `"//field": "…"` keys and a `"$schema"` key;
 * both are dropped before validation. Any other key the schema does not know
 * is an error, found by the same code as the API's (src/core/config/unknown-fields.ts):
 * zod would silently drop it, so a typo such as `"cokie"` would otherwise be
 * applied as "use the defaults".
 *
 * Secrets are write-only: the live spec shows `"set"` in their place, and a file
 * may say `"set"` too, to keep the live secret.
 */
import { readFile } from 'node:fs/promises'
import * as z from 'zod/mini'
import { fieldErrors } from '../../src/shared/problem.ts'
import { SECRET_SET, isSecretPath, keptSecrets, withSecret } from '../../src/admin/secrets.ts'
import { RolloutSpec } from '../../src/core/config/schema.ts'
import { parseStrict } from '../../src/core/config/unknown-fields.ts'
import { InvalidConfig } from './errors.ts'

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
  // "set" is no secret the schema accepts: validate without it, and send it on for the API to keep the live value.
  const kept = keptSecrets(input)
  const r = parseStrict(
    RolloutSpec,
    kept.reduce<unknown>((v, p) => withSecret(v, p, undefined), input),
  )
  if (!r.success) throw new InvalidConfig(`${file} is not a valid rollout`, fieldErrors(r.issues))
  const spec = kept.reduce<unknown>((v, p) => withSecret(v, p, SECRET_SET), r.data) as { [key: string]: Json }
  return { id: r.data.id, spec }
}

export interface Change {
  path: string
  /** Absent on the side where the field does not exist. */
  from?: Json
  /** Absent where the field does not exist, and for a secret, which is never shown. */
  to?: Json
  /** A secret from the file: the live one reads "set", so they cannot be compared, and the file's is sent as is. */
  writeOnly?: true
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
  if (isSecretPath(path) && next !== undefined && next !== SECRET_SET)
    return [{ path: path.join('.'), ...(live !== undefined ? { from: live } : {}), writeOnly: true }]
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
      ...(c.writeOnly ? [`+ ${c.path}: (the file's secret, not shown${'from' in c ? '; the live one is write-only, so it is sent as is' : ''})`] : []),
    ])
    .join('\n')
}
