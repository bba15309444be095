/**
 * @module
 * The coordinator: one SQLite-backed Durable Object that is the single writer
 * of every rollout's config, state and history, and the only publisher of the
 * edge's KV document.
 *
 * Why one object for all rollouts: the edge reads one KV key holding every
 * rollout, so one writer must own that key (per-rollout objects would race on
 * it). Admin commands and controller ticks are rare (seconds to minutes apart),
 * far below what one object serves. Its methods run their reads and writes
 * without an `await` in between, so each command is atomic; KV publishing
 * happens after the commit and is retried by an alarm if KV refuses.
 */
import { DurableObject } from 'cloudflare:workers'
import * as z from 'zod/mini'
import { type Actor, CONFIG_KEY, type FieldError, type HistoryEntry, type HistoryPage, type PublishedConfig, type RolloutStatus, type SeriesPoint } from '../contract/index.ts'
import { MAX_PUBLISHED_BYTES, MAX_ROLLOUTS } from '../core/config/limits.ts'
import { type RolloutSpec, RolloutSpec as RolloutSpecSchema } from '../core/config/schema.ts'
import { type Command, type Decision, type RolloutState, type Transition, applyCommand, applyDecision, initialState, reschedule } from '../core/rollout/machine.ts'
import { type Rejection, parseConfig } from '../core/config/published.ts'
import { RECENT_MS, etaOf, recentRequestsPerMinute, startWarnings } from '../core/rollout/eta.ts'
import { logOnce } from '../shared/log.ts'
import { awaitingPreRollout } from '../core/rollout/gates.ts'
import { hookPayload, notifyHooks } from './hooks.ts'
import { NOTIFY, sendWebhook } from './notify.ts'

// Defined in the contract; re-exported for the modules that still import them from here (controller, tests).
export type { HistoryEntry, RolloutStatus, SeriesPoint }

/** Points kept per rollout: a week of one-minute windows. */
const SERIES_LIMIT = 7 * 24 * 60

/** A refusal, which the admin API answers as a problem document of that status. */
export type Problem = { status: 400 | 404 | 409 | 412; title: string; detail: string; errors?: FieldError[] }
export type Result<T> = { ok: true; value: T; published: boolean } | { ok: false; problem: Problem }

export interface WriteOptions {
  actor: Actor
  /** The revision the caller last saw (If-Match); a mismatch is a 412. */
  ifMatch?: number
  reason?: string
}

/** What the controller read before judging; a decision is applied only if nothing changed since. */
export interface DecisionBasis {
  revision: number
  windowEnd: number | null
}

const PUBLISH_RETRY_MS = 2_000
/** Past this a KV put counts as failed, and the alarm retries it. */
const KV_PUT_TIMEOUT_MS = 10_000

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

export class Coordinator extends DurableObject<ControlEnv> {
  readonly #sql: SqlStorage
  /** The tail of the publish queue (see `publish`). */
  #publishing: Promise<boolean> = Promise.resolve(true)

