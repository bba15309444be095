/**
 * @module
 * One Analytics Engine data point per proxied request, in the layout of
 * src/contract/datapoint.ts (a contract with the controller's SQL; see
 * "Metrics layout" in the README).
 */
import { type RequestPoint, encodeRequestPoint } from '../contract/datapoint.ts'

/** Writes without awaiting; a metrics fault never affects the response. */
export function record(dataset: Pick<AnalyticsEngineDataset, 'writeDataPoint'> | undefined, r: RequestPoint): void {
  if (!dataset) return
  try {
    dataset.writeDataPoint(encodeRequestPoint(r))
  } catch {
    // Analytics Engine is best effort; losing a point beats failing a request.
  }
}
