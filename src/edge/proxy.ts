/**
 * @module
 * Forwards a request to an origin and relays the answer, streaming both ways.
 *
 * Not `hono/proxy`: it drops `Upgrade` (breaking WebSockets), rebuilds the
 * response without its `webSocket`, and rewrites `Accept-Encoding`; a gateway
 * that claims to be transparent must do none of those.
 */

/** Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded; nor is Host (the origin's is set by fetch). */
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host'])

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

export interface ForwardOptions {
  /** The origin, e.g. `https://canary.example.com` (no trailing slash). */
  origin: string
  /** The public URL as the origin should see it (override parameters already removed). */
  url: URL
  timeoutMs: number
  /** Extra headers for the origin (cohort, X-Forwarded-*). */
  set: Record<string, string>
  /** Cookie names that are Sluice's own and not the origin's business. */
  dropCookies: readonly string[]
  /** Request headers that are Sluice's own (the tester override, which may carry a secret). */
  dropHeaders: readonly string[]
  /** The request's body, or null for none (a GET or HEAD whose body turned out empty is sent without one). */
  body: ReadableStream | null
}

export class OriginTimeout extends Error {
  override name = 'OriginTimeout'
}

/** Removes the named cookies from a Cookie header; returns null when nothing is left. */
export function stripCookies(header: string, names: readonly string[]): string | null {
  if (!names.some((n) => header.includes(n))) return header
  const kept = header
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '' && !names.includes(p.slice(0, p.indexOf('=') >>> 0).trim()))
  return kept.length ? kept.join('; ') : null
}

function originHeaders(request: Request, opts: ForwardOptions): Headers {
  // A copy made by the runtime, then a few targeted changes. Iterating Headers from JS materialises every entry and
  // costs about twice as much (22 µs against 12 µs in workerd; see bench/RESULTS.md), and most of these deletes are
  // of names that are not there.
  const headers = new Headers(request.headers)
  const connection = headers.get('connection')
  const upgrade = headers.get('upgrade')
  for (const name of HOP) headers.delete(name)
  if (connection !== null) {
    for (const token of connection.split(',')) {
      // Only valid header names: deleting anything else throws, and a client must not be able to make Sluice fail.
      const name = token.trim()
      if (TOKEN.test(name)) headers.delete(name)
    }
  }
  for (const name of opts.dropHeaders) headers.delete(name)
  const cookie = headers.get('cookie')
  if (cookie !== null) {
    const kept = stripCookies(cookie, opts.dropCookies)
    if (kept === null) headers.delete('cookie')
    else if (kept !== cookie) headers.set('cookie', kept)
  }
  if (upgrade?.toLowerCase() === 'websocket') headers.set('upgrade', 'websocket')
  for (const name in opts.set) headers.set(name, opts.set[name]!)
  return headers
}

/**
 * Sends the request to the origin. Resolves with the origin's response (any
 * status); rejects on a network error or when no response headers arrive in
 * `timeoutMs` (an `OriginTimeout`). The timeout covers only the wait for
 * headers, so long downloads, SSE and WebSockets are not cut off.
 *
 * The deadline races the subrequest rather than aborting it: an AbortSignal on a live fetch is the most expensive
 * part of a timeout in workerd (bench/RESULTS.md), and AbortSignal.timeout(), the cheaper signal, would also cut
 * the response body when it fires later. The fetch that loses the race is abandoned safely: a late response has
 * its body cancelled and is never handed on, a late failure is absorbed here (so no unhandled rejection), and the
 * runtime cancels a subrequest still pending when the request ends.
 */
export function forward(request: Request, opts: ForwardOptions): Promise<Response> {
  const sent = fetch(opts.origin + opts.url.pathname + opts.url.search, {
    method: request.method,
    headers: originHeaders(request, opts),
    body: opts.body,
    redirect: 'manual',
  })
  return new Promise((resolve, reject) => {
    let late = false
    const timer = setTimeout(() => {
      late = true
      reject(new OriginTimeout(`no response headers in ${opts.timeoutMs} ms`))
    }, opts.timeoutMs)
    sent.then(
      (res) => {
        if (late) return void res.body?.cancel().catch(ignore)
        clearTimeout(timer)
        resolve(res)
      },
      (err: unknown) => {
        clearTimeout(timer)
        // After the deadline this settles nothing: the promise was already rejected with the OriginTimeout.
        reject(err)
      },
    )
  })
}

const ignore = () => {}

/**
 * Whether a body stream carries any bytes, reading up to the first non-empty chunk. Only for a GET or HEAD, whose
 * body fetch() refuses to send: a client's `Transfer-Encoding: chunked` with no bytes can then go without one. A
 * body that fails mid-read (the client went away) counts as carrying bytes: it cannot be forwarded either.
 */
export async function carriesBytes(body: ReadableStream<Uint8Array>): Promise<boolean> {
  const reader = body.getReader()
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) if (r.value.byteLength > 0) return true
    return false
  } catch {
    return true
  }
}

export interface RelayOptions {
  origin: string
  publicUrl: URL
  /** Headers Sluice adds to the response (cohort, cookies). Set-Cookie values are appended. */
  add: [string, string][]
}

/** The origin's response as the browser should see it: same status, headers and body, plus Sluice's additions. */
export function relay(res: Response, opts: RelayOptions): Response {
  // A 101 carries the WebSocket, which the copying constructor below does not.
  const out = res.status === 101 ? new Response(null, { status: 101, headers: res.headers, webSocket: res.webSocket }) : new Response(res.body, res)
  const location = out.headers.get('location')
  if (location?.startsWith(opts.origin)) {
    const rest = location.slice(opts.origin.length)
    if (rest === '' || rest.startsWith('/') || rest.startsWith('?') || rest.startsWith('#')) {
      out.headers.set('location', opts.publicUrl.origin + (rest || '/'))
    }
  }
  for (const [k, v] of opts.add) out.headers.append(k, v)
  return out
}
