/**
 * @module
 * One Analytics Engine data point per proxied request, and one per shadow
 * comparison, in the layouts of src/contract/datapoint.ts (a contract with
 * the controller's SQL; see "Metrics layout" in the README).
 */
import { type RequestPoint, type ShadowPoint, encodeRequestPoint, encodeShadowPoint } from '../contract/datapoint.ts'

export type DataPointSink = Pick<AnalyticsEngineDataset, 'writeDataPoint'>

/** Local points waiting for one call to the control worker: this isolate's, whichever request wrote them. */
const batch: AnalyticsEngineDataPoint[] = []
/**
 * How long a local point may wait for others. The control worker stamps a point when it arrives, so a point may
 * count in the window after the one it was written in: 250 ms against windows of seconds (the e2e tests) or minutes.
 */
const LOCAL_FLUSH_MS = 250
const LOCAL_MAX_BATCH = 256

type Control = NonNullable<EdgeEnv['CONTROL']>
// Best effort, like Analytics Engine itself: a control worker that is restarting loses the points, not a request.
const flush = async (control: Control) => {
  if (batch.length) await control.writeDataPoints(batch.splice(0)).catch(() => undefined)
}

/**
 * Under `npm start` (SLUICE_LOCAL_METRICS = "1") data points go to the control worker's memory, because Miniflare
 * drops Analytics Engine writes and the controller there must read them back. Deployed, they go to METRICS.
 *
 * Locally they go in batches: one RPC per request was most of what Sluice added to the soak's memory over a
 * pass-through worker (bench/RESULTS.md, "Soak memory"). The request that starts a batch keeps itself open
 * (waitUntil) until the batch is sent; points are plain data, so any request may add to it.
 */
export function metricsSink(env: EdgeEnv, ctx: ExecutionContext): DataPointSink | undefined {
  if (env.SLUICE_LOCAL_METRICS !== '1') return env.METRICS
  const control = env.CONTROL
  return (
    control && {
      writeDataPoint: (point) => {
        if (point === undefined) return
        batch.push(point)
        if (batch.length === 1) ctx.waitUntil(scheduler.wait(LOCAL_FLUSH_MS).then(() => flush(control)))
        else if (batch.length >= LOCAL_MAX_BATCH) ctx.waitUntil(flush(control))
      },
    }
  )
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
