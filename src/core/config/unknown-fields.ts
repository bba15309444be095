/**
 * @module
 * Strict parsing: unknown fields refused at any depth, with their path. zod
 * objects strip keys they do not know, so a typo such as
 * `judge.maxCanaryErorRate` would be dropped and its default applied without a
 * word. Used by the admin API for every JSON body and by `sluice apply` for
 * config files; the edge keeps parsing the published document leniently, so a
 * field added later never breaks an older isolate.
 *
 * Every key of the input that the parse dropped is unknown: walking the input
 * and the parsed output together (objects by key, arrays by index) finds them
 * for any schema, with no strict twin of it to keep in step. That holds because
 * the schemas it is used with keep the input's structure: an object parses to a
 * new object holding every known key the input had (defaults and prefaults only
 * add absent keys, optional keys that are present stay), an array to a new
 * array of its elements, and their unions are of primitives. It would not hold
 * for a transform that reshapes an object, nor for a union of objects whose
 * first matching option strips keys a later option knows (zod keeps the first
 * match): use a strict schema there.
 *
 * A failed parse reports unknown fields too, next to the other errors, so one
 * round of fixes is enough. The output then comes from zod's own run (what
 * `safeParse` does internally, read before it is discarded): objects and arrays
 * are built even when a value inside them fails, and a value that fails its
 * type is left as it was, which the walk skips (nothing was parsed there).
 */
import * as z from 'zod/mini'
import type { $ZodIssue, $ZodType } from 'zod/v4/core'

export type StrictResult<T> = { success: true; data: T } | { success: false; issues: $ZodIssue[] }

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/**
 * One `unrecognized_keys` issue per object with unknown keys, as a strict zod
 * object reports them, so callers name them like any other issue. The walk
 * descends only where the parse built a new value, so its depth is the schema's,
 * however deeply the input nests.
 */
function unknownKeys(input: unknown, output: unknown, path: PropertyKey[], out: $ZodIssue[]): void {
  if (input === output) return
  if (Array.isArray(input) && Array.isArray(output)) {
    input.forEach((x, i) => unknownKeys(x, output[i], [...path, i], out))
  } else if (isRecord(input) && isRecord(output)) {
    const keys = Object.keys(input)
    const unknown = keys.filter((k) => !Object.hasOwn(output, k))
    if (unknown.length > 0)
      out.push({ code: 'unrecognized_keys', keys: unknown, path, message: `unknown field${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}` })
    for (const k of keys) if (Object.hasOwn(output, k)) unknownKeys(input[k], output[k], [...path, k], out)
  }
}

/** Parses `input` with `schema`, refusing every key the schema does not know, at any depth. */
export function parseStrict<S extends $ZodType>(schema: S, input: unknown): StrictResult<z.output<S>> {
  const r = z.safeParse(schema, input)
  // safeParse keeps no output on failure; a second run (schemas here are synchronous) provides it.
  const output = r.success ? r.data : (schema._zod.run({ value: input, issues: [] }, { async: false }) as { value: unknown }).value
  const unknown: $ZodIssue[] = []
  unknownKeys(input, output, [], unknown)
  if (r.success && unknown.length === 0) return { success: true, data: r.data }
  return { success: false, issues: [...(r.success ? [] : r.error.issues), ...unknown] }
}
