/**
 * @module
 * RFC 9457 problem details: every error the admin API returns is one of these,
 * naming each invalid field and why. Shared, because the edge answers its
 * reserved paths (`/__sluice/` with no control worker) in the same shape, and
 * the CLI names a config file's invalid fields the way the API does.
 */
import type { $ZodIssue } from 'zod/v4/core'

export interface FieldError {
  field: string
  message: string
}

export interface ProblemBody {
  type: string
  title: string
  status: number
  detail: string
  errors?: FieldError[]
}

export function problem(status: number, title: string, detail: string, errors?: FieldError[], headers: Record<string, string> = {}): Response {
  const body: ProblemBody = { type: 'about:blank', title, status, detail, ...(errors ? { errors } : {}) }
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...headers } })
}

/** Zod issues as field errors; `prefix` says where the value came from (body, query, header). */
export function fieldErrors(issues: readonly $ZodIssue[], prefix = ''): FieldError[] {
  const name = (path: PropertyKey[]) => [prefix, ...path.map(String)].filter(Boolean).join('.') || '(body)'
  // An unknown key is itself the field at fault.
  return issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((k) => ({ field: name([...i.path, k]), message: 'unknown field' }))
      : [{ field: name(i.path), message: i.message }],
  )
}

/** A 400 naming each field; the detail repeats them for clients that show only the detail. */
export const badRequest = (errors: FieldError[]) => problem(400, 'Invalid request', errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors)

export const invalid = (issues: readonly $ZodIssue[], prefix?: string) => badRequest(fieldErrors(issues, prefix))