  constructor(ctx: DurableObjectState, env: ControlEnv) {
    super(ctx, env)
    this.#sql = ctx.storage.sql
    this.#sql.exec(`
      CREATE TABLE IF NOT EXISTS rollouts (id TEXT PRIMARY KEY, spec TEXT NOT NULL, state TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, rollout TEXT NOT NULL, at INTEGER NOT NULL, entry TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS history_by_rollout ON history (rollout, seq);
      CREATE TABLE IF NOT EXISTS series (rollout TEXT NOT NULL, at INTEGER NOT NULL, point TEXT NOT NULL, PRIMARY KEY (rollout, at));
    `)
  }

  // ---- reads ---------------------------------------------------------------

  list(): RolloutStatus[] {
    return this.#rows().map(({ spec, state }) => statusOf(spec, state))
  }

  status(id: string): RolloutStatus | null {
    const row = this.#row(id)
    return row ? statusOf(row.spec, row.state) : null
  }

  /** Newest first; `before` is the `seq` of the last entry of the previous page. */
  history(id: string, page: { limit: number; before?: number }): HistoryPage {
    const rows = this.#sql
      .exec<{ seq: number; entry: string }>(
        'SELECT seq, entry FROM history WHERE rollout = ? AND seq < ? ORDER BY seq DESC LIMIT ?',
        id,
        page.before ?? Number.MAX_SAFE_INTEGER,
        page.limit + 1,
      )
      .toArray()
    const entries = rows.slice(0, page.limit).map((r) => ({ ...(JSON.parse(r.entry) as Omit<HistoryEntry, 'seq'>), seq: r.seq }))
    return { entries, next: rows.length > page.limit ? entries.at(-1)!.seq : null }
  }

  /** The last `limit` judged windows, oldest first. */
  series(id: string, limit: number): SeriesPoint[] {
    return this.#sql
      .exec<{ point: string }>('SELECT point FROM series WHERE rollout = ? ORDER BY at DESC LIMIT ?', id, limit)
      .toArray()
      .map((r) => JSON.parse(r.point) as SeriesPoint)
      .reverse()
  }

  // ---- operator writes -----------------------------------------------------

  /** Creates or replaces a rollout's spec; its state (phase, weight) is kept on replace. */
  async put(id: string, specInput: unknown, opts: WriteOptions & { createOnly?: boolean }): Promise<Result<{ status: RolloutStatus; created: boolean }>> {
    const parsed = z.safeParse(RolloutSpecSchema, { ...(specInput as object), id })
    if (!parsed.success) return { ok: false, problem: { status: 400, title: 'Invalid rollout', detail: parsed.error.message } }
    const now = Date.now()
    const row = this.#row(id)
    if (row && opts.createOnly) return { ok: false, problem: { status: 412, title: 'Precondition Failed', detail: `rollout ${id} already exists` } }
    const stale = this.#checkRevision(row?.state, opts.ifMatch)
    if (stale) return stale
    if (!row && this.#count() >= MAX_ROLLOUTS) {
      const message = `the published config already holds ${MAX_ROLLOUTS} rollouts, the most the edge accepts`
      return { ok: false, problem: { status: 409, title: 'Conflict', detail: `cannot create ${id}: ${message}`, errors: [{ field: 'id', message }] } }
    }
    const before = row?.state ?? null
    const state = before ? reschedule(before, parsed.data.schedule, now) : initialState(now)
    const refused = this.#edgeChecked(() => {
      this.#save(id, parsed.data, state)
      this.#record(id, now, opts, row ? 'replace' : 'create', before, state)
    })
    if (refused) return refused
    return this.#committed({ status: statusOf(parsed.data, state), created: !row })
  }

  async remove(id: string, opts: WriteOptions): Promise<Result<null>> {
    const row = this.#row(id)
    if (!row) return notFound(id)
    const stale = this.#checkRevision(row.state, opts.ifMatch)
    if (stale) return stale
    // Unchecked, like a rollback (see `#edgeChecked`): removing an entry cannot make the edge reject another.
    this.#write(false, () => {
      this.#sql.exec('DELETE FROM rollouts WHERE id = ?', id)
      // History outlives the rollout: what happened stays on record.
      this.#record(id, Date.now(), opts, 'delete', row.state, null)
    })
    return this.#committed(null)
  }

  async command(id: string, cmd: Command, opts: WriteOptions): Promise<Result<RolloutStatus>> {
    const row = this.#row(id)
    if (!row) return notFound(id)
    const stale = this.#checkRevision(row.state, opts.ifMatch)
    if (stale) return stale
    const now = Date.now()
    const t = applyCommand(row.state, cmd, row.spec.schedule, now)
    if (!t.ok) return { ok: false, problem: { status: 409, title: 'Conflict', detail: t.detail } }
    if (!t.changed) return { ok: true, value: statusOf(row.spec, row.state), published: false }
    const spec = specAfter(row.spec, cmd, t)
    // A start says, and records, when the traffic seen recently would hold the release back for more than a day.
    const { windowSeconds } = spec.analysis
    const recent = () => recentRequestsPerMinute(this.series(id, Math.ceil(RECENT_MS / 1000 / windowSeconds)), windowSeconds)
    const warnings = cmd.name === 'start' ? startWarnings(spec, recent(), now) : []
    const warned = warnings.length ? { warnings } : {}
    // A start records the origins its release runs against, whether it set them or not.
    const data = cmd.name === 'start' ? { release: cmd.release, stable: spec.stable, canary: spec.canary, ...warned } : t.swapOrigins ? { stable: spec.stable, canary: spec.canary } : undefined
    const refused = this.#write(cmd.name !== 'rollback', () => {
      this.#save(id, spec, t.state)
      this.#record(id, now, { ...opts, ...(data ? { data } : {}) }, cmd.name, row.state, t.state)
    })
    if (refused) return refused
    this.#notify(spec, cmd.name, row.state, t.state, opts.reason)
    return this.#committed({ ...statusOf(spec, t.state), ...warned })
  }

  // ---- controller ----------------------------------------------------------

  /**
   * Applies a controller decision if, and only if, the rollout is still exactly
   * as the controller read it (same revision, same last window). Any operator
   * command in between bumps the revision, so a decision computed from older
   * state is discarded: the operator always wins. A duplicated tick finds the
   * window already consumed and is discarded the same way.
   */
  async decide(
    id: string,
    decision: Decision,
    basis: DecisionBasis,
    patch: Pick<RolloutState, 'evidence' | 'windowEnd'>,
    point?: SeriesPoint,
  ): Promise<Result<{ applied: boolean; status: RolloutStatus | null }>> {
    const row = this.#row(id)
    if (!row || row.state.revision !== basis.revision || row.state.windowEnd !== basis.windowEnd) {
      return { ok: true, value: { applied: false, status: row ? statusOf(row.spec, row.state) : null }, published: false }
    }
    const now = Date.now()
    const t: Transition = applyDecision(row.state, decision, row.spec.schedule, now, patch)
    if (!t.ok) return { ok: true, value: { applied: false, status: statusOf(row.spec, row.state) }, published: false }
    // Unchanged weight and phase leave the published document as it is: nothing for the edge to judge.
    const refused = this.#write(t.changed && decision.kind !== 'rollback', () => {
      this.#save(id, row.spec, t.state)
      if (point) {
        this.#sql.exec('INSERT OR REPLACE INTO series (rollout, at, point) VALUES (?, ?, ?)', id, point.at, JSON.stringify(point))
        this.#sql.exec('DELETE FROM series WHERE rollout = ? AND at < (SELECT MIN(at) FROM (SELECT at FROM series WHERE rollout = ? ORDER BY at DESC LIMIT ?))', id, id, SERIES_LIMIT)
      }
      // A hold that says what the last one said adds nothing to the record; everything else is recorded.
      const repeatHold = decision.kind === 'hold' && row.state.lastDecision?.kind === 'hold' && row.state.lastDecision.reason === decision.reason
      if (!repeatHold) {
        this.#record(id, now, { actor: { kind: 'controller', name: 'controller' }, reason: decision.reason, ...(decision.data ? { data: decision.data } : {}) }, decision.kind, row.state, t.state)
      }
    })
    if (refused) return refused
    if (t.changed) this.#notify(row.spec, decision.kind, row.state, t.state, decision.reason)
    const status = statusOf(row.spec, t.state)
    // A pre-rollout go is a hold that changes what the edge is sent (the canary's weight, from 0): publish it too.
    const edgeMoved = t.changed || awaitingPreRollout(row.spec, row.state) !== awaitingPreRollout(row.spec, t.state)
    if (!edgeMoved) return { ok: true, value: { applied: true, status }, published: false }
    return this.#committed({ applied: true, status })
  }

  /** Rollouts the controller should look at (also those waiting at a gate: the canary still has traffic), with the state it read them in. */
  progressing(): { spec: RolloutSpec; state: RolloutState }[] {
    return this.#rows().filter((r) => r.state.phase === 'progressing' || r.state.phase === 'awaiting-approval')
  }

  // ---- publishing ----------------------------------------------------------

  /** The document the edge reads: every rollout's spec with its current weight and release (see `edgeEntry`). */
  published(): PublishedConfig {
    return { rollouts: this.#rows().map(({ spec, state }) => edgeEntry(spec, state)) }
  }

  /**
   * Writes the current document to KV. On failure an alarm retries, so a committed change always reaches the edge.
   * Publishes run one after another, each writing the document as it is when it starts: other calls run while a
   * put is awaited, and two overlapping puts could otherwise land oldest last.
   */
  publish(): Promise<boolean> {
    const run = this.#publishing.then(() => this.#put())
    this.#publishing = run
    return run
  }

  async #put(): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined
    try {
      // A put that never settles would hold the publish queue, and with it every later change, until a restart.
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`KV put took over ${KV_PUT_TIMEOUT_MS} ms`)), KV_PUT_TIMEOUT_MS)
      })
      await Promise.race([this.env.SLUICE_KV.put(CONFIG_KEY, JSON.stringify(this.published())), late])
      return true
    } catch (err) {
      logOnce('publish-failed', { detail: String(err) })
      await this.ctx.storage.setAlarm(Date.now() + PUBLISH_RETRY_MS)
      return false
    } finally {
      clearTimeout(timer)
    }
  }

  override async alarm(): Promise<void> {
    await this.publish()
  }

  // ---- internals -----------------------------------------------------------

  /** Fire-and-forget: the webhooks' fate never touches the committed change. Entering promoted or rolled-back also tells those hooks. */
  #notify(spec: RolloutSpec, event: string, from: RolloutState, to: RolloutState, reason: string | undefined) {
    const { webhook, secret } = spec.notify
    const message = NOTIFY[event]
    if (webhook && message) this.ctx.waitUntil(sendWebhook({ url: webhook, secret }, event, { text: message(spec.id, to, reason) }))
    const hook = to.phase === 'promoted' ? 'post-rollout' : to.phase === 'rolled-back' ? 'rollback' : null
    if (hook) this.ctx.waitUntil(notifyHooks(spec, hook, hookPayload(hook, spec, from, to, to.lastDecision?.data?.numbers, reason)))
  }

  async #committed<T>(value: T): Promise<Result<T>> {
    return { ok: true, value, published: await this.publish() }
  }

  /** Runs a write, through `#edgeChecked` when asked (never for a rollback: see there). */
  #write(checked: boolean, write: () => void): { ok: false; problem: Problem } | undefined {
    if (checked) return this.#edgeChecked(write)
    // One transaction either way: a storage fault between the state and its history entry must undo both, never
    // leave a rollback applied and unrecorded.
    this.ctx.storage.transactionSync(write)
    return undefined
  }

  /**
   * Runs a write and keeps it only if the edge would take the document it leads to: the edge's own parser
   * rejects no entry it did not already reject, and the document grows no further past `MAX_PUBLISHED_BYTES`.
   * Otherwise the write is rolled back whole (state, history, series) and refused. Judged against the current
   * document, so an entry the edge already rejects never blocks writes to the others. Rollbacks and deletes
   * skip this: neither can make an entry invalid (a rollback only sets the weight to 0), and no limit may ever
   * stand between an operator and either in an incident.
   */
  #edgeChecked(write: () => void): { ok: false; problem: Problem } | undefined {
    const before = edgeView(this.published())
    try {
      this.ctx.storage.transactionSync(() => {
        write()
        const problem = edgeRefusal(before, edgeView(this.published()))
        if (problem) throw new Refused(problem)
      })
    } catch (err) {
      if (err instanceof Refused) return { ok: false, problem: err.problem }
      throw err
    }
    return undefined
  }

  #count(): number {
    return this.#sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM rollouts').one().n
  }

  #checkRevision(state: RolloutState | undefined, ifMatch: number | undefined): { ok: false; problem: Problem } | undefined {
    if (ifMatch === undefined || state?.revision === ifMatch) return undefined
    return {
      ok: false,
      problem: { status: 412, title: 'Precondition Failed', detail: `If-Match revision ${ifMatch} is stale: the rollout is at revision ${state?.revision ?? 'none'}` },
    }
  }

  #rows(): { spec: RolloutSpec; state: RolloutState }[] {
    return this.#sql
      .exec<{ spec: string; state: string }>('SELECT spec, state FROM rollouts ORDER BY id')
      .toArray()
      .map((r) => ({ spec: JSON.parse(r.spec) as RolloutSpec, state: JSON.parse(r.state) as RolloutState }))
  }

  #row(id: string): { spec: RolloutSpec; state: RolloutState } | undefined {
    const r = this.#sql.exec<{ spec: string; state: string }>('SELECT spec, state FROM rollouts WHERE id = ?', id).toArray()[0]
    return r && { spec: JSON.parse(r.spec) as RolloutSpec, state: JSON.parse(r.state) as RolloutState }
  }

  #save(id: string, spec: RolloutSpec, state: RolloutState) {
    this.#sql.exec('INSERT OR REPLACE INTO rollouts (id, spec, state) VALUES (?, ?, ?)', id, JSON.stringify(spec), JSON.stringify(state))
  }

  #record(id: string, now: number, opts: WriteOptions & { data?: Record<string, unknown> }, command: string, from: RolloutState | null, to: RolloutState | null) {
    const snap = (s: RolloutState | null) => s && { phase: s.phase, weight: s.weight, revision: s.revision }
    const entry: Omit<HistoryEntry, 'seq'> = {
      at: new Date(now).toISOString(),
      rollout: id,
      actor: opts.actor,
      command,
      from: snap(from),
      to: snap(to),
      ...(opts.reason ? { reason: opts.reason } : {}),
      ...(opts.data ? { data: opts.data } : {}),
    }
    this.#sql.exec('INSERT INTO history (rollout, at, entry) VALUES (?, ?, ?)', id, now, JSON.stringify(entry))
  }
}

