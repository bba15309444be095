/**
 * @module
 * One Analytics Engine data point per proxied request, and one per shadow
 * comparison, in the layouts of src/contract/datapoint.ts (a contract with
 * the controller's SQL; see "Metrics layout" in the README).
 */
import { type RequestPoint, type ShadowPoint, encodeRequestPoint, encodeShadowPoint } from '../contract/datapoint.ts'

export type DataPointSink = Pick<AnalyticsEngineDataset, 'writeDataPoint'>

/**
 * Under `npm start` (SLUICE_LOCAL_METRICS = "1") data points go to the control worker's memory, because Miniflare
 * drops Analytics Engine writes and the controller there must read them back. Deployed, they go to METRICS.
 */
export function metricsSink(env: EdgeEnv, ctx: ExecutionContext): DataPointSink | undefined {
  if (env.SLUICE_LOCAL_METRICS !== '1') return env.METRICS
  const control = env.CONTROL
  // Best effort, like Analytics Engine itself: a control worker that is restarting loses the point, not the request.
  return control && { writeDataPoint: (point) => ctx.waitUntil(control.writeDataPoint(point).catch(() => undefined)) }
}

/** Writes without awaiting; a metrics fault never affects the response. */
export function record(dataset: DataPointSink | undefined, r: RequestPoint): void {
  if (!dataset) return
  try {
    dataset.writeDataPoint(encodeRequestPoint(r))
  } catch {
    // Analytics Engine is best effort; losing a point beats failing a request.
  }
}

/** One shadow comparison's point (src/edge/shadow/), written as `record` writes a request's. */
export function recordShadow(dataset: DataPointSink | undefined, p: ShadowPoint): void {
  if (!dataset) return
  try {
    dataset.writeDataPoint(encodeShadowPoint(p))
  } catch {
    // As for requests: a lost point, never a failed comparison left half-done.
  }
}
