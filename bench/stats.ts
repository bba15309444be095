/**
 * @module
 * The few statistics the benchmark needs, kept exact and dependency-free.
 */

/** The q-quantile (0..1) of an ascending array, by nearest rank; NaN when empty. */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i]!
}

/** The median: robust to the one round a neighbour's build landed on. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

export const min = (xs: readonly number[]) => Math.min(...xs)
export const max = (xs: readonly number[]) => Math.max(...xs)

/** A figure for the report: `d` decimals, `n/a` for a value that could not be measured. */
export const fmt = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a')
/** A difference for the report, with its sign. */
export const signed = (n: number, d = 2) => (n >= 0 ? '+' : '') + fmt(n, d)
