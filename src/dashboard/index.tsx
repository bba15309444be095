/**
 * @module
 * The operators' dashboard at `/__sluice/`: one HTML shell with its script and
 * styles inline under a per-response CSP nonce. The shell carries no data and
 * needs no credentials; the script calls the admin API with the operator's
 * token (or under Cloudflare Access, without one).
 *
 * Why inline and a nonce rather than `/__sluice/dashboard.js` and `'self'`:
 * the dashboard shares its origin with the proxied application, so `'self'`
 * would let any script that application serves run in the dashboard, next to
 * the token. A nonce trusts exactly what this response carries; and one
 * response means a shell and a script of different versions can never meet.
 */
import { Hono } from 'hono'
import { NONCE, type SecureHeadersVariables, secureHeaders } from 'hono/secure-headers'
import { Page } from './page.tsx'
import { clientScript } from './script.ts'
import { CSS } from './style.ts'

export const DASHBOARD_CSP = {
  defaultSrc: ["'none'"],
  scriptSrc: [NONCE],
  styleSrc: [NONCE],
  connectSrc: ["'self'"],
  imgSrc: ["'self'", 'data:'],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'none'"],
  // Where the browser supports Trusted Types, any string reaching an HTML sink (innerHTML…) throws.
  requireTrustedTypesFor: ["'script'"],
  trustedTypes: ["'none'"],
}

export function createDashboard() {
  const app = new Hono<{ Variables: SecureHeadersVariables }>()
  const headers = secureHeaders({
    contentSecurityPolicy: DASHBOARD_CSP,
    xFrameOptions: 'DENY',
    referrerPolicy: 'no-referrer',
    // Both act on the whole host (and HSTS on its subdomains), which belongs to the proxied application: not ours to set.
    strictTransportSecurity: false,
    originAgentCluster: false,
  })
  // The script is the same for every response; build it once per isolate.
  let script: string | undefined

  app.get('/', headers, (c) => {
    script ??= clientScript()
    c.header('cache-control', 'no-store')
    c.header('x-robots-tag', 'noindex, nofollow')
    return c.html(<Page nonce={c.get('secureHeadersNonce') ?? ''} script={script} css={CSS} />)
  })
  return app
}
