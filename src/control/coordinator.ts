/**
 * @module
 * The coordinator: one SQLite-backed Durable Object that is the single writer
 * of every rollout's config, state and history, and the only publisher of the
 * edge's KV document. This file holds its operations (reads, operator
 * commands, controller decisions); its tables are in storage.ts, the
 * document and its KV queue in publisher.ts.
 *
 * Why one object for all rollouts: the edge reads one KV key holding every
 * rollout, so one writer must own that key (per-rollout objects would race on
 * it). Admin commands and controller ticks are rare (seconds to minutes apart),
 * far below what one object serves. Each write runs in one transaction,
 * without an `await` in it, so each command is atomic; KV publishing happens
 * after the commit and is retried by an alarm if KV refuses.
 */
import { DurableObject } from 'cloudflare:workers'
import * as z from 'zod/mini'
import type { DecisionBasis, DiffReport, HistoryPage, PublishedConfig, Refusal, Result, RolloutStatus, SeriesPoint, WriteOptions } from '../contract/index.ts'
import { MAX_ROLLOUTS } from '../core/config/limits.ts'
import { type RolloutSpec, RolloutSpec as RolloutSpecSchema } from '../core/config/schema.ts'
import { RECENT_MS, etaOf, recentRequestsPerMinute, startWarnings } from '../core/rollout/eta.ts'
import { evidenceOf, trafficSince } from '../core/rollout/decide.ts'
import { awaitingPreRollout } from '../core/rollout/gates.ts'
import {
  type Command,
  type Decision,
  type RolloutState,
  type Transition,
  applyCommand,
  applyDecision,
  initialState,
  reschedule,
} from '../core/rollout/machine.ts'
import { shadowReport } from '../core/shadow/report-build.ts'
import { hookPayload, notifyHooks } from './hooks.ts'
import { NOTIFY, sendWebhook } from './notify.ts'
import { KvPublisher, edgeRefusal, edgeView, publishedDocument } from './publisher.ts'
import { type Row, RolloutStore } from './storage.ts'

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString())

export class Coordinator extends DurableObject<ControlEnv> {
  readonly #store: RolloutStore
  readonly #publisher: KvPublisher

