/**
 * @module
 * Who is calling the admin API. Two modes, either or both:
 * - bearer tokens from Worker secrets: `SLUICE_ADMIN_TOKEN` (full access) and
 *   optional `SLUICE_TOKENS`, a JSON list of `{ name, token, role }` with role
 *   `read` or `write`; compared in constant time by Hono's `bearerAuth`;
 * - Cloudflare Access: a `Cf-Access-Jwt-Assertion` verified against the team's
 *   keys when `ACCESS_TEAM_DOMAIN` and `ACCESS_AUD` are set.
 * With neither configured the API refuses everything (fail closed) and says why.
 */
import type { Context, MiddlewareHandler } from 'hono'
import { bearerAuth } from 'hono/bearer-auth'
import { timingSafeEqual } from 'hono/utils/buffer'
import { verifyWithJwks } from 'hono/utils/jwt/jwt'
import type { HonoJsonWebKey } from 'hono/utils/jwt/jws'
import { logOnce } from '../shared/log.ts'
import { problem } from '../shared/problem.ts'

export type Role = 'read' | 'write'

export interface Caller {
  name: string
  role: Role
}

export interface AuthVars {
  caller: Caller
}

interface Token extends Caller {
  token: string
}

/** The credentials settings (declared in `src/env.d.ts`). */
export type AuthEnv = Pick<ControlEnv, 'SLUICE_ADMIN_TOKEN' | 'SLUICE_TOKENS' | 'ACCESS_TEAM_DOMAIN' | 'ACCESS_AUD'>

/** The configured tokens; a malformed `SLUICE_TOKENS` contributes none (and is logged), never a looser check. */
export function tokensOf(env: AuthEnv): Token[] {
  const tokens: Token[] = []
  if (env.SLUICE_ADMIN_TOKEN) tokens.push({ name: 'admin', role: 'write', token: env.SLUICE_ADMIN_TOKEN })
  if (env.SLUICE_TOKENS) {
    try {
      for (const t of JSON.parse(env.SLUICE_TOKENS) as Token[]) {
        if (typeof t?.name === 'string' && typeof t.token === 'string' && t.token.length >= 16 && (t.role === 'read' || t.role === 'write')) {
          tokens.push({ name: t.name, role: t.role, token: t.token })
        } else logOnce('tokens-entry-invalid', { detail: 'SLUICE_TOKENS entries need name, token (>= 16 chars) and role read|write' })
      }
    } catch {
      logOnce('tokens-invalid', { detail: 'SLUICE_TOKENS is not a JSON list' })
    }
  }
  return tokens
}

const accessConfigured = (env: AuthEnv) => Boolean(env.ACCESS_TEAM_DOMAIN && env.ACCESS_AUD)

// The team's keys rotate rarely; re-reading them on every admin call would add a subrequest each time.
const KEYS_TTL_MS = 5 * 60_000
const KEYS_MIN_REFRESH_MS = 60_000
let keyCache: { team: string; keys: HonoJsonWebKey[]; at: number } | undefined

async function teamKeys(team: string, refresh: boolean): Promise<HonoJsonWebKey[]> {
  const age = keyCache?.team === team ? Date.now() - keyCache.at : Infinity
  // A forced re-read at most once a minute: otherwise every forged token would cost a subrequest.
  if (age < (refresh ? KEYS_MIN_REFRESH_MS : KEYS_TTL_MS)) return keyCache!.keys
  const res = await fetch(`${team}/cdn-cgi/access/certs`, { signal: AbortSignal.timeout(5_000) })
  if (!res.ok) throw new Error(`Access certs: ${res.status}`)
  const { keys } = (await res.json()) as { keys: HonoJsonWebKey[] }
  keyCache = { team, keys, at: Date.now() }
  return keys
}

async function verifyAccess(c: Context<{ Bindings: AuthEnv; Variables: AuthVars }>, jwt: string): Promise<boolean> {
  const team = c.env.ACCESS_TEAM_DOMAIN!.replace(/\/+$/, '')
  const verify = async (refresh: boolean) =>
    verifyWithJwks(jwt, { keys: await teamKeys(team, refresh), verification: { iss: team, aud: c.env.ACCESS_AUD! }, allowedAlgorithms: ['RS256'] })
  try {
    // A key we do not know yet may be a fresh rotation: re-read the keys once before refusing.
    const payload = await verify(false).catch(() => verify(true))
    const who = typeof payload.email === 'string' ? payload.email : typeof payload.sub === 'string' ? payload.sub : 'access'
    c.set('caller', { name: who, role: 'write' })
    return true
  } catch {
    return false
  }
}

const unauthorized = (detail: string) => () => problem(401, 'Unauthorized', detail, undefined, { 'www-authenticate': 'Bearer realm="sluice"' })

export function authenticate(): MiddlewareHandler<{ Bindings: AuthEnv; Variables: AuthVars }> {
  return async (c, next) => {
    const tokens = tokensOf(c.env)
    if (tokens.length === 0 && !accessConfigured(c.env)) {
      return problem(
        503,
        'Admin API not configured',
        'No admin credentials are configured, so every request is refused. Set SLUICE_ADMIN_TOKEN (wrangler secret put SLUICE_ADMIN_TOKEN) or Cloudflare Access (ACCESS_TEAM_DOMAIN, ACCESS_AUD).',
      )
    }
    const assertion = c.req.header('cf-access-jwt-assertion')
    if (assertion && accessConfigured(c.env)) {
      if (await verifyAccess(c, assertion)) return next()
      return problem(401, 'Unauthorized', 'The Cloudflare Access assertion did not verify.')
    }
    return bearerAuth({
      verifyToken: async (presented) => {
        let match: Token | undefined
        // Compare against every token, so timing does not reveal which (or whether any) matched early.
        for (const t of tokens) if ((await timingSafeEqual(t.token, presented)) && !match) match = t
        if (match) c.set('caller', { name: match.name, role: match.role })
        return match !== undefined
      },
      noAuthenticationHeader: { message: unauthorized('Send Authorization: Bearer <token>.') },
      invalidAuthenticationHeader: { message: () => problem(400, 'Bad Request', 'The Authorization header is not a Bearer token.') },
      invalidToken: { message: unauthorized('The token is not valid.') },
    })(c as unknown as Context, next)
  }
}

/**
 * Writes must not come from another site. Bearer tokens are never sent by a
 * browser on its own, but a Cloudflare Access session is a cookie: without this
 * check, a form on any site could POST `rollback` with it.
 */
export function sameOriginWrites(): MiddlewareHandler {
  return async (c, next) => {
    const site = c.req.header('sec-fetch-site')
    const origin = c.req.header('origin')
    const crossSite = (site !== undefined && site !== 'same-origin' && site !== 'none') || (origin !== undefined && origin !== new URL(c.req.url).origin)
    if (crossSite) return problem(403, 'Forbidden', 'cross-site writes are refused; call the API from the dashboard, the CLI or a server')
    return next()
  }
}

/** Writes need a `write` caller; read-only tokens get 403. */
export function requireWrite(): MiddlewareHandler<{ Variables: AuthVars }> {
  return async (c, next) => {
    if (c.get('caller').role !== 'write') return problem(403, 'Forbidden', `token "${c.get('caller').name}" is read-only`)
    return next()
  }
}
