/**
 * @module
 * The edge worker's front door. `/__sluice/healthz` (this isolate's config
 * cache and shadow budget), the RUM script and its beacons (src/edge/rum/) are answered here;
 * the rest of the reserved `/__sluice/` prefix goes to the control worker over the CONTROL service binding and is
 * never proxied; everything else takes the request path. No router: one
 * prefix test is all the request path needs, and every byte here ships to
 * every request.
 */
import { RESERVED_PREFIX } from '../core/config/routing.ts'
import { logOnce } from '../shared/log.ts'
import { problem } from '../shared/problem.ts'
import { ConfigStore } from './config-store.ts'
import { fallbackConfig } from './fallback.ts'
import { createEdgeHandler, gatewayError } from './handler.ts'
import { metricsSink } from './metrics.ts'
import { BeaconLimiter, handleBeacon, serveScript } from './rum/index.ts'
import { shadowBudget } from './shadow/index.ts'
import { RUM_BEACON_PATH, RUM_SCRIPT_PATH } from '../contract/rum.ts'

const HEALTHZ = `${RESERVED_PREFIX}healthz`
const RESERVED_ROOT = RESERVED_PREFIX.slice(0, -1)

/**
 * Whether a path is Sluice's own. Percent-encoded forms count too (`/%5F%5Fsluice/api`): the origin, or a cache in
 * front of it, may decode them, so they must not be proxied. The decode runs only when there is a `%` to decode.
 */
export function isReserved(pathname: string): boolean {
  let path = pathname
  if (path.includes('%')) {
    try {
      path = decodeURIComponent(path)
    } catch {
      // Malformed escapes: judge the path as written.
    }
  }
  return path === RESERVED_ROOT || path.startsWith(RESERVED_PREFIX)
}

export interface GatewayOptions {
  /** Tests pass their own; a deployed worker keeps one per isolate. */
  store?: ConfigStore
  newId?: () => string
}

const ttlMs = (env: EdgeEnv) => {
  const s = Number(env.CONFIG_TTL_SECONDS)
  return (Number.isFinite(s) && s >= 0 ? s : 5) * 1000
}

/** Sluice's own endpoints: the admin API and dashboard live in the control worker. */
async function toControl(request: Request, env: EdgeEnv): Promise<Response> {
  if (!env.CONTROL) return problem(404, 'Not Found', 'nothing is served at this reserved path (the CONTROL binding is not configured)')
  try {
    return await env.CONTROL.fetch(request)
  } catch (err) {
    logOnce('control-unreachable', { detail: err instanceof Error ? err.message : String(err) })
    return problem(503, 'Service Unavailable', 'the control worker could not be reached; traffic is unaffected')
  }
}

export function createGateway(opts: GatewayOptions = {}) {
  // Built on the first request, when `env` is known, then kept for the isolate's life.
  let store = opts.store
  let edge: ReturnType<typeof createEdgeHandler> | undefined
  const limiter = new BeaconLimiter()
  const storeFor = (env: EdgeEnv) => (store ??= new ConfigStore({ ttlMs: ttlMs(env), fallback: () => fallbackConfig(env) }))

  return {
    async fetch(request: Request, env: EdgeEnv, ctx: ExecutionContext): Promise<Response> {
      try {
        const url = new URL(request.url)
        if (isReserved(url.pathname)) {
          // The RUM script and its beacons are the edge's own: no round trip to the control worker (README, "Real-user signals").
          if (url.pathname === RUM_SCRIPT_PATH) return serveScript(request, url)
          if (url.pathname === RUM_BEACON_PATH)
            return await handleBeacon(request, url, env, ctx, { store: storeFor(env), limiter, sink: metricsSink(env, ctx) })
          if (url.pathname === HEALTHZ && (request.method === 'GET' || request.method === 'HEAD')) {
            // The shadow budget too: requests a shadow step did not mirror because the isolate's slots were busy are
            // counted nowhere else (a data point each would cost most when the isolate is busiest).
            return Response.json({ ok: true, config: storeFor(env).stats, shadow: shadowBudget() }, { headers: { 'cache-control': 'no-store' } })
          }
          return await toControl(request, env)
        }
        edge ??= createEdgeHandler({ store: storeFor(env), ...(opts.newId ? { newId: opts.newId } : {}) })
        return await edge(request, url, env, ctx)
      } catch (err) {
        // The last line of defence: a bug in Sluice must never show a visitor a stack trace.
        logOnce('unhandled', { detail: err instanceof Error ? err.message : String(err) })
        return gatewayError(502, 'The gateway could not route this request.')
      }
    },
  } satisfies ExportedHandler<EdgeEnv>
}
