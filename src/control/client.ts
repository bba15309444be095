/**
 * @module
 * How the admin API and the controller reach the coordinator.
 */
import type { Coordinator } from './coordinator.ts'

/** The coordinator's RPC surface as plain async methods (workerd's RPC types cannot express `unknown` payloads). */
type Remote<T> = { [K in keyof T]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never }
export type CoordinatorApi = Remote<
  Pick<Coordinator, 'list' | 'status' | 'history' | 'series' | 'diff' | 'put' | 'remove' | 'command' | 'decide' | 'progressing' | 'published'>
>

/** There is one coordinator for all rollouts (see coordinator.ts for why). */
export const coordinator = (env: ControlEnv) => env.COORDINATOR.get(env.COORDINATOR.idFromName('global')) as unknown as CoordinatorApi
