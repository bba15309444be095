/**
 * @module
 * `sluice wait <id>`: follows a rollout until its release is decided, so that a
 * CD pipeline can run it after `start` and branch on the exit code. Its codes
 * are its own (WAIT_EXIT_CODES), since "rolled back" must not read as the other
 * commands' "usage error".
 *
 * It polls the status and reports each change: a progress line on stderr, or
 * one NDJSON event on stdout with --json; then the outcome (a summary line, or
 * a final `result` event) on stdout. An unreachable API or a 5xx answer (the
 * edge answers 503 while the control worker is being redeployed) is retried
 * with backoff until the timeout: an outage never ends the wait, and it can
 * never pass for a promotion.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { CommandDef } from './types.ts'
import { UsageError } from './errors.ts'
import { type RolloutStatus, formatProblem, relative } from './format.ts'
import { ApiRefused, type Endpoint, type Reply, Unreachable, ok, problemOf, request } from './http.ts'

/** Every way a wait ends, with its exit code. */
export const OUTCOMES = {
  promoted: 0,
  completed: 0,
  'not-found': 1,
  deleted: 1,
  refused: 1,
  'no-release': 1,
  'rolled-back': 2,
  paused: 3,
  'awaiting-approval': 3,
  timeout: 4,
  superseded: 5,
} as const

export type Outcome = keyof typeof OUTCOMES

export const WAIT_EXIT_CODES = `Exit codes (wait's own; the other commands use 0 ok, 1 refused, 2 usage, 3 unreachable):
  0  promoted (outcome "promoted"), or promoted and then completed ("completed")
  1  usage error (nothing on stdout, nothing sent), or the API refused: a 4xx ("refused"),
     no such rollout ("not-found"), the rollout deleted while waiting ("deleted"), or no
     release under way ("no-release"); the summary on stdout says which
  2  rolled back, by the controller or an operator ("rolled-back")
  3  a human is needed: paused ("paused") or waiting at a gate ("awaiting-approval")
  4  not decided within --timeout ("timeout"); the rollout goes on
  5  another release started on the rollout while waiting ("superseded")
Network errors and 5xx answers are retried, 1 s doubling to 30 s, until the timeout.`

const FIRST_RETRY_MS = 1_000
const MAX_RETRY_MS = 30_000

export interface StepProgress {
  /** 1-based, of `count`. */
  number: number
  count: number
  weight: number
  bakeLeftSeconds: number
  /** Canary requests judged at this step so far, and the step's minimum (from the last decision). */
  canaryRequests: number
  minRequests: number
}

export interface ProgressEvent {
  event: 'progress'
  at: string
  id: string
  release: string | null
  phase: string
  weight: number
  revision: number
  step: StepProgress | null
  decision: { kind: string; reason: string } | null
}

/** The API stopped answering (or answers 5xx); sent again only when the error changes. */
export interface UnreachableEvent {
  event: 'unreachable'
  at: string
  error: string
  retryInSeconds: number
}

export interface ReachableEvent {
  event: 'reachable'
  at: string
  afterSeconds: number
}

export interface ResultEvent {
  event: 'result'
  at: string
  outcome: Outcome
  code: number
  reason: string
  id: string
  release: string | null
  phase: string | null
  weight: number | null
}

export type WaitEvent = ProgressEvent | UnreachableEvent | ReachableEvent | ResultEvent

export interface FollowOptions {
  id: string
  /** The release to follow; default: the one on the rollout at the first answer. */
  release?: string
  timeoutMs: number
  intervalMs: number
  emit(e: WaitEvent): void
}

/** `45m`, `90s`, `1h`, `1h30m` or plain seconds (`300`), in ms. */
export function parseDuration(raw: string, option: string): number {
  const text = raw.trim()
  const m = /^\d+$/.test(text) ? [text, undefined, undefined, text] : /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text)
  const ms = m && text !== '' ? ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000 : 0
  if (ms <= 0) throw new UsageError(`wait: --${option} must be a duration such as 45m, 90s, 1h or 300 (seconds), not "${raw}"`, 'wait')
  return ms
}

const isoNow = () => new Date().toISOString()

function progressOf(s: RolloutStatus, now: number): ProgressEvent {
  const d = s.lastDecision
  let step: StepProgress | null = null
  if (s.step) {
    // The decision's counters belong to the step it judged; a newer step has judged nothing yet.
    const judged = d?.data?.step as { index?: number; canaryRequests?: number } | undefined
    const canaryRequests = judged?.index === s.step.index && typeof judged.canaryRequests === 'number' ? judged.canaryRequests : 0
    const bakeEnds = s.step.bakeEndsAt ? Date.parse(s.step.bakeEndsAt) : now
    step = {
      number: s.step.index + 1,
      count: s.spec.schedule?.length ?? s.step.index + 1,
      weight: s.step.weight,
      bakeLeftSeconds: Math.max(0, Math.ceil((bakeEnds - now) / 1000)),
      canaryRequests,
      minRequests: s.step.minRequests,
    }
  }
  return {
    event: 'progress',
    at: new Date(now).toISOString(),
    id: s.id,
    release: s.release,
    phase: s.phase,
    weight: s.weight,
    revision: s.revision,
    step,
    decision: d && { kind: d.kind, reason: d.reason },
  }
}

