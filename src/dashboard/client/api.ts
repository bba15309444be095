/**
 * @module
 * Talking to the admin API: one call with the token, and any failed answer as a problem.
 * One part of the dashboard's browser code: see `index.ts` for the rules it keeps.
 */
import type { State } from './state.ts'
import type * as Dom from './dom.ts'

declare const page: typeof Dom.page

export interface Problem {
  title?: string
  status?: number
  detail?: string
  errors?: { field: string; message: string }[]
}

export interface Reply {
  status: number
  body: unknown
}

export async function call(st: State, path: string, init: { method?: string; body?: unknown; ifMatch?: number } = {}): Promise<Reply> {
  const headers: Record<string, string> = { accept: 'application/json' }
  // Without a token the request may still pass: behind Cloudflare Access the edge adds its assertion.
  if (st.token) headers.authorization = `Bearer ${st.token}`
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  if (init.ifMatch !== undefined) headers['if-match'] = `"${init.ifMatch}"`
  try {
    const res = await page().fetch(`${st.cfg.api}${path}`, {
      method: init.method ?? 'GET',
      headers,
      cache: 'no-store',
      ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    })
    const text = await res.text()
    try {
      return { status: res.status, body: text ? JSON.parse(text) : null }
    } catch {
      return { status: res.status, body: { title: 'Unexpected response', status: res.status, detail: text.slice(0, 300) } }
    }
  } catch (err) {
    return {
      status: 0,
      body: {
        title: 'Network error',
        detail: `${String(err)}. Behind Cloudflare Access, an expired session looks like this: reload the page to sign in again.`,
      },
    }
  }
}

export function asProblem(r: Reply): Problem {
  const b = r.body
  const p: Problem = b !== null && typeof b === 'object' ? (b as Problem) : {}
  return {
    title: typeof p.title === 'string' ? p.title : 'Request failed',
    status: r.status,
    detail: typeof p.detail === 'string' ? p.detail : '',
    errors: p.errors ?? [],
  }
}
