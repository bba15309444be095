/**
 * @module
 * `npm run bench:memory -- [--minutes 6] [--rps 40] [--report-every 15] [--only bare,floor,sluice] [--heaps]
 * [--kind mix|get|upload|download|html] [--json F]`:
 * the resident memory of each target's workerd process under the same steady traffic, side by side; with `--heaps`,
 * each worker's JS heap too (V8's used and committed sizes, through an inspector opened on each workerd, which
 * the runs without it do not have).
 *
 * The soak (scripts/soak.ts) measures the `npm start` stack, where `wrangler dev`'s own processes grow by as much
 * under a worker that only calls `fetch` as under Sluice (bench/RESULTS.md). Here each worker runs in a workerd of
 * its own, as bench/targets.ts starts it (Miniflare, no wrangler, no inspector): what grows is that worker's and
 * the runtime's. Sluice is the edge as deployed (its data points go to the Analytics Engine binding, which
 * Miniflare drops; no local metrics).
 *
 * Traffic, the same sequence to every target at `--rps` each: the load test's mix (returning browsers with
 * cookies, new browsers, cookieless clients; bench/load.ts) with uploads (48 KiB POSTs), downloads (256 KiB) and
 * HTML pages among them (`--kind`: one of those alone). Every answer is read to its end and checked (status,
 * length); any failure fails the run, as does a request that never finished. At most MAX_INFLIGHT per target: what
 * a stalled target is not sent is counted as skipped, not lost.
 */
import { rmSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import os from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { describeChange, growth, inspectorCall, lows } from '../scripts/soak.ts'
import { buildBundle } from './bundle.ts'
import { requestMix } from './load.ts'
import { startOriginThread } from './origins.ts'
import { type Target, type TargetOptions, startBare, startFloor, startSluice } from './targets.ts'

const MAX_INFLIGHT = 64
const TIMEOUT_MS = 15_000
const UPLOAD = new Uint8Array(48 * 1024).fill(97)
const DOWNLOAD_BYTES = 256 * 1024

const { values: flags } = parseArgs({
  options: {
    minutes: { type: 'string', default: '6' },
    rps: { type: 'string', default: '40' },
    'report-every': { type: 'string', default: '15' },
    only: { type: 'string' },
    heaps: { type: 'boolean', default: false },
    kind: { type: 'string', default: 'mix' },
    json: { type: 'string' },
  },
})
const positive = (v: string) => {
  const n = Number(v)
  if (!(n > 0)) throw new Error(`not a positive number: ${v}`)
  return n
}
/** `--kind`: the whole mix, or only one of its kinds (which one grows memory, if one does). */
const KINDS = { mix: null, get: 0, upload: 3, download: 6, html: 8 } as const
if (!Object.hasOwn(KINDS, flags.kind)) throw new Error(`--kind is one of ${Object.keys(KINDS).join(', ')}`)
const only = KINDS[flags.kind as keyof typeof KINDS]
const cfg = { minutes: positive(flags.minutes), rps: positive(flags.rps), reportEveryS: positive(flags['report-every']), kind: flags.kind }

/** One request of the sequence: every tenth an upload, a download or an HTML page, the rest the load test's GET. */
interface Planned {
  method: 'GET' | 'POST'
  path: string
  headers: Record<string, string>
  /** What a correct answer's body length is, when it is known in advance. */
  bytes?: number
}
const MIX = requestMix('/status/200', 10_000, undefined, 11)
function planned(i: number): Planned {
  const headers = MIX[i % MIX.length]!.headers ?? {}
  switch (only ?? i % 10) {
    case 3:
      return { method: 'POST', path: '/upload', headers: { ...headers, 'content-type': 'application/octet-stream' } }
    case 6:
      return { method: 'GET', path: `/download/${DOWNLOAD_BYTES}`, headers, bytes: DOWNLOAD_BYTES }
    case 8:
      return { method: 'GET', path: '/html', headers }
    default:
      return { method: 'GET', path: '/status/200', headers }
  }
}

interface Tally {
  started: number
  finished: number
  skipped: number
  failed: number
  /** Each distinct failure and how often. */
  failures: Record<string, number>
}

/** One sample: seconds into the run, each target's workerd RSS and (`--heaps`) its isolate's JS heap, in MiB. */
export interface MemoryRow {
  atS: number
  mib: Record<string, number>
  heaps?: Record<string, { used: number; committed: number }>
}

/** V8's heap of a target's isolate (`Runtime.getHeapUsage`: garbage not yet collected included), or undefined. */
async function heapOf(t: Target): Promise<{ used: number; committed: number } | undefined> {
  const usage = t.inspector ? await inspectorCall(t.inspector, 'Runtime.getHeapUsage') : undefined
  if (usage?.usedSize === undefined || usage.totalSize === undefined) return undefined
  return { used: usage.usedSize / 2 ** 20, committed: usage.totalSize / 2 ** 20 }
}

const describeError = (err: unknown) => {
  if (!(err instanceof Error)) return String(err)
  const cause = err.cause as (Error & { code?: string }) | undefined
  return `${err.name} ${err.message}${cause ? ` (${cause.code ?? cause.message})` : ''}`
}

async function send(t: Target, p: Planned): Promise<string | null> {
  const res = await fetch(t.url + p.path, {
    method: p.method,
    headers: p.headers,
    ...(p.method === 'POST' ? { body: UPLOAD } : {}),
    signal: AbortSignal.timeout(TIMEOUT_MS),
  })
  const body = await res.arrayBuffer()
  if (res.status !== 200) return `${p.method} ${p.path}: HTTP ${res.status}`
  if (p.bytes !== undefined && body.byteLength !== p.bytes) return `${p.method} ${p.path}: ${body.byteLength} of ${p.bytes} bytes`
  if (p.method === 'POST' && (JSON.parse(new TextDecoder().decode(body)) as { bodyBytes: number }).bodyBytes !== UPLOAD.length)
    return `POST ${p.path}: the origin saw another body length`
  return null
}

const tmp = await mkdtemp(join(os.tmpdir(), 'sluice-memory-'))
process.once('exit', () => rmSync(tmp, { recursive: true, force: true }))
// However the targets behave, the run ends: its own length plus time to build, start and drain.
setTimeout(() => (console.error('[memory] did not finish in time'), process.exit(2)), (cfg.minutes * 60 + 240) * 1000).unref()

const origins = await startOriginThread()
const targets: Target[] = []
try {
  const bundle = await buildBundle(join(tmp, 'shipped'), false)
  const o: TargetOptions = {
    sluiceBundle: bundle.path,
    stable: origins.ports.stable,
    canary: origins.ports.canary,
    weight: 10,
    viaEntry: false,
    inspect: flags.heaps,
  }
  const names = flags.only?.split(',')
  const unknown = names?.filter((n) => !['bare', 'floor', 'sluice'].includes(n))
  if (unknown?.length) throw new Error(`--only names bare, floor or sluice, not ${unknown.join(', ')}`)
  for (const [name, start] of [
    ['bare', startBare],
    ['floor', startFloor],
    ['sluice', startSluice],
  ] as const)
    if (!names || names.includes(name)) targets.push(await start(o))
  if (targets.some((t) => Number.isNaN(t.rssMiB()))) throw new Error('no /proc entry for a target’s workerd: this needs Linux')

  const tallies = new Map(targets.map((t) => [t.name, { started: 0, finished: 0, skipped: 0, failed: 0, failures: {} } as Tally]))
  const inflight = new Map(targets.map((t) => [t.name, new Set<Promise<void>>()]))
  const rows: MemoryRow[] = []
  const began = Date.now()
  let sampling: Promise<void> = Promise.resolve()
  const sample = () =>
    (sampling = sampling.then(async () => {
      const row: MemoryRow = { atS: Math.round((Date.now() - began) / 1000), mib: Object.fromEntries(targets.map((t) => [t.name, t.rssMiB()])) }
      if (flags.heaps) {
        const heaps = await Promise.all(targets.map(async (t) => [t.name, await heapOf(t)] as const))
        row.heaps = Object.fromEntries(heaps.flatMap(([name, h]) => (h ? [[name, h]] : [])))
      }
      rows.push(row)
      const counts = targets.map((t) => {
        const k = tallies.get(t.name)!
        const h = row.heaps?.[t.name]
        const heap = h ? `, js heap ${h.used.toFixed(1)} of ${h.committed.toFixed(1)}` : ''
        return `${t.name} ${row.mib[t.name]!.toFixed(1)} MiB${heap} (${k.finished}/${k.started}, failed ${k.failed}, skipped ${k.skipped})`
      })
      console.log(`[memory] ${String(row.atS).padStart(4)} s | ${counts.join(' | ')}`)
    }))
  console.log(
    `[memory] ${targets.map((t) => t.name).join(', ')}: ${cfg.rps} requests/s each (${cfg.kind}) for ${cfg.minutes} min, workerd RSS every ${cfg.reportEveryS} s`,
  )
  await sample()
  const reporter = setInterval(sample, cfg.reportEveryS * 1000)
  try {
    const deadline = began + cfg.minutes * 60_000
    const interval = 1000 / cfg.rps
    for (let i = 0, next = Date.now(); next < deadline; i++, next += interval) {
      const wait = next - Date.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      const p = planned(i)
      for (const t of targets) {
        const k = tallies.get(t.name)!
        const mine = inflight.get(t.name)!
        if (mine.size >= MAX_INFLIGHT) {
          k.skipped++
          continue
        }
        k.started++
        const one: Promise<void> = send(t, p)
          .catch((err: unknown) => `${p.method} ${p.path}: ${describeError(err)}`)
          .then((failure) => {
            k.finished++
            if (failure === null) return
            k.failed++
            k.failures[failure] = (k.failures[failure] ?? 0) + 1
          })
          .finally(() => mine.delete(one))
        mine.add(one)
      }
    }
    // Each request gives up after TIMEOUT_MS; whatever is still open after that is reported as never finished.
    const drained = Promise.all([...inflight.values()].flatMap((s) => [...s]))
    await Promise.race([drained, new Promise((r) => setTimeout(r, TIMEOUT_MS + 5_000).unref())])
  } finally {
    clearInterval(reporter)
  }
  await sample()

  let ok = true
  console.log('\n[memory] target  requests  failed  skipped  RSS after warm-up; settled, lowest of each half')
  for (const t of targets) {
    const k = tallies.get(t.name)!
    const [g, l] = [growth(rows, (r) => r.mib[t.name]), lows(rows, (r) => r.mib[t.name])]
    const change = g && l ? `${describeChange(g)}; ${describeChange(l)}` : 'too short a run to compare'
    console.log(`[memory] ${t.name.padEnd(7)} ${String(k.finished).padStart(8)}  ${String(k.failed).padStart(6)}  ${String(k.skipped).padStart(7)}  ${change}`)
    for (const [what, n] of Object.entries(k.failures)) console.log(`[memory]     ${n} × ${what}`)
    if (k.finished !== k.started) console.log(`[memory]     ${k.started - k.finished} never finished`)
    // A NaN sample: the target's workerd was gone when it was read.
    const gone = rows.filter((r) => Number.isNaN(r.mib[t.name])).length
    if (gone) console.log(`[memory]     ${gone} samples found no workerd process`)
    if (k.failed > 0 || k.finished !== k.started || gone > 0) ok = false
  }
  if (flags.json) writeFileSync(flags.json, JSON.stringify({ cfg, rows, tallies: Object.fromEntries(tallies) }, null, 2))
  process.exitCode = ok ? 0 : 1
} finally {
  await Promise.allSettled(targets.map((t) => t.dispose()))
  await origins.stop()
}
