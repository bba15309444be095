/**
 * @module
 * Secrets in a rollout config are write-only for every reader: each status the
 * admin API returns (and so the dashboard and the CLI) shows `"set"` in their
 * place, and a PUT carrying `"set"` keeps the current value. A read-only token
 * could otherwise read the override secret and pin itself into the canary.
 * The coordinator and the published KV document keep the real value: the edge
 * needs it.
 */
import type { FieldError } from '../shared/problem.ts'

/**
 * Paths of the secret fields of a rollout spec, `*` standing for each element of a list; a field added here is hidden
 * by the API, the dashboard and the CLI alike. For a list, `"set"` keeps the secret at the same position.
 */
export const SECRET_PATTERNS: readonly (readonly string[])[] = [
  ['overrides', 'secret'],
  ['notify', 'secret'],
  ['hooks', '*', 'secret'],
]

/** Whether `path` (e.g. `hooks.2.secret`, split) is a secret field: a pattern whose `*` is a list index there. */
export const isSecretPath = (path: readonly string[]) =>
  SECRET_PATTERNS.some((p) => p.length === path.length && p.every((k, i) => (k === '*' ? /^\d+$/.test(path[i]!) : k === path[i])))

/** What readers see instead of a secret, and what a PUT sends to keep it. Never a real secret: those are 16+ characters. */
export const SECRET_SET = 'set'

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

/** The field `k` of an object, or the element `k` (a decimal index) of a list. */
const child = (x: unknown, k: string): unknown =>
  Array.isArray(x) ? (/^\d+$/.test(k) ? x[Number(k)] : undefined) : isRecord(x) && Object.hasOwn(x, k) ? x[k] : undefined

export function secretAt(v: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>(child, v)
}

/** A copy of `v` with `value` at `path` (`undefined` removes the field); `v` is left alone. */
export function withSecret(v: unknown, path: readonly string[], value: unknown): unknown {
  const [k, ...rest] = path
  if (k === undefined) return value
  if (Array.isArray(v)) return child(v, k) === undefined ? v : v.map((x, i) => (String(i) === k ? withSecret(x, rest, value) : x))
  if (!isRecord(v)) return v
  const next = withSecret(v[k], rest, value)
  if (next !== undefined) return { ...v, [k]: next }
  const { [k]: _, ...others } = v
  return others
}

/** The paths in `v` that hold a secret: each pattern with its `*` replaced by every index of the list there. */
export function secretPaths(v: unknown): string[][] {
  const expand = (x: unknown, pattern: readonly string[], at: string[]): string[][] => {
    const [k, ...rest] = pattern
    if (k === undefined) return x === undefined ? [] : [at]
    if (k !== '*') return expand(child(x, k), rest, [...at, k])
    return Array.isArray(x) ? x.flatMap((el, i) => expand(el, rest, [...at, String(i)])) : []
  }
  return SECRET_PATTERNS.flatMap((p) => expand(v, p, []))
}

/** The status as readers may see it: each secret that is set reads `"set"`. */
export function redact<T extends { spec: unknown }>(status: T): T {
  const spec = secretPaths(status.spec).reduce((s, p) => withSecret(s, p, SECRET_SET), status.spec)
  return { ...status, spec: spec as T['spec'] }
}

/** The secret fields where `input` says `"set"`, i.e. "keep the current value". */
export const keptSecrets = (input: unknown) => secretPaths(input).filter((p) => secretAt(input, p) === SECRET_SET)

/** `input` with each `"set"` replaced by the secret of `current`; a field error for each that has none to keep. */
export function keepSecrets(input: unknown, current: unknown): { value: unknown; errors: FieldError[] } {
  const errors: FieldError[] = []
  let value = input
  for (const p of keptSecrets(input)) {
    const secret = secretAt(current, p)
    if (typeof secret === 'string') value = withSecret(value, p, secret)
    else errors.push({ field: p.join('.'), message: `"${SECRET_SET}" keeps the current secret, but none is set` })
  }
  return { value, errors }
}
