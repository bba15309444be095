/**
 * @module
 * Calls the admin API of the worker under test, as an operator would.
 */
import { exports } from 'cloudflare:workers'
import type { RolloutSpecInput } from '../../src/core/config/schema.ts'
import { ADMIN_TOKEN } from './tokens.ts'
import { canaryUrl, stableUrl } from './worker.ts'

export interface CallOptions {
  method?: string
  body?: unknown
  token?: string | null
  headers?: Record<string, string>
}

export async function call(path: string, opts: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...opts.headers }
  const token = opts.token === undefined ? ADMIN_TOKEN : opts.token
  if (token !== null) headers.authorization = `Bearer ${token}`
  let body: string | undefined
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
    headers['content-type'] ??= 'application/json'
  }
  return exports.default.fetch(`https://shop.example.com/__sluice/api${path}`, {
    method: opts.method ?? (body ? 'POST' : 'GET'),
    headers,
    ...(body ? { body } : {}),
  })
}

export const spec = (id: string, over: Partial<RolloutSpecInput> = {}): RolloutSpecInput => ({
  id,
  stable: stableUrl(),
  canary: canaryUrl(),
  schedule: [{ weight: 10, bakeMinutes: 1 }, { weight: 50, bakeMinutes: 1, gate: true }, { weight: 100 }],
  ...over,
})

export async function create(id: string, over: Partial<RolloutSpecInput> = {}) {
  const res = await call(`/rollouts/${id}`, { method: 'PUT', body: spec(id, over) })
  if (res.status !== 201) throw new Error(`create ${id}: ${res.status} ${await res.text()}`)
  return res.json() as Promise<{ revision: number; phase: string; weight: number; spec: { stable: string; canary: string } }>
}
