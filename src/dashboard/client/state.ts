/**
 * @module
 * What the app keeps between refreshes.
 * One part of the dashboard's browser code: see `index.ts` for the rules it keeps.
 */
import type { RolloutStatus } from '../../contract/index.ts'
import type { ClientConfig } from '../commands.ts'

export interface State {
  cfg: ClientConfig
  token: string | null
  rollouts: RolloutStatus[]
  selected: string | null
  status: RolloutStatus | null
  /** What each region last showed: a refresh that changes nothing touches nothing (no flicker, focus kept). */
  drawn: Record<string, string>
  /** Bumped per refresh, so a slow older refresh cannot overwrite a newer one. */
  gen: number
  timer: number | undefined
  /** The command waiting in the dialog for confirmation. */
  pending: { name: string; body: Record<string, unknown> } | null
  busy: boolean
  /** Series points to ask for (one per judged minute). */
  range: number
  historyLimit: number
}
