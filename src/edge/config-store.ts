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
 * fails the schema) keep the last good config, else the `[vars]` fallback.
 */
import * as z from 'zod/mini'
import { type CompiledConfig, compileConfig } from '../core/config/compile.ts'
import { PublishedConfig } from '../core/config/schema.ts'
import { logOnce } from './log.ts'

export const CONFIG_KEY = 'config'
/** KV's edge cache; 60 s is the documented minimum. */
export const KV_CACHE_TTL_SECONDS = 60

/** Past this a KV read counts as failed, so the next refresh can try again. */
export const KV_READ_TIMEOUT_MS = 3_000

export type ConfigSource = 'kv' | 'fallback'

interface Snapshot {
  config: CompiledConfig
  source: ConfigSource
  loadedAt: number
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
    return { source: s?.source ?? 'none', ageMs: s ? this.#opts.now() - s.loadedAt : null, kvReads: this.#kvReads }
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
    const parsed = parseConfig(text)
    if (!parsed.ok) return this.#degrade(now, 'config-invalid', parsed.error)
    this.#snapshot = this.#lastGood = { config: compileConfig(parsed.config), source: 'kv', loadedAt: now }
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

export type ParseResult = { ok: true; config: PublishedConfig } | { ok: false; error: string }

/** Parses the published document; never throws. */
export function parseConfig(text: string): ParseResult {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return { ok: false, error: 'not JSON' }
  }
  const r = z.safeParse(PublishedConfig, json)
  if (r.success) return { ok: true, config: r.data }
  return { ok: false, error: r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') }
}
