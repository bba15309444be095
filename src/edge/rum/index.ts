/**
 * @module
 * Real-user monitoring at the edge: the script tag added to HTML pages
 * (inject.ts, csp.ts), the script served from memory, and the beacon
 * endpoint (beacon.ts). See "Real-user signals" in the README.
 */
export type { RumOutcome } from '../../contract/datapoint.ts'
export { inRumSample } from '../../core/cohort/hash.ts'
export { BeaconLimiter, handleBeacon } from './beacon.ts'
export { type ScriptPermission, bothPermit, scriptPermission } from './csp.ts'
export { SCRIPT_URL, inject, isDocument, isRewritable, permissionFor, serveScript } from './inject.ts'
