/**
 * @module
 * The load: a fixed, seeded mix of browser-like requests, sent with
 * autocannon, with latencies kept at full precision (autocannon's own
 * histogram rounds to whole milliseconds, too coarse for a 0.3 ms target).
 */
import autocannon, { type Request } from 'autocannon'
import { percentile } from './stats.ts'

/** Shares of the mix; the rest are API clients and scripts (no cookie, no Sec-Fetch-*: Sluice derives an id from IP + User-Agent). */
export interface MixShares {
  /** Returning browsers: a valid `sluice` cookie among the site's other cookies. */
  returning: number
  /** First visits from a browser: no cookie, Sec-Fetch-* headers (Sluice mints an id and sets a cookie). */
  fresh: number
}

export const DEFAULT_MIX: MixShares = { returning: 0.85, fresh: 0.1 }

/** mulberry32: a seeded PRNG, so every run (and every target) gets the same requests. */
function prng(seed: number) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

/** Share of client addresses that are IPv6 (about what large sites see); the rest are IPv4. */
const IPV6_SHARE = 0.4

/**
 * `n` requests for `path`, each distinct where it matters (cookie values, so
 * cohorts vary). No Accept-Encoding: on Cloudflare compression happens outside
 * the worker, while locally it would be done by the same workerd process.
 * Every request carries `CF-Connecting-IP`, as Cloudflare sets it, so the
 * client key and X-Forwarded-For are computed from real-looking addresses.
 */
export function requestMix(path: string, n: number, shares: MixShares = DEFAULT_MIX, seed = 42): Request[] {
  const rand = prng(seed)
  const hex = (len: number) => Array.from({ length: len }, () => Math.floor(rand() * 16).toString(16)).join('')
  const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`
  const browser = {
    'user-agent': CHROME,
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8',
    'accept-language': 'en-GB,en;q=0.9',
    'sec-fetch-site': 'same-origin',
    'sec-fetch-mode': 'navigate',
    'sec-fetch-dest': 'document',
  }
  const address = () =>
    rand() < IPV6_SHARE
      ? `2001:db8:${hex(4)}:${hex(4)}:${hex(4)}:${hex(4)}:${hex(4)}:${hex(4)}`
      : `${198 + Math.floor(rand() * 6)}.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}.${1 + Math.floor(rand() * 254)}`
  const out: Request[] = []
  for (let i = 0; i < n; i++) {
    const x = rand()
    let headers: Record<string, string>
    if (x < shares.returning) {
      const ga = `GA1.1.${Math.floor(rand() * 1e9)}.${1.7e9 + Math.floor(rand() * 1e8)}`
      headers = { ...browser, cookie: `_ga=${ga}; theme=dark; sluice=${uuid()}; _gid=GA1.1.${Math.floor(rand() * 1e9)}; session=${hex(32)}` }
    } else if (x < shares.returning + shares.fresh) {
      headers = { ...browser, 'sec-fetch-site': 'none' }
    } else {
      headers = { 'user-agent': `curl/8.${Math.floor(rand() * 10)}.0`, accept: '*/*' }
    }
    out.push({ method: 'GET', path, headers: { ...headers, 'cf-connecting-ip': address() } })
  }
  return out
}

export interface LoadOptions {
  connections: number
  seconds: number
  requests: Request[]
}

export interface LoadResult {
  /** Responses with a 2xx status. */
  ok: number
  /** Every request sent, including the few cut off when the run ended (the worker saw them): what KV reads and CPU are divided by. */
  total: number
  non2xx: number
  errors: number
  seconds: number
  rps: number
  p50: number
  p99: number
}

export async function runLoad(url: string, o: LoadOptions): Promise<LoadResult> {
  // One sample per 2xx response, in ms with sub-ms precision; a few hundred thousand at most.
  const samples: number[] = []
  const inst = autocannon({ url, connections: o.connections, duration: o.seconds, timeout: 10, requests: o.requests })
  inst.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) samples.push(ms)
  })
  const r = await inst
  samples.sort((a, b) => a - b)
  return {
    ok: r['2xx'],
    total: r.requests.sent,
    non2xx: r.non2xx,
    // autocannon counts a timeout as an error too.
    errors: r.errors,
    seconds: r.duration,
    rps: r['2xx'] / r.duration,
    p50: percentile(samples, 0.5),
    p99: percentile(samples, 0.99),
  }
}
