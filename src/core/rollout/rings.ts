/**
 * @module
 * Ring steps: a schedule step may name an audience (`{ audience: "staff",
 * weight: 100 }`), raising that ring's weight; a step without one raises
 * everyone's. Rings are cumulative: at step k each target's weight is the
 * highest any step up to k gave it, and a ring's visitors get the higher of
 * their ring's weight and everyone's. Weights therefore never fall while a
 * rollout progresses, so with buckets fixed per visitor no visitor moves from
 * canary back to stable (a property test checks it over random schedules).
 */

export interface RingStep {
  weight: number
  audience?: string | undefined
}

export interface StepWeights {
  /** Everyone's weight, percent. */
  global: number
  /**
   * Every ring a step so far named, with the highest weight a step gave it, percent. A ring's visitors get the higher
   * of this and everyone's weight; a ring overtaken by everyone's stays, so it is still judged on its own.
   */
  rings: Record<string, number>
}

/** The weights in force at step `index` (before the first step: nothing). */
export function weightsAt(schedule: readonly RingStep[], index: number): StepWeights {
  let global = 0
  const rings: Record<string, number> = {}
  for (let i = 0; i <= Math.min(index, schedule.length - 1); i++) {
    const s = schedule[i]!
    if (s.audience === undefined) global = Math.max(global, s.weight)
    else rings[s.audience] = Math.max(rings[s.audience] ?? 0, s.weight)
  }
  return { global, rings }
}

/**
 * What is wrong with a schedule's ring steps, as [step index, message] pairs; empty when nothing is. (The steps for
 * everyone are checked by the schedule's own schema: rising, ending at 100.) `audiences` is undefined where the names
 * cannot be checked yet.
 */
export function ringProblems(schedule: readonly RingStep[], audiences?: ReadonlySet<string>): [number, string][] {
  const problems: [number, string][] = []
  let global = 0
  const last: Record<string, number> = {}
  schedule.forEach((s, i) => {
    if (s.audience === undefined) {
      global = Math.max(global, s.weight)
      return
    }
    if (audiences && !audiences.has(s.audience)) problems.push([i, `no audience "${s.audience}" is defined in audiences`])
    if (s.weight <= (last[s.audience] ?? 0)) problems.push([i, `weights for audience "${s.audience}" must rise strictly`])
    // A ring below everyone's weight would change nothing: almost certainly a mistake in the order of steps.
    if (s.weight <= global) problems.push([i, `audience "${s.audience}" at ${s.weight} % is not above everyone's ${global} % at this step`])
    last[s.audience] = Math.max(last[s.audience] ?? 0, s.weight)
  })
  return problems
}
