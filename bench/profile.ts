/**
 * @module
 * Where a worker's time goes under load: a V8 CPU profile of one target's
 * isolate (via workerd's DevTools inspector), mapped back to source files.
 *
 *   node bench/profile.ts [--target sluice|bare|floor|naive] [--seconds 5] [--connections 10] [--path /status/200]
 *
 * Prints the JS time per request, the top functions by self and inclusive
 * time, and writes bench/out/<target>.cpuprofile (open it in Chrome DevTools).
 * A diagnostic, not a benchmark: the inspector itself slows the isolate a
 * little, so figures here are not comparable with run.ts.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { SourceMap } from 'node:module'
import os from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { buildBundle } from './bundle.ts'
import { requestMix, runLoad } from './load.ts'
import { startOriginThread } from './origins.ts'
import { startTargets, type Target } from './targets.ts'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '..')

const { values: flags } = parseArgs({
  options: {
    target: { type: 'string', default: 'sluice' },
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
    path: { type: 'string', default: '/status/200' },
    interval: { type: 'string', default: '50' },
  },
})

interface CallFrame {
  functionName: string
  url: string
  lineNumber: number
  columnNumber: number
}
interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

/** A minimal Chrome DevTools Protocol client: one request at a time is all this needs. */
async function devtools(url: string) {
  const ws = new WebSocket(url)
  await new Promise((res, rej) => {
    ws.once('open', res)
    ws.once('error', rej)
  })
  let next = 0
  const pending = new Map<number, (r: { result?: unknown; error?: unknown }) => void>()
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: unknown }
    if (msg.id !== undefined) pending.get(msg.id)?.(msg)
  })
  return {
    send<T>(method: string, params: object = {}): Promise<T> {
      const id = ++next
      ws.send(JSON.stringify({ id, method, params }))
      return new Promise((res, rej) => pending.set(id, (r) => (r.error ? rej(new Error(`${method}: ${JSON.stringify(r.error)}`)) : res(r.result as T))))
    },
    close: () => ws.close(),
  }
}

/** "file:line" in the original sources when the bundle's source map knows the frame. */
function locator(map: SourceMap | undefined, bundleDir: string) {
  return (f: CallFrame) => {
    // Native frames (fetch, Headers, timers) have no script: nothing to map.
    if (!f.url) return ''
    const entry = map?.findEntry(f.lineNumber, f.columnNumber) as { originalSource?: string; originalLine?: number } | undefined
    if (entry?.originalSource && entry.originalLine !== undefined) {
      const src = resolve(bundleDir, entry.originalSource.replace(/^file:\/\//, ''))
      return `${relative(ROOT, src).replace(/^.*node_modules\//, '')}:${entry.originalLine + 1}`
    }
    return f.url ? `${f.url.split('/').pop()}:${f.lineNumber + 1}` : ''
  }
}

function summarise(profile: Profile, where: (f: CallFrame) => string, requests: number) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const selfUs = new Map<number, number>()
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const key = (n: ProfileNode) => `${n.callFrame.functionName || '(anonymous)'}  ${where(n.callFrame)}`
  const self = new Map<string, number>()
  const total = new Map<string, number>()
  // Inclusive time: each sample counts once for every distinct function on its stack.
  const walk = (id: number, onStack: Set<string>): number => {
    const n = byId.get(id)!
    const k = key(n)
    let t = selfUs.get(id) ?? 0
    self.set(k, (self.get(k) ?? 0) + t)
    const fresh = !onStack.has(k)
    if (fresh) onStack.add(k)
    for (const c of n.children ?? []) t += walk(c, onStack)
    if (fresh) {
      onStack.delete(k)
      total.set(k, (total.get(k) ?? 0) + t)
    }
    return t
  }
  const root = profile.nodes[0]!
  walk(root.id, new Set())
  const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0)
  const wall = profile.endTime - profile.startTime
  const busy = wall - idle
  const top = (m: Map<string, number>, n: number) =>
    [...m]
      .filter(([k]) => !k.startsWith('(root)') && !k.startsWith('(idle)'))
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
  return { wall, idle, busy, perRequestUs: busy / requests, self: top(self, 25), total: top(total, 25) }
}

const stops: (() => Promise<unknown>)[] = []
async function main() {
  const name = flags.target
  const tmp = await mkdtemp(join(os.tmpdir(), 'sluice-profile-'))
  stops.push(() => rm(tmp, { recursive: true, force: true }))
  const bundle = await buildBundle(tmp, false)
  const map = new SourceMap(JSON.parse(await readFile(`${bundle.path}.map`, 'utf8')))

  const { ports, stop } = await startOriginThread()
  stops.push(stop)
  const targets = await startTargets({ sluiceBundle: bundle.path, stable: ports.stable, canary: ports.canary, weight: 10, viaEntry: false, inspect: true })
  for (const t of targets) stops.push(() => t.dispose())
  const t: Target | undefined = targets.find((x) => x.name === name)
  if (!t?.inspector) throw new Error(`no such target: ${name}`)

  const requests = requestMix(flags.path, 1000)
  const connections = Number(flags.connections)
  await runLoad(t.url, { connections, seconds: 2, requests })
  const cdp = await devtools(t.inspector)
  await cdp.send('Profiler.enable')
  await cdp.send('Profiler.setSamplingInterval', { interval: Number(flags.interval) })
  await cdp.send('Profiler.start')
  const load = await runLoad(t.url, { connections, seconds: Number(flags.seconds), requests })
  const { profile } = await cdp.send<{ profile: Profile }>('Profiler.stop')
  cdp.close()

  const out = join(HERE, 'out')
  await mkdir(out, { recursive: true })
  await writeFile(join(out, `${name}.cpuprofile`), JSON.stringify(profile))
  const s = summarise(profile, locator(name === 'sluice' ? map : undefined, tmp), load.total)
  const ms = (us: number) => (us / 1000).toFixed(1).padStart(8)
  console.log(
    `${name}: ${load.total} requests in ${load.seconds} s at ${connections} connections (${load.rps.toFixed(0)} req/s), p50 ${load.p50.toFixed(2)} ms`,
  )
  console.log(`isolate busy ${ms(s.busy)} ms of ${ms(s.wall)} ms sampled: ${s.perRequestUs.toFixed(1)} us of isolate time per request`)
  console.log('\nself time (ms)')
  for (const [k, v] of s.self) console.log(`${ms(v)}  ${(v / load.total).toFixed(2).padStart(6)} us/req  ${k}`)
  console.log('\ninclusive time (ms)')
  for (const [k, v] of s.total) console.log(`${ms(v)}  ${(v / load.total).toFixed(2).padStart(6)} us/req  ${k}`)
  console.log(`\nprofile: ${relative(ROOT, join(out, `${name}.cpuprofile`))}`)
}

try {
  await main()
} catch (err) {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err)
  process.exitCode = 1
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {})
}
