/**
 * @module
 * Loopback stand-ins for the remote services Sluice talks to, in the formats
 * their documentation gives:
 *
 *   POST /sql                      the Analytics Engine SQL API. Answers per rollout (found in the query's
 *                                  `index1 IN ('<id>/stable', …)`) with what a test scripted, else empty data.
 *                                  The clients query (it selects `AS client`) is scripted and recorded under
 *                                  `<id>:clients`, the requests query under `<id>`; their per-ring forms (`AS ring`)
 *                                  under `<id>:rings:clients` and `<id>:rings`; the shadow queries (`'<id>/shadow'`)
 *                                  under `<id>:shadow` (totals) and `<id>:shadow:fields`.
 *   PUT  /script/:key              script the next SQL answers: JSON list of
 *                                  { status?, body?, raw?, delayMs? } consumed in order (the last one repeats)
 *   POST /hook/:name[?status=N]    a webhook receiver; records the body, answers N (default 200), or what
 *                                  `PUT /script/hook:<name>` scripted: { status?, raw?, delayMs? } in order (the last
 *                                  repeats; a delay ends early when the caller hangs up)
 *   GET  /received/:key            what arrived: SQL requests under `sql:<rollout>`, hook bodies under `hook:<name>`,
 *                                  hook calls with their Sluice headers and raw body under `delivery:<name>`
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { QUERY_ROLLOUT } from './ae-sql.ts'

interface Scripted {
  status?: number
  body?: unknown
  raw?: string
  delayMs?: number
}

const read = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = ''
    req.on('data', (c: Buffer) => (s += c.toString()))
    req.on('end', () => resolve(s))
  })

export async function startFakeServices() {
  const scripts = new Map<string, Scripted[]>()
  const received = new Map<string, unknown[]>()
  const remember = (key: string, v: unknown) => received.set(key, [...(received.get(key) ?? []), v])
  /** The next scripted answer for `key`: consumed in order, the last one repeats. */
  const answer = (key: string) => {
    const queue = scripts.get(key) ?? []
    return queue.length > 1 ? queue.shift() : queue[0]
  }

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake')
    const [, route, arg = ''] = url.pathname.split('/')
    const body = await read(req)
    if (route === 'script' && req.method === 'PUT') {
      scripts.set(arg, JSON.parse(body) as Scripted[])
      return res.writeHead(204).end()
    }
    if (route === 'received') {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify(received.get(arg) ?? []))
    }
    if (route === 'hook') {
      remember(`hook:${arg}`, JSON.parse(body || 'null'))
      const h = req.headers
      remember(`delivery:${arg}`, { event: h['x-sluice-event'], delivery: h['x-sluice-delivery'], signature: h['x-sluice-signature'] ?? null, body })
      const next = answer(`hook:${arg}`) ?? { status: Number(url.searchParams.get('status') ?? 200) }
      if (next.delayMs) await new Promise((r) => (setTimeout(r, next.delayMs).unref(), res.once('close', r)))
      return res.writeHead(next.status ?? 200).end(next.raw ?? '')
    }
    if (route === 'sql' && req.method === 'POST') {
      const rollout = QUERY_ROLLOUT.exec(body)?.[1] ?? ''
      // Per ring (audience rings) the two queries are scripted apart: `<id>:rings` and `<id>:rings:clients`; the
      // beacons' as `<id>:rum`, `<id>:rum:clients` and `<id>:rum:fingerprints`.
      const kind = [
        /\bAS ring\b/.test(body) && ':rings',
        /\/rum'/.test(body) && ':rum',
        /\bAS client\b/.test(body) && ':clients',
        /\bAS fingerprint\b/.test(body) && ':fingerprints',
        /\/shadow'/.test(body) && ':shadow',
        /\bAS diffs\b/.test(body) && ':fields',
      ]
      const key = rollout + kind.filter(Boolean).join('')
      remember(`sql:${key}`, { authorization: req.headers.authorization, contentType: req.headers['content-type'], query: body })
      const next: Scripted = answer(key) ?? { body: { meta: [], data: [], rows: 0 } }
      if (next.delayMs) await new Promise((r) => setTimeout(r, next.delayMs))
      res.writeHead(next.status ?? 200, { 'content-type': 'application/json' })
      return res.end(next.raw ?? JSON.stringify(next.body ?? { meta: [], data: [], rows: 0 }))
    }
    res.writeHead(404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
