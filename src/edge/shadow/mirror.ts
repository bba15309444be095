/**
 * @module
 * Mirroring a visitor's safe request to the canary while stable answers it, and comparing the two answers in the
 * background (`ctx.waitUntil`): which requests are mirrored, the copies sent, and the one data point written per
 * comparison. See "Shadow traffic" in the README.
 */
import type { Assignment } from '../../core/cohort/assign.ts'
import { clientKey } from '../../core/cohort/client.ts'
import type { CompiledRollout } from '../../core/config/compile.ts'
import { type Cohort, SHADOW_HEADER, toBasisPoints } from '../../core/config/routing.ts'
import { type CapturedAnswer, type FieldDiff, diffAnswers, routeOf } from '../../core/shadow/index.ts'
import { logOnce } from '../../shared/log.ts'
import { metricsSink, recordShadow } from '../metrics.ts'
import { forward } from '../proxy.ts'
import { type Deadline, acquire, deadline, release } from './budget.ts'
import { NO_ANSWER, capture } from './capture.ts'

/**
 * Requests whose answer depends on what the visitor already holds: a range of the body, or a 304 when the visitor's
 * copy is still fresh. The canary's validators (ETags, dates) differ from stable's after any deploy, so it would
 * answer 200 where stable answers 304 or 412, and asking stable again would not show it as noise: every such
 * request would report a status difference that is no regression. They are not mirrored.
 */
