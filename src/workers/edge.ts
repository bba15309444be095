/**
 * @module
 * The edge worker (`wrangler.toml`), deployed on your site's routes in front
 * of the stable and canary origins: the request path and nothing else, so the
 * code every request runs stays small. See src/edge/gateway.ts.
 */
import { createGateway } from '../edge/gateway.ts'

const gateway = createGateway()

export default {
  fetch: gateway.fetch,
  /**
   * wrangler.toml has no cron trigger, so a deployed edge worker never runs this: the control worker has its own.
   * Under `wrangler dev` (npm start), `/__scheduled` reaches only the first worker; this hands the tick on.
   */
  async scheduled(_controller, env) {
    await env.CONTROL.tick()
  },
} satisfies ExportedHandler<EdgeEnv>
