/**
 * @module
 * `npm run bench:ops`: what single runtime operations on the request path
 * cost inside workerd, for choosing between ways of doing the same thing.
 * Each operation runs N times per request in its own worker (own workerd
 * process); the process's CPU time over a fixed number of sequential requests,
 * minus an empty worker's, divided by the number of operations, is its cost.
 * Amplifying each operation N times is what makes a few microseconds stand
 * out of this noisy machine; a load test cannot resolve them.
 *
 *   node bench/ops.ts [--requests 300] [--reps 3]
 */
import { parseArgs } from 'node:util'
import { startWorker } from './targets.ts'

const { values: flags } = parseArgs({ options: { requests: { type: 'string', default: '300' }, reps: { type: 'string', default: '3' } } })
const N = 200

const HOP = `['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']`
const SET4 = `h.set('x-sluice-cohort', 'stable'); h.set('x-forwarded-host', 'a.example'); h.set('x-forwarded-proto', 'https'); h.set('x-forwarded-for', '192.0.2.1')`

/** The origin request's headers two ways, the origin's response two ways, the header timeout two ways. */
const OPS: Record<string, { what: string; code: string }> = {
  empty: { what: 'nothing (the baseline)', code: `` },
  headersIterate: {
    what: 'origin headers: iterate the request headers in JS, append what is kept, set 4',
    code: `const h = new Headers(); for (const [k, v] of request.headers) if (!HOP.has(k)) h.append(k, v); ${SET4}; sink = h`,
  },
  headersCopy: {
    what: 'origin headers: copy in the runtime, delete the 10 hop-by-hop names, set 4',
    code: `const h = new Headers(request.headers); for (const k of HOP) h.delete(k); ${SET4}; sink = h`,
  },
  responseCopyHeaders: {
    what: 'response: copy its headers, read Location, append 1, new Response from them',
    code: `const h = new Headers(origin.headers); h.get('location'); h.append('x-sluice-cohort', 'stable'); sink = new Response(null, { status: origin.status, statusText: origin.statusText, headers: h })`,
  },
  responseRewrap: {
    what: 'response: new Response(body, response), read Location, append 1',
    code: `const r = new Response(null, origin); r.headers.get('location'); r.headers.append('x-sluice-cohort', 'stable'); sink = r`,
  },
  timerAbortController: {
    what: 'timeout: AbortController + setTimeout + clearTimeout',
    code: `const a = new AbortController(); clearTimeout(setTimeout(() => a.abort(), 10000)); sink = a`,
  },
  timerSignalTimeout: { what: 'timeout: AbortSignal.timeout()', code: `sink = AbortSignal.timeout(10000)` },
  parseUrl: { what: 'new URL(request.url)', code: `sink = new URL(request.url)` },
}

const script = (code: string) => `const HOP = new Set(${HOP}); let sink;
const origin = new Response(null, { status: 200, headers: { 'content-type': 'text/html', 'content-length': '120', 'cache-control': 'max-age=60', etag: '"abc"', date: 'Tue, 24 Nov 2026 07:00:00 GMT', 'x-origin': 'stable' } });
export default { fetch(request) { for (let i = 0; i < ${N}; i++) { ${code} } return new Response(String(sink !== undefined)) } }`

// A returning Chrome visitor, as in the load test's mix.
const headers = {
  'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'accept-language': 'en-GB,en;q=0.9',
  'sec-fetch-site': 'same-origin',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  cookie:
    '_ga=GA1.1.123456789.1700000000; theme=dark; sluice=0f6c5f6e-3b0a-4c1e-a3d2-9f1e2d3c4b5a; _gid=GA1.1.987654321; session=0123456789abcdef0123456789abcdef',
}

const requests = Number(flags.requests)
const workers: { name: string; url: string; cpuSeconds: () => number; dispose: () => Promise<void> }[] = []
try {
  for (const [name, op] of Object.entries(OPS)) {
    const w = await startWorker(`ops-${name}`, { modules: true, script: script(op.code), compatibilityDate: '2026-11-01' }, false)
    workers.push({ name, url: w.url, cpuSeconds: w.cpuSeconds, dispose: () => w.mf.dispose() })
  }
  const perOp = new Map<string, number[]>()
  for (let rep = 0; rep < Number(flags.reps); rep++) {
    for (const w of workers) {
      await (await fetch(w.url, { headers })).text()
      const c0 = w.cpuSeconds()
      for (let i = 0; i < requests; i++) await (await fetch(w.url, { headers })).text()
      perOp.set(w.name, [...(perOp.get(w.name) ?? []), ((w.cpuSeconds() - c0) * 1e6) / (requests * N)])
    }
  }
  const base = Math.min(...perOp.get('empty')!)
  console.log(`CPU per operation in workerd, above the empty worker (${Number(flags.reps)} runs of ${requests} requests x ${N} operations):`)
  for (const [name, op] of Object.entries(OPS)) {
    if (name === 'empty') continue
    const us = perOp
      .get(name)!
      .map((x) => x - base)
      .sort((a, b) => a - b)
    console.log(`  ${us[Math.floor(us.length / 2)]!.toFixed(1).padStart(5)} us  (${us.map((x) => x.toFixed(1)).join(', ')})  ${op.what}`)
  }
} finally {
  await Promise.allSettled(workers.map((w) => w.dispose()))
}
