/**
 * @module
 * `npm run soak -- --minutes N [--rps R]`: the `npm start` stack (demo origins, both workers under one
 * `wrangler dev`, on loopback ports of its own) under mixed traffic for N minutes, while rollouts are started,
 * set, resumed, rolled back, promoted and completed through the admin API.
 *
 * Traffic: browsers with cookie jars (page, CSS, JS, API), cookieless clients, uploads with bodies, server-sent
 * event streams read to their end and WebSocket echoes, each client with its own address (198.18.0.0/15, as
 * `npm run traffic` does). Every 30 s it prints the requests by kind, the errors by who made them (Sluice-made:
 * the answer carries `x-sluice-error`; origin-made: a 5xx without it; transport: no answer, a cut stream, a lost
 * echo) and memory: the resident memory of the two workerd processes (VmRSS from /proc; `runtime` runs the workers,
 * `proxy` is wrangler's proxy in front of them) and each isolate's JS heap (V8 used size, garbage included, through
 * workerd's inspector). Bounded: it stops at N minutes or
 * `--max-requests`, whichever comes first, waits for what is in flight, and fails (exit 1) on any Sluice-made or
 * transport error or any request that never finished.
 */
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { procMemory, procStat } from '../lib/proc.ts'
import { startStack } from './lib/stack.ts'
import { rememberCookies, visitorHeaders, type Visitor } from './lib/visitor.ts'

/** How the soak's visitors name themselves in User-Agent. */
const AGENT = 'sluice-soak'

const TOKEN = 'local-admin-token'
const ROLLOUT = 'demo'
const REPORT_MS = 30_000
const REQUEST_TIMEOUT_MS = 15_000
const MAX_INFLIGHT = 128
const UPLOAD = new Uint8Array(48 * 1024).fill(97)

type Kind = 'page' | 'asset' | 'api' | 'cookieless' | 'upload' | 'sse' | 'websocket'
type Outcome = 'ok' | 'sluice' | 'origin' | 'transport'

/** Request kinds and their share of the traffic. */
const MIX: [Kind, number][] = [
  ['page', 20],
  ['asset', 25],
  ['api', 20],
  ['cookieless', 15],
  ['upload', 8],
  ['sse', 6],
  ['websocket', 6],
]

export interface SoakTotals {
  started: number
  finished: number
  skipped: number
  byKind: Record<string, number>
  outcomes: Record<Outcome, number>
  /** Each distinct error ("<outcome>: <what>"), how often, and when first seen (seconds into the run). */
  errors: Record<string, { count: number; firstS: number }>
  admin: Record<string, number>
  /** Every report's memory sample: workerd's RSS (total and by process), and the isolates' JS heaps. */
  rss: MemorySample[]
}

/** MiB throughout. */
export interface MemorySample {
  atS: number
  /** All workerd processes under wrangler. */
  mib: number
  runtime: number
  proxy: number
  /** The anonymous part of the runtime's RSS (its malloc and V8 heaps, not the mapped binary). */
  runtimeAnon: number
  /** V8 used heap by isolate (inspector target id), e.g. `core:user:sluice` for the edge worker. */
  heaps: Record<string, number>
}

/** The edge worker's isolate, as workerd's inspector names it. */
export const EDGE_ISOLATE = 'core:user:sluice'

/** Who made a failed answer: Sluice marks its own. */
const judged = (res: Response): Outcome => (res.headers.get('x-sluice-error') ? 'sluice' : res.status >= 500 ? 'origin' : res.ok ? 'ok' : 'origin')

async function httpRequest(base: string, kind: Kind, c: Visitor): Promise<[Outcome, string]> {
  const [path, dest, init]: [string, string, RequestInit] =
    kind === 'page'
      ? ['/', 'document', {}]
      : kind === 'asset'
        ? [Math.random() < 0.5 ? '/app.css' : '/app.js', 'style', {}]
        : kind === 'upload'
          ? ['/api/info', 'empty', { method: 'POST', body: UPLOAD, headers: { 'content-type': 'application/octet-stream' } }]
          : kind === 'sse'
            ? ['/api/events?n=5&ms=100', 'empty', {}]
            : ['/api/info', 'empty', {}]
  const res = await fetch(base + path, {
    ...init,
    headers: { ...visitorHeaders(c, dest, AGENT), ...(init.headers as Record<string, string>) },
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  })
  rememberCookies(c, res)
  const outcome = judged(res)
  if (kind !== 'sse' || outcome !== 'ok') {
    // Sluice's own answers say what went wrong in their first line.
    const text = await res.text()
    return [outcome, `${kind} ${path} → ${res.status}${outcome === 'sluice' ? ` ${text.split('\n', 1)[0]}` : ''}`]
  }
  const events = (await res.text()).match(/^data: /gm)?.length ?? 0
  return [events === 5 ? 'ok' : 'transport', `sse: ${events} of 5 events`]
}

