/**
 * @module
 * The worker's entry point: the edge request path and, under `/__sluice/`,
 * Sluice's own endpoints.
 */
import { createApp } from './app.ts'
import { type TickReport, runController } from './control/controller.ts'

export { Coordinator } from './control/coordinator.ts'

const app = createApp()

export default {
  fetch: app.fetch,
  // The controller: every minute (wrangler.toml [triggers]), judge and move each progressing rollout.
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(runController(env, controller.scheduledTime).then(logReports))
  },
} satisfies ExportedHandler<Env>

function logReports(reports: TickReport[]) {
  for (const r of reports) if (r.decision !== 'hold') console.log(JSON.stringify({ component: 'sluice', event: 'decision', ...r }))
}
