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
import type { Cohort } from '../core/config/schema.ts'
import type { ConfigStore } from './config-store.ts'
import { record } from './metrics.ts'
import { OriginTimeout, carriesBytes, forward, relay } from './proxy.ts'

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
  res?: Response
  /** The origin's status, 0 when it gave none. */
  status: number
  latencyMs: number
  timedOut: boolean
}

async function attempt(request: Request, body: ReadableStream | null, r: CompiledRollout, cohort: Cohort, url: URL, clientIp: string): Promise<Attempt> {
  const p = r.rollout.proxy
  const started = Date.now()
  try {
    const res = await forward(request, {
      origin: r.origins[cohort],
      url,
      timeoutMs: cohort === 'canary' ? p.canaryTimeoutMs : p.stableTimeoutMs,
      set: {
        [p.originCohortHeader]: cohort,
        'x-forwarded-host': url.host,
        'x-forwarded-proto': url.protocol.slice(0, -1),
        'x-forwarded-for': request.headers.get('x-forwarded-for') ?? clientIp,
      },
      dropCookies: r.ownCookies,
      dropHeaders: r.ownHeaders,
      body,
    })
    return { res, status: res.status, latencyMs: Date.now() - started, timedOut: false }
  } catch (err) {
    return { status: 0, latencyMs: Date.now() - started, timedOut: err instanceof OriginTimeout }
  }
}

/** Response headers Sluice adds: the cohort, and the cookies the assignment asked for. */
function additions(r: CompiledRollout, a: Assignment, url: URL): [string, string][] {
  const add: [string, string][] = []
  if (r.rollout.proxy.responseCohortHeader) add.push(['x-sluice-cohort', a.cohort])
  const c = r.rollout.cookie
  const secure = c.secure === 'auto' ? url.protocol === 'https:' : c.secure
  if (a.setId) {
    add.push([
      'set-cookie',
      serialize(c.name, a.setId, { path: c.path, domain: c.domain, maxAge: c.maxAge, sameSite: c.sameSite, httpOnly: c.httpOnly, secure }),
    ])
  }
  if (a.pin !== undefined) {
    const o = r.rollout.overrides
    add.push([
      'set-cookie',
      serialize(o.pinCookie, a.pin ?? '', { path: c.path, domain: c.domain, maxAge: a.pin === null ? 0 : o.pinMaxAge, sameSite: c.sameSite, httpOnly: c.httpOnly, secure }),
    ])
  }
  return add
}

export interface EdgeOptions {
  store: ConfigStore
  newId?: () => string
}

/**
 * Under `npm start` (SLUICE_LOCAL_METRICS = "1") data points go to the control worker's memory, because Miniflare
 * drops Analytics Engine writes and the controller there must read them back. Deployed, they go to METRICS.
 */
function metricsSink(env: EdgeEnv, ctx: ExecutionContext): Pick<AnalyticsEngineDataset, 'writeDataPoint'> | undefined {
  if (env.SLUICE_LOCAL_METRICS !== '1') return env.METRICS
  const control = env.CONTROL
  // Best effort, like Analytics Engine itself: a control worker that is restarting loses the point, not the request.
  return control && { writeDataPoint: (point) => ctx.waitUntil(control.writeDataPoint(point).catch(() => undefined)) }
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
    const r = config && selectRollout(config, url.host, url.pathname)
    if (!r) return gatewayError(503, 'No rollout is configured for this host.')

    const clientIp = request.headers.get('cf-connecting-ip') ?? ''
    const cf = request.cf as RequestFacts['cf'] & { colo?: string; country?: string }
    const a = assign(r, { headers: request.headers, url, clientIp, newId, cf })
    const query = r.rollout.overrides.query
    if (r.rollout.overrides.enabled) {
      const search = withoutParam(url.search, query)
      // Setting `search` re-parses the URL: only when the parameter was there.
      if (search !== url.search) url.search = search
    }

    const first = await attempt(request, body, r, a.cohort, url, clientIp)
    let served = first
    let servedBy: Cohort = a.cohort
    const f = r.rollout.failover
    const canaryFailed = a.cohort === 'canary' && (first.res === undefined || r.failoverStatuses.has(first.status))
    // Only requests that are safe to repeat and whose body was never streamed: a POST may already have taken effect.
    if (canaryFailed && f.enabled && SAFE_METHODS.has(method) && body === null) {
      await first.res?.body?.cancel()
      served = await attempt(request, body, r, 'stable', url, clientIp)
      servedBy = 'stable'
    }

    record(metricsSink(env, ctx), {
      rolloutId: r.rollout.id,
      cohort: a.cohort,
      reason: a.reason,
      release: r.rollout.release ?? '',
      method: request.method,
      status: first.status,
      latencyMs: first.latencyMs,
      failover: served !== first,
      colo: cf?.colo ?? '',
      country: cf?.country ?? '',
      client: clientKey(clientIp),
      ring: a.ring ?? '',
    })

    if (!served.res) {
      return served.timedOut
        ? gatewayError(504, 'The origin did not answer in time.')
        : gatewayError(502, 'The origin could not be reached.')
    }
    const add = additions(r, a, url)
    if (served !== first) add.push(['x-sluice-failover', '1'])
    return relay(served.res, { origin: r.origins[servedBy], publicUrl: url, add })
  }
}