/** One WebSocket session through Sluice: three messages, three echoes. */
function webSocketSession(base: string, c: Visitor): Promise<[Outcome, string]> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, { headers: visitorHeaders(c, 'websocket', AGENT) })
    let echoes = 0
    const done = (o: Outcome, why: string) => {
      clearTimeout(timer)
      ws.terminate()
      resolve([o, why])
    }
    const timer = setTimeout(() => done('transport', `websocket: ${echoes} of 3 echoes in ${REQUEST_TIMEOUT_MS} ms`), REQUEST_TIMEOUT_MS)
    ws.on('unexpected-response', (_req, res) => done(res.headers['x-sluice-error'] ? 'sluice' : 'origin', `websocket upgrade → ${res.statusCode}`))
    ws.on('error', (err) => done('transport', `websocket: ${err.message}`))
    ws.on('open', () => ['a', 'b', 'c'].forEach((m) => ws.send(m)))
    ws.on('message', () => ++echoes === 3 && done('ok', 'websocket'))
  })
}

/** One workerd process under wrangler, from /proc (KiB figures in MiB). */
export interface WorkerdProcess {
  pid: number
  /**
   * `runtime`: the one started with `--inspector-addr`, which runs the workers (edge, control, the coordinator) and
   * Miniflare's own services (KV, cache, the dev registry); `proxy`: wrangler's proxy worker, which owns the port and
   * holds the inspector proxy.
   */
  role: 'runtime' | 'proxy'
  rss: number
  /** Anonymous (heap) and file-backed (the binary, mapped files) parts of rss. */
  anon: number
  file: number
}

/** The workerd processes under wrangler (its descendants), by /proc; RSS in MiB. */
export function workerdProcesses(root: number | undefined): WorkerdProcess[] {
  if (root === undefined) return []
  const parent = new Map<number, number>()
  const comm = new Map<number, string>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = procStat(entry)
      comm.set(Number(entry), stat.comm)
      parent.set(Number(entry), Number(stat.rest[1]))
    } catch {
      // the process ended while we looked
    }
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid), hops = 0; p !== undefined && p > 1 && hops < 64; p = parent.get(p), hops++) if (p === root) return true
    return false
  }
  const found: WorkerdProcess[] = []
  for (const [pid, name] of comm) {
    if (name !== 'workerd' || !under(pid)) continue
    try {
      const role = readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--inspector-addr') ? 'runtime' : 'proxy'
      found.push({ pid, role, ...procMemory(pid) })
    } catch {
      // gone
    }
  }
  return found
}

/** The TCP ports a process listens on (its socket inodes matched against /proc/<pid>/net/tcp). */
function listeningPorts(pid: number): number[] {
  try {
    const inodes = new Set<string>()
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const link = readlinkSync(`/proc/${pid}/fd/${fd}`)
        if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1))
      } catch {
        // closed meanwhile
      }
    }
    return readFileSync(`/proc/${pid}/net/tcp`, 'utf8')
      .split('\n')
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((f) => f[3] === '0A' && inodes.has(f[9]!))
      .map((f) => parseInt(f[1]!.split(':')[1]!, 16))
  } catch {
    return []
  }
}

/** One DevTools-protocol call on a fresh session to one isolate: its result, undefined if it does not answer in time. */
export function inspectorCall(url: string, method: string, timeoutMs = 3_000): Promise<Record<string, number> | undefined> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url)
    const done = (result?: Record<string, number>) => {
      clearTimeout(timer)
      ws.terminate()
      resolve(result)
    }
    const timer = setTimeout(() => done(), timeoutMs)
    ws.on('open', () => ws.send(JSON.stringify({ id: 1, method })))
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { id?: number; result?: Record<string, number> }
      if (m.id === 1) done(m.result)
    })
    ws.on('error', () => done())
    ws.on('close', () => done())
  })
}

