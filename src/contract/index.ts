/**
 * @module
 * The contract: every shape that crosses a boundary between the edge worker,
 * the control worker, the dashboard's browser code and the Node tools (CLI,
 * simulator). Pure, and dependent only on `zod/mini` and the pure core, so
 * anything may import it; the dashboard's browser code and the CLI import
 * types only (the one runs as served source text, the other starts faster
 * without zod).
 */
export * from './commands.ts'
export * from './datapoint.ts'
export * from './published.ts'
export * from './responses.ts'
export * from './writes.ts'
export * from './rum.ts'
