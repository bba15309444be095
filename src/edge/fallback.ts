/**
 * @module
 * The default rollout from `[vars]`: what a worker with an empty or broken KV
 * serves. Always weight 0, so without a published config everyone sees stable.
 */
import * as z from 'zod/mini'
import { type CompiledConfig, compileConfig } from '../core/config/compile.ts'
import { EdgeRollout } from '../core/config/routing.ts'
import { logOnce } from '../shared/log.ts'

export const DEFAULT_ROLLOUT_ID = 'default'

export interface FallbackVars {
  STABLE_ORIGIN?: string
  CANARY_ORIGIN?: string
}

export function fallbackConfig(vars: FallbackVars): CompiledConfig | undefined {
  const r = z.safeParse(EdgeRollout, { id: DEFAULT_ROLLOUT_ID, stable: vars.STABLE_ORIGIN, canary: vars.CANARY_ORIGIN ?? vars.STABLE_ORIGIN, weight: 0 })
  if (r.success) return compileConfig({ rollouts: [r.data] })
  logOnce('fallback-invalid', { detail: 'STABLE_ORIGIN / CANARY_ORIGIN vars are missing or not http(s) origins' })
  return undefined
}