/** What makes a progress event new: everything but the clock. */
const changeKey = ({ at: _, step, ...rest }: ProgressEvent) => JSON.stringify([rest, step && { ...step, bakeLeftSeconds: step.bakeLeftSeconds > 0 }])

/** Whether the controller (not an operator) made the status's last change: its decision and the change share a time. */
const byController = (s: RolloutStatus, kind: string) => s.lastDecision?.kind === kind && Date.parse(String(s.lastDecision.at)) === Date.parse(s.updatedAt)

/** The outcome a status settles, if any; `release` is the one followed. */
function settled(s: RolloutStatus, release: string): [Outcome, string] | undefined {
  const why = s.lastDecision?.reason
  switch (s.phase) {
    case 'promoted':
      return ['promoted', `${release} is promoted: 100 % of ${s.id}'s traffic goes to the canary`]
    case 'rolled-back':
      return [
        'rolled-back',
        byController(s, 'rollback') ? `the controller rolled ${release} back: ${why}` : `an operator rolled ${release} back (sluice history ${s.id})`,
      ]
    case 'paused':
      return [
        'paused',
        `${byController(s, 'pause') ? `the controller paused ${release}: ${why}` : `an operator paused ${release}`}; \`sluice resume ${s.id}\` hands it back`,
      ]
    case 'awaiting-approval':
      return ['awaiting-approval', `${release} waits for approval: ${why}; \`sluice approve ${s.id}\` lets it go on`]
    default:
      return undefined
  }
}

type Poll = { kind: 'reply'; reply: Reply } | { kind: 'retry'; error: string } | { kind: 'deadline' }

/** A 5xx, 429 or 408 is the server's trouble, not an answer about the rollout. */
const retryable = (status: number) => status >= 500 || status === 429 || status === 408

/** One GET of the status, cut short at the deadline (a hung server must not stretch the timeout). */
async function poll(ep: Endpoint, id: string, deadline: number): Promise<Poll> {
  const left = deadline - Date.now()
  if (left <= 0) return { kind: 'deadline' }
  const timer = new AbortController()
  const get = request(ep, 'GET', `/rollouts/${encodeURIComponent(id)}`).then(
    (reply): Poll => {
      if (!retryable(reply.status)) return { kind: 'reply', reply }
      const p = problemOf(reply)
      return { kind: 'retry', error: `the API answered ${reply.status}${p.detail ? `: ${p.detail}` : p.title ? ` ${p.title}` : ''}` }
    },
    (err: unknown): Poll => {
      if (err instanceof Unreachable) return { kind: 'retry', error: err.message }
      throw err
    },
  )
  try {
    return await Promise.race([get, sleep(left, { kind: 'deadline' } as const, { signal: timer.signal })])
  } finally {
    timer.abort()
  }
}

/** Follows the rollout until an outcome or the timeout; every event goes to `emit`, the last one is returned too. */
export async function follow(ep: Endpoint, o: FollowOptions): Promise<ResultEvent> {
  const started = Date.now()
  const deadline = started + o.timeoutMs
  let release = o.release
  // Set once the followed release was seen on the rollout: only then can an idle rollout mean it was completed.
  let seen = false
  let last: RolloutStatus | undefined
  let lastKey = ''
  let outage: { since: number; error: string } | undefined
  let retryMs = FIRST_RETRY_MS
  const pause = (ms: number) => sleep(Math.max(0, Math.min(ms, deadline - Date.now())))
  const end = (outcome: Outcome, reason: string): ResultEvent => {
    const e: ResultEvent = {
      event: 'result',
      at: isoNow(),
      outcome,
      code: OUTCOMES[outcome],
      reason,
      id: o.id,
      release: release ?? null,
      phase: last?.phase ?? null,
      weight: last?.weight ?? null,
    }
    o.emit(e)
    return e
  }

  for (;;) {
    const got = await poll(ep, o.id, deadline)
    if (got.kind === 'deadline') {
      const where = last ? `${last.phase} at ${last.weight} %` : 'no status was read'
      const down = outage ? `; the API has not answered since ${new Date(outage.since).toISOString()} (${outage.error})` : ''
      return end('timeout', `${release ?? o.id} was not decided within ${Math.round(o.timeoutMs / 1000)} s (${where})${down}; the rollout goes on`)
    }
    if (got.kind === 'retry') {
      if (outage?.error !== got.error) o.emit({ event: 'unreachable', at: isoNow(), error: got.error, retryInSeconds: retryMs / 1000 })
      outage = { since: outage?.since ?? Date.now(), error: got.error }
      await pause(retryMs)
      retryMs = Math.min(retryMs * 2, MAX_RETRY_MS)
      continue
    }
    if (outage) {
      o.emit({ event: 'reachable', at: isoNow(), afterSeconds: Math.round((Date.now() - outage.since) / 1000) })
      outage = undefined
      retryMs = FIRST_RETRY_MS
    }
    const { reply } = got
    if (reply.status === 404) return last ? end('deleted', `${o.id} was deleted while waiting`) : end('not-found', `no rollout ${o.id}`)
    let s: RolloutStatus
    try {
      s = ok<RolloutStatus>(reply)
    } catch (err) {
      if (!(err instanceof ApiRefused)) throw err
      const problem = formatProblem(problemOf(reply), reply.status)
        .replace(/^error: /, '')
        .split('\n')
        .map((l) => l.trim())
      return end('refused', [`the API answered ${problem.join('; ')}`, err.hint].filter(Boolean).join('; hint: '))
    }
    last = s
    const progress = progressOf(s, Date.now())
    const key = changeKey(progress)
    if (key !== lastKey) {
      lastKey = key
      o.emit(progress)
    }
    if (s.release === null) {
      if (seen) return end('completed', `${release} was promoted and completed; ${s.id} is idle`)
      return end('no-release', `no release under way on ${s.id} (${s.phase}); start one first`)
    }
    release ??= s.release
    if (s.release !== release) return end('superseded', `release ${s.release} started on ${s.id} while waiting for ${release}`)
    seen = true
    const outcome = settled(s, release)
    if (outcome) return end(...outcome)
    await pause(o.intervalMs)
  }
}

