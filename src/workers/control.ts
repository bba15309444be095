/**
 * @module
 * The control worker (`wrangler.control.toml`): the admin API and dashboard
 * under `/__sluice/` (reached only through the edge worker's CONTROL service
 * binding; it has no route of its own), the cron controller and the
 * coordinator Durable Object. It can be redeployed, or be down, without
 * touching the request path: the edge reads the published config from KV.
 */
import { WorkerEntrypoint } from 'cloudflare:workers'
import { Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { createAdminApi } from '../admin/api.ts'
import { type TickReport, runController } from '../control/controller.ts'
import { RESERVED_PREFIX } from '../core/config/schema.ts'
import { localMetrics } from '../control/metrics/local.ts'
import { createDashboard } from '../dashboard/index.tsx'
import { logOnce } from '../shared/log.ts'
import { problem } from '../shared/problem.ts'

export { Coordinator } from '../control/coordinator.ts'

export function createControlApp() {
  const app = new Hono<{ Bindings: ControlEnv }>()
  app.route(`${RESERVED_PREFIX}api`, createAdminApi())
  app.route(RESERVED_PREFIX, createDashboard())
  app.all('*', () => problem(404, 'Not Found', 'nothing is served at this reserved path'))
  app.onError((err) => {
    // Middleware (e.g. bearer auth) answers by throwing a ready response.
    if (err instanceof HTTPException) return err.getResponse()
    logOnce('unhandled', { detail: err instanceof Error ? err.message : String(err) })
    return problem(502, 'Bad Gateway', 'Sluice hit an unexpected error; it has been logged')
  })
  return app
}

const app = createControlApp()

function logReports(reports: TickReport[]) {
  for (const r of reports) if (r.decision !== 'hold') console.log(JSON.stringify({ component: 'sluice', event: 'decision', ...r }))
}

export default class ControlWorker extends WorkerEntrypoint<ControlEnv> {
  override fetch(request: Request): Response | Promise<Response> {
    return app.fetch(request, this.env, this.ctx)
  }

  /** The controller: every minute (wrangler.control.toml [triggers]), judge and move each progressing rollout. */
  override async scheduled(controller: ScheduledController): Promise<void> {
    this.ctx.waitUntil(runController(this.env, controller.scheduledTime).then(logReports))
  }

  /**
   * One controller tick now. Called by the edge worker's `scheduled` under `wrangler dev` (npm start), where
   * wrangler's `/__scheduled` reaches only the first worker of the session. It takes no time from the caller, so
   * nothing bound to this worker can make a bake time look elapsed.
   */
  async tick(): Promise<void> {
    logReports(await runController(this.env, Date.now()))
  }

  /**
   * Called by the edge worker under `npm start` only (SLUICE_LOCAL_METRICS = "1"), where Miniflare drops Analytics
   * Engine writes: the data points, a batch at a time (src/edge/metrics.ts), are kept in this isolate's memory for
   * the controller. Ignored when deployed.
   */
  writeDataPoints(points: AnalyticsEngineDataPoint[]): void {
    if (this.env.SLUICE_LOCAL_METRICS !== '1' || !Array.isArray(points)) return
    for (const point of points) localMetrics.writeDataPoint(point)
  }
}
