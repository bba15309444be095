/**
 * @module
 * The coordinator's KV publisher: the document the edge reads (every
 * rollout's entry), what the edge would make of it (so the coordinator can
 * refuse a write the edge would reject), and the queue of puts that carries
 * each committed change to KV, one at a time, retried by the object's alarm.
 */
import { CONFIG_KEY, type PublishedConfig, type Refusal } from '../contract/index.ts'
import { MAX_PUBLISHED_BYTES } from '../core/config/limits.ts'
import { type Rejection, parseConfig } from '../core/config/published.ts'
import type { RolloutSpec } from '../core/config/schema.ts'
import type { RolloutState } from '../core/rollout/machine.ts'
import { awaitingPreRollout } from '../core/rollout/gates.ts'
import { logOnce } from '../shared/log.ts'
import type { Row } from './storage.ts'

const PUBLISH_RETRY_MS = 2_000
/** Past this a KV put counts as failed, and the alarm retries it. */
const KV_PUT_TIMEOUT_MS = 10_000

/**
 * A rollout as the edge gets it (`EdgeRollout`): the schedule, the judge, analysis, hooks and notify settings stay
 * in the coordinator. The edge has no use for them, every isolate holds the document, and a webhook URL (Slack's
 * carries its token) is a credential. Until its pre-rollout hooks say go, a release's canary is published at weight
 * 0: `start` sets the step's weight at once.
 */
function edgeEntry(spec: RolloutSpec, state: RolloutState): PublishedConfig['rollouts'][number] {
  const { schedule: _s, judge: _j, analysis: _a, notify: _n, hooks: _h, hookFailuresBeforePause: _f, ...routing } = spec
  const waiting = awaitingPreRollout(spec, state)
  const weight = waiting ? 0 : state.weight
  return {
    ...routing,
    weight,
    rings: waiting ? {} : (state.rings ?? {}),
    shadowWeight: waiting ? 0 : (state.shadowWeight ?? 0),
    ...(state.release ? { release: state.release } : {}),
  }
}

/** The document the edge reads: every rollout's spec with its current weight, rings and release. */
export const publishedDocument = (rows: readonly Row[]): PublishedConfig => ({ rollouts: rows.map(({ spec, state }) => edgeEntry(spec, state)) })

/** What the edge would make of a document: its size, and which entries it would reject. */
export function edgeView(doc: PublishedConfig): { bytes: number; rejected: Rejection[] } {
  const text = JSON.stringify(doc)
  const parsed = parseConfig(text)
  return { bytes: new TextEncoder().encode(text).byteLength, rejected: parsed.ok ? parsed.rejected : [{ error: parsed.error }] }
}

/** Why the edge would refuse `after` where it took `before`: an entry it did not already reject, or growth past the size limit. */
export function edgeRefusal(before: ReturnType<typeof edgeView>, after: ReturnType<typeof edgeView>): Refusal | undefined {
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

/**
 * Writes the document to KV, one put after another, each writing the document as it is when it starts: other calls
 * run while a put is awaited, and two overlapping puts could otherwise land oldest last. On failure (or a put that
 * outlives its timeout) the alarm is set, so a committed change always reaches the edge; an abandoned put that
 * lands late is followed by another, so an older document never stays last.
 */
export class KvPublisher {
  /** The tail of the queue. */
  #publishing: Promise<boolean> = Promise.resolve(true)
  readonly #kv: () => KVNamespace
  readonly #document: () => PublishedConfig
  readonly #retry: (at: number) => Promise<void>

  /** `kv` is read at each put, so the binding may change under a running object (tests swap it). */
  constructor(kv: () => KVNamespace, document: () => PublishedConfig, retry: (at: number) => Promise<void>) {
    this.#kv = kv
    this.#document = document
    this.#retry = retry
  }

  publish(): Promise<boolean> {
    const run = this.#publishing.then(() => this.#put())
    this.#publishing = run
    return run
  }

  async #put(): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined
    let put: Promise<void> | undefined
    try {
      // Inside the try: a document or binding that throws must set the retry, not reject the queue for good.
      put = this.#kv().put(CONFIG_KEY, JSON.stringify(this.#document()))
      // A put that never settles would hold the queue, and with it every later change, until a restart.
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`KV put took over ${KV_PUT_TIMEOUT_MS} ms`)), KV_PUT_TIMEOUT_MS)
      })
      await Promise.race([put, late])
      return true
    } catch (err) {
      logOnce('publish-failed', { detail: String(err) })
      // An abandoned put may land after a newer one: then write the current document again, so it is the last.
      put?.then(
        () => void this.publish(),
        () => undefined,
      )
      await this.#retry(Date.now() + PUBLISH_RETRY_MS)
      return false
    } finally {
      clearTimeout(timer)
    }
  }
}