/** The last line of a wait (and of scripts/pipeline.ts): outcome, exit code and why. */
export const summaryLine = (r: { outcome: string; code: number; reason: string }) => `${r.outcome} (exit ${r.code}): ${r.reason}`

/** One event as text: progress and outages for stderr, the result for stdout. */
export function formatEvent(e: WaitEvent): string {
  const time = e.at.slice(11, 19)
  switch (e.event) {
    case 'progress': {
      const parts = [`${e.phase} at ${e.weight}%`]
      if (e.step) {
        const bake = e.step.bakeLeftSeconds > 0 ? `bake ends ${relative(Date.parse(e.at) + e.step.bakeLeftSeconds * 1000, Date.parse(e.at))}` : 'baked'
        parts.push(`step ${e.step.number}/${e.step.count}`, bake, `canary requests ${e.step.canaryRequests}/${e.step.minRequests}`)
      }
      const decision = e.decision ? `; ${e.decision.kind}: ${e.decision.reason}` : ''
      return `${time} ${e.id} ${e.release ?? '(no release)'}: ${parts.join(', ')}${decision}`
    }
    case 'unreachable':
      return `${time} ${e.error}; retrying in ${e.retryInSeconds} s, until the timeout`
    case 'reachable':
      return `${time} the API answers again, after ${e.afterSeconds} s`
    case 'result':
      return summaryLine(e)
  }
}

export const wait: CommandDef = {
  args: '<id>',
  flags: '[--release LABEL]',
  summary: 'follow a release until it is decided, with exit codes for CD pipelines',
  details: [
    'Polls the rollout every --interval and prints a line to stderr on each change: phase, weight,',
    'step k/n, bake time left, canary requests at the step against its minimum, and the last',
    'decision. The outcome is one line on stdout. With --json, stdout carries NDJSON instead: one',
    '"progress", "unreachable" or "reachable" event per change, then a "result" event',
    '{"event":"result","outcome":…,"code":…,"reason":…}.',
    '',
    'Example, in a pipeline: sluice start web --release "$SHA" && sluice wait web --release "$SHA"',
  ].join('\n'),
  options: ['release', 'timeout', 'interval'],
  optionHelp: {
    release:
      '--release LABEL  the release to follow (default: the one under way when wait starts);\n' +
      '                   another release on the rollout ends the wait with 5',
    json: '--json           NDJSON events on stdout instead of text',
  },
  exits: { usage: OUTCOMES.refused, table: WAIT_EXIT_CODES },
  async run(c) {
    const id = c.args[0]
    if (id === undefined) throw new UsageError('wait: missing <id>', 'wait')
    const timeoutMs = parseDuration(c.opts.timeout ?? '45m', 'timeout')
    const intervalMs = parseDuration(c.opts.interval ?? '10s', 'interval')
    const emit = (e: WaitEvent) => {
      if (c.opts.json) c.io.out(JSON.stringify(e))
      else if (e.event === 'result') c.io.out(formatEvent(e))
      else c.io.err(formatEvent(e))
    }
    const result = await follow(c.endpoint(), { id, ...(c.opts.release !== undefined ? { release: c.opts.release } : {}), timeoutMs, intervalMs, emit })
    return result.code
  },
}
