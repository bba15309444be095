/**
 * @module
 * A loopback stable/canary pair for shadow-traffic tests, run in Node: one server on two ports, answering each path
 * as "stable" or "canary" differently, and recording what arrived so a test can see the copies Sluice sent.
 *
 *   /same/…            the same JSON from both
 *   /renamed/…         {"id":1,"old":"x"} from stable, {"id":1,"new":"x"} from the canary
 *   /typed/…           {"n":1} from stable, {"n":"1"} from the canary
 *   /fail/…            200 from stable, 500 from the canary
 *   /noisy/…           {"at":<a new value on every answer>,"v":1} from both
 *   /big/:bytes/…      that many deterministic bytes from both (content-length set)
 *   /tail/:bytes/…     as /big, with the canary's last byte changed
 *   /head/:bytes/…     as /big, with the canary's first byte changed
 *   /longer/:bytes/…   as /big, with one byte more from the canary (and its content-length saying so)
 *   /gzip/:bytes/…     as /big as text, gzip-encoded at level 1 by stable and 9 by the canary: the same content, two
 *                      content-lengths
 *   /gated/:bytes/:key?sent=N   as /longer, each answer sending its first N bytes at once and the rest only on
 *                      GET /__ctl/release/:key: what a reader can have read before then is N bytes at most
 *   /many/:change/…    {"n00".."n19": a new value on every answer, then "v":1} from both, except that the canary
 *                      answers "v":2 (change `value`) or leaves "v" out (change `missing`)
 *   /drip/:ms/…        from both, 64 KiB of text now and 64 KiB more after ms
 *   /moved/…           a 302 to this origin's own /landed (an absolute URL on its own host)
 *   /hold/…            stable answers at once; the canary never answers (until the server closes)
 *   /slow/:ms/:key     stable answers at once; the canary after ms, counting its answers in flight per key
 *   /sse/…             a text/event-stream answer (one event, then the end) from both
 *   anything else      JSON of what arrived (the echo)
 *
 *   GET /__ctl/log?prefix=P   what arrived with a path starting with P: [{ origin, method, path, headers, at }]
 *   GET /__ctl/busy/:key      the canary's answers to /slow/:ms/:key in flight now and at most: { now, max }
 *   GET /__ctl/release/:key   sends the rest of every /gated/…/:key answer held: { released }
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gzipSync } from 'node:zlib'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The shadow-test origins (this module): the same server as stable on one port, as canary on the other. */
    shadowStablePort: number
    shadowCanaryPort: number
  }
}

interface Arrival {
  origin: string
  method: string
  path: string
  headers: IncomingMessage['headers']
  at: number
}

const json = (res: ServerResponse, label: string, body: unknown, status = 200) => {
  res.writeHead(status, { 'content-type': 'application/json', 'x-origin': label })
  res.end(JSON.stringify(body))
}

/** Bytes of each half of a /drip answer. */
export const DRIP_BYTES = 64 * 1024

/** Deterministic bytes, the same on both ports, so a big body's bytes can be checked end to end. */
export const bigByte = (i: number) => (i * 31 + 7) & 0xff

