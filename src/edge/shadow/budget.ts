/**
 * @module
 * The per-isolate budgets of shadow traffic: how many comparisons a rollout has in flight (`shadow.maxInFlight`),
 * how many bytes of stable's answers the shadow side may read ahead of the visitor, and one deadline per comparison
 * (`shadow.timeoutMs`). Module state: an isolate serves many requests, and the budgets are the isolate's.
 */

/**
 * Bytes of all stable bodies the shadow side of this isolate may have read at once. Stable's body is teed: when the
 * visitor reads slower than the shadow side, the tee holds what the shadow side has read and the visitor has not
 * yet, in memory (128 MB per isolate). Without this bound, 16 comparisons of large downloads to slow clients could
 * hold 16 × HASH_CAP; with it, a comparison that would pass it stops hashing (length and hash reported as null),
 * cancels its branch, and the visitor's keeps flowing from the origin as without shadowing. The bytes are given back
 * when the shadow side has read its branch: by then the visitor may not have read them all, so this bounds the
 * read-ahead of the reads running, which is the part that grows with load.
 */
export const READ_AHEAD_CAP = 32 * 1024 * 1024

const inFlight = new Map<string, number>()
let readAhead = 0
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

/** Reserves `bytes` of the isolate's read-ahead; false when that would pass READ_AHEAD_CAP. */
export function takeReadAhead(bytes: number): boolean {
  if (readAhead + bytes > READ_AHEAD_CAP) return false
  readAhead += bytes
  return true
}

export function giveBackReadAhead(bytes: number): void {
  readAhead = Math.max(0, readAhead - bytes)
}

/**
 * What this isolate's shadow side holds now, and how many requests it did not mirror because their rollout's slots
 * were all busy (a data point per skipped request would cost the most exactly when the isolate is busiest). Read by
 * the tests and the benchmark.
 */
export const shadowBudget = () => ({ inFlight: [...inFlight.values()].reduce((a, b) => a + b, 0), readAhead, skipped })

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
