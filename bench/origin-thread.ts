/**
 * @module
 * Runs the loopback origins (stable and canary) on a worker thread, so that
 * answering requests does not compete with autocannon for the main thread's
 * event loop, yet dies with the benchmark process whatever happens to it.
 */
import { parentPort } from 'node:worker_threads'
import { startOrigin } from '../lib/origin-server.ts'

export interface OriginPorts {
  stable: string
  canary: string
}

const stable = await startOrigin('stable')
const canary = await startOrigin('canary')
parentPort?.postMessage({ stable: stable.url, canary: canary.url } satisfies OriginPorts)
parentPort?.once('message', async () => {
  await Promise.all([stable.close(), canary.close()])
  process.exit(0)
})
