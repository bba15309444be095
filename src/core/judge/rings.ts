/**
 * @module
 * Judgement per audience ring. A regression that shows only in one ring (a
 * locale, a payment provider, a region) is diluted below detection in the
 * global comparison, so each ring that has both cohorts is judged on its own,
 * canary against stable within the ring, with its own evidence; the global
 * comparison runs as well. "Everyone else" (visitors in no ring) is a ring
 * too, keyed by the empty name.
 *
 * A ring at 100 % has no stable visitors of its own: within the ring nothing
 * can be compared, so its canary is judged only by the global comparison,
 * against everyone's stable, a weaker test (a different audience), and the
 * decision says so. The absolute guardrail still applies within the ring.
 *
 * The sample-ratio check runs per ring, against that ring's weight; the global
 * split mixes rings of different weights, so it is not checked.
 */
import { judge } from './judge.ts'
import type { Numbers } from './numbers.ts'
import type { JudgeConfig } from './schema.ts'
import { type JudgeState, type Verdict, type VerdictKind, type WindowStats, initialJudgeState, isJudgeState } from './state.ts'

/** The ring of visitors in no audience. */
export const EVERYONE_ELSE = ''

export const ringLabel = (name: string) => (name === EVERYONE_ELSE ? 'everyone else' : `ring ${name}`)

export interface RingWeights {
  /** Everyone's weight, percent. */
  global: number
  /** Rings above it, percent. */
  rings: Record<string, number>
}

export interface RingVerdict {
  weight: number
  verdict: VerdictKind
  reasons: string[]
  numbers: Numbers
}

export interface RingsOutcome {
  /** The combined verdict: the global one's numbers and state, with every ring's alarms in its reasons. */
  verdict: Verdict
  states: Record<string, JudgeState>
  rings: Record<string, RingVerdict>
}

/**
 * Judges the global window and each ring's. `windows` holds one window per ring that had traffic (the names
 * `weights.rings` knows, and EVERYONE_ELSE); `prev` the rings' stored evidence.
 */
export function judgeRings(
  global: JudgeState,
  prev: Record<string, unknown>,
  window: WindowStats,
  windows: Record<string, WindowStats>,
  cfg: JudgeConfig,
  weights: RingWeights,
  settled: boolean,
): RingsOutcome {
  const g = judge(global, window, cfg, { weight: weights.global, weightSettled: settled, checkSplit: false })
  const states: Record<string, JudgeState> = {}
  const rings: Record<string, RingVerdict> = {}
  for (const [name, w] of Object.entries(windows)) {
    const weight = name === EVERYONE_ELSE ? weights.global : (weights.rings[name] ?? weights.global)
    const before = prev[name]
    const v = judge(isJudgeState(before) ? before : initialJudgeState(), w, cfg, { weight, weightSettled: settled })
    states[name] = v.state
    rings[name] = { weight, verdict: v.verdict, reasons: v.reasons, numbers: v.numbers }
  }
  return { verdict: combine(g, rings), states, rings }
}

function combine(global: Verdict, rings: Record<string, RingVerdict>): Verdict {
  const alarms = (kind: VerdictKind) =>
    Object.entries(rings)
      .filter(([, r]) => r.verdict === kind)
      .map(([name, r]) => `${ringLabel(name)} (${r.weight} %): ${r.reasons[0]}`)
  const notes = Object.entries(rings)
    .filter(([, r]) => r.weight >= 100)
    .map(([name]) => `${ringLabel(name)} is at 100 %: no stable visitors of its own, so its canary is judged against everyone's stable (a weaker comparison)`)
  // A ring's alarm leads when the global comparison saw nothing: that is the regression the rings are for.
  const ringRollbacks = alarms('rollback')
  if (global.verdict === 'rollback') return { ...global, reasons: [...global.reasons, ...ringRollbacks, ...notes] }
  if (ringRollbacks.length > 0) return { ...global, verdict: 'rollback', reasons: [...ringRollbacks, ...global.reasons, ...notes] }
  const pauses = alarms('pause')
  if (pauses.length > 0) return { ...global, verdict: 'pause', reasons: [...pauses, ...notes] }
  return { ...global, reasons: [...global.reasons, ...notes] }
}
