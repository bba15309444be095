/**
 * @module
 * A demo origin for `npm start`: a small site (HTML page, CSS, JS, JSON API)
 * visibly labelled with its version, whose error rate, extra latency and
 * browser-side error rate can be changed while it runs, so you can make a
 * canary bad and watch Sluice react.
 *
 * `jsErrorRate` is the bug no server metric sees: that share of page views
 * throws an uncaught TypeError in the page's own script (`/app.js`), decided
 * in the browser per page view, while every answer stays 200. Only Sluice's
 * real-user signals (`rum.enabled`) can catch it.
 *
 * `renameField` is the bug a shadow step catches before any visitor meets it: `/api/users/<id>` answers with the
 * user's `name` called `fullName`. That route's answers are otherwise the same on both origins but for their noise,
 * a timestamp (`at`, to the microsecond) and a `requestId` that differ on every answer, as `/api/info`'s do too; so
 * the diff report has one real difference there and two fields that only noise explains.
 *
 * Standalone: `node scripts/demo/origin.ts --name canary --port 8082 --error-rate 0.2 --latency-ms 300 --js-error-rate 0.3 --rename-field`
 * At run time: `curl -X POST localhost:8082/__demo/config -d '{"errorRate":0.2,"latencyMs":300,"jsErrorRate":0.3,"renameField":true}'`
 *
 * `npm start` runs each origin this way, as its own child process with an IPC
 * channel (scripts/lib/stack.ts): the origin reports its port and settings
 * (`DemoState`) so that a restart keeps them, and exits when its parent goes.
 * Whatever a request looks like, it gets an answer and never ends the process.
 *
 * The JSON API (`/api/info`, `/api/users/<id>`) the page and the shadow step read:
 *   GET /api/info                this origin's name and version, the cohort Sluice gave, `at` and `requestId`
 *   GET /api/users/<id>          user <id> (1 to 1000, else 404): `id`, `name` (`fullName` with renameField), `at`, `requestId`
 *
 * Streams, for the soak test (scripts/soak.ts) and for trying them through Sluice by hand:
 *   GET /api/events?n=5&ms=200   server-sent events: n events (≤ 100), ms apart (≤ 5000), then the stream ends
 *   /ws                          WebSocket echo: each message comes back prefixed with "<name> <version>: "
 */
import { randomUUID } from 'node:crypto'
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'
import { WebSocketServer } from 'ws'

export interface DemoSettings {
  /** Share of requests answered 500. */
  errorRate: number
  /** Extra latency of every answer, ms. */
  latencyMs: number
  /** Share of page views whose script throws an uncaught TypeError in the browser (all answers stay 200). */
  jsErrorRate: number
  /**
   * `/api/users/<id>` names the user's `name` field `fullName`. Optional, and present once set: settings that never
   * had it read as they did before it existed.
   */
  renameField?: boolean
}

/** What a demo origin under `npm start` tells its parent: once listening, and whenever its settings change. */
export interface DemoState {
  port: number
  settings: DemoSettings
}

export interface DemoOrigin {
  name: string
  url: string
  port: number
  settings: DemoSettings
  close(): Promise<void>
}

const COLOURS: Record<string, string> = { stable: '#1d4ed8', canary: '#15803d' }

