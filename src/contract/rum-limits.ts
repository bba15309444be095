/**
 * @module
 * The RUM beacon's paths and limits as plain constants, re-exported by `rum.ts`: the browser script
 * (src/rum/) imports them from here, since importing anything at run time from `rum.ts` bundles zod
 * with it (its schemas are top-level calls a bundler must keep), seven times the script's budget.
 */

export const RUM_SCRIPT_PATH = '/__sluice/rum.js'
export const RUM_BEACON_PATH = '/__sluice/rum'

/** Far below sendBeacon's 64 KiB: the script caps what it sends (MAX_BEACON_ERRORS, the text lengths). */
export const MAX_BEACON_BYTES = 16 * 1024
/** Distinct errors one beacon carries; identical ones are counted, not repeated. */
export const MAX_BEACON_ERRORS = 10
/** Distinct errors one page view reports in all its beacons. */
export const MAX_PAGE_VIEW_ERRORS = 20
export const MAX_MESSAGE = 200
export const MAX_SOURCE = 200
export const MAX_PATH = 200
