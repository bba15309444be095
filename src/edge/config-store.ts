/**
 * @module
 * The edge's view of the published config: one KV key, read through a
 * per-isolate cache so that at steady state a request costs no KV read.
 *
 * Freshness: the cached copy is served for `ttlMs`; for another `ttlMs` after
 * that a request still gets the cached copy while one background refresh
 * (deduplicated) reads KV, so a busy isolate never waits on KV. A copy older
 * than twice the TTL (the isolate was idle) is not trusted: that request waits
 * for the refresh, never longer than `firstLoadTimeoutMs`, as does an
 * isolate's very first request. Faults (KV throwing, slow, or holding a document that
 * is not JSON with a `rollouts` array) keep the last good config, else the `[vars]`
 * fallback. A document is read entry by entry: a rejected entry keeps that
 * rollout's last good version (else the fallback) while every other rollout
 * takes its new one.
 */
import { type CompiledConfig, compileConfig } from '../core/config/compile.ts'
import { MAX_ROLLOUTS } from '../core/config/limits.ts'
import { type Rejection, parseConfig } from '../core/config/published.ts'
import type { EdgeRollout } from '../core/config/routing.ts'
import { logOnce } from '../shared/log.ts'
// The file rather than the contract's index: the edge bundle has no use for the admin API's schemas.
import { CONFIG_KEY } from '../contract/published.ts'

// Defined in the contract (the control worker writes the key); re-exported for the tests that seed KV through the edge's module.
export { CONFIG_KEY }
/** KV's edge cache; 60 s is the documented minimum. */
export const KV_CACHE_TTL_SECONDS = 60

/** Past this a KV read counts as failed, so the next refresh can try again. */
export const KV_READ_TIMEOUT_MS = 3_000

export type ConfigSource = 'kv' | 'fallback'

interface Snapshot {
  config: CompiledConfig
  source: ConfigSource
  loadedAt: number
  /** The KV document it was built from. */
  text?: string
}

/** The last document this isolate refused any of, and why (shown by healthz). */
interface LastRejection {
  /** When this isolate first read that document. */
  at: string
  errors: Rejection[]
  text: string
}

export interface ConfigStoreOptions {
  /** Milliseconds a loaded config is served before a background refresh. */
  ttlMs: number
  /** The `[vars]` default rollout (weight 0), or undefined when the vars are missing. */
  fallback: () => CompiledConfig | undefined
  firstLoadTimeoutMs?: number
  now?: () => number
}

export class ConfigStore {
  #snapshot: Snapshot | undefined
  #lastGood: Snapshot | undefined
  #inflight: Promise<void> | undefined
  #kvReads = 0
  #rejected: LastRejection | undefined
  readonly #opts: Required<ConfigStoreOptions>

  constructor(opts: ConfigStoreOptions) {
    this.#opts = { firstLoadTimeoutMs: 1_000, now: () => Date.now(), ...opts }
  }

