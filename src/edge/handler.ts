/**
 * @module
 * The request path: pick the rollout, assign the cohort, proxy, fail over, and
 * write one metric. Everything that can fail here has a defined answer; no
 * request ever sees a Sluice-made 500.
 */
import { serialize } from 'hono/utils/cookie'
import { type Assignment, type RequestFacts, assign } from '../core/cohort/assign.ts'
import { clientKey } from '../core/cohort/client.ts'
import { type CompiledRollout, selectRollout } from '../core/config/compile.ts'
import type { Cohort } from '../core/config/routing.ts'
import type { ConfigStore } from './config-store.ts'
import { metricsSink, record } from './metrics.ts'
import { OriginTimeout, carriesBytes, forward, originHeaders, relay } from './proxy.ts'
import { type RumOutcome, type ScriptPermission, inRumSample, inject, isDocument, isRewritable, permissionFor } from './rum/index.ts'
import { shadowed } from './shadow/index.ts'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** A short, plain answer from Sluice itself: no stack, no internal URL. */
export const gatewayError = (status: 400 | 405 | 502 | 503 | 504, message: string) =>
  new Response(`${message}\n`, {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-sluice-error': '1' },
  })

/**
 * The query string without one parameter, every other byte left as the client sent it (re-serialising through
 * URLSearchParams would rewrite `a%20b` as `a+b` and `?flag` as `?flag=`, breaking signed URLs).
 */
export function withoutParam(search: string, name: string): string {
  if (!search.includes(name)) return search
  const kept = search
    .slice(1)
    .split('&')
    .filter((pair) => {
      const key = pair.split('=', 1)[0]!
      try {
        return decodeURIComponent(key.replace(/\+/g, ' ')) !== name
      } catch {
        return true
      }
    })
  return kept.length ? `?${kept.join('&')}` : ''
}

interface Attempt {
  res: Response | undefined
  /** The origin's status, 0 when it gave none. */
  status: number
  latencyMs: number
  timedOut: boolean
}

/** One origin request, timed; never rejects (forward rejects only asynchronously). One shape for both outcomes. */
function attempt(target: string, init: RequestInit, timeoutMs: number): Promise<Attempt> {
  const started = Date.now()
  return forward(target, init, timeoutMs).then(
    (res) => ({ res, status: res.status, latencyMs: Date.now() - started, timedOut: false }),
    (err: unknown) => ({ res: undefined, status: 0, latencyMs: Date.now() - started, timedOut: err instanceof OriginTimeout }),
  )
}

/** Appends the response headers Sluice adds: the cohort, and the cookies the assignment asked for. */
function addOwnHeaders(headers: Headers, r: CompiledRollout, a: Assignment, https: boolean): void {
  if (r.rollout.proxy.responseCohortHeader) headers.append('x-sluice-cohort', a.cohort)
  // Most requests set no cookie (a returning visitor): they stop here.
  if (a.setId === undefined && a.pin === undefined) return
  const c = r.rollout.cookie
  const secure = c.secure === 'auto' ? https : c.secure
  if (a.setId) {
    headers.append(
      'set-cookie',
      serialize(c.name, a.setId, { path: c.path, domain: c.domain, maxAge: c.maxAge, sameSite: c.sameSite, httpOnly: c.httpOnly, secure }),
    )
  }
  if (a.pin !== undefined) {
    const o = r.rollout.overrides
    headers.append(
      'set-cookie',
      serialize(o.pinCookie, a.pin ?? '', {
        path: c.path,
        domain: c.domain,
        maxAge: a.pin === null ? 0 : o.pinMaxAge,
        sameSite: c.sameSite,
        httpOnly: c.httpOnly,
        secure,
      }),
    )
  }
}

export interface EdgeOptions {
  store: ConfigStore
  newId?: () => string
}

