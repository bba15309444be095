/**
 * @module
 * Micro-benchmark of the assignment hot path in Node 24: what one request
 * costs Sluice before any I/O (cookie parse + hash + decision), and its parts.
 *
 *   node bench/micro.ts [--quick] [--json]
 *
 * Run on its own process (run.ts spawns it before any load starts) so that no
 * other work on the main thread disturbs the timings. Node's `Headers` is
 * undici's JavaScript one while workerd's is native, so absolute figures are
 * indicative; the per-part split is what tells where the time goes.
 */
import { parseArgs } from 'node:util'
import * as z from 'zod/mini'
import { assign, cookieValue } from '../src/core/cohort/assign.ts'
import { bucketOf } from '../src/core/cohort/hash.ts'
import { compileRollout } from '../src/core/config/compile.ts'
import { Rollout } from '../src/core/config/schema.ts'
import { requestMix } from './load.ts'
import { median } from './stats.ts'

export interface MicroResult {
  name: string
  /** Median over runs of CPU time per operation, in nanoseconds. */
  nsPerOp: number
  /** The least disturbed run: closest to the code's own cost on a busy machine. */
  minNs: number
  /** Median over runs of wall-clock time per operation. */
  wallNs: number
  runsNs: number[]
  iterations: number
}

/**
 * Times `fn` over `iterations` calls, `runs` times after a warm-up; `fn`
 * returns a number so the work cannot be optimised away. Timed by the
 * process's CPU time, not the clock: on a shared machine the clock also
 * counts the time this process spent waiting for a core.
 */
function bench(name: string, iterations: number, runs: number, fn: (i: number) => number): MicroResult {
  let sink = 0
  for (let i = 0; i < iterations; i++) sink += fn(i)
  const runsNs: number[] = []
  const wall: number[] = []
  for (let r = 0; r < runs; r++) {
    const c0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < iterations; i++) sink += fn(i)
    wall.push(Number(process.hrtime.bigint() - t0) / iterations)
    const c = process.cpuUsage(c0)
    runsNs.push(((c.user + c.system) * 1000) / iterations)
  }
  if (sink === -1) console.log(sink)
  return { name, nsPerOp: median(runsNs), minNs: Math.min(...runsNs), wallNs: median(wall), runsNs, iterations }
}

function runMicro(quick: boolean): MicroResult[] {
  const base = { id: 'web', stable: 'http://127.0.0.1:8081', canary: 'http://127.0.0.1:8082', weight: 10 }
  const r = compileRollout(z.parse(Rollout, base))
  // Issue 14's budget: three audiences (a header, a country, an address range), none of which the request is in,
  // so every matcher runs; against the same rollout without them.
  const ringed = compileRollout(
    z.parse(Rollout, {
      ...base,
      audiences: { staff: { header: { name: 'x-staff', values: ['1'] } }, nz: { country: ['NZ'] }, office: { ip: ['198.51.100.0/24', '2001:db8::/32'] } },
      rings: { staff: 100, nz: 25, office: 50 },
    }),
  )
  // The same request mix as the load test: a pool of distinct requests, so no call sees a cookie it has just parsed.
  const mix = requestMix('/products/42', 1024)
  const all = mix.map((m) => new Headers(m.headers))
  const returning = all.filter((h) => h.has('cookie'))
  const ids = returning.map((h) => cookieValue(h.get('cookie')!, 'sluice')!)
  const url = new URL('https://shop.example.com/products/42')
  const newId = () => crypto.randomUUID()
  const cf = { country: 'DE', continent: 'EU', colo: 'FRA', asn: 3320 }
  const facts = (headers: Headers) => ({ headers, url, clientIp: '203.0.113.7', newId, cf })
  const n = quick ? 30_000 : 100_000
  const runs = quick ? 3 : 5
  return [
    bench('assign(): returning browser (Cookie header)', n, runs, (i) => assign(r, facts(returning[i % returning.length]!)).bucket!),
    bench('assign(): load-test mix (85/10/5)', n, runs, (i) => assign(r, facts(all[i % all.length]!)).bucket!),
    bench('assign(): returning browser, 3 audiences', n, runs, (i) => assign(ringed, facts(returning[i % returning.length]!)).bucket!),
    bench('cookieValue(): read the Cookie header', n, runs, (i) => cookieValue(returning[i % returning.length]!.get('cookie')!, 'sluice')!.length),
    bench('bucketOf(): murmur3 of salt:id', n * 4, runs, (i) => bucketOf(r.salt, ids[i % ids.length]!)),
  ]
}

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } })
const results = runMicro(values.quick)
if (values.json) console.log(JSON.stringify(results))
else
  for (const m of results)
    console.log(`${m.name.padEnd(48)} ${m.nsPerOp.toFixed(0).padStart(6)} ns/op (min ${m.minNs.toFixed(0)}, wall ${m.wallNs.toFixed(0)})`)
