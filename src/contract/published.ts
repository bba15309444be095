/**
 * @module
 * The published document: the one KV key the control worker writes and the
 * edge reads. Its entries are the config schema's `Rollout`, which the edge
 * parses one by one (src/core/config/published.ts), so it has no schema of
 * its own here.
 */
export type { PublishedConfig } from '../core/config/schema.ts'

export const CONFIG_KEY = 'config'
