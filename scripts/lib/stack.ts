/**
 * @module
 * The whole local loop, as one function: two demo origins, Sluice's edge and
 * control workers under one `wrangler dev` (local KV, the Durable Object,
 * local metrics), the demo rollout seeded through the admin API, and a ticker
 * that runs the controller through wrangler's local scheduled endpoint (the
 * edge hands the tick to the control worker). Used by `npm start` and by the
 * end-to-end tests.
 */
/**
 * @module
 * The whole local loop, as one function: two demo origins, Sluice's edge and
 * control workers under one `wrangler dev` (local KV, the Durable Object,
 * local metrics), the demo rollout seeded through the admin API, and a ticker
 * that runs the controller through wrangler's local scheduled endpoint (the
 * edge hands the tick to the control worker). Used by `npm start` and by the
 * end-to-end tests.
 *
 * Each origin, and wrangler, is a child process under supervision
 * (supervise.ts): one that dies is logged and started again on the same port
 * (an origin with the settings it last reported, wrangler with the same state
 * directory) while the others keep serving. So the canary can be killed on
 * its own, by a test or by hand (`kill -9 <pid>`), to see Sluice without it.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { DemoSettings, DemoState } from '../demo/origin.ts'
import { NODE, startDev } from './dev-server.ts'
import { type Run, describeExit, exitOf, supervise, terminate } from './supervise.ts'

export interface StackOptions {
  /** Worker port; 0 picks a free one. */
  port: number
  stablePort?: number
  canaryPort?: number
  token: string
  /** More settings for the control worker alone, e.g. SLUICE_TOKENS or ACCESS_AUD. */
  secrets?: Record<string, string>
  canaryErrorRate?: number
  canaryLatencyMs?: number
  /** Seconds between controller ticks. */
  tickSeconds?: number
  /** Keep local state in this directory across runs (default: a fresh temp dir). */
  persistTo?: string
  /** The rollout to seed (default: config/demo.rollout.json); origins are filled in. */
  rollout?: Record<string, unknown>
  /** Where a child's unexpected exit and its restart are reported; default: stderr. */
  log?: (line: string) => void
}

/** One of the stack's child processes. */
export interface StackProcess {
  /** Its pid now: a restart changes it, and it is undefined while one is under way. */
  readonly pid: number | undefined
}

export interface StackOrigin extends StackProcess {
  name: string
  url: string
  port: number
  /**
   * Changes its settings over HTTP, as `curl -X POST <url>/__demo/config` does (no changes: just reads them);
   * resolves with the settings now in force.
   */
  configure(changes?: Partial<DemoSettings>): Promise<DemoSettings>
}

export interface Stack {
  url: string
  token: string
  stable: StackOrigin
  canary: StackOrigin
  wrangler: StackProcess
  /** Runs one controller tick now (as the ticker does). */
  tick(): Promise<void>
  stop(): Promise<void>
}

export const DEMO_ROLLOUT = new URL('../../config/demo.rollout.json', import.meta.url)
const ORIGIN_SCRIPT = fileURLToPath(new URL('../demo/origin.ts', import.meta.url))
const ORIGIN_READY_MS = 15_000

/** One run of a demo origin, resolved once it listens; `state` follows what it reports, for the next run to start from. */
async function spawnOrigin(name: string, version: string, state: DemoState): Promise<Run> {
  const { port, settings } = state
  const args = [
    '--name',
    name,
    '--version',
    version,
    '--port',
    String(port),
    '--error-rate',
    String(settings.errorRate),
    '--latency-ms',
    String(settings.latencyMs),
    '--js-error-rate',
    String(settings.jsErrorRate),
    // A restarted origin comes back with every setting it had, the shadow demo's rename among them.
    ...(settings.renameField ? ['--rename-field'] : []),
  ]
  const child = spawn(NODE, [ORIGIN_SCRIPT, ...args], {
    // Its own process group: a Ctrl-C in the terminal reaches only the launcher, which stops the origin itself
    // (were the origin to die of the same SIGINT first, its supervisor would restart it).
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const exited = exitOf(child)
  const stop = () => terminate((signal) => child.kill(signal), exited)
  let timer: NodeJS.Timeout | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      child.on('message', (m: DemoState) => {
        Object.assign(state, m)
        resolve()
      })
      // Kept for the child's life: an 'error' nobody listens to would be thrown in the launcher.
      child.on('error', reject)
      void exited.then((exit) => reject(new Error(`${name} origin exited (${describeExit(exit)}) before listening`)))
      timer = setTimeout(() => reject(new Error(`${name} origin not listening after ${ORIGIN_READY_MS} ms`)), ORIGIN_READY_MS)
    })
  } catch (err) {
    await stop()
    throw err
  } finally {
    clearTimeout(timer)
  }
  return { pid: child.pid!, exited, stop }
}