const page = (name: string, version: string, cohort: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Demo shop — ${version}</title><link rel="stylesheet" href="/app.css"></head>
<body data-version="${version}">
<main>
  <h1>Demo shop <span class="badge" id="version">${version}</span></h1>
  <p>This page was served by the <strong id="origin">${name}</strong> origin. Sluice put you in the <strong id="cohort">${cohort}</strong> cohort.</p>
  <p>Assets: <span id="assets">loading…</span></p>
  <pre id="api">…</pre>
</main>
<script src="/app.js"></script>
</body></html>
`

const css = (name: string, version: string) => `/* ${name} ${version} */
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f8fafc; color: #0f172a; }
main { max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }
.badge { background: ${COLOURS[name] ?? '#475569'}; color: white; border-radius: 0.4rem; padding: 0.1rem 0.5rem; font-size: 0.8em; }
body::after { content: "css:${version}"; display: none; }
`

// The simulated bug (jsErrorRate) reads a missing element, as real code does, for a genuine TypeError. It throws at
// the load event: a page's own error before then can come before Sluice's async RUM script has run and go unseen,
// and load waits for async scripts. The rest of the page works, as a page with one broken widget still does.
const js = (version: string, jsErrorRate: number) => `// demo ${version}
document.body.dataset.jsVersion = ${JSON.stringify(version)};
const cssVersion = getComputedStyle(document.body, '::after').content.replace(/"/g, '').replace('css:', '');
document.getElementById('assets').textContent = 'css ' + cssVersion + ', js ${version}';
fetch('/api/info').then(r => r.json()).then(j => { document.getElementById('api').textContent = JSON.stringify(j, null, 2) })
  .catch(e => { document.getElementById('api').textContent = String(e) });
${jsErrorRate > 0 ? `if (Math.random() < ${jsErrorRate}) addEventListener('load', () => { document.getElementById('cart').dataset.items = '0' });\n` : ''}`

const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Barbara Liskov', 'Edsger Dijkstra', 'Frances Allen', 'Donald Knuth']

/**
 * Now in RFC 3339 to the microsecond. Milliseconds would not do as noise: two answers to the same request, sent at
 * once, often fall in the same millisecond, and then the field would differ less often between two stable answers
 * than between stable and the canary (two processes) for no reason but timing.
 */
function now(): string {
  const us = Math.floor((performance.timeOrigin + performance.now()) * 1000)
  return `${new Date(Math.floor(us / 1000)).toISOString().slice(0, -1)}${String(us % 1000).padStart(3, '0')}Z`
}

/** A user of `/api/users/<id>`, or null for an id that is not one of 1 to 1000. */
function user(id: string, renameField: boolean) {
  const n = /^[1-9]\d{0,3}$/.test(id) ? Number(id) : 0
  if (n < 1 || n > 1000) return null
  const name = `${NAMES[n % NAMES.length]} ${n}`
  return { id: n, ...(renameField ? { fullName: name } : { name }), at: now(), requestId: randomUUID() }
}

/**
 * The request target as a URL on this origin, or null when it is not one. An origin-form target is taken as a path
 * even when it starts with `//` (resolved against a base, `//x` would name host x, and `//` alone throws).
 */
const targetUrl = (target: string) => URL.parse(target.startsWith('/') ? `http://demo${target}` : target)

export async function startDemoOrigin(
  opts: { name: string; version: string; port?: number; onSettings?: (settings: DemoSettings) => void } & Partial<DemoSettings>,
): Promise<DemoOrigin> {
  const settings: DemoSettings = {
    errorRate: opts.errorRate ?? 0,
    latencyMs: opts.latencyMs ?? 0,
    jsErrorRate: opts.jsErrorRate ?? 0,
    ...(opts.renameField ? { renameField: true } : {}),
  }
  const { name, version } = opts
  const headers = { 'x-demo-origin': name, 'x-demo-version': version, 'cache-control': 'no-store' }
  let failed = false
  /** Runs part of a request's handling; a bug there answers 500 rather than ending the process (logged the first time only, so a client cannot flood the log). */
  const guarded = (req: IncomingMessage, res: ServerResponse, step: () => void) => {
    try {
      step()
    } catch (err) {
      if (!failed) console.error(`demo ${name} origin: ${req.method} ${req.url} failed (answered 500; later failures are not logged):`, err)
      failed = true
      if (!res.headersSent) res.writeHead(500, { ...headers, 'content-type': 'text/plain' })
      res.end(`${name} ${version}: internal error\n`)
    }
  }
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = targetUrl(req.url ?? '/')
    if (url === null) {
      res.writeHead(400, { ...headers, 'content-type': 'text/plain' }).end('bad request target\n')
      return
    }
    if (url.pathname === '/__demo/config') {
      let body = ''
      req.on('data', (c: Buffer) => (body += c.toString()))
      req.on('end', () =>
        guarded(req, res, () => {
          if (req.method === 'POST') {
            try {
              const next = JSON.parse(body) as Partial<DemoSettings>
              if (typeof next.errorRate === 'number' && next.errorRate >= 0 && next.errorRate <= 1) settings.errorRate = next.errorRate
              if (typeof next.latencyMs === 'number' && next.latencyMs >= 0 && next.latencyMs <= 60_000) settings.latencyMs = next.latencyMs
              if (typeof next.jsErrorRate === 'number' && next.jsErrorRate >= 0 && next.jsErrorRate <= 1) settings.jsErrorRate = next.jsErrorRate
              if (typeof next.renameField === 'boolean') settings.renameField = next.renameField
            } catch {
              res.writeHead(400, headers).end('send JSON: {"errorRate": 0-1, "latencyMs": ms, "jsErrorRate": 0-1, "renameField": true|false}\n')
              return
            }
            opts.onSettings?.({ ...settings })
          }
          res.writeHead(200, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(settings))
        }),
      )
      return
    }
    const respond = () => {
      if (Math.random() < settings.errorRate) {
        res.writeHead(500, { ...headers, 'content-type': 'text/plain' }).end(`${name} ${version}: simulated failure\n`)
        return
      }
      const cohort = String(req.headers['x-sluice-cohort'] ?? 'none')
      const json = (status: number, body: unknown) => res.writeHead(status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(body))
      if (url.pathname.startsWith('/api/users/')) {
        const found = user(url.pathname.slice('/api/users/'.length), settings.renameField === true)
        return found ? json(200, found) : json(404, { error: 'no such user' })
      }
      switch (url.pathname) {
        case '/':
          return res.writeHead(200, { ...headers, 'content-type': 'text/html; charset=utf-8' }).end(page(name, version, cohort))
        case '/app.css':
          return res.writeHead(200, { ...headers, 'content-type': 'text/css' }).end(css(name, version))
        case '/app.js':
          return res.writeHead(200, { ...headers, 'content-type': 'text/javascript' }).end(js(version, settings.jsErrorRate))
        case '/api/info':
          return json(200, { origin: name, version, cohort, at: now(), requestId: randomUUID() })
        case '/api/events':
          return events(res, url.searchParams)
        default:
          return res.writeHead(404, { ...headers, 'content-type': 'text/plain' }).end('not found\n')
      }
    }
    // Log-normal-ish jitter around the configured extra latency, so percentiles move like real ones.
    const delay = settings.latencyMs > 0 ? settings.latencyMs * Math.exp(0.25 * (Math.random() + Math.random() - 1)) : 0
    if (delay > 0) setTimeout(() => guarded(req, res, respond), delay)
    else respond()
  }
  // Node closes an idle keep-alive connection after 5 s; a proxy that reuses it at that moment gets "connection lost",
  // which Sluice must count against the origin. Behind a proxy the server should be the one to wait longer.
  /** Bounded, so a client cannot hold a stream open forever; ends early if the client goes away. */
  const events = (res: ServerResponse, q: URLSearchParams) => {
    const n = Math.min(100, Math.max(1, Number(q.get('n')) || 5))
    const ms = Math.min(5_000, Math.max(0, Number(q.get('ms')) || 200))
    res.writeHead(200, { ...headers, 'content-type': 'text/event-stream' })
    let sent = 0
    const next = () => {
      res.write(`id: ${++sent}\ndata: ${name} ${version} event ${sent}\n\n`)
      if (sent === n) res.end()
      else timer = setTimeout(next, ms)
    }
    let timer = setTimeout(next, 0)
    res.on('close', () => clearTimeout(timer))
  }
  const server: Server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => guarded(req, res, () => handle(req, res)))
  const wss = new WebSocketServer({ server, path: '/ws', maxPayload: 64 * 1024 })
  wss.on('connection', (ws) => ws.on('message', (data) => ws.send(`${name} ${version}: ${String(data)}`)))
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port ?? 0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    settings,
    close: () =>
      new Promise<void>((resolve) => {
        wss.close()
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      name: { type: 'string', default: 'canary' },
      version: { type: 'string' },
      port: { type: 'string', default: '8082' },
      'error-rate': { type: 'string', default: '0' },
      'latency-ms': { type: 'string', default: '0' },
      'js-error-rate': { type: 'string', default: '0' },
      'rename-field': { type: 'boolean', default: false },
    },
  })
  // Under `npm start` (an IPC channel to the launcher): report port and settings, and do not outlive the launcher.
  const report = process.send?.bind(process)
  const o = await startDemoOrigin({
    name: values.name,
    version: values.version ?? (values.name === 'stable' ? 'v1' : 'v2'),
    port: Number(values.port),
    errorRate: Number(values['error-rate']),
    latencyMs: Number(values['latency-ms']),
    jsErrorRate: Number(values['js-error-rate']),
    renameField: values['rename-field'],
    onSettings: (settings) => report?.({ port: o.port, settings } satisfies DemoState),
  })
  if (report) {
    report({ port: o.port, settings: { ...o.settings } } satisfies DemoState)
    process.once('disconnect', () => process.exit(0))
  }
  console.log(
    `demo ${o.name} origin on ${o.url} (error rate ${o.settings.errorRate}, extra latency ${o.settings.latencyMs} ms, JS error rate ${o.settings.jsErrorRate}${o.settings.renameField ? ', renaming name to fullName' : ''})`,
  )
}