const ANSWER_DEPENDS_ON = ['range', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range']

/** A request the edge has answered from stable, as mirroring reads it. */
export interface Mirrored {
  r: CompiledRollout
  a: Assignment
  method: string
  /** `url.pathname`, as the rollout's match and `shadow.include`/`exclude` read it. */
  path: string
  /** Path and query as proxied. */
  target: string
  body: ReadableStream | null
  /** The visitor's request headers as received, and as sent to stable (Sluice's own cookies and headers stripped). */
  incoming: Headers
  toOrigin: Headers
  /** Stable's answer to the visitor, and the time to its headers. */
  res: Response
  latencyMs: number
  clientIp: string
  colo: string
  country: string
  env: EdgeEnv
  ctx: ExecutionContext
}

const startsWithAny = (path: string, prefixes: readonly string[]) => prefixes.some((p) => path.startsWith(p))

/** Whether this request and stable's answer to it are to be compared: see "Shadow traffic" in the README. */
export function mirrorable(m: Mirrored): boolean {
  const { a, r } = m
  const s = r.rollout.shadow
  if (a.reason !== 'weight' || a.cohort !== 'stable' || a.bucket === undefined || a.bucket >= toBasisPoints(r.rollout.shadowWeight)) return false
  if ((m.method !== 'GET' && m.method !== 'HEAD') || m.body !== null) return false
  // Any Upgrade (a WebSocket, h2c): the copy would open a second connection, not ask a question.
  // The prefixes before the headers: plain string tests, where each header lookup is a call into the runtime.
  if ((s.include.length > 0 && !startsWithAny(m.path, s.include)) || startsWithAny(m.path, s.exclude)) return false
  if (m.incoming.has('upgrade')) return false
  for (const name of ANSWER_DEPENDS_ON) if (m.incoming.has(name)) return false
  // A stream that never ends cannot be compared, and a 101 carries a connection, not an answer.
  if (m.res.status === 101) return false
  return !(m.res.headers.get('content-type') ?? '').toLowerCase().startsWith('text/event-stream')
}

/**
 * Stable's answer for the visitor: when the request is mirrored, the same status and headers with one branch of a tee
 * of its body, the other branch read by the comparison in `ctx.waitUntil`; else `m.res` itself. Never waits: the
 * visitor's bytes flow as they come from stable. The comparison never rejects: a canary that fails is an answer
 * (status 0); a fault of Sluice's own is logged (once a minute) and writes no point.
 */
export function shadowed(m: Mirrored): Response {
  if (!mirrorable(m)) return m.res
  const id = m.r.rollout.id
  if (!acquire(id, m.r.rollout.shadow.maxInFlight)) return m.res
  let visitor = m.res
  let branch: ReadableStream<Uint8Array> | null = null
  try {
    if (m.res.body !== null) {
      const [mine, theirs] = m.res.body.tee()
      visitor = new Response(mine, m.res)
      branch = theirs
    }
    m.ctx.waitUntil(
      afterResponse()
        .then(() => compare(m, branch))
        .catch((err: unknown) => logOnce('shadow-compare-failed', { rollout: id, error: String(err) }))
        .finally(() => release(id)),
    )
  } catch (err) {
    // No comparison: its slot back, its branch (if any) let go so the visitor's flows unhindered.
    release(id)
    branch?.cancel().catch(() => {})
    logOnce('shadow-start-failed', { rollout: id, error: String(err) })
  }
  return visitor
}

/**
 * Resolves on a later turn of the event loop, once the visitor's answer is in the runtime's hands. Starting the
 * copies (new Headers, fetch() calls, readers and hashes) before the handler returns would put their CPU in front
 * of the visitor's first byte. The isolate still does that work, so a mirrored request costs its CPU all the same
 * (bench/RESULTS.md, shadow phase): shadowWeight is the share of traffic paying it.
 */
const afterResponse = () => new Promise<void>((resolve) => setTimeout(resolve, 0))

/** One origin's answer to a shadow copy, and the time to its headers; NO_ANSWER when it failed or timed out. */
async function ask(m: Mirrored, cohort: Cohort, d: Deadline): Promise<{ answer: CapturedAnswer; latencyMs: number }> {
  const p = m.r.rollout.proxy
  const s = m.r.rollout.shadow
  const headers = new Headers(m.toOrigin)
  headers.set(p.originCohortHeader, cohort)
  headers.set(SHADOW_HEADER, '1')
  const origin = m.r.origins[cohort]
  const started = Date.now()
  let res: Response
  try {
    res = await forward(origin + m.target, { method: m.method, headers, redirect: 'manual' }, d.remaining())
  } catch {
    return { answer: NO_ANSWER, latencyMs: Date.now() - started }
  }
  const latencyMs = Date.now() - started
  const answer = await capture(res, res.body, { headers: s.headers, maxBodyBytes: s.maxBodyBytes, origin, deadline: d })
  return { answer, latencyMs }
}

/**
 * The canary's differences in the order its point lists them (it keeps the first MAX_POINT_DIFFS, src/contract/):
 * first the fields that did not also differ between this request's two stable answers (when stable was asked twice),
 * and within each the structural kinds (missing, extra, type, length) before `value`, each group in document order.
 * A response with many noisy fields (timestamps, request ids, arrays in random order) would otherwise push a real
 * change out of the list, and the judge would never see it. The diff itself stays in document order (it is pure and
 * knows nothing of noise); the point's `diffCount` is the whole count.
 */
function listed(diffs: readonly FieldDiff[], noise: readonly FieldDiff[] | null): FieldDiff[] {
  const noisy = new Set(noise?.map((d) => d.field))
  const groups: FieldDiff[][] = [[], [], [], []]
  for (const d of diffs) groups[(noisy.has(d.field) ? 2 : 0) + (d.kind === 'value' ? 1 : 0)]!.push(d)
  return groups.flat()
}

/**
 * Asks the canary (and, for a `noiseSampleRate` share, stable again) while reading stable's branch, all within one
 * deadline, then writes the point. A canary that fails or runs out of time is an answer with status 0 (a status
 * difference, and `canaryError`); a second stable answer that fails is no noise sample (`noise` null), since its
 * status difference would say nothing about what varies between two stable answers.
 */
async function compare(m: Mirrored, branch: ReadableStream<Uint8Array> | null): Promise<void> {
  const r = m.r
  const s = r.rollout.shadow
  const d = deadline(s.timeoutMs)
  try {
    const again = Math.random() < s.noiseSampleRate ? ask(m, 'stable', d) : undefined
    const [stable, canary, second] = await Promise.all([
      capture(m.res, branch, { headers: s.headers, maxBodyBytes: s.maxBodyBytes, origin: r.origins.stable, deadline: d }),
      ask(m, 'canary', d),
      again,
    ])
    const diff = diffAnswers(stable, canary.answer, { ignore: s.ignore, random: Math.random })
    const noise = second !== undefined && second.answer.status !== 0 ? diffAnswers(stable, second.answer, { ignore: s.ignore }) : null
    recordShadow(metricsSink(m.env, m.ctx), {
      rolloutId: r.rollout.id,
      route: routeOf(m.path),
      release: r.rollout.release ?? '',
      method: m.method,
      client: clientKey(m.clientIp),
      stableStatus: stable.status,
      canaryStatus: canary.answer.status,
      stableLatencyMs: m.latencyMs,
      canaryLatencyMs: canary.latencyMs,
      diffs: listed(diff.diffs, noise?.diffs ?? null),
      diffCount: diff.count,
      noise: noise?.diffs ?? null,
      noiseDiffCount: noise?.count ?? 0,
      example: diff.example ? JSON.stringify(diff.example) : '',
      truncated: !stable.complete || (canary.answer.status !== 0 && !canary.answer.complete),
      colo: m.colo,
      country: m.country,
    })
  } finally {
    d.clear()
  }
}
