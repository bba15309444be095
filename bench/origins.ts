/**
 * @module
 * The loopback origins of the benchmarks (origin-thread.ts) on a worker thread of their own: started, and stopped
 * (asked to close their servers, then the thread is ended whatever it does).
 */
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { OriginPorts } from './origin-thread.ts'

export async function startOriginThread(): Promise<{ ports: OriginPorts; stop: () => Promise<void> }> {
  const worker = new Worker(join(dirname(fileURLToPath(import.meta.url)), 'origin-thread.ts'))
  const stop = async () => {
    worker.postMessage('close')
    await Promise.race([new Promise((r) => worker.once('exit', r)), new Promise((r) => setTimeout(r, 2_000))])
    await worker.terminate()
  }
  try {
    const ports = await new Promise<OriginPorts>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    return { ports, stop }
  } catch (err) {
    await worker.terminate()
    throw err
  }
}