async function startOrigin(name: string, version: string, port: number, settings: DemoSettings, log: (line: string) => void) {
  const state: DemoState = { port, settings }
  const supervised = await supervise(name, () => spawnOrigin(name, version, state), log)
  const url = `http://127.0.0.1:${state.port}`
  return {
    name,
    url,
    port: state.port,
    get pid() {
      return supervised.current?.pid
    },
    async configure(changes: Partial<DemoSettings> = {}) {
      const res = await fetch(`${url}/__demo/config`, { method: 'POST', body: JSON.stringify(changes) })
      if (!res.ok) throw new Error(`POST ${url}/__demo/config answered ${res.status}: ${await res.text()}`)
      return (await res.json()) as DemoSettings
    },
    stop: () => supervised.stop(),
  } satisfies StackOrigin & { stop(): Promise<void> }
}

export async function startStack(o: StackOptions): Promise<Stack> {
  const log = o.log ?? ((line: string) => console.error(`[sluice] ${line}`))
  // What is running so far, stopped last first, whether startStack fails half-way or the stack is stopped.
  const running: (() => Promise<void>)[] = []
  const stopAll = async () => {
    while (running.length) await running.pop()!()
  }
  try {
    const stable = await startOrigin('stable', 'v1', o.stablePort ?? 0, { errorRate: 0, latencyMs: 0, jsErrorRate: 0 }, log)
    running.push(stable.stop)
    const canarySettings = { errorRate: o.canaryErrorRate ?? 0, latencyMs: o.canaryLatencyMs ?? 0, jsErrorRate: 0 }
    const canary = await startOrigin('canary', 'v2', o.canaryPort ?? 0, canarySettings, log)
    running.push(canary.stop)
    // Ours rather than startDev's, which would remove it on each stop: a restarted wrangler must find its state.
    const persistTo = o.persistTo ?? (await mkdtemp(join(tmpdir(), 'sluice-stack-')))
    if (o.persistTo === undefined) running.push(() => rm(persistTo, { recursive: true, force: true }))
    let port = o.port
    const wrangler = await supervise(
      'wrangler',
      async () => {
        const dev = await startDev({
          ...(port ? { port } : {}),
          persistTo,
          args: ['--test-scheduled'],
          vars: {
            STABLE_ORIGIN: stable.url,
            CANARY_ORIGIN: canary.url,
            // Miniflare drops Analytics Engine writes: the edge sends its data points to the control worker's memory.
            SLUICE_LOCAL_METRICS: '1',
            CONFIG_TTL_SECONDS: '1',
          },
          secrets: { ...o.secrets, SLUICE_ADMIN_TOKEN: o.token },
        })
        // Port 0 at first: every restart takes the port the first run got.
        port = dev.port
        return dev
      },
      log,
    )
    running.push(() => wrangler.stop())
    const { url } = wrangler.current!

    const spec: Record<string, unknown> = o.rollout ?? JSON.parse(await readFile(DEMO_ROLLOUT, 'utf8'))
    const { $schema: _, ...body }: Record<string, unknown> = { ...spec, stable: stable.url, canary: canary.url }
    // Create only: a persisted rollout (and whatever an operator did to it) is left alone.
    const seeded = await fetch(`${url}/__sluice/api/rollouts/${String(body.id)}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json', 'if-none-match': '*' },
      body: JSON.stringify(body),
    })
    if (seeded.status !== 201 && seeded.status !== 412) throw new Error(`seeding the demo rollout failed: ${seeded.status} ${await seeded.text()}`)

    const tick = async () => {
      try {
        const res = await fetch(`${url}/__scheduled?cron=${encodeURIComponent('* * * * *')}`, { signal: AbortSignal.timeout(30_000) })
        await res.arrayBuffer()
      } catch {
        // a missed tick (wrangler being restarted, say) is just a later decision
      }
    }
    const ticker = setInterval(tick, (o.tickSeconds ?? 5) * 1000)
    running.push(async () => clearInterval(ticker))
    let stopping: Promise<void> | undefined
    return {
      url,
      token: o.token,
      stable,
      canary,
      wrangler: {
        get pid() {
          return wrangler.current?.pid
        },
      },
      tick,
      stop: () => (stopping ??= stopAll()),
    }
  } catch (err) {
    await stopAll()
    throw err
  }
}