/**
 * A rollout as the edge gets it. Hooks and the notify secret stay in the coordinator: the edge has no use for them,
 * and every isolate holds the document (the edge would default `hooks` to none, which is what it is sent). Until its
 * pre-rollout hooks say go, a release's canary is published at weight 0: `start` sets the step's weight at once.
 */
function edgeEntry(spec: RolloutSpec, state: RolloutState): PublishedConfig['rollouts'][number] {
  const { secret: _, ...notify } = spec.notify
  const waiting = awaitingPreRollout(spec, state)
  const weight = waiting ? 0 : state.weight
  return { ...spec, hooks: [], notify, weight, rings: waiting ? {} : (state.rings ?? {}), ...(state.release ? { release: state.release } : {}) }
}

/** Carries a refusal out of `transactionSync`, whose rollback needs a throw. */
class Refused extends Error {
  readonly problem: Problem
  constructor(problem: Problem) {
    super(problem.detail)
    this.problem = problem
  }
}

/** What the edge would make of a document: its size, and which entries it would reject. */
function edgeView(doc: PublishedConfig): { bytes: number; rejected: Rejection[] } {
  const text = JSON.stringify(doc)
  const parsed = parseConfig(text)
  return { bytes: new TextEncoder().encode(text).byteLength, rejected: parsed.ok ? parsed.rejected : [{ error: parsed.error }] }
}

