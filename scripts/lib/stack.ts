/**
 * @module
 * The whole local loop, as one function: two demo origins, Sluice's edge and
 * control workers under one `wrangler dev` (local KV, the Durable Object,
 * local metrics), the demo rollout seeded through the admin API, and a ticker
 * that runs the controller through wrangler's local scheduled endpoint (the
 * edge hands the tick to the control worker). Used by `npm start` and by the
 * end-to-end tests.
 */
import { readFile } from 'node:fs/promises'
import { type DemoOrigin, startDemoOrigin } from '../demo/origin.ts'
import { type DevServer, startDev } from './dev-server.ts'

export interface StackOptions {
  /** Worker port; 0 picks a free one. */
  port: number
  stablePort?: number
  canaryPort?: number
  token: string
  canaryErrorRate?: number
  canaryLatencyMs?: number
  /** Seconds between controller ticks. */
  tickSeconds?: number
  /** Keep local state in this directory across runs (default: a fresh temp dir). */
  persistTo?: string
  /** The rollout to seed (default: config/demo.rollout.json); origins are filled in. */
  rollout?: Record<string, unknown>
}

export interface Stack {
  url: string
  token: string
  stable: DemoOrigin
  canary: DemoOrigin
  dev: DevServer
  /** Runs one controller tick now (as the ticker does). */
  tick(): Promise<void>
  stop(): Promise<void>
}

export const DEMO_ROLLOUT = new URL('../../config/demo.rollout.json', import.meta.url)

export async function startStack(o: StackOptions): Promise<Stack> {
  const stable = await startDemoOrigin({ name: 'stable', version: 'v1', port: o.stablePort ?? 0 })
  const canary = await startDemoOrigin({
    name: 'canary',
    version: 'v2',
    port: o.canaryPort ?? 0,
    errorRate: o.canaryErrorRate ?? 0,
    latencyMs: o.canaryLatencyMs ?? 0,
  }).catch(async (err) => {
    await stable.close()
    throw err
  })
  let dev: DevServer
  try {
    dev = await startDev({
      ...(o.port ? { port: o.port } : {}),
      ...(o.persistTo ? { persistTo: o.persistTo } : {}),
      args: ['--test-scheduled'],
      vars: {
        STABLE_ORIGIN: stable.url,
        CANARY_ORIGIN: canary.url,
        SLUICE_ADMIN_TOKEN: o.token,
        // Miniflare drops Analytics Engine writes: the edge sends its data points to the control worker's memory.
        SLUICE_LOCAL_METRICS: '1',
        CONFIG_TTL_SECONDS: '1',
      },
    })
  } catch (err) {
    await Promise.all([stable.close(), canary.close()])
    throw err
  }
  const spec: Record<string, unknown> = o.rollout ?? JSON.parse(await readFile(DEMO_ROLLOUT, 'utf8'))
  const { $schema: _, ...body }: Record<string, unknown> = { ...spec, stable: stable.url, canary: canary.url }
  // Create only: a persisted rollout (and whatever an operator did to it) is left alone.
  const seeded = await fetch(`${dev.url}/__sluice/api/rollouts/${String(body.id)}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${o.token}`, 'content-type': 'application/json', 'if-none-match': '*' },
    body: JSON.stringify(body),
  })
  if (seeded.status !== 201 && seeded.status !== 412) {
    const detail = await seeded.text()
    await Promise.all([dev.stop(), stable.close(), canary.close()])
    throw new Error(`seeding the demo rollout failed: ${seeded.status} ${detail}`)
  }
  const tick = async () => {
    try {
      const res = await fetch(`${dev.url}/__scheduled?cron=${encodeURIComponent('* * * * *')}`, { signal: AbortSignal.timeout(30_000) })
      await res.arrayBuffer()
    } catch {
      // a missed tick is just a later decision
    }
  }
  const ticker = setInterval(tick, (o.tickSeconds ?? 5) * 1000)
  let stopping: Promise<void> | undefined
  return {
    url: dev.url,
    token: o.token,
    stable,
    canary,
    dev,
    tick,
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(ticker)
        await dev.stop()
        await Promise.all([stable.close(), canary.close()])
      })()),
  }
}
