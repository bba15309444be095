/**
 * @module
 * Adds the RUM script tag to an HTML page on its way to the browser, with
 * HTMLRewriter (streaming: the page is never buffered), and serves the script
 * itself from memory. Only a `GET` answered `200` with `text/html` that the
 * origin did not mark `no-transform` is touched; everything else passes
 * exactly as it came.
 */
import { RUM_SCRIPT_PATH } from '../../contract/rum.ts'
import { type ScriptPermission, scriptPermission } from './csp.ts'
import { RUM_SCRIPT, RUM_SCRIPT_HASH } from './script.generated.ts'

const NO_TRANSFORM = /(?:^|,)\s*no-transform\s*(?:,|$)/i
/** Encodings workerd decodes before the rewriter and encodes again after it. */
const DECODED = new Set(['gzip', 'br', 'deflate', 'identity'])

/** Whether the answer is an HTML page Sluice may rewrite; reads headers only. */
export function isRewritable(method: string, res: Response): boolean {
  if (method !== 'GET' || res.status !== 200 || res.body === null) return false
  const h = res.headers
  const type = h.get('content-type')
  if (type === null || !type.trimStart().toLowerCase().startsWith('text/html')) return false
  const cc = h.get('cache-control')
  if (cc !== null && NO_TRANSFORM.test(cc)) return false
  const encoding = h.get('content-encoding')
  return encoding === null || DECODED.has(encoding.trim().toLowerCase())
}

/** What the page's headers allow (see csp.ts); `protocol` is the public URL's, `https:`. */
export const permissionFor = (res: Response, protocol: string, host: string): ScriptPermission =>
  scriptPermission(res.headers.get('content-security-policy'), protocol.slice(0, -1), host)

export const SCRIPT_URL = `${RUM_SCRIPT_PATH}?v=${RUM_SCRIPT_HASH}`

/**
 * The page with the tag first in `<head>`: before any `<meta>` policy, which governs only what follows it, and
 * before the page's own scripts, so their load errors are seen. A page without a `<head>` tag gets nothing.
 */
export function inject(res: Response, nonce: string | undefined): Response {
  // The nonce came from the page's own header and matched [A-Za-z0-9+/_=-]: nothing to escape.
  const tag = `<script src="${SCRIPT_URL}" async${nonce === undefined ? '' : ` nonce="${nonce}"`}></script>`
  let done = false
  const out = new HTMLRewriter()
    .on('head', {
      element(e) {
        if (done) return
        done = true
        e.prepend(tag, { html: true })
      },
    })
    .transform(res)
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
