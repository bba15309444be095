/**
 * @module
 * Runs the loopback origins on a worker thread, so that answering requests
 * does not compete with autocannon for the main thread's event loop, yet dies
 * with the benchmark process whatever happens to it: stable and canary (the
 * shared test origin) for the request-path phases, and two page origins for
 * the RUM phase, which needs a realistic HTML page (see page.ts).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parentPort } from 'node:worker_threads'
import { startOrigin } from '../lib/origin-server.ts'
import { PAGE_PATH, pageDocument } from './page.ts'

export interface OriginPorts {
  stable: string
  canary: string
  /** Origins that serve PAGE_PATH and `/status/:code`, for the RUM phase. */
  pages: { stable: string; canary: string }
}

/**
 * `PAGE_PATH` (the HTML page) and `/status/:code` (as lib/origin-server.ts answers it, so the non-HTML figure is the
 * request-path phases' one); 404 otherwise. Its own server rather than a route of the shared test origin, which
 * the tests own. The page is built once: origin work must not differ between the targets, nor vary in a run.
 */
async function startPageOrigin(label: string) {
  const page = Buffer.from(pageDocument(label))
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    if (path === PAGE_PATH) {
      res.writeHead(200, { 'x-origin': label, 'content-type': 'text/html; charset=utf-8', 'content-length': page.length, 'cache-control': 'private, no-cache' })
      return res.end(page)
    }
    const status = /^\/status\/(\d{3})$/.exec(path)
    if (status) {
      res.writeHead(Number(status[1]), { 'x-origin': label, 'content-type': 'text/plain' })
      return res.end(`${label} says ${status[1]}`)
    }
    res.writeHead(404, { 'x-origin': label, 'content-type': 'text/plain' })
    res.end('not found')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

const stable = await startOrigin('stable')
const canary = await startOrigin('canary')
const pageStable = await startPageOrigin('stable')
const pageCanary = await startPageOrigin('canary')
parentPort?.postMessage({ stable: stable.url, canary: canary.url, pages: { stable: pageStable.url, canary: pageCanary.url } } satisfies OriginPorts)
parentPort?.once('message', async () => {
  await Promise.all([stable.close(), canary.close(), pageStable.close(), pageCanary.close()])
  process.exit(0)
})
