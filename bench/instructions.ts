/**
 * @module
 * `npm run bench:instructions`: instructions per request, counted by valgrind's callgrind in each target's workerd
 * process (every thread: the isolate, the HTTP layer, the subrequest, the garbage collector). A load test on this
 * shared machine cannot resolve a few percent of CPU; an instruction count does not depend on what else the
 * machine is doing, so this is how the request path is held to issue 11's "at most about 5 % more CPU than
 * `floor`" (bench/RESULTS.md).
 *
 *   node bench/instructions.ts [--requests 1000] [--chunks 5] [--warmup 300] [--reps 1] [--only floor,sluice]
 *                              [--against REF] [--path /status/200]
 *
 * Each target runs alone under callgrind (its workerd is about 50 times slower there): the warm-up requests (JIT,
 * caches, the config read) are sent, then `--chunks` times the counters are zeroed, `--requests` of the load test's
 * mix sent one at a time, and the counters dumped. Where a garbage collection falls moves one chunk by up to 3 %
 * (bench/RESULTS.md), so a target's figure is the mean of its chunks, and the per-chunk counts are printed.
 * `--reps` repeats all of it per target in rotating order; `--only` picks targets (bare, floor, sluice, and
 * against: the edge worker built from `--against`'s commit). Needs valgrind (`apt install valgrind`).
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { createRequire } from 'node:module'
import os from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { buildBundle, buildBundleAt } from './bundle.ts'
import { requestMix } from './load.ts'
import { startOriginThread } from './origins.ts'
import { median } from './stats.ts'
import { childrenOf } from '../lib/proc.ts'
import { type Target, type TargetOptions, startBare, startFloor, startSluice } from './targets.ts'

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '300' },
    reps: { type: 'string', default: '1' },
    chunks: { type: 'string', default: '5' },
    path: { type: 'string', default: '/status/200' },
    against: { type: 'string' },
    only: { type: 'string' },
  },
})
const count = (v: string) => {
  const n = Number(v)
  if (!Number.isInteger(n) || n <= 0) throw new Error(`not a positive integer: ${v}`)
  return n
}
const cfg = { requests: count(flags.requests), warmup: count(flags.warmup), reps: count(flags.reps), chunks: count(flags.chunks), path: flags.path }

const tmp = await mkdtemp(join(os.tmpdir(), 'sluice-instr-'))
process.once('exit', () => rmSync(tmp, { recursive: true, force: true }))

// Miniflare starts whatever MINIFLARE_WORKERD_PATH names: a wrapper that runs the real workerd under callgrind,
// counting from the start (startup is excluded by zeroing, below).
const workerd = createRequire(import.meta.url)('workerd').default as string
const wrapper = join(tmp, 'workerd')
writeFileSync(wrapper, `#!/bin/sh\nexec valgrind -q --tool=callgrind --smc-check=all-non-file --callgrind-out-file=${tmp}/cg.%p ${workerd} "$@"\n`)
chmodSync(wrapper, 0o755)
process.env.MINIFLARE_WORKERD_PATH = wrapper

/** The callgrind process this run started (its workerd), so that a second run on the machine is left alone. */
function ownCallgrind(): string {
  const [pid] = childrenOf(process.pid, (comm) => comm.startsWith('callgrind'))
  if (pid === undefined) throw new Error('no callgrind process of this run (is valgrind installed?)')
  return String(pid)
}
const callgrind = (arg: string) => execFileSync('callgrind_control', [arg, ownCallgrind()], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

/** Instructions this run's callgrind process counted since the last zeroing, from a fresh dump (one file per part). */
function dumpedInstructions(): number {
  for (const f of readdirSync(tmp)) if (f.startsWith('cg.')) rmSync(join(tmp, f))
  callgrind('--dump')
  let total = 0
  for (const f of readdirSync(tmp)) {
    if (!f.startsWith('cg.')) continue
    const totals = /^(?:summary|totals): (\d+)/m.exec(readFileSync(join(tmp, f), 'utf8'))
    if (totals) total += Number(totals[1])
  }
  return total
}

async function send(t: Target, requests: ReturnType<typeof requestMix>) {
  for (const r of requests) {
    const res = await fetch(t.url + r.path, { headers: r.headers as Record<string, string> })
    await res.arrayBuffer()
    if (res.status !== 200) throw new Error(`${t.name}: HTTP ${res.status} for ${r.path}`)
  }
}

async function measure(start: () => Promise<Target>): Promise<{ name: string; perRequest: number }> {
  const t = await start()
  try {
    await send(t, requestMix(cfg.path, cfg.warmup, undefined, 7))
    const chunks: number[] = []
    for (let c = 0; c < cfg.chunks; c++) {
      callgrind('--zero')
      await send(t, requestMix(cfg.path, cfg.requests, undefined, 42 + c))
      chunks.push(dumpedInstructions() / cfg.requests)
    }
    if (cfg.chunks > 1) console.log(`    ${t.name} by chunk: ${chunks.map((x) => Math.round(x / 1000)).join(' ')} k`)
    return { name: t.name, perRequest: chunks.reduce((a, b) => a + b, 0) / chunks.length }
  } finally {
    await t.dispose()
  }
}

const origins = await startOriginThread()
try {
  const { ports } = origins
  const [bundle, before] = await Promise.all([
    buildBundle(join(tmp, 'min'), true),
    flags.against === undefined ? undefined : buildBundleAt(flags.against, join(tmp, 'against')),
  ])
  // The config is re-read from KV every CONFIG_TTL_SECONDS, which under load is once in many thousands of requests;
  // at callgrind's pace it would be once in a few hundred, and how many fell inside the count would vary with
  // the machine's speed. An hour keeps it out of the count entirely.
  const o: TargetOptions = {
    sluiceBundle: bundle.path,
    stable: ports.stable,
    canary: ports.canary,
    weight: 10,
    viaEntry: false,
    vars: { CONFIG_TTL_SECONDS: '3600' },
  }
  const all: [string, () => Promise<Target>][] = [
    ['bare', () => startBare(o)],
    ['floor', () => startFloor(o)],
    ['sluice', () => startSluice(o)],
  ]
  if (before) all.push(['against', () => startSluice({ ...o, sluiceBundle: before.path }, `sluice@${flags.against}`)])
  const only = flags.only?.split(',')
  const starts = all.filter(([name]) => !only || only.includes(name)).map(([, start]) => start)

  console.log(
    `instructions per request (callgrind, workerd, ${cfg.chunks} x ${cfg.requests} requests after ${cfg.warmup}, GET ${cfg.path}, ${cfg.reps} rep(s))`,
  )
  const runs = new Map<string, number[]>()
  for (let rep = 0; rep < cfg.reps; rep++) {
    // Rotated like run.ts's rounds, so no target always runs first.
    for (let i = 0; i < starts.length; i++) {
      const r = await measure(starts[(i + rep) % starts.length]!)
      runs.set(r.name, [...(runs.get(r.name) ?? []), r.perRequest])
      console.log(`  rep ${rep + 1}  ${r.name.padEnd(16)} ${Math.round(r.perRequest).toLocaleString('en')}`)
    }
  }
  // Without floor (`--only` left it out), ratios are to the first target measured.
  const floor = median(runs.get('floor') ?? [...runs.values()][0]!)
  console.log(`\n${'target'.padEnd(16)} ${'median'.padStart(11)} ${'x floor'.padStart(8)}  per rep x floor`)
  for (const [name, xs] of runs) {
    const per = xs.map((x) => (x / floor).toFixed(3)).join(', ')
    console.log(`${name.padEnd(16)} ${Math.round(median(xs)).toLocaleString('en').padStart(11)} ${(median(xs) / floor).toFixed(3).padStart(8)}  ${per}`)
  }
} finally {
  await origins.stop()
}
