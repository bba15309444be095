/**
 * @module
 * Whether a page's Content-Security-Policy lets the RUM script tag run, and
 * with which nonce. Sluice adds its tag only where the page's own policy
 * already allows it: it never weakens a policy, and where the policy would
 * block the tag it adds nothing (and the request's data point says so).
 *
 * A script element with `src` is governed by `script-src-elem`, else
 * `script-src`, else `default-src`; with none of them the policy does not
 * restrict scripts. Every policy in the header (comma-separated) must allow
 * the tag. A policy allows it by `'self'`, `*`, the page's scheme or its
 * host, unless it has `'strict-dynamic'` (which makes browsers ignore those),
 * or by a nonce, which Sluice copies onto the tag. Hashes cannot match a
 * tag Sluice writes; a policy that allows only them blocks it.
 */

export type ScriptPermission = { allowed: true; nonce?: string } | { allowed: false; why: string }

const NONCE = /^'nonce-([A-Za-z0-9+/_=-]+)'$/i

/** The source list governing a `<script src>` in one policy, or null when the policy does not restrict scripts. */
function scriptSources(policy: string): string[] | null {
  const found = new Map<string, string[]>()
  for (const raw of policy.split(';')) {
    const tokens = raw.trim().split(/[\t\n\f\r ]+/)
    const name = tokens[0]?.toLowerCase()
    // The first occurrence of a directive wins; browsers ignore repeats.
    if (name && !found.has(name)) found.set(name, tokens.slice(1))
  }
  return found.get('script-src-elem') ?? found.get('script-src') ?? found.get('default-src') ?? null
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
 * `header` is the page's Content-Security-Policy (several policies joined by commas); `scheme` and `host` are the
 * public URL's (`https`, `www.example.com`). Report-only policies block nothing and are not consulted.
 */
export function scriptPermission(header: string | null, scheme: string, host: string): ScriptPermission {
  if (header === null) return { allowed: true }
  let nonce: string | undefined
  for (const policy of header.split(',')) {
    const sources = scriptSources(policy)
    if (sources === null) continue
    const lower = sources.map((s) => s.toLowerCase())
    const own = sources.map((s) => NONCE.exec(s)?.[1]).find((n) => n !== undefined)
    const bySource = !lower.includes("'strict-dynamic'") && allowsBySource(sources, scheme, host)
    if (own !== undefined && nonce !== undefined && own !== nonce && !bySource) return { allowed: false, why: 'two policies ask for different nonces' }
    if (own !== undefined && !bySource) nonce = own
    else if (!bySource) return { allowed: false, why: 'the policy allows neither self nor a nonce' }
    // A policy that allows the tag by source accepts any nonce too: copying one another policy needs does no harm.
  }
  return nonce === undefined ? { allowed: true } : { allowed: true, nonce }
}