function edgeRefusal(before: ReturnType<typeof edgeView>, after: ReturnType<typeof edgeView>): Problem | undefined {
  const key = (r: Rejection) => r.rollout ?? r.error
  const known = new Set(before.rejected.map(key))
  const fresh = after.rejected.filter((r) => !known.has(key(r)))
  if (fresh.length) {
    return {
      status: 409,
      title: 'Conflict',
      detail: `the edge would reject the published config: ${fresh.map((r) => r.error).join('; ')}`,
      // The rollout whose entry the edge would reject, which need not be the one written: past the limit, the last by id.
      errors: fresh.map((r) => ({ field: r.rollout ?? '(config)', message: r.error })),
    }
  }
  if (after.bytes > MAX_PUBLISHED_BYTES && after.bytes > before.bytes) {
    const message = `the published config would be ${after.bytes} bytes, over the ${MAX_PUBLISHED_BYTES} the edge is given`
    return { status: 409, title: 'Conflict', detail: message, errors: [{ field: '(config)', message }] }
  }
  return undefined
}

/** The spec a command leaves: `complete` swaps the origins, and a start may bring its own. */
function specAfter(spec: RolloutSpec, cmd: Command, t: { swapOrigins?: boolean }): RolloutSpec {
  if (t.swapOrigins) return { ...spec, stable: spec.canary, canary: spec.stable }
  if (cmd.name === 'start') return { ...spec, stable: cmd.stable ?? spec.stable, canary: cmd.canary ?? spec.canary }
  return spec
}

const notFound = (id: string): { ok: false; problem: Problem } => ({ ok: false, problem: { status: 404, title: 'Not Found', detail: `no rollout ${id}` } })

export function statusOf(spec: RolloutSpec, state: RolloutState): RolloutStatus {
  const step = state.step >= 0 ? spec.schedule[state.step] : undefined
  return {
    id: spec.id,
    spec,
    phase: state.phase,
    weight: state.weight,
    rings: state.rings ?? {},
    revision: state.revision,
    release: state.release,
    step: step
      ? {
          index: state.step,
          weight: step.weight,
          ...(step.audience !== undefined ? { audience: step.audience } : {}),
          bakeMinutes: step.bakeMinutes,
          minRequests: step.minRequests,
          startedAt: iso(state.stepStartedAt),
          bakeEndsAt: iso(state.stepStartedAt === null ? null : state.stepStartedAt + step.bakeMinutes * 60_000),
        }
      : null,
    lastDecision: state.lastDecision && { ...state.lastDecision, at: new Date(state.lastDecision.at).toISOString() },
    updatedAt: new Date(state.updatedAt).toISOString(),
    eta: etaOf(spec, state),
  }
}