  /** The config to route this request with. Waits for KV only on the isolate's first request. */
  async get(kv: KVNamespace | undefined, waitUntil: (p: Promise<unknown>) => void): Promise<CompiledConfig | undefined> {
    const snap = this.#snapshot
    const age = snap ? this.#opts.now() - snap.loadedAt : Infinity
    if (age < this.#opts.ttlMs) return snap!.config
    if (age < 2 * this.#opts.ttlMs) {
      waitUntil(this.refresh(kv))
      return snap!.config
    }
    const reading = this.refresh(kv)
    // If the read outlives this wait, it must still finish (and free the next refresh) after the response.
    waitUntil(reading)
    await Promise.race([reading, new Promise((r) => setTimeout(r, this.#opts.firstLoadTimeoutMs))])
    return (this.#snapshot ?? snap)?.config ?? this.#fallbackSnapshot(0)?.config
  }

  /** Reads KV once; concurrent callers share the same read. */
  refresh(kv: KVNamespace | undefined): Promise<void> {
    this.#inflight ??= this.#load(kv).finally(() => {
      this.#inflight = undefined
    })
    return this.#inflight
  }

  get stats() {
    const s = this.#snapshot
    const r = this.#rejected
    return {
      source: s?.source ?? 'none',
      ageMs: s ? this.#opts.now() - s.loadedAt : null,
      kvReads: this.#kvReads,
      rejected: r ? { at: r.at, errors: r.errors } : null,
    }
  }

  async #load(kv: KVNamespace | undefined): Promise<void> {
    const now = this.#opts.now()
    if (!kv) return this.#degrade(now, 'kv-binding-missing', 'the SLUICE_KV binding is not configured')
    let text: string | null
    try {
      this.#kvReads++
      // A read that never settles would hold `#inflight` forever and freeze this isolate's config.
      let timer: ReturnType<typeof setTimeout> | undefined
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`KV read took over ${KV_READ_TIMEOUT_MS} ms`)), KV_READ_TIMEOUT_MS)
      })
      text = await Promise.race([kv.get(CONFIG_KEY, { type: 'text', cacheTtl: KV_CACHE_TTL_SECONDS }), timeout]).finally(() => clearTimeout(timer))
    } catch (err) {
      return this.#degrade(now, 'kv-read-failed', String(err))
    }
    // Nothing published yet: the [vars] default is the config, not a fault.
    if (text === null) {
      this.#snapshot = this.#fallbackSnapshot(now)
      return
    }
    // The usual read: the document has not changed, so there is nothing to parse or compile (zod costs ~10 ms
    // for 256 rollouts, which an isolate would otherwise spend every TTL).
    if (text === this.#lastGood?.text) {
      this.#snapshot = { ...this.#lastGood, loadedAt: now }
      return
    }
    const parsed = parseConfig(text)
    if (!parsed.ok) {
      this.#reject(now, text, [{ error: parsed.error }])
      return this.#degrade(now, 'config-invalid', parsed.error)
    }
    const { rollouts } = parsed.config
    if (parsed.rejected.length) {
      this.#reject(now, text, parsed.rejected)
      rollouts.push(...this.#standIns(parsed.rejected, rollouts.length))
    }
    this.#snapshot = this.#lastGood = { config: compileConfig({ rollouts }), source: 'kv', loadedAt: now, text }
  }

  /**
   * What serves the traffic of rejected entries: each rollout's last good version, so it keeps the split it
   * had; for an entry with none, the `[vars]` default at weight 0, as when a whole document is refused.
   * Last good versions never take the total past the limit, however the documents before this one were built.
   */
  #standIns(rejected: Rejection[], accepted: number): EdgeRollout[] {
    const last = new Map((this.#lastGood?.config.rollouts ?? []).map((c) => [c.rollout.id, c.rollout]))
    const kept = [...new Set(rejected.map((r) => r.rollout))].map((id) => (id === undefined ? undefined : last.get(id)))
    const standIns = kept.filter((r) => r !== undefined).slice(0, MAX_ROLLOUTS - accepted)
    if (kept.includes(undefined)) standIns.push(...(this.#opts.fallback()?.rollouts.map((c) => c.rollout) ?? []))
    return standIns
  }

  #reject(now: number, text: string, errors: Rejection[]) {
    logOnce('config-rejected', { detail: errors.map((e) => e.error).join('; ') }, now)
    if (this.#rejected?.text !== text) this.#rejected = { at: new Date(now).toISOString(), errors, text }
  }

  #degrade(now: number, event: string, detail: string) {
    logOnce(event, { detail }, now)
    const keep = this.#lastGood ?? this.#fallbackSnapshot(now)
    // Re-stamp so a broken KV is retried once per TTL, not on every request.
    this.#snapshot = keep && { ...keep, loadedAt: now }
  }

  #fallbackSnapshot(now: number): Snapshot | undefined {
    const config = this.#opts.fallback()
    return config && { config, source: 'fallback', loadedAt: now }
  }
}
