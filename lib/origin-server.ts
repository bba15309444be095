/**
 * @module
 * A loopback HTTP/WebSocket origin for tests and benchmarks, run in Node.
 * Every response says which origin answered (`x-origin`), so a test can tell
 * stable from canary on any route.
 *
 *   /echo (default)      JSON of what arrived: method, path, query, headers, body size
 *   /status/:code        that status
 *   /slow/:ms            headers after a delay
 *   /redirect?to=U       302 to U ("self" = this origin's own absolute URL); &status=N answers N instead
 *   /cookies             two Set-Cookie headers
 *   /download/:bytes     a streamed body of that many bytes
 *   /sse/:id             one event now, the rest after GET /release/:id
 *   /html?h=JSON         an HTML page with the response headers in the JSON object (default text/html)
 *   /meta?csp=P          an HTML page whose <head> holds the policy P in a <meta http-equiv>
 *   /html-held/:id       an HTML page whose <head> is sent now and the rest after GET /release/:id
 *   /ws                  WebSocket echo, prefixing each message with the label
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createRequire } from 'node:module'
import type { WebSocketServer as WSS } from 'ws'

// Loaded through require: Vite resolves 'ws' to its browser stub inside globalSetup.
const { WebSocketServer } = createRequire(import.meta.url)('ws') as { WebSocketServer: typeof WSS }

export interface Origin {
  port: number
  url: string
  close(): Promise<void>
}

function echo(label: string, req: IncomingMessage, res: ServerResponse) {
  let bytes = 0
  req.on('data', (chunk: Buffer) => (bytes += chunk.length))
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://origin')
    const body = JSON.stringify({
      origin: label,
      method: req.method,
      path: url.pathname,
      query: url.search,
      headers: req.headers,
      bodyBytes: bytes,
    })
    res.writeHead(200, { 'content-type': 'application/json', 'x-origin': label })
    res.end(body)
  })
}

export async function startOrigin(label: string, port = 0): Promise<Origin> {
  const waiting = new Map<string, { res: ServerResponse; last: string }>()
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://origin')
    const [, route, arg] = url.pathname.split('/')
    const self = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    switch (route) {
      case 'status':
        res.writeHead(Number(arg), { 'x-origin': label, 'content-type': 'text/plain' })
        return res.end(`${label} says ${arg}`)
      case 'slow':
        setTimeout(() => echo(label, req, res), Number(arg)).unref()
        return
      case 'redirect': {
        const to = url.searchParams.get('to') ?? '/'
        const status = Number(url.searchParams.get('status'))
        res.writeHead(status >= 200 && status <= 599 ? status : 302, { location: to === 'self' ? `${self}/landed?x=1` : to, 'x-origin': label })
        return res.end()
      }
      case 'cookies':
        res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; Path=/; HttpOnly'])
        res.writeHead(200, { 'x-origin': label })
        return res.end('ok')
      case 'download': {
        let left = Number(arg)
        res.writeHead(200, { 'x-origin': label, 'content-type': 'application/octet-stream' })
        const chunk = Buffer.alloc(64 * 1024, 120)
        const pump = () => {
          while (left > 0) {
            const n = Math.min(left, chunk.length)
            left -= n
            if (!res.write(chunk.subarray(0, n))) return res.once('drain', pump)
          }
          res.end()
        }
        return pump()
      }
      case 'html': {
        const headers = { 'content-type': 'text/html; charset=utf-8', ...(JSON.parse(url.searchParams.get('h') ?? '{}') as Record<string, string>) }
        res.writeHead(200, { 'x-origin': label, ...headers })
        return res.end(`<!doctype html><html><head><title>${label}</title></head><body><p>${label} page</p></body></html>`)
      }
      case 'meta': {
        const csp = (url.searchParams.get('csp') ?? '').replace(/"/g, '&quot;')
        res.writeHead(200, { 'x-origin': label, 'content-type': 'text/html' })
        return res.end(
          `<!doctype html><html><head><meta http-equiv="Content-Security-Policy" content="${csp}"><title>${label}</title></head><body></body></html>`,
        )
      }
      case 'html-held':
        res.writeHead(200, { 'x-origin': label, 'content-type': 'text/html' })
        res.write(`<!doctype html><html><head><title>${label}</title></head><body>${'<p>filler</p>'.repeat(2000)}`)
        waiting.set(arg ?? '', { res, last: '<p>last</p></body></html>' })
        return
      case 'sse':
        res.writeHead(200, { 'x-origin': label, 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
        res.write(`data: first from ${label}\n\n`)
        waiting.set(arg ?? '', { res, last: 'data: last\n\n' })
        return
      case 'release': {
        const held = waiting.get(arg ?? '')
        waiting.delete(arg ?? '')
        held?.res.end(held.last)
        res.writeHead(held ? 200 : 404, { 'x-origin': label })
        return res.end()
      }
      default:
        return echo(label, req, res)
    }
  })
  const wss = new WebSocketServer({ server, path: '/ws' })
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`${label}:${String(data)}`)))
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const actual = (server.address() as AddressInfo).port
  return {
    port: actual,
    url: `http://127.0.0.1:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const { res } of waiting.values()) res.destroy()
        wss.close()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A loopback port with nothing listening: connections to it are refused. */
export async function deadPort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}
