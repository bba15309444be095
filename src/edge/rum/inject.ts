/**
 * @module
 * Adds the RUM script tag to an HTML page on its way to the browser, with
 * HTMLRewriter (streaming: the page is never buffered), and serves the script
 * itself from memory. Only a `GET` answered `200` with `text/html` that the
 * origin did not mark `no-transform` is touched; everything else passes
 * exactly as it came.
 */
import { RUM_SCRIPT_PATH } from '../../contract/rum.ts'
import { type ScriptPermission, bothPermit, scriptPermission } from './csp.ts'
import { RUM_SCRIPT, RUM_SCRIPT_HASH } from './script.generated.ts'

const NO_TRANSFORM = /(?:^|,)\s*no-transform\s*(?:,|$)/i
/** Encodings workerd decodes before the rewriter and encodes again after it (not deflate: it passes that through). */
const DECODED = new Set(['gzip', 'br', 'identity'])
const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i
/**
 * Charsets HTMLRewriter parses: it refuses encodings that are not ASCII-compatible (UTF-16, ISO-2022-JP) and
 * unknown labels by throwing, so only these pages are touched; the rest pass as they came.
 */
const PARSED_CHARSETS = /^(utf-?8|us-ascii|ascii|iso-8859-([1-9]|1[0135]|1[46])|latin1|l1|windows-125[0-8]|cp125[0-8])$/i

/** Whether the answer is an HTML page Sluice may rewrite; reads headers only. */
export function isRewritable(method: string, res: Response): boolean {
  if (method !== 'GET' || res.status !== 200 || res.body === null) return false
  const h = res.headers
  const type = h.get('content-type')
  if (type === null || !type.trimStart().toLowerCase().startsWith('text/html')) return false
  const charset = CHARSET.exec(type)?.[1]
  if (charset !== undefined && !PARSED_CHARSETS.test(charset)) return false
  const cc = h.get('cache-control')
  if (cc !== null && NO_TRANSFORM.test(cc)) return false
  const encoding = h.get('content-encoding')
  return encoding === null || DECODED.has(encoding.trim().toLowerCase())
}

/** A navigation (or a frame): a page fetched by a script (`Sec-Fetch-Dest: empty`) would run no tag of its own. */
export function isDocument(headers: Headers): boolean {
  const dest = headers.get('sec-fetch-dest')
  return dest === null || dest === 'document' || dest === 'iframe' || dest === 'frame'
}

/** What the page's headers allow (see csp.ts); `protocol` is the public URL's, `https:`. */
export const permissionFor = (res: Response, protocol: string, host: string): ScriptPermission =>
  scriptPermission(res.headers.get('content-security-policy'), protocol.slice(0, -1), host)

export const SCRIPT_URL = `${RUM_SCRIPT_PATH}?v=${RUM_SCRIPT_HASH}`

/**
 * The tag, with the script's absolute URL: after a `<base href>` a relative one would point at another host. The
 * nonce came from the page's own policy and matched [A-Za-z0-9+/_=-], and host is the request's: nothing to escape.
 */
const tagFor = (nonce: string | undefined, scheme: string, host: string) =>
  `<script src="${scheme}://${host}${SCRIPT_URL}" async${nonce === undefined ? '' : ` nonce="${nonce}"`}></script>`

/**
 * The page with the tag last in `<head>`, where every `<meta>` policy of the head has been seen: one that forbids
 * the tag (or asks for a nonce) is obeyed like the header's. A page without a `</head>` tag gets nothing. Returns
 * the page untouched should the rewriter refuse it (it throws at once on what it cannot parse).
 */
export function inject(res: Response, permission: ScriptPermission & { allowed: true }, scheme: string, host: string): Response {
  let allowed: ScriptPermission = permission
  let done = false
  let out: Response
  try {
    out = new HTMLRewriter()
      .on('head meta[http-equiv]', {
        element(e) {
          if (e.getAttribute('http-equiv')?.trim().toLowerCase() !== 'content-security-policy') return
          allowed = bothPermit(allowed, scriptPermission(e.getAttribute('content') ?? '', scheme, host))
        },
      })
      .on('head', {
        element(e) {
          e.onEndTag((end) => {
            if (done || !allowed.allowed) return
            done = true
            end.before(tagFor(allowed.nonce, scheme, host), { html: true })
          })
        },
      })
      .transform(res)
  } catch {
    return res
  }
  const h = out.headers
  h.delete('content-length')
  // The bytes differ from the origin's: a strong validator would claim they do not.
  const etag = h.get('etag')
  if (etag !== null && !etag.startsWith('W/')) h.set('etag', `W/${etag}`)
  return out
}

/** The script, from memory: immutable under its hash, revalidated under any other URL. */
export function serveScript(request: Request, url: URL): Response {
  if (request.method !== 'GET' && request.method !== 'HEAD') return new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } })
  const current = url.searchParams.get('v') === RUM_SCRIPT_HASH
  return new Response(request.method === 'HEAD' ? null : RUM_SCRIPT, {
    headers: {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': current ? 'public, max-age=31536000, immutable' : 'no-cache',
      etag: `"${RUM_SCRIPT_HASH}"`,
      'x-content-type-options': 'nosniff',
    },
  })
}