/**
 * The JS heap (V8 used size, MiB) of each isolate in the runtime workerd, by inspector target id
 * (`core:user:sluice` is the edge worker), through workerd's own inspector: `Runtime.getHeapUsage` on a session of its
 * own, which enables nothing and forces no collection, so the figure includes garbage not yet collected (workerd
 * answers `HeapProfiler.collectGarbage` only for Miniflare's own isolates, not for the user workers). An isolate that
 * does not answer in time is left out (early in a run, workerd may close a session to the control worker,
 * `core:user:sluice-control`, at once).
 */
export async function isolateHeaps(runtimePid: number | undefined): Promise<Record<string, number>> {
  if (runtimePid === undefined) return {}
  for (const port of listeningPorts(runtimePid)) {
    let targets: { id: string; webSocketDebuggerUrl: string }[]
    try {
      const res = await fetch(`http://127.0.0.1:${port}/json/list`, { signal: AbortSignal.timeout(2_000) })
      if (!res.ok) continue
      targets = (await res.json()) as typeof targets
    } catch {
      continue
    }
    const heaps: Record<string, number> = {}
    for (const t of targets) {
      const usage = await inspectorCall(t.webSocketDebuggerUrl, 'Runtime.getHeapUsage')
      if (usage?.usedSize !== undefined) heaps[t.id] = usage.usedSize / 2 ** 20
    }
    return heaps
  }
  return {}
}

/** The operator's side: one admin command every `everyS` seconds, round a release's whole life. */
const ADMIN_CYCLE: { name: string; body?: Record<string, unknown> }[] = [
  { name: 'start', body: { release: 'soak' } },
  { name: 'weight', body: { weight: 50 } },
  { name: 'resume' },
  { name: 'rollback', body: { reason: 'soak: rollback under load' } },
  { name: 'start', body: { release: 'soak-2' } },
  { name: 'promote' },
  { name: 'complete' },
]

