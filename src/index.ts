/**
 * @module
 * The worker's entry point: the edge request path and, under `/__sluice/`,
 * Sluice's own endpoints.
 */
import { createApp } from './app.ts'

export { Coordinator } from './control/coordinator.ts'

const app = createApp()

export default {
  fetch: app.fetch,
} satisfies ExportedHandler<Env>
