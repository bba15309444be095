/**
 * @module
 * A simulated visitor of the local stack, shared by `npm run traffic` and `npm run soak`: an address, and either a
 * cookie jar and a browser's headers, or no jar and a command-line client's (which the edge never makes sticky).
 */

export interface Visitor {
  id: number
  jar: Map<string, string> | null
}

/** The visitor's address in 198.18.0.0/15 (131,072 of them), so the judge sees as many clients as visitors. */
export const addressOf = (v: Visitor) => `198.${18 + ((v.id >> 16) & 1)}.${(v.id >> 8) & 255}.${v.id & 255}`

/** What the visitor sends for a request of `dest` (a `Sec-Fetch-Dest` value); `agent` names the tool. */
export function visitorHeaders(v: Visitor, dest: string, agent: string): Record<string, string> {
  const ip = { 'cf-connecting-ip': addressOf(v) }
  if (!v.jar) return { ...ip, 'user-agent': `${agent}-cli/1.0 (client ${v.id})` }
  const cookie = [...v.jar].map(([k, val]) => `${k}=${val}`).join('; ')
  return {
    ...ip,
    'user-agent': `Mozilla/5.0 (X11; Linux x86_64) ${agent}`,
    'sec-fetch-site': dest === 'document' ? 'none' : 'same-origin',
    'sec-fetch-mode': dest === 'document' ? 'navigate' : 'no-cors',
    'sec-fetch-dest': dest,
    ...(cookie ? { cookie } : {}),
  }
}

/** Keeps the response's cookies in the visitor's jar, as a browser would (`Max-Age=0` deletes). */
export function rememberCookies(v: Visitor, res: Response): void {
  if (!v.jar) return
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';')
    const eq = pair!.indexOf('=')
    if (eq <= 0) continue
    const name = pair!.slice(0, eq).trim()
    if (/max-age=0\b/i.test(line)) v.jar.delete(name)
    else v.jar.set(name, pair!.slice(eq + 1).trim())
  }
}
