/**
 * @module
 * Judgement per audience ring. A regression that shows only in one ring (a
 * locale, a payment provider, a region) is diluted below detection in a
 * comparison over the whole site, so each ring that has both cohorts is judged
 * on its own, canary against stable within the ring, with its own evidence.
 * "Everyone else" (visitors in no ring) is a ring too, keyed by the empty name.
 *
 * The global comparison is **stratified**: for each alternative θ the error
 * test adds up the rings' log likelihood ratios (each a martingale under "the
 * canary is no worse in this ring", so their product is too). Pooling the
 * windows instead would compare one audience's canary with another's stable
 * whenever the rings' weights differ: with staff at 50 % and everyone else at
 * 0 %, the canary is mostly staff and stable mostly not, and a difference of
 * audience would read as a difference of release (measured: 91 % false
 * rollbacks; bench/SIMULATION.md, "Audience rings"). Every ring's own test and
 * the stratified one each run at α, so a rollout with k rings in force has at
 * most (k + 1)·α of false rollbacks.
 *
 * A ring at 100 % has no stable visitors of its own, so within it only the
 * absolute guardrail can act. Its canary is also compared with everyone
 * else's stable, a weaker comparison (another audience): an alarm there
 * **pauses** and notifies, naming the caveat, rather than rolling back, since
 * a baseline difference between the audiences would set it off as readily as
 * the release. Keep ring weights below 100 % where a baseline of its own
 * matters.
 *
 * The sample-ratio check runs per ring, against that ring's weight.
 */
import { errorTest } from './error-test.ts'
import { judge } from './judge.ts'
import { type Numbers, emptyNumbers, fillTotals } from './numbers.ts'
import type { JudgeConfig } from './schema.ts'
import { type JudgeState, type ThetaEvidence, type Verdict, type VerdictKind, type WindowStats, initialJudgeState, isJudgeState, unitTotals } from './state.ts'

/** The ring of visitors in no audience. */
export const EVERYONE_ELSE = ''

export const ringLabel = (name: string) => (name === EVERYONE_ELSE ? 'everyone else' : `ring ${name}`)

/** The evidence key of a 100 % ring's comparison with everyone else's stable. */
const against = (name: string) => `${name}~everyone-else`

export interface RingWeights {
  /** Everyone's weight, percent. */
  global: number
  /** Each ring's weight, percent; its visitors get the higher of it and `global`. */
  rings: Record<string, number>
}

export interface RingVerdict {
  weight: number
  verdict: VerdictKind
  reasons: string[]
  numbers: Numbers
}

export interface RingsOutcome {
  /** The combined verdict, with the stratified test's numbers and the pooled totals. */
  verdict: Verdict
  states: Record<string, JudgeState>
  rings: Record<string, RingVerdict>
}

const sumTotals = (states: readonly JudgeState[], pick: (s: JudgeState) => { requests: number; errors: number }) =>
  states.reduce((t, s) => ({ requests: t.requests + pick(s).requests, errors: t.errors + pick(s).errors }), { requests: 0, errors: 0 })

/** The rings' evidence added up per θ: the stratified error test. */
function stratified(states: readonly JudgeState[]): ThetaEvidence[] {
  const byTheta = new Map<number, number>()
  for (const s of states) for (const e of s.evidence) byTheta.set(e.theta, (byTheta.get(e.theta) ?? 0) + e.logLR)
  return [...byTheta].map(([theta, logLR]) => ({ theta, logLR }))
}