async function adminStep(base: string, step: number, totals: SoakTotals) {
  const cmd = ADMIN_CYCLE[step % ADMIN_CYCLE.length]!
  const release = cmd.body?.release ? { release: `${String(cmd.body.release)}-${step}` } : {}
  try {
    const res = await fetch(`${base}/__sluice/api/rollouts/${ROLLOUT}/${cmd.name}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...cmd.body, ...release }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    })
    await res.arrayBuffer()
    // A 409 is the controller having moved the phase first: a race the API reports, not a failure.
    const key = `${cmd.name} ${res.status}`
    totals.admin[key] = (totals.admin[key] ?? 0) + 1
  } catch (err) {
    totals.admin[`${cmd.name} unreachable`] = (totals.admin[`${cmd.name} unreachable`] ?? 0) + 1
    noteError(totals, `admin ${cmd.name}: ${err instanceof Error ? err.message : String(err)}`, 0)
  }
}

function noteError(totals: SoakTotals, key: string, atS: number) {
  const e = (totals.errors[key] ??= { count: 0, firstS: atS })
  e.count++
}

export interface SoakOptions {
  minutes: number
  /** Seconds between reports (and memory samples); default 30. */
  reportEveryS?: number
  rps: number
  maxRequests: number
  adminEveryS: number
  log: (line: string) => void
}

export async function soak(o: SoakOptions): Promise<SoakTotals> {
  const stack = await startStack({ port: 0, token: TOKEN, tickSeconds: 5, log: o.log })
  const totals: SoakTotals = {
    started: 0,
    finished: 0,
    skipped: 0,
    byKind: {},
    outcomes: { ok: 0, sluice: 0, origin: 0, transport: 0 },
    errors: {},
    admin: {},
    rss: [],
  }
  const began = Date.now()
  const clients: Visitor[] = Array.from({ length: 500 }, (_, id) => ({ id, jar: id % 5 === 0 ? null : new Map() }))
  const weights = MIX.reduce((s, [, w]) => s + w, 0)
  const pick = (): Kind => {
    let r = Math.random() * weights
    for (const [kind, w] of MIX) if ((r -= w) < 0) return kind
    return 'api'
  }
  const inflight = new Set<Promise<void>>()
  const one = async (kind: Kind) => {
    const c = kind === 'cookieless' || kind === 'upload' ? clients[5 * Math.floor(Math.random() * 100)]! : clients[Math.floor(Math.random() * clients.length)]!
    totals.started++
    totals.byKind[kind] = (totals.byKind[kind] ?? 0) + 1
    let outcome: Outcome
    let why: string
    try {
      ;[outcome, why] = kind === 'websocket' ? await webSocketSession(stack.url, c) : await httpRequest(stack.url, kind, c)
    } catch (err) {
      ;[outcome, why] = [
        'transport',
        `${kind}: ${err instanceof Error ? `${err.name} ${(err.cause as Error | undefined)?.message ?? err.message}` : String(err)}`,
      ]
    }
    totals.finished++
    totals.outcomes[outcome]++
    if (outcome !== 'ok') noteError(totals, `${outcome}: ${why}`, Math.round((Date.now() - began) / 1000))
  }
  let reporting: Promise<void> = Promise.resolve()
  const report = () =>
    (reporting = reporting.then(async () => {
      const atS = Math.round((Date.now() - began) / 1000)
      const procs = workerdProcesses(stack.wrangler.pid)
      const sum = (role?: WorkerdProcess['role'], part: 'rss' | 'anon' = 'rss') =>
        procs.filter((p) => !role || p.role === role).reduce((s, p) => s + p[part], 0)
      const heaps = await isolateHeaps(procs.find((p) => p.role === 'runtime')?.pid)
      const sample: MemorySample = { atS, mib: sum(), runtime: sum('runtime'), proxy: sum('proxy'), runtimeAnon: sum('runtime', 'anon'), heaps }
      totals.rss.push(sample)
      const { ok, sluice, origin, transport } = totals.outcomes
      o.log(
        `${atS} s | requests ${totals.finished}/${totals.started} (skipped ${totals.skipped}) | ok ${ok} sluice-made ${sluice} origin-made ${origin} transport ${transport} | workerd rss ${describeMemory(sample)} | admin ${JSON.stringify(totals.admin)}`,
      )
    }))
  const reporter = setInterval(report, (o.reportEveryS ?? REPORT_MS / 1000) * 1000)
  let step = 0
  let adminCall: Promise<void> = Promise.resolve()
  const admin = setInterval(() => (adminCall = adminCall.then(() => adminStep(stack.url, step++, totals))), o.adminEveryS * 1000)
  try {
    const deadline = began + o.minutes * 60_000
    const interval = 1000 / o.rps
    for (let next = Date.now(); Date.now() < deadline && totals.started + totals.skipped < o.maxRequests; next += interval) {
      const wait = next - Date.now()
      if (wait > 0) await new Promise((r) => setTimeout(r, wait))
      // Bounded concurrency: a stalled stack cannot pile up requests; what is not sent is counted, not lost.
      if (inflight.size >= MAX_INFLIGHT) {
        totals.skipped++
        continue
      }
      const p = one(pick()).finally(() => inflight.delete(p))
      inflight.add(p)
    }
    await Promise.all(inflight)
  } finally {
    clearInterval(admin)
    clearInterval(reporter)
    await adminCall
    await report()
    await stack.stop()
  }
  return totals
}

/** A sample in one line: workerd's RSS, by process, and the JS heaps (the edge's, and all isolates' that answered). */
export function describeMemory(m: MemorySample): string {
  const heaps = Object.values(m.heaps)
  const edge = m.heaps[EDGE_ISOLATE]
  const js = heaps.length
    ? `; js heap edge ${edge === undefined ? '-' : edge.toFixed(1)}, ${heaps.length} isolates ${heaps.reduce((s, h) => s + h, 0).toFixed(1)}`
    : ''
  return `${m.mib.toFixed(1)} MiB (runtime ${m.runtime.toFixed(1)}, anon ${m.runtimeAnon.toFixed(1)}; proxy ${m.proxy.toFixed(1)}${js})`
}

/** What the soak follows in memory: each figure's growth after warm-up. */
export const MEMORY_FIGURES: [string, (m: MemorySample) => number | undefined][] = [
  ['workerd rss', (m) => m.mib],
  ['  runtime workerd rss', (m) => m.runtime],
  ['  proxy workerd rss', (m) => m.proxy],
  ['edge js heap', (m) => m.heaps[EDGE_ISOLATE]],
  ['all isolates js heap', (m) => (Object.keys(m.heaps).length ? Object.values(m.heaps).reduce((s, h) => s + h, 0) : undefined)],
]

/** The samples from the first after warm-up (a fifth of the run, at least 30 s) on. */
const afterWarmUp = <S extends { atS: number }>(samples: S[]) => {
  const warmAt = Math.max(30, (samples.at(-1)?.atS ?? 0) / 5)
  return samples.filter((s) => s.atS >= warmAt)
}

const change = (from: number | undefined, to: number | undefined) =>
  from === undefined || to === undefined || !from ? null : { from, to, percent: (100 * (to - from)) / from }

/**
 * Growth of one figure from the first sample after warm-up to the last; the soak's samples, or bench/memory.ts's.
 */
export function growth<S extends { atS: number }>(samples: S[], figure: (s: S) => number | undefined): { from: number; to: number; percent: number } | null {
  const after = afterWarmUp(samples)
  return after.length < 2 ? null : change(figure(after[0]!), figure(after.at(-1)!))
}

/**
 * The lowest of one figure in each half of the run once it has settled, and the change between them. workerd's
 * memory climbs until V8's first full collection frees what dead JS objects held, then holds (bench/RESULTS.md):
 * so warm-up here ends at the run's highest sample, that collection's eve, when it falls in the first half of the
 * run (an earlier dip in a sum of processes is noise, not the collection); otherwise, where growth()'s does. The
 * lowest of each half of the rest does not depend on where on a later tooth the run ends; a leak, whose highest
 * sample is late, still shows as a higher second low.
 */
export function lows<S extends { atS: number }>(samples: S[], figure: (s: S) => number | undefined): { from: number; to: number; percent: number } | null {
  const values = samples.map(figure)
  let peak = -1
  values.forEach((v, i) => {
    if (v !== undefined && (peak < 0 || v > values[peak]!)) peak = i
  })
  const settled = peak >= 0 && samples[peak]!.atS < (samples.at(-1)?.atS ?? 0) / 2
  const after = settled ? samples.slice(peak) : afterWarmUp(samples)
  if (after.length < 2) return null
  const mid = (after[0]!.atS + after.at(-1)!.atS) / 2
  const lowest = (half: S[]) => {
    const xs = half.map(figure).filter((x) => x !== undefined)
    return xs.length ? Math.min(...xs) : undefined
  }
  return change(lowest(after.filter((s) => s.atS < mid)), lowest(after.filter((s) => s.atS >= mid)))
}

/** One figure's change in a line: "200.0 → 220.0 MiB (+10.0 %)". */
export const describeChange = (c: { from: number; to: number; percent: number }) =>
  `${c.from.toFixed(1)} → ${c.to.toFixed(1)} MiB (${c.percent >= 0 ? '+' : ''}${c.percent.toFixed(1)} %)`

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '10' },
      rps: { type: 'string', default: '40' },
      'max-requests': { type: 'string' },
      'admin-every': { type: 'string', default: '15' },
      'report-every': { type: 'string', default: '30' },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(
      'usage: npm run soak -- [--minutes 10] [--rps 40] [--max-requests N] [--admin-every 15 (seconds)] [--report-every 30 (seconds)] [--json totals.json]',
    )
    process.exit(0)
  }
  const minutes = Math.max(0.05, Number(values.minutes))
  const rps = Math.max(1, Number(values.rps))
  const maxRequests = values['max-requests'] ? Number(values['max-requests']) : Math.ceil(minutes * 60 * rps * 1.1)
  const log = (line: string) => console.log(`[soak] ${line}`)
  // However the stack behaves, the soak ends: its own limit plus time to start and stop.
  setTimeout(() => (console.error('[soak] did not finish in time'), process.exit(2)), (minutes * 60 + 180) * 1000).unref()
  const adminEveryS = Math.max(1, Number(values['admin-every']))
  const t = await soak({ minutes, rps, maxRequests, adminEveryS, reportEveryS: Math.max(5, Number(values['report-every'])), log })
  if (values.json) writeFileSync(values.json, JSON.stringify(t, null, 2))
  const lost = t.started - t.finished
  log(`done: ${t.finished} requests finished of ${t.started} started (lost ${lost}, skipped ${t.skipped}) by kind ${JSON.stringify(t.byKind)}`)
  log(`errors: sluice-made ${t.outcomes.sluice}, origin-made ${t.outcomes.origin}, transport ${t.outcomes.transport}`)
  log(`admin: ${JSON.stringify(t.admin)}`)
  for (const [what, figure] of MEMORY_FIGURES) {
    const [g, l] = [growth(t.rss, figure), lows(t.rss, figure)]
    log(
      g && l
        ? `${what} after warm-up: ${describeChange(g)}; settled, lowest of each half: ${describeChange(l)}`
        : `${what}: too short a run (or not measured) to compare`,
    )
  }
  for (const [what, e] of Object.entries(t.errors).sort((a, b) => b[1].count - a[1].count)) log(`  ${e.count} × ${what} (first at ${e.firstS} s)`)
  process.exit(t.outcomes.sluice === 0 && t.outcomes.transport === 0 && lost === 0 ? 0 : 1)
}
