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

/** Paths of the secret fields of a rollout spec; a field added here is hidden by the API, the dashboard and the CLI alike. */
export const SECRET_FIELDS: readonly (readonly string[])[] = [['overrides', 'secret']]

/** What readers see instead of a secret, and what a PUT sends to keep it. Never a real secret: those are 16+ characters. */
export const SECRET_SET = 'set'

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)

export function secretAt(v: unknown, path: readonly string[]): unknown {
  return path.reduce<unknown>((x, k) => (isRecord(x) && Object.hasOwn(x, k) ? x[k] : undefined), v)
}

/** A copy of `v` with `value` at `path` (`undefined` removes the field); `v` is left alone. */
export function withSecret(v: unknown, path: readonly string[], value: unknown): unknown {
  const [k, ...rest] = path
  if (k === undefined) return value
  if (!isRecord(v)) return v
  const next = withSecret(v[k], rest, value)
  if (next !== undefined) return { ...v, [k]: next }
  const { [k]: _, ...others } = v
  return others
}

/** The status as readers may see it: each secret that is set reads `"set"`. */
export function redact<T extends { spec: unknown }>(status: T): T {
  const spec = SECRET_FIELDS.reduce((s, p) => (secretAt(s, p) === undefined ? s : withSecret(s, p, SECRET_SET)), status.spec)
  return { ...status, spec: spec as T['spec'] }
}

/** The secret fields where `input` says `"set"`, i.e. "keep the current value". */
export const keptSecrets = (input: unknown) => SECRET_FIELDS.filter((p) => secretAt(input, p) === SECRET_SET)

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
