/**
 * @module
 * The four workers under test, each in its own Miniflare (so its own workerd
 * process, whose CPU time can be read on its own): `bare` (pass-through floor),
 * `floor` (the cheapest proxy as transparent as Sluice must be), `sluice`
 * (the edge worker's deployable bundle, with the bindings wrangler.toml declares) and
 * `naive` (one KV read per request).
 *
 * Requests go to each worker's direct socket, skipping Miniflare's dev entry
 * worker: that worker re-parses every request, handles pretty error pages and
 * gzip, and with `logRequests` posts a log line to Node per request. None of
 * it exists in production, and it would raise the floor for all three and so
 * flatter every ratio.
 */
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Log, LogLevel, Miniflare, convertV4MiniflareOptions } from 'miniflare'
import { unstable_getMiniflareWorkerOptions } from 'wrangler'
import { childrenOf, procMemory, procStat } from '../lib/proc.ts'

export type TargetName = 'bare' | 'floor' | 'sluice' | 'naive'

export interface Target {
  /** A TargetName, or an experiment's label for a Sluice variant. */
  name: string
  /** Where to send load: the worker's own socket. */
  url: string
  /** The worker's KV read counter (Sluice: per isolate; local workerd runs one isolate per worker). */
  kvReads(): Promise<number>
  /**
   * CPU seconds (user + system) its workerd process has used so far; NaN off Linux.
   * Per request, this is the figure least disturbed by whatever else the machine is doing.
   */
  cpuSeconds(): number
  /** Its workerd process's resident memory in MiB (bench/memory.ts); NaN off Linux. */
  rssMiB(): number
  /** The DevTools WebSocket of this worker's isolate, when started with `inspect`. */
  inspector?: string
  dispose(): Promise<void>
}

export interface TargetOptions {
  /** The bundle `wrangler deploy` would upload (see bundle.ts). */
  sluiceBundle: string
  stable: string
  canary: string
  /** The canary weight published to KV, in percent. */
  weight: number
  /** Send load through Miniflare's entry worker instead of the direct socket. */
  viaEntry: boolean
  /** Open a DevTools inspector on each workerd (profile.ts); it costs a little, so never while benchmarking. */
  inspect?: boolean
  /** The published rollout's `rum` block (Sluice only); absent, the schema's default: off. */
  rum?: { enabled: boolean; sampleRate?: number }
  /** More fields of the published rollout (Sluice only), e.g. `shadowWeight` and `shadow` for the shadow phase. */
  rollout?: Record<string, unknown>
  /** More variables for the edge worker (Sluice only), e.g. `CONFIG_TTL_SECONDS`. */
  vars?: Record<string, string>
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const WORKERS = resolve(ROOT, 'bench', 'workers')

export type V4Worker = Record<string, unknown>

/** wrangler.toml as wrangler itself reads it, minus what a prebuilt single-file bundle does not need. */
function sluiceOptionsFromWrangler(): { compatibilityDate: string; worker: V4Worker } {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(resolve(ROOT, 'wrangler.toml'))
  const worker: V4Worker = {}
  for (const [k, v] of Object.entries(workerOptions)) {
    // modulesRules/rootPath describe bundling, which wrangler has already done; empty maps only add noise.
    if (k === 'modulesRules' || k === 'rootPath' || v === undefined) continue
    if (Array.isArray(v) ? v.length === 0 : typeof v === 'object' && v !== null && Object.keys(v).length === 0) continue
    // `email: { send_email: [] }` passes the emptiness test above yet declares nothing.
    if (k === 'email') continue
    // CONTROL (the control worker) serves only /__sluice/ paths other than healthz, which the load never asks for.
    if (k === 'serviceBindings') continue
    worker[k] = v
  }
  return { compatibilityDate: String(workerOptions.compatibilityDate), worker }
}

/** The workerd processes this process has spawned (Miniflare does not say which is whose, so start() diffs this set). */
const workerdChildren = () => new Set(childrenOf(process.pid, (comm) => comm === 'workerd'))

// utime and stime are in clock ticks; USER_HZ is 100 on every Linux this runs on.
const CLK_TCK = 100
/** A reading of one process's /proc, NaN if there is none (off Linux, or the process is gone). */
const readingOf = (pid: number | undefined, read: (pid: number) => number) => () => {
  if (pid === undefined) return NaN
  try {
    return read(pid)
  } catch {
    return NaN
  }
}
const cpuSecondsOf = (pid: number) => {
  const { rest } = procStat(pid)
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK
}

export async function startWorker(
  name: string,
  worker: V4Worker,
  viaEntry: boolean,
  inspect = false,
): Promise<{ mf: Miniflare; url: string; cpuSeconds: () => number; rssMiB: () => number; inspector?: string }> {
  const v4 = {
    host: '127.0.0.1',
    port: 0,
    ...(inspect ? { inspectorPort: 0 } : {}),
    // A placeholder `cf` object: `true` would fetch a real one from the internet.
    cf: false,
    log: new Log(LogLevel.WARN),
    workers: [{ ...worker, name, unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }] }],
  }
  // convertV4MiniflareOptions is typed for v4's full option set; ours is a valid subset.
  const opts = convertV4MiniflareOptions(v4 as Parameters<typeof convertV4MiniflareOptions>[0])
  // No per-request log line posted to Node, no cross-process registry, no telemetry.
  const before = workerdChildren()
  const mf = new Miniflare({ ...opts, logRequests: false, enableDevRegistry: false, telemetry: { enabled: false } })
  try {
    const entry = await mf.ready
    const mine = [...workerdChildren()].filter((p) => !before.has(p))
    const url = viaEntry ? entry : await mf.unsafeGetDirectURL(name)
    const inspector = inspect ? `${(await mf.getInspectorURL()).href.replace(/\/$/, '')}/core:user:${name}` : undefined
    const pid = mine.length === 1 ? mine[0] : undefined
    return {
      mf,
      url: url.href.replace(/\/$/, ''),
      cpuSeconds: readingOf(pid, cpuSecondsOf),
      rssMiB: readingOf(pid, (p) => procMemory(p).rss),
      ...(inspector ? { inspector } : {}),
    }
  } catch (err) {
    await mf.dispose()
    throw err
  }
}

