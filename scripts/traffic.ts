/**
 * @module
 * `npm run traffic -- [--rps N] [--duration S]`: simulated visitors for the
 * local demo. Each visitor has its own cookie jar, so Sluice's sticky cohorts
 * work as for real browsers; a share of them keep no cookies (like curl or an
 * API client) and are told apart by their User-Agent. Each visitor also has
 * its own client address: the judge counts failures per client (README, "How
 * the judge decides"), and on this machine every request would otherwise come
 * from 127.0.0.1. Locally wrangler keeps a `CF-Connecting-IP` the client sends
 * (Cloudflare overwrites it in production), so each visitor sends one, from
 * 198.18.0.0/15, the range set aside for benchmarks, never a real client's.
 * A live line shows the requests, each cohort's share and error rate, and the
 * rollout's weight.
 */
import { parseArgs } from 'node:util'
import { rememberCookies, visitorHeaders, type Visitor } from './lib/visitor.ts'

export interface TrafficOptions {
  url: string
  rps: number
  durationS: number
  visitors: number
  /** Share of visitors that keep no cookies. */
  cookieless: number
  /** For the weight on the progress line (optional). */
  token?: string
  rollout: string
  /** Called about once a second with the running totals. */
  onProgress?: (line: string, totals: Totals) => void
  signal?: AbortSignal
}

export interface CohortTotals {
  requests: number
  errors: number
}

export interface Totals {
  requests: number
  failed: number
  stable: CohortTotals
  canary: CohortTotals
  weight: number | null
}

const PATHS = ['/', '/app.css', '/app.js', '/api/info']

/** The `Sec-Fetch-Dest` a browser sends for each of the demo's paths. */
const destOf = (path: string) => (path === '/' ? 'document' : path.endsWith('.css') ? 'style' : path.endsWith('.js') ? 'script' : 'empty')

const pct = (n: number, d: number) => (d > 0 ? `${((100 * n) / d).toFixed(1)}%` : '–')

export function progressLine(t: Totals): string {
  const all = t.stable.requests + t.canary.requests
  return (
    `requests ${t.requests} (failed ${t.failed}) | ` +
    `stable ${pct(t.stable.requests, all)} err ${pct(t.stable.errors, t.stable.requests)} | ` +
    `canary ${pct(t.canary.requests, all)} err ${pct(t.canary.errors, t.canary.requests)} | ` +
    `weight ${t.weight === null ? '?' : `${t.weight}%`}`
  )
}

/** Sends traffic until the duration ends or `signal` aborts; resolves with the totals. */
export async function runTraffic(o: TrafficOptions): Promise<Totals> {
  const visitors: Visitor[] = Array.from({ length: o.visitors }, (_, id) => ({ id, jar: Math.random() < o.cookieless ? null : new Map() }))
  const totals: Totals = { requests: 0, failed: 0, stable: { requests: 0, errors: 0 }, canary: { requests: 0, errors: 0 }, weight: null }
  const deadline = Date.now() + o.durationS * 1000
  const inflight = new Set<Promise<void>>()
  const one = async () => {
    const v = visitors[Math.floor(Math.random() * visitors.length)]!
    const path = PATHS[Math.floor(Math.random() * PATHS.length)]!
    try {
      const res = await fetch(o.url + path, { headers: visitorHeaders(v, destOf(path), 'sluice-traffic'), signal: AbortSignal.timeout(10_000) })
      await res.arrayBuffer()
      rememberCookies(v, res)
      totals.requests++
      const cohort = res.headers.get('x-sluice-cohort')
      if (cohort === 'stable' || cohort === 'canary') {
        totals[cohort].requests++
        if (res.status >= 500) totals[cohort].errors++
      }
    } catch {
      totals.failed++
    }
  }
  const poll = async () => {
    if (!o.token) return
    try {
      const res = await fetch(`${o.url}/__sluice/api/rollouts/${o.rollout}`, { headers: { authorization: `Bearer ${o.token}` } })
      if (res.ok) totals.weight = ((await res.json()) as { weight: number }).weight
    } catch {
      // the weight is decoration; traffic goes on without it
    }
  }
  let lastReport = 0
  const interval = 1000 / o.rps
  for (let next = Date.now(); Date.now() < deadline && !o.signal?.aborted; next += interval) {
    const wait = next - Date.now()
    if (wait > 0) await new Promise((r) => setTimeout(r, wait))
    // Bound concurrency so a stalled origin cannot pile up unbounded requests.
    if (inflight.size < 256) {
      const p = one().finally(() => inflight.delete(p))
      inflight.add(p)
    }
    if (Date.now() - lastReport >= 1000) {
      lastReport = Date.now()
      void poll()
      o.onProgress?.(progressLine(totals), totals)
    }
  }
  await Promise.all(inflight)
  return totals
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: process.env.SLUICE_URL ?? `http://localhost:${process.env.PORT ?? 8787}` },
      rps: { type: 'string', default: '20' },
      duration: { type: 'string', default: '60' },
      visitors: { type: 'string', default: '200' },
      cookieless: { type: 'string', default: '0.2' },
      rollout: { type: 'string', default: 'demo' },
      token: { type: 'string', default: process.env.SLUICE_TOKEN ?? 'local-admin-token' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(
      'usage: npm run traffic -- [--rps 20] [--duration 60] [--visitors 200] [--cookieless 0.2] [--url http://localhost:8787] [--rollout demo] [--token T]',
    )
    process.exit(0)
  }
  const stop = new AbortController()
  process.once('SIGINT', () => stop.abort())
  const tty = process.stdout.isTTY
  const totals = await runTraffic({
    url: values.url.replace(/\/+$/, ''),
    rps: Math.max(0.1, Number(values.rps)),
    durationS: Math.max(1, Number(values.duration)),
    visitors: Math.max(1, Number(values.visitors)),
    cookieless: Math.min(1, Math.max(0, Number(values.cookieless))),
    rollout: values.rollout,
    token: values.token,
    signal: stop.signal,
    onProgress: (line) => (tty ? process.stdout.write(`\r${line}\u001b[K`) : console.log(line)),
  })
  if (tty) process.stdout.write('\n')
  console.log(progressLine(totals))
}
