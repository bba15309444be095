/**
 * @module
 * Forwards a request to an origin and relays the answer, streaming both ways.
 *
 * Not `hono/proxy`: it drops `Upgrade` (breaking WebSockets), rebuilds the
 * response without its `webSocket`, and rewrites `Accept-Encoding`; a gateway
 * that claims to be transparent must do none of those.
 */

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection and are never forwarded. workerd's fetch already
 * drops the connection-level ones (Connection, Keep-Alive, TE, Trailer, Transfer-Encoding, Upgrade) and sets Host
 * from the URL, so deleting those again only costs a call into the runtime per name (bench/RESULTS.md); these are the
 * ones it passes through. The proxy test "no hop-by-hop header reaches the origin" holds the runtime to that.
 */
const HOP = ['proxy-connection', 'proxy-authenticate', 'proxy-authorization']

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/

/** What Sluice keeps to itself: never forwarded to an origin. */
export interface OwnNames {
  /** Cookie names (the cohort cookie, the pin). */
  readonly ownCookies: readonly string[]
  /** Lower-case request header names (the tester override, which may carry a secret). */
  readonly ownHeaders: readonly string[]
}

export class OriginTimeout extends Error {
  override name = 'OriginTimeout'
}

/**
 * Removes the named cookies from a Cookie header; returns null when nothing is left. The pairs kept are trimmed and
 * joined with "; ". One pass over the header with no intermediate arrays: a returning visitor's Cookie header always
 * holds Sluice's cookie, so this runs on most requests (a property test checks it against split, filter and join).
 */
export function stripCookies(header: string, names: readonly string[]): string | null {
  if (!names.some((n) => header.includes(n))) return header
  let kept = ''
  for (let start = 0; start <= header.length;) {
    let end = header.indexOf(';', start)
    if (end === -1) end = header.length
    const pair = header.slice(start, end).trim()
    start = end + 1
    if (pair === '') continue
    const eq = pair.indexOf('=')
    if (names.includes((eq === -1 ? pair : pair.slice(0, eq)).trim())) continue
    kept = kept === '' ? pair : `${kept}; ${pair}`
  }
  return kept === '' ? null : kept
}

/**
 * The client's request headers as an origin may see them: without hop-by-hop headers and without Sluice's own
 * cookies and headers. `cookie` is the incoming Cookie header, which the caller has already read. The caller adds
 * its own headers (cohort, X-Forwarded-*) to the copy returned.
 */
export function originHeaders(incoming: Headers, cookie: string | null, own: OwnNames): Headers {
  // A copy made by the runtime, then a few targeted changes. Iterating Headers from JS materialises every entry and
  // costs about twice as much (22 µs against 12 µs in workerd; see bench/RESULTS.md), and most of these deletes are
  // of names that are not there.
  const headers = new Headers(incoming)
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
  for (const name of own.ownHeaders) headers.delete(name)
  if (cookie !== null) {
    const kept = stripCookies(cookie, own.ownCookies)
    if (kept === null) headers.delete('cookie')
    else if (kept !== cookie) headers.set('cookie', kept)
  }
  // A WebSocket handshake needs Upgrade, in the form fetch recognises (it reads it, then drops it as hop-by-hop).
  if (upgrade?.toLowerCase() === 'websocket') headers.set('upgrade', 'websocket')
  return headers
}

/**
 * Sends a request to an origin (`target` is the full URL, `init` carries
 * `redirect: "manual"` and the headers from `originHeaders`). Resolves with
 * the origin's response (any status); rejects on a network error or when no
 * response headers arrive in `timeoutMs` (an `OriginTimeout`). The timeout
 * covers only the wait for headers, so long downloads, SSE and WebSockets are
 * not cut off.
 *
 * The deadline races the subrequest rather than aborting it: an AbortSignal on a live fetch is the most expensive
 * part of a timeout in workerd (bench/RESULTS.md), and AbortSignal.timeout(), the cheaper signal, would also cut
 * the response body when it fires later. The fetch that loses the race is abandoned safely: a late response has
 * its body cancelled and is never handed on, a late failure is absorbed here (so no unhandled rejection), and the
 * runtime cancels a subrequest still pending when the request ends.
 */
export function forward(target: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  return new Promise((resolve, reject) => {
    // Inside the executor: should fetch throw rather than reject, the promise rejects all the same.
    const sent = fetch(target, init)
    let late = false
    const timer = setTimeout(() => {
      late = true
      reject(new OriginTimeout(`no response headers in ${timeoutMs} ms`))
    }, timeoutMs)
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

/** The path (with query and fragment) of a Location on the origin's own host, or null for any other Location. */
export function ownPath(location: string, origin: string): string | null {
  if (!location.startsWith(origin)) return null
  const rest = location.slice(origin.length)
  return rest === '' || rest.startsWith('/') || rest.startsWith('?') || rest.startsWith('#') ? rest || '/' : null
}

/**
 * The origin's response as the browser should see it: same status, headers and body, with a `Location` on the
 * origin's own host moved to the public one (a redirect's, a 201's or a 202's: any answer but a 200, whose Location
 * RFC 9110 gives no meaning and whose reading would cost most requests a call into the runtime). The caller
 * appends Sluice's own headers to the copy returned.
 */
export function relay(res: Response, origin: string, publicUrl: URL): Response {
  const status = res.status
  // A 101 carries the WebSocket, which the copying constructor below does not.
  const out = status === 101 ? new Response(null, { status: 101, headers: res.headers, webSocket: res.webSocket }) : new Response(res.body, res)
  if (status === 200) return out
  const headers = out.headers
  const location = headers.get('location')
  const path = location === null ? null : ownPath(location, origin)
  if (path !== null) headers.set('location', publicUrl.origin + path)
  return out
}