/** The request path for one request; `url` is `request.url`, already parsed by the caller. */
export function createEdgeHandler({ store, newId = () => crypto.randomUUID() }: EdgeOptions) {
  return async function edge(request: Request, url: URL, env: EdgeEnv, ctx: ExecutionContext): Promise<Response> {
    // Requests Sluice cannot or will not forward are the client's doing: answered here, before any origin is asked,
    // and never written as a data point, so no client can make a healthy cohort look broken (fetch() throws on a
    // GET with a body, which would otherwise read as the origin failing).
    const method = request.method
    // TRACE echoes the request as the origin received it: the visitor's cookies and the headers Sluice adds.
    if (method === 'TRACE') return gatewayError(405, 'TRACE requests are not forwarded.')
    let body = request.body
    if (body !== null && (method === 'GET' || method === 'HEAD')) {
      // Dropping the body instead would have an API that reads GET bodies answer a different question.
      if (await carriesBytes(body)) return gatewayError(400, `A ${method} request cannot carry a body.`)
      body = null
    }
    const config = await store.get(env.SLUICE_KV, (p) => ctx.waitUntil(p))
    // Each URL getter is a call into the runtime that builds a new string: read each part once.
    const host = url.host
    const path = url.pathname
    const r = config && selectRollout(config, host, path)
    if (!r) return gatewayError(503, 'No rollout is configured for this host.')

    const headers = request.headers
    const clientIp = headers.get('cf-connecting-ip') ?? ''
    const cf = request.cf as RequestFacts['cf'] & { colo?: string; country?: string }
    const cookie = headers.get('cookie')
    const query = url.search
    const a = assign(r, { headers, url, clientIp, newId, cf, cookie, search: query })
    const o = r.rollout.overrides
    const search = o.enabled ? withoutParam(query, o.query) : query
    const protocol = url.protocol

    // Built once for both attempts: a failover changes only the cohort it tells the origin.
    const p = r.rollout.proxy
    const toOrigin = originHeaders(headers, cookie, r)
    toOrigin.set(p.originCohortHeader, a.cohort)
    toOrigin.set('x-forwarded-host', host)
    toOrigin.set('x-forwarded-proto', protocol.slice(0, -1))
    toOrigin.set('x-forwarded-for', headers.get('x-forwarded-for') ?? clientIp)
    const init: RequestInit = { method, headers: toOrigin, body, redirect: 'manual' }
    const target = path + search

    const first = await attempt(r.origins[a.cohort] + target, init, a.cohort === 'canary' ? p.canaryTimeoutMs : p.stableTimeoutMs)
    let served = first
    let servedBy: Cohort = a.cohort
    const f = r.rollout.failover
    const canaryFailed = a.cohort === 'canary' && (first.res === undefined || r.failoverStatuses.has(first.status))
    // Only requests that are safe to repeat and whose body was never streamed: a POST may already have taken effect.
    if (canaryFailed && f.enabled && SAFE_METHODS.has(method) && body === null) {
      await first.res?.body?.cancel()
      toOrigin.set(p.originCohortHeader, 'stable')
      served = await attempt(r.origins.stable + target, init, p.stableTimeoutMs)
      servedBy = 'stable'
    }

    // The script goes to sampled browsers placed by the weight (the visitors the judge compares; a bot runs no
    // script), on the pages they navigate to: not on a page a script fetches (Sec-Fetch-Dest "empty").
    let rum: RumOutcome = ''
    let permission: ScriptPermission | undefined
    // During a shadow step a share of stable's visitors is mirrored (src/edge/shadow/); outside one, this comparison
    // is all a request pays for the feature (bench/RESULTS.md).
    const res =
      r.rollout.shadowWeight > 0 && served.res !== undefined
        ? shadowed({
            r,
            a,
            method,
            path,
            target,
            body,
            incoming: headers,
            toOrigin,
            res: served.res,
            latencyMs: first.latencyMs,
            clientIp,
            colo: cf?.colo ?? '',
            country: cf?.country ?? '',
            env,
            ctx,
          })
        : served.res
    // Whether a page carries the tag depends on Sec-Fetch-Dest: caches must not hand a fetched copy to a navigation.
    const varies = r.rollout.rum.enabled && res !== undefined && isRewritable(method, res)
    if (varies && a.id !== undefined && a.source !== 'derived' && isDocument(headers) && inRumSample(r.salt, a.id, r.rollout.rum.sampleRate)) {
      permission = permissionFor(res, protocol, host)
      rum = permission.allowed ? 'injected' : 'csp'
    }

    record(metricsSink(env, ctx), {
      rolloutId: r.rollout.id,
      cohort: a.cohort,
      reason: a.reason,
      release: r.rollout.release ?? '',
      method,
      status: first.status,
      latencyMs: first.latencyMs,
      failover: served !== first,
      colo: cf?.colo ?? '',
      country: cf?.country ?? '',
      client: clientKey(clientIp),
      ring: a.ring ?? '',
      rum,
    })

    if (!res) {
      return served.timedOut ? gatewayError(504, 'The origin did not answer in time.') : gatewayError(502, 'The origin could not be reached.')
    }
    const relayed = relay(res, r.origins[servedBy], url)
    const out = permission?.allowed ? inject(relayed, permission, protocol.slice(0, -1), host) : relayed
    addOwnHeaders(out.headers, r, a, protocol === 'https:')
    if (served !== first) out.headers.append('x-sluice-failover', '1')
    if (varies) out.headers.append('vary', 'Sec-Fetch-Dest')
    return out
  }
}
