/**
 * @module
 * Validation of the judges' untrusted inputs (metrics windows and the weight):
 * they come from an analytics pipeline and a KV store, so anything may arrive,
 * and a judge must answer `hold` rather than throw or act on garbage.
 */
export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
export const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
export const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/** Never String(v) on unknown input: an object with a bogus toString would throw. */
const show = (v: unknown): string => (typeof v === 'number' ? String(v) : typeof v)

function clientsProblem(c: Record<string, unknown>, name: string): string | null {
  const k = c.clients
  if (!isRecord(k)) return `${name} has no client counts (judge.errorUnit is "client")`
  for (const f of ['seen', 'failing', 'fresh', 'firstFailures', 'cappedRequests'] as const) {
    if (!isCount(k[f])) return `${name} clients.${f} (${show(k[f])}) is not a non-negative integer`
  }
  const { seen, failing, fresh, firstFailures } = k as { seen: number; failing: number; fresh: number; firstFailures: number }
  if (failing > seen || fresh > seen || firstFailures > Math.min(fresh, failing)) return `${name} client counts are inconsistent`
  // A client is counted by its requests: it cannot outnumber them, nor fail more often than they did.
  if (seen > (c.requests as number) || failing > (c.errors as number)) return `${name} has more clients than requests or failing clients than errors`
  if ((k.cappedRequests as number) > (c.requests as number) || (k.cappedRequests as number) < seen) return `${name} clients.cappedRequests is out of range`
  return null
}

export function cohortProblem(c: unknown, name: string, unit: 'client' | 'request'): string | null {
  if (!isRecord(c)) return `${name} counts are missing`
  if (!isCount(c.requests)) return `${name} requests (${show(c.requests)}) is not a non-negative integer`
  if (!isCount(c.errors)) return `${name} errors (${show(c.errors)}) is not a non-negative integer`
  if (c.errors > c.requests) return `${name} has more errors (${c.errors}) than requests (${c.requests})`
  if (c.latencyMs !== undefined) {
    if (!isRecord(c.latencyMs)) return `${name} latency is not an object`
    for (const q of ['p50', 'p95', 'p99'] as const) {
      const v = c.latencyMs[q]
      if (v !== undefined && !(isFiniteNumber(v) && v >= 0)) return `${name} ${q} latency (${show(v)}) is not a finite non-negative number`
    }
  }
  return unit === 'client' ? clientsProblem(c, name) : null
}

/** Why the input cannot be used, or null. A window with any garbage in it is rejected whole: one bad number means a broken pipeline. */
export function inputProblem(window: unknown, ctx: unknown, unit: 'client' | 'request' = 'request'): string | null {
  if (!isRecord(ctx) || !isFiniteNumber(ctx.weight) || ctx.weight < 0 || ctx.weight > 100) return 'the weight is not a number from 0 to 100'
  if (!isRecord(window)) return 'the window is not an object'
  if (!isFiniteNumber(window.start) || !isFiniteNumber(window.end) || !(window.end > window.start)) {
    return 'the window has no valid start and end'
  }
  return cohortProblem(window.stable, 'stable', unit) ?? cohortProblem(window.canary, 'canary', unit)
}

/** The bookkeeping every judge state shares: a version, window counts and the end of the last window. */
export const isWindowLedger = (v: unknown): v is Record<string, unknown> =>
  isRecord(v) && v.version === 1 && isCount(v.windows) && isCount(v.rejected) && (v.lastEnd === null || isFiniteNumber(v.lastEnd))
