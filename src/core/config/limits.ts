/**
 * @module
 * The limits of the published config, shared by the edge (which reads the
 * document) and the coordinator (which writes it), so the admin API refuses a
 * write up front instead of publishing something the edge then drops.
 */

/**
 * Rollouts the edge accepts from one document; entries past this are rejected.
 * Every isolate validates each entry whenever the document changes: 256 rollouts with defaults are about
 * 0.37 MB and take about 10 ms to parse in workerd, most of it zod, not JSON.
 */
export const MAX_ROLLOUTS = 256

/**
 * The most bytes the coordinator lets the published document grow to. The schema bounds every field except
 * a few strings (the webhook URL) and admin bodies may be 64 KiB each, so without this 256 rollouts could reach
 * 16 MiB, held in memory and parsed by every isolate. 256 rollouts that each use all 64 bot patterns at full
 * length come to 1.4 MB, so 2 MiB refuses no realistic config.
 *
 * The edge does not enforce it: it can only judge a size on the whole document, and refusing the whole
 * document would block every rollback in it, the failure that per-entry parsing exists to prevent.
 */
export const MAX_PUBLISHED_BYTES = 2 * 1024 * 1024
