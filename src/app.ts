/**
 * @module
 * Assembles the worker's Hono app: the reserved `/__sluice/` prefix (never
 * proxied) and the edge request path for everything else.
 */
import { Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { createAdminApi } from './admin/api.ts'
import { problem } from './admin/problem.ts'
import { createDashboard } from './dashboard/index.tsx'
import { ConfigStore } from './edge/config-store.ts'
import { fallbackConfig } from './edge/fallback.ts'
import { createEdgeHandler, gatewayError } from './edge/handler.ts'
import { logOnce } from './edge/log.ts'

export const RESERVED_PREFIX = '/__sluice/'

export interface AppOptions {
  /** Tests pass their own; a deployed worker keeps one per isolate. */
  store?: ConfigStore
  newId?: () => string
}

const ttlMs = (env: Env) => {
  const s = Number(env.CONFIG_TTL_SECONDS)
  return (Number.isFinite(s) && s >= 0 ? s : 5) * 1000
}

export function createApp(opts: AppOptions = {}) {
  // Built on the first request, when `env` is known, then kept for the isolate's life.
  let store = opts.store
  let edge: ReturnType<typeof createEdgeHandler> | undefined
  const storeFor = (env: Env) => (store ??= new ConfigStore({ ttlMs: ttlMs(env), fallback: () => fallbackConfig(env) }))
  const app = new Hono<{ Bindings: Env }>()

  app.get(`${RESERVED_PREFIX}healthz`, (c) => c.json({ ok: true, config: storeFor(c.env).stats }, 200, { 'cache-control': 'no-store' }))
  app.route(`${RESERVED_PREFIX}api`, createAdminApi())
  app.route(RESERVED_PREFIX, createDashboard())
  app.all(`${RESERVED_PREFIX}*`, () => problem(404, 'Not Found', 'nothing is served at this reserved path'))
  app.all('*', (c) => (edge ??= createEdgeHandler({ store: storeFor(c.env), newId: opts.newId }))(c))

  // The last line of defence: a bug in Sluice must never show a visitor a stack trace.
  app.onError((err) => {
    // Middleware (e.g. bearer auth) answers by throwing a ready response.
    if (err instanceof HTTPException) return err.getResponse()
    logOnce('unhandled', { detail: err instanceof Error ? err.message : String(err) })
    return gatewayError(502, 'The gateway could not route this request.')
  })
  return app
}