export async function startShadowOrigins() {
  const log: Arrival[] = []
  const busy = new Map<string, { now: number; max: number }>()
  const held = new Set<ServerResponse>()
  const gates = new Map<string, Set<() => void>>()
  let seq = 0

  const handler = (label: 'stable' | 'canary') => (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://origin')
    const [, route, arg = '', key = ''] = url.pathname.split('/')
    if (route === '__ctl') {
      if (arg === 'log')
        return json(
          res,
          label,
          log.filter((a) => a.path.startsWith(url.searchParams.get('prefix') ?? '/')),
        )
      if (arg === 'release') {
        const rests = [...(gates.get(key) ?? [])]
        gates.delete(key)
        for (const rest of rests) rest()
        return json(res, label, { released: rests.length })
      }
      return json(res, label, busy.get(key) ?? { now: 0, max: 0 })
    }
    log.push({ origin: label, method: req.method ?? '', path: url.pathname + url.search, headers: req.headers, at: Date.now() })
    const canary = label === 'canary'
    switch (route) {
      case 'same':
        return json(res, label, { ok: true, items: [1, 2, 3] })
      case 'renamed':
        return json(res, label, canary ? { id: 1, new: 'x' } : { id: 1, old: 'x' })
      case 'typed':
        return json(res, label, { n: canary ? '1' : 1 })
      case 'fail':
        return json(res, label, { ok: !canary }, canary ? 500 : 200)
      case 'noisy':
        return json(res, label, { at: `${Date.now()}-${++seq}`, v: 1 })
      case 'big':
      case 'tail':
      case 'head':
      case 'longer':
      case 'gated': {
        const bytes = Number(arg) + ((route === 'longer' || route === 'gated') && canary ? 1 : 0)
        const body = Buffer.alloc(bytes)
        for (let i = 0; i < bytes; i++) body[i] = bigByte(i)
        if (route === 'tail' && canary) body[bytes - 1] = bigByte(bytes - 1) ^ 1
        if (route === 'head' && canary) body[0] = bigByte(0) ^ 1
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes), 'x-origin': label })
        if (route !== 'gated') return res.end(body)
        const sent = Number(url.searchParams.get('sent'))
        res.write(body.subarray(0, sent))
        const waiting = gates.get(key) ?? new Set()
        gates.set(key, waiting)
        const rest = () => res.end(body.subarray(sent))
        waiting.add(rest)
        held.add(res)
        res.once('close', () => (waiting.delete(rest), held.delete(res)))
        return
      }
      case 'gzip': {
        const text = Buffer.from(Array.from({ length: Number(arg) }, (_, i) => String.fromCharCode(97 + (bigByte(i) % 26))).join(''))
        const body = gzipSync(text, { level: canary ? 9 : 1 })
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip', 'content-length': String(body.length), 'x-origin': label })
        return res.end(body)
      }
      case 'many': {
        const body: Record<string, unknown> = {}
        for (let i = 0; i < 20; i++) body[`n${String(i).padStart(2, '0')}`] = `${Date.now()}-${++seq}`
        if (!canary) body.v = 1
        else if (arg === 'value') body.v = 2
        return json(res, label, body)
      }
      case 'drip': {
        res.writeHead(200, { 'content-type': 'text/plain', 'x-origin': label })
        res.write('a'.repeat(DRIP_BYTES))
        const timer = setTimeout(() => res.end('b'.repeat(DRIP_BYTES)), Number(arg))
        res.once('close', () => clearTimeout(timer))
        return
      }
      case 'moved':
        res.writeHead(302, { location: `http://127.0.0.1:${(req.socket.address() as AddressInfo).port}/landed`, 'x-origin': label })
        return res.end()
      case 'hold':
        if (!canary) return json(res, label, { held: false })
        held.add(res)
        res.once('close', () => held.delete(res))
        return
      case 'slow': {
        if (!canary) return json(res, label, { ok: true })
        const b = busy.get(key) ?? { now: 0, max: 0 }
        busy.set(key, b)
        b.now++
        b.max = Math.max(b.max, b.now)
        let done = false
        const finish = () => {
          if (done) return
          done = true
          b.now--
        }
        res.once('close', finish)
        setTimeout(() => (finish(), json(res, label, { ok: true })), Number(arg)).unref()
        return
      }
      case 'sse':
        res.writeHead(200, { 'content-type': 'text/event-stream', 'x-origin': label })
        return res.end(`data: ${label}\n\n`)
      default:
        return json(res, label, { origin: label, method: req.method, path: url.pathname, query: url.search, headers: req.headers })
    }
  }

  const stable = createServer(handler('stable'))
  const canary = createServer(handler('canary'))
  const listen = (s: typeof stable) => new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)))
  const close = (s: typeof stable) =>
    new Promise<void>((resolve) => {
      s.closeAllConnections()
      s.close(() => resolve())
    })
  return {
    stablePort: await listen(stable),
    canaryPort: await listen(canary),
    close: async () => {
      for (const res of held) res.destroy()
      await Promise.all([close(stable), close(canary)])
    },
  }
}
