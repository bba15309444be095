/**
 * @module
 * The CLI's HTTP client for the admin API: one request function, and the two
 * ways a call can fail, which map to distinct exit codes (the API refused vs.
 * the API could not be reached).
 */

export interface Endpoint {
  /** The worker's base URL, without `/__sluice/api`. */
  url: string
  token: string
}

export interface Reply {
  status: number
  headers: Headers
  /** Parsed JSON when the answer is JSON, otherwise the text (or null for an empty body). */
  body: unknown
}

export interface FieldError {
  field: string
  message: string
}

/** RFC 9457 problem details, as the admin API sends them. */
export interface Problem {
  title?: string
  status?: number
  detail?: string
  errors?: FieldError[]
}

/** The API answered, but not with success: exit 1. */
export class ApiRefused extends Error {
  readonly reply: Reply
  /** Extra advice for this situation, printed after the problem. */
  readonly hint: string | undefined
  constructor(reply: Reply, hint?: string) {
    super(`the API answered ${reply.status}`)
    this.reply = reply
    this.hint = hint
  }
}

/** No HTTP answer at all (refused, DNS, timeout): exit 3. */
export class Unreachable extends Error {}

const TIMEOUT_MS = 30_000

const NETWORK_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  UND_ERR_SOCKET: 'connection closed',
}

function describeNetworkError(err: unknown): string {
  if (err instanceof DOMException && err.name === 'TimeoutError') return `no answer within ${TIMEOUT_MS / 1000} s`
  // undici wraps the socket error: TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } }).
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  const code = cause?.code
  if (code) return `${NETWORK_CODES[code] ?? cause.message ?? code} (${code})`
  return cause?.message ?? (err instanceof Error ? err.message : String(err))
}

export interface RequestOptions {
  body?: unknown
  headers?: Record<string, string>
}

export async function request(ep: Endpoint, method: string, path: string, opts: RequestOptions = {}): Promise<Reply> {
  const url = `${ep.url}/__sluice/api${path}`
  const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${ep.token}`, ...opts.headers }
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  let res: Response
  try {
    res = await fetch(url, {
      method,
      headers,
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      // A redirect would replay the bearer token elsewhere (and turn a PUT into a GET); report it instead.
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
  } catch (err) {
    throw new Unreachable(`cannot reach the API at ${ep.url}: ${describeNetworkError(err)}`)
  }
  let text: string
  try {
    text = await res.text()
  } catch (err) {
    throw new Unreachable(`the connection to ${ep.url} broke while reading the answer: ${describeNetworkError(err)}`)
  }
  let body: unknown = text === '' ? null : text
  if (/json/i.test(res.headers.get('content-type') ?? '') && text !== '') {
    try {
      body = JSON.parse(text)
    } catch {
      // Keep the text: it is shown as is.
    }
  }
  return { status: res.status, headers: res.headers, body }
}

/** The reply, if it is a success carrying JSON (or a 204); otherwise the API refused. */
export function ok<T>(reply: Reply): T {
  const isJson = reply.body !== null && typeof reply.body === 'object'
  if (reply.status >= 200 && reply.status < 300 && (reply.status === 204 || isJson)) return reply.body as T
  if (reply.status >= 300 && reply.status < 400) {
    const to = reply.headers.get('location') ?? '(nowhere)'
    throw new ApiRefused(reply, `the server redirected to ${to}; point SLUICE_URL (or --url) at the final address`)
  }
  if (reply.status < 300) throw new ApiRefused(reply, 'the answer is not JSON: is SLUICE_URL (or --url) a Sluice worker?')
  throw new ApiRefused(reply)
}

/** The problem details of a refusal, whatever shape the server used. */
export function problemOf(reply: Reply): Problem {
  if (reply.body !== null && typeof reply.body === 'object') return reply.body as Problem
  return { status: reply.status, ...(typeof reply.body === 'string' ? { detail: reply.body.slice(0, 500) } : {}) }
}