  constructor(ctx: DurableObjectState, env: ControlEnv) {
    super(ctx, env)
    this.#store = new RolloutStore(ctx.storage.sql)
    this.#publisher = new KvPublisher(
      () => this.env.SLUICE_KV,
      () => this.published(),
      (at) => ctx.storage.setAlarm(at),
    )
  }

  // ---- reads ---------------------------------------------------------------

  list(): RolloutStatus[] {
    return this.#store.rows().map(({ spec, state }) => statusOf(spec, state))
  }

  status(id: string): RolloutStatus | null {
    const row = this.#store.row(id)
    return row ? statusOf(row.spec, row.state) : null
  }

  /** Newest first; `before` is the `seq` of the last entry of the previous page. */
  history(id: string, page: { limit: number; before?: number }): HistoryPage {
    return this.#store.history(id, page)
  }

  /** The last `limit` judged windows, oldest first. */
  series(id: string, limit: number): SeriesPoint[] {
    return this.#store.series(id, limit)
  }

  /**
   * The diff report of the release's shadow step, from the evidence the controller keeps in the rollout's state, so
   * it names the very calls the controller acted on; an empty report before any comparison.
   */
  diff(id: string): DiffReport | null {
    const row = this.#store.row(id)
    return row ? shadowReport(evidenceOf(row.state).shadow, row.spec, row.state) : null
  }

  // ---- operator writes -----------------------------------------------------

  /** Creates or replaces a rollout's spec; its state (phase, weight) is kept on replace. */
  async put(id: string, specInput: unknown, opts: WriteOptions & { createOnly?: boolean }): Promise<Result<{ status: RolloutStatus; created: boolean }>> {
    const parsed = z.safeParse(RolloutSpecSchema, { ...(specInput as object), id })
    if (!parsed.success) return { ok: false, problem: { status: 400, title: 'Invalid rollout', detail: parsed.error.message } }
    const now = Date.now()
    const row = this.#store.row(id)
    if (row && opts.createOnly) return { ok: false, problem: { status: 412, title: 'Precondition Failed', detail: `rollout ${id} already exists` } }
    const stale = this.#checkRevision(row?.state, opts.ifMatch)
    if (stale) return stale
    if (!row && this.#store.count() >= MAX_ROLLOUTS) {
      const message = `the published config already holds ${MAX_ROLLOUTS} rollouts, the most the edge accepts`
      return { ok: false, problem: { status: 409, title: 'Conflict', detail: `cannot create ${id}: ${message}`, errors: [{ field: 'id', message }] } }
    }
    const before = row?.state ?? null
    const state = before ? reschedule(before, parsed.data.schedule, now) : initialState(now)
    const refused = this.#edgeChecked(() => {
      this.#store.save(id, parsed.data, state)
      this.#store.record(id, now, opts, row ? 'replace' : 'create', before, state)
    })
    if (refused) return refused
    return this.#committed({ status: statusOf(parsed.data, state), created: !row })
  }

  async remove(id: string, opts: WriteOptions): Promise<Result<null>> {
    const row = this.#store.row(id)
    if (!row) return notFound(id)
    const stale = this.#checkRevision(row.state, opts.ifMatch)
    if (stale) return stale
    // Unchecked, like a rollback (see `#edgeChecked`): removing an entry cannot make the edge reject another.
    this.#write(false, () => {
      this.#store.delete(id)
      // History outlives the rollout: what happened stays on record.
      this.#store.record(id, Date.now(), opts, 'delete', row.state, null)
    })
    return this.#committed(null)
  }

  async command(id: string, cmd: Command, opts: WriteOptions): Promise<Result<RolloutStatus>> {
    const row = this.#store.row(id)
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
    const data =
      cmd.name === 'start'
        ? { release: cmd.release, stable: spec.stable, canary: spec.canary, ...warned }
        : t.swapOrigins
          ? { stable: spec.stable, canary: spec.canary }
          : undefined
    const refused = this.#write(cmd.name !== 'rollback', () => {
      this.#store.save(id, spec, t.state)
      this.#store.record(id, now, { ...opts, ...(data ? { data } : {}) }, cmd.name, row.state, t.state)
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
    const row = this.#store.row(id)
    if (!row || row.state.revision !== basis.revision || row.state.windowEnd !== basis.windowEnd) {
      return { ok: true, value: { applied: false, status: row ? statusOf(row.spec, row.state) : null }, published: false }
    }
    const now = Date.now()
    const t: Transition = applyDecision(row.state, decision, row.spec.schedule, now, patch)
    if (!t.ok) return { ok: true, value: { applied: false, status: statusOf(row.spec, row.state) }, published: false }
    // Unchanged weight and phase leave the published document as it is: nothing for the edge to judge.
    const refused = this.#write(t.changed && decision.kind !== 'rollback', () => {
      this.#store.save(id, row.spec, t.state)
      if (point) this.#store.addPoint(id, point)
      // A hold that says what the last one said adds nothing to the record; everything else is recorded.
      const repeatHold = decision.kind === 'hold' && row.state.lastDecision?.kind === 'hold' && row.state.lastDecision.reason === decision.reason
      if (!repeatHold) {
        this.#store.record(
          id,
          now,
          { actor: { kind: 'controller', name: 'controller' }, reason: decision.reason, ...(decision.data ? { data: decision.data } : {}) },
          decision.kind,
          row.state,
          t.state,
        )
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
  progressing(): Row[] {
    return this.#store.rows().filter((r) => r.state.phase === 'progressing' || r.state.phase === 'awaiting-approval')
  }

  // ---- publishing ----------------------------------------------------------

  /** The document the edge reads (see publisher.ts). */
  published(): PublishedConfig {
    return publishedDocument(this.#store.rows())
  }

  /** Writes the current document to KV; on failure the alarm retries, so a committed change always reaches the edge. */
  publish(): Promise<boolean> {
    return this.#publisher.publish()
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
  #write(checked: boolean, write: () => void): { ok: false; problem: Refusal } | undefined {
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
  #edgeChecked(write: () => void): { ok: false; problem: Refusal } | undefined {
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

  #checkRevision(state: RolloutState | undefined, ifMatch: number | undefined): { ok: false; problem: Refusal } | undefined {
    if (ifMatch === undefined || state?.revision === ifMatch) return undefined
    return {
      ok: false,
      problem: {
        status: 412,
        title: 'Precondition Failed',
        detail: `If-Match revision ${ifMatch} is stale: the rollout is at revision ${state?.revision ?? 'none'}`,
      },
    }
  }
}

/** Carries a refusal out of `transactionSync`, whose rollback needs a throw. */
class Refused extends Error {
  readonly problem: Refusal
  constructor(problem: Refusal) {
    super(problem.detail)
    this.problem = problem
  }
}

/** The spec a command leaves: `complete` swaps the origins, and a start may bring its own. */
function specAfter(spec: RolloutSpec, cmd: Command, t: { swapOrigins?: boolean }): RolloutSpec {
  if (t.swapOrigins) return { ...spec, stable: spec.canary, canary: spec.stable }
  if (cmd.name === 'start') return { ...spec, stable: cmd.stable ?? spec.stable, canary: cmd.canary ?? spec.canary }
  return spec
}

const notFound = (id: string): { ok: false; problem: Refusal } => ({ ok: false, problem: { status: 404, title: 'Not Found', detail: `no rollout ${id}` } })

export function statusOf(spec: RolloutSpec, state: RolloutState): RolloutStatus {
  const step = state.step >= 0 ? spec.schedule[state.step] : undefined
  const since = trafficSince(state)
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
          // From when the step got its traffic, as the controller counts it (a pre-rollout gate may have held it back).
          bakeEndsAt: iso(since === null ? null : since + step.bakeMinutes * 60_000),
        }
      : null,
    lastDecision: state.lastDecision && { ...state.lastDecision, at: new Date(state.lastDecision.at).toISOString() },
    updatedAt: new Date(state.updatedAt).toISOString(),
    eta: etaOf(spec, state),
  }
}
