/**
 * @module
 * The per-isolate budgets of shadow traffic: how many comparisons a rollout has in flight (`shadow.maxInFlight`) and
 * one deadline per comparison (`shadow.timeoutMs`); the bytes read of each body are capture.ts's
 * (`shadow.maxBodyBytes`). Module state: an isolate serves many requests, and the budgets are the isolate's.
 */

const inFlight = new Map<string, number>()
let skipped = 0

/** Takes a comparison slot of a rollout; false (and counted as skipped) when all `max` are busy. */
export function acquire(rolloutId: string, max: number): boolean {
  const n = inFlight.get(rolloutId) ?? 0
  if (n >= max) {
    skipped++
    return false
  }
  inFlight.set(rolloutId, n + 1)
  return true
}

export function release(rolloutId: string): void {
  const n = (inFlight.get(rolloutId) ?? 1) - 1
  if (n <= 0) inFlight.delete(rolloutId)
  else inFlight.set(rolloutId, n)
}

/**
 * How many comparisons this isolate runs now, and how many requests it did not mirror because their rollout's slots
 * were all busy (a data point per skipped request would cost the most exactly when the isolate is busiest). Read by
 * the tests and the benchmark.
 */
export const shadowBudget = () => ({ inFlight: [...inFlight.values()].reduce((a, b) => a + b, 0), skipped })

export const EXPIRED = Symbol('expired')

/** One comparison's deadline: `expired` resolves when it passes; `clear` stops its timer when the comparison ends first. */
export interface Deadline {
  readonly expired: Promise<typeof EXPIRED>
  /** Milliseconds left, at least 1 (forward() takes a positive timeout). */
  remaining(): number
  clear(): void
}

export function deadline(ms: number): Deadline {
  const end = Date.now() + ms
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<typeof EXPIRED>((resolve) => {
    timer = setTimeout(() => resolve(EXPIRED), ms)
  })
  return { expired, remaining: () => Math.max(1, end - Date.now()), clear: () => clearTimeout(timer) }
}