const getJson = async (url: string) => {
  const res = await fetch(url)
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`)
  return (await res.json()) as Record<string, unknown>
}

const inspectorOf = (s: { inspector?: string }) => (s.inspector ? { inspector: s.inspector } : {})
const plain = (file: string, compatibilityDate: string): V4Worker => ({
  modules: true,
  scriptPath: resolve(WORKERS, file),
  modulesRoot: WORKERS,
  compatibilityDate,
})

/** A plain worker from bench/workers/<name>.js that proxies to the stable origin and reads no KV. */
async function startPlain(name: 'bare' | 'floor', o: TargetOptions): Promise<Target> {
  const { compatibilityDate } = sluiceOptionsFromWrangler()
  const w = await startWorker(name, { ...plain(`${name}.js`, compatibilityDate), bindings: { ORIGIN: o.stable } }, o.viaEntry, o.inspect)
  return { name, url: w.url, ...inspectorOf(w), cpuSeconds: w.cpuSeconds, rssMiB: w.rssMiB, kvReads: async () => 0, dispose: () => w.mf.dispose() }
}

export const startBare = (o: TargetOptions) => startPlain('bare', o)
export const startFloor = (o: TargetOptions) => startPlain('floor', o)

/** Sluice from a bundle, with a published config; `name` lets experiments run variants side by side. */
export async function startSluice(o: TargetOptions, name = 'sluice'): Promise<Target> {
  const { worker } = sluiceOptionsFromWrangler()
  const sluice = await startWorker(
    name,
    {
      ...worker,
      modules: true,
      scriptPath: o.sluiceBundle,
      modulesRoot: dirname(o.sluiceBundle),
      bindings: { ...(worker.bindings as object), STABLE_ORIGIN: o.stable, CANARY_ORIGIN: o.canary, ...o.vars },
    },
    o.viaEntry,
    o.inspect,
  )
  try {
    const config = { rollouts: [{ id: 'web', stable: o.stable, canary: o.canary, weight: o.weight, ...(o.rum ? { rum: o.rum } : {}), ...o.rollout }] }
    await (await sluice.mf.getKVNamespace('SLUICE_KV')).put('config', JSON.stringify(config))
  } catch (err) {
    await sluice.mf.dispose()
    throw err
  }
  return {
    name,
    url: sluice.url,
    ...inspectorOf(sluice),
    cpuSeconds: sluice.cpuSeconds,
    rssMiB: sluice.rssMiB,
    kvReads: async () => Number(((await getJson(`${sluice.url}/__sluice/healthz`)).config as { kvReads: number }).kvReads),
    dispose: () => sluice.mf.dispose(),
  }
}

export async function startNaive(o: TargetOptions): Promise<Target> {
  const { compatibilityDate } = sluiceOptionsFromWrangler()
  const naive = await startWorker(
    'naive',
    { ...plain('naive.js', compatibilityDate), kvNamespaces: { KV: 'naive' }, bindings: { STABLE_ORIGIN: o.stable, CANARY_ORIGIN: o.canary } },
    o.viaEntry,
    o.inspect,
  )
  try {
    await (await naive.mf.getKVNamespace('KV')).put('weight', String(o.weight))
  } catch (err) {
    await naive.mf.dispose()
    throw err
  }
  return {
    name: 'naive',
    url: naive.url,
    ...inspectorOf(naive),
    cpuSeconds: naive.cpuSeconds,
    rssMiB: naive.rssMiB,
    kvReads: async () => Number((await getJson(`${naive.url}/__naive/reads`)).kvReads),
    dispose: () => naive.mf.dispose(),
  }
}

/** bare, floor, sluice and naive, in that order; on failure, stops whatever had started. */
export async function startTargets(o: TargetOptions): Promise<Target[]> {
  const started: Target[] = []
  try {
    for (const startOne of [startBare, startFloor, startSluice, startNaive]) started.push(await startOne(o))
    return started
  } catch (err) {
    await Promise.allSettled(started.map((t) => t.dispose()))
    throw err
  }
}
