/**
 * @module
 * Whether a page's Content-Security-Policy lets the RUM script tag run, and
 * with which nonce. Sluice adds its tag only where the page's own policy
 * already allows it: it never weakens a policy, and where the policy would
 * block the tag it adds nothing (and the request's data point says so).
 *
 * A script element with `src` is governed by `script-src-elem`, else
 * `script-src`, else `default-src`; with none of them the policy does not
 * restrict scripts. Every policy in the header (comma-separated), and every
 * `<meta>` policy in `<head>`, must allow the tag. A policy allows it by `'self'`, `*`, the page's scheme or its
 * host, unless it has `'strict-dynamic'` (which makes browsers ignore those),
 * or by a nonce, which Sluice copies onto the tag. Hashes cannot match a
 * tag Sluice writes; a policy that allows only them blocks it.
 */

export type ScriptPermission = { allowed: true; nonce?: string } | { allowed: false; why: string }

const NONCE = /^'nonce-([A-Za-z0-9+/_=-]+)'$/i

/** One policy's directives, by lower-case name; the first occurrence of a directive wins, as browsers ignore repeats. */
function directives(policy: string): Map<string, string[]> {
  const found = new Map<string, string[]>()
  for (const raw of policy.split(';')) {
    const tokens = raw.trim().split(/[\t\n\f\r ]+/)
    const name = tokens[0]?.toLowerCase()
    if (name && !found.has(name)) found.set(name, tokens.slice(1))
  }
  return found
}

function allowsBySource(sources: readonly string[], scheme: string, host: string): boolean {
  for (const s of sources) {
    const t = s.toLowerCase()
    if (t === "'self'" || t === '*' || t === `${scheme}:` || t === host || t === `${scheme}://${host}`) return true
    // `http:` also matches https URLs (CSP3 scheme-source matching); `https:` does not match an http page's script.
    if (scheme === 'https' && (t === 'http:' || t === `http://${host}`)) return true
  }
  return false
}

/**
 * `header` is the page's Content-Security-Policy (several policies joined by commas), or a `<meta>` policy's
 * content; `scheme` and `host` are the public URL's (`https`, `www.example.com`). Report-only policies block
 * nothing and are not consulted. Besides the tag, the beacon must be allowed: `connect-src` (else `default-src`)
 * must allow the page's own origin, and a `sandbox` policy (an opaque origin, no cookies) gets nothing.
 */
export function scriptPermission(header: string | null, scheme: string, host: string): ScriptPermission {
  if (header === null) return { allowed: true }
  return header.split(',').reduce<ScriptPermission>((sofar, policy) => bothPermit(sofar, onePolicy(policy, scheme, host)), { allowed: true })
}

/** What one policy allows: the tag by source (no nonce needed), by a nonce, or not at all. */
function onePolicy(policy: string, scheme: string, host: string): ScriptPermission {
  const d = directives(policy)
  if (d.has('sandbox')) return { allowed: false, why: 'a sandboxed page' }
  const connect = d.get('connect-src') ?? d.get('default-src')
  if (connect !== undefined && !allowsBySource(connect, scheme, host)) return { allowed: false, why: 'the policy would block the beacon (connect-src)' }
  const sources = d.get('script-src-elem') ?? d.get('script-src') ?? d.get('default-src')
  if (sources === undefined) return { allowed: true }
  // A policy that allows the tag by source accepts any nonce too: copying one another policy needs does no harm.
  if (!sources.some((s) => s.toLowerCase() === "'strict-dynamic'") && allowsBySource(sources, scheme, host)) return { allowed: true }
  const nonce = sources.map((s) => NONCE.exec(s)?.[1]).find((n) => n !== undefined)
  return nonce === undefined ? { allowed: false, why: 'the policy allows neither self nor a nonce' } : { allowed: true, nonce }
}

/** Two policies at once (two of the header's, or the header's and a `<meta>` one): the tag must satisfy both. */
export function bothPermit(a: ScriptPermission, b: ScriptPermission): ScriptPermission {
  if (!a.allowed) return a
  if (!b.allowed) return b
  if (a.nonce !== undefined && b.nonce !== undefined && a.nonce !== b.nonce) return { allowed: false, why: 'two policies ask for different nonces' }
  const nonce = a.nonce ?? b.nonce
  return nonce === undefined ? { allowed: true } : { allowed: true, nonce }
}