/**
 * Judges each ring's window (the names `weights.rings` knows, and EVERYONE_ELSE) with its own evidence in `prev`,
 * and the rings together (stratified). `global` is the previous combined state: its ledger and pooled totals.
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
  const stateOf = (key: string) => (isJudgeState(prev[key]) ? (prev[key] as JudgeState) : initialJudgeState())
  // A ring with no rows in this window keeps its evidence: a quiet minute is no reason to forget a ring.
  const states: Record<string, JudgeState> = Object.fromEntries(Object.entries(prev).filter((e): e is [string, JudgeState] => isJudgeState(e[1])))
  const rings: Record<string, RingVerdict> = {}
  const rollbacks: string[] = []
  const pauses: string[] = []
  const caveats: string[] = []
  let blocking = false
  const everyone = windows[EVERYONE_ELSE]
  const weightOf = (name: string) => (name === EVERYONE_ELSE ? weights.global : Math.max(weights.global, weights.rings[name] ?? 0))
  for (const [name, w] of Object.entries(windows)) {
    const weight = weightOf(name)
    const v = judge(stateOf(name), w, cfg, { weight, weightSettled: settled })
    states[name] = v.state
    rings[name] = { weight, verdict: v.verdict, reasons: v.reasons, numbers: v.numbers }
    const label = `${ringLabel(name)} (${weight} %)`
    if (v.verdict === 'rollback') rollbacks.push(`${label}: ${v.reasons[0]}`)
    if (v.verdict === 'pause') pauses.push(`${label}: ${v.reasons[0]}`)
    if (weight < 100) {
      // A ring with data enough that still cannot be called healthy (latency pending or missing) holds the rollout.
      const enough = v.state.stable.requests >= cfg.minRequests && v.state.canary.requests >= cfg.minRequests
      if (v.verdict === 'hold' && enough) blocking = true
      continue
    }
    caveats.push(`${ringLabel(name)} is at 100 %: no stable visitors of its own, so its canary is compared with everyone else's stable (a weaker comparison)`)
    if (!everyone) continue
    const cross = judge(stateOf(against(name)), { ...w, stable: everyone.stable }, cfg, { weight, weightSettled: settled, checkSplit: false })
    states[against(name)] = cross.state
    if (cross.verdict === 'rollback') pauses.push(`${label} against everyone else's stable, a weaker comparison (another audience): ${cross.reasons[0]}`)
  }

  // Every ring's own evidence, including rings quiet this window and rings that have since reached 100 % (whose
  // evidence from before stays in the sum: dropping it would take a martingale's gains back).
  const ownEntries = Object.entries(states).filter(([key]) => !key.endsWith(against('')))
  const own = ownEntries.map(([, st]) => st)
  // Units (the failures the error test's minimum counts) only from rings that still have stable visitors: a 100 %
  // ring's failures add nothing to the evidence, so they must not open the test either.
  const compared = ownEntries.filter(([key]) => weightOf(key) < 100).map(([, st]) => st)
  const pooled: JudgeState = {
    version: 1,
    windows: global.windows + 1,
    rejected: global.rejected,
    lastEnd: window.end,
    stable: sumTotals(own, (st) => st.stable),
    canary: sumTotals(own, (st) => st.canary),
    units: { stable: sumTotals(compared, (st) => unitTotals(st).stable), canary: sumTotals(compared, (st) => unitTotals(st).canary) },
    evidence: stratified(own),
    latencyStreak: 0,
  }
  const numbers = emptyNumbers()
  numbers.alpha = cfg.alpha
  numbers.logThreshold = Math.log(1 / cfg.alpha)
  numbers.minRequests = cfg.minRequests
  numbers.minErrors = cfg.minErrors
  numbers.weight = weights.global
  fillTotals(numbers, pooled)
  const test = errorTest(pooled, cfg, numbers)
  // A ring's own alarm leads: it names where the release fails.
  if (test.alarm) rollbacks.push(`all rings together (stratified): ${test.alarm}`)
  const notes = [...test.notes.map((n) => `all rings together (stratified): ${n}`), ...caveats]
  const verdict = (kind: VerdictKind, first: string[]): Verdict => ({ verdict: kind, reasons: [...first, ...notes], numbers, state: pooled })

  if (rollbacks.length > 0) return { verdict: verdict('rollback', rollbacks), states, rings }
  if (pauses.length > 0) return { verdict: verdict('pause', pauses), states, rings }
  const short: string[] = []
  if (pooled.stable.requests < cfg.minRequests) short.push(`stable ${pooled.stable.requests}`)
  if (pooled.canary.requests < cfg.minRequests) short.push(`canary ${pooled.canary.requests}`)
  if (short.length > 0)
    return { verdict: verdict('hold', [`not enough data: ${short.join(', ')} of ${cfg.minRequests} requests needed per cohort`]), states, rings }
  const waiting = Object.entries(rings).filter(([, r]) => r.verdict === 'hold' && r.weight < 100)
  if (blocking)
    return {
      verdict: verdict(
        'hold',
        waiting.map(([name, r]) => `${ringLabel(name)}: ${r.reasons[0]}`),
      ),
      states,
      rings,
    }
  return { verdict: verdict('healthy', ['enough data and no alarm in any ring']), states, rings }
}
