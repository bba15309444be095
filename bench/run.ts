/**
 * @module
 * `npm run bench`: the edge request path, side by side with a pass-through
 * worker (bare), the cheapest equally transparent proxy (floor) and a naive
 * KV-per-request splitter, plus the assignment hot path in isolation, the
 * deployable bundles' sizes, the cost of the RUM script tag (rum-phase.ts) and
 * what shadow traffic costs visitors (shadow-phase.ts).
 *
 *   node bench/run.ts [--rounds N] [--seconds S] [--serial-seconds S] [--connections C]
 *                     [--warmup S] [--path /status/200] [--via-entry] [--skip-micro] [--skip-rum]
 *                     [--skip-shadow] [--only-shadow] [--quick] [--against REF]
 *
 * `--only-shadow` builds the bundles and runs the shadow phase alone.
 *
 * `--against REF` adds the edge worker as built from git commit REF (target
 * `sluice@REF`) to the same alternating rounds: a before/after comparison
 * that no change of machine speed between two runs can distort.
 *
 * The machine is shared and noisy, so targets are measured in alternating
 * rounds (the order rotates each round) and compared by per-round ratios, not
 * by absolute numbers. Only loopback addresses are ever loaded, for a bounded
 * time, and every process started here is stopped on the way out, on error
 * and on Ctrl-C too.
 */
import { execFileSync, spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import os from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { buildBundle, buildBundleAt } from './bundle.ts'
import { type LoadResult, requestMix, runLoad } from './load.ts'
import type { MicroResult } from './micro.ts'
import type { OriginPorts } from './origin-thread.ts'
import { startOriginThread } from './origins.ts'
import { type RumResult, rumPlannedSeconds, runRumPhase } from './rum-phase.ts'
import { type ShadowResult, runShadowPhase, shadowPlannedSeconds } from './shadow-phase.ts'
import { fmt, median, signed } from './stats.ts'
import { type Target, startSluice, startTargets } from './targets.ts'

const HERE = dirname(fileURLToPath(import.meta.url))

// The issue's targets.
// The issue's targets; floorRatio is issue 11's (Sluice against floor, since no header-changing proxy reaches 0.95x bare).
const GOAL = { ratio: 0.95, floorRatio: 0.95, p50DeltaMs: 0.3, microNs: 2000, gzipKiB: 40 }

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    'serial-seconds': { type: 'string' },
    connections: { type: 'string' },
    warmup: { type: 'string' },
    path: { type: 'string', default: '/status/200' },
    weight: { type: 'string', default: '10' },
    'via-entry': { type: 'boolean', default: false },
    'skip-micro': { type: 'boolean', default: false },
    'skip-rum': { type: 'boolean', default: false },
    'skip-shadow': { type: 'boolean', default: false },
    'only-shadow': { type: 'boolean', default: false },
    quick: { type: 'boolean', default: false },
    against: { type: 'string' },
  },
})

const num = (v: string | undefined, quick: number, full: number) => {
  const n = v === undefined ? (flags.quick ? quick : full) : Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number: ${v}`)
  return n
}
const cfg = {
  rounds: Math.round(num(flags.rounds, 2, 5)),
  seconds: num(flags.seconds, 2, 4),
  serialSeconds: num(flags['serial-seconds'], 1, 2.5),
  connections: Math.round(num(flags.connections, 10, 10)),
  warmup: num(flags.warmup, 1, 2),
  path: flags.path,
  weight: Number(flags.weight),
  viaEntry: flags['via-entry'],
  rum: !flags['skip-rum'] && !flags['only-shadow'],
  shadow: !flags['skip-shadow'],
  onlyShadow: flags['only-shadow'],
}

// ---- clean-up: everything started registers how to stop it ----

const stops: (() => Promise<unknown>)[] = []
// Kills child processes that are not tracked one by one (the wrangler builds).
const abort = new AbortController()
let stopping: Promise<void> | undefined
const stopAll = () =>
  (stopping ??= (async () => {
    abort.abort()
    for (const stop of stops.reverse()) await Promise.race([stop().catch(() => {}), new Promise((r) => setTimeout(r, 5_000))])
  })())

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping workers and origins`)
    void stopAll().finally(() => process.exit(130))
  })
}

// Whatever happens, the run ends: a generous bound on the planned duration.
const plannedS =
  40 +
  (cfg.onlyShadow ? 0 : 3 * cfg.warmup + cfg.rounds * (flags.against === undefined ? 3 : 4) * (cfg.seconds + cfg.serialSeconds + 1)) +
  (cfg.rum ? rumPlannedSeconds(cfg) : 0) +
  (cfg.shadow ? shadowPlannedSeconds(cfg) : 0)
const watchdog = setTimeout(() => {
  console.error(`watchdog: still running after ${plannedS * 2} s, giving up`)
  void stopAll().finally(() => process.exit(2))
}, plannedS * 2_000)
watchdog.unref()

// ---- pieces ----

const log = (s = '') => process.stdout.write(`${s}\n`)

function versions() {
  const req = createRequire(import.meta.url)
  const v = (pkg: string) => (req(`${pkg}/package.json`) as { version: string }).version
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    node: process.version,
    wrangler: v('wrangler'),
    miniflare: v('miniflare'),
    workerd: v('workerd'),
    autocannon: v('autocannon'),
    tree: sourceTree(),
  }
}

/** Which worker was measured: the tree changes under a shared checkout, so say exactly what was built. Read-only git. */
function sourceTree(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: join(HERE, '..'), encoding: 'utf8' }).trim()
    const dirty = git('status', '--porcelain', '--', 'src', 'wrangler.toml', 'wrangler.control.toml', 'package-lock.json').split('\n').filter(Boolean).length
    return `${git('rev-parse', '--short', 'HEAD')}${dirty ? ` + ${dirty} uncommitted change(s) under src/, wrangler*.toml` : ''}`
  } catch {
    return 'unknown (no git)'
  }
}

function runMicroChild(quick: boolean): Promise<MicroResult[]> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(HERE, 'micro.ts'), '--json', ...(quick ? ['--quick'] : [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
      timeout: 120_000,
    })
    const stop = async () => child.kill()
    stops.push(stop)
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d))
    child.on('error', reject)
    child.on('close', (code) => {
      stops.splice(stops.indexOf(stop), 1)
      if (code !== 0) return reject(new Error(`micro.ts exited ${code}`))
      resolvePromise(JSON.parse(out) as MicroResult[])
    })
  })
}

async function startOrigins(): Promise<OriginPorts> {
  const { ports, stop } = await startOriginThread()
  stops.push(stop)
  return ports
}

interface Preflight {
  statuses: Record<number, number>
  canaryShare: number
  setCookieShare: number
}

/** Sends part of the mix one request at a time and checks what came back: right status, real cohort split. */
async function preflight(t: Target, requests: ReturnType<typeof requestMix>): Promise<Preflight> {
  const statuses: Record<number, number> = {}
  let canary = 0
  let cookies = 0
  for (const r of requests) {
    const res = await fetch(t.url + r.path, { headers: r.headers })
    await res.arrayBuffer()
    statuses[res.status] = (statuses[res.status] ?? 0) + 1
    if (res.headers.get('x-origin') === 'canary') canary++
    if (res.headers.has('set-cookie')) cookies++
  }
  return { statuses, canaryShare: canary / requests.length, setCookieShare: cookies / requests.length }
}

interface Sample {
  round: number
  loaded: LoadResult
  serial: LoadResult
  kvReads: number
  /** CPU time of the target's workerd process per request during the loaded run, in microseconds. */
  cpuUs: number
}

// ---- the run ----

async function main() {
  const started = new Date()
  const machine = versions()
  log(`Sluice edge benchmark, ${started.toISOString()}`)
  log(
    `${machine.cores} cores, ${machine.cpu}; Node ${machine.node}; wrangler ${machine.wrangler}, miniflare ${machine.miniflare}, workerd ${machine.workerd}; autocannon ${machine.autocannon}`,
  )
  log(`worker built from ${machine.tree}`)
  log(
    cfg.onlyShadow
      ? `plan (--only-shadow): the shadow phase alone, ${cfg.rounds} rounds x 4 targets x (${cfg.seconds} s at ${cfg.connections} connections + ${cfg.serialSeconds} s at 1 connection), GET /status/200`
      : `plan: ${cfg.rounds} rounds x ${flags.against === undefined ? 4 : 5} targets x (${cfg.seconds} s at ${cfg.connections} connections + ${cfg.serialSeconds} s at 1 connection), GET ${cfg.path}, weight ${cfg.weight} %, ${cfg.viaEntry ? "via Miniflare's entry worker" : 'direct sockets'}` +
          (cfg.rum ? `; then RUM: ${cfg.rounds} rounds x 2 targets x 2 paths, the same run lengths` : '') +
          (cfg.shadow ? `; then shadow: ${cfg.rounds} rounds x 4 targets, the same run lengths` : ''),
  )

  const tmp = await mkdtemp(join(os.tmpdir(), 'sluice-bench-'))
  stops.push(() => rm(tmp, { recursive: true, force: true }))
  // Miniflare's own SIGINT hook stops workerd and exits at once, before the stops above have run.
  process.once('exit', () => rmSync(tmp, { recursive: true, force: true }))

  // Phases are numbered as they run: the micro-benchmark and the RUM phase may be skipped.
  const phases = cfg.onlyShadow ? 3 : 3 + (flags['skip-micro'] ? 0 : 1) + (cfg.rum ? 1 : 0) + (cfg.shadow ? 1 : 0)
  let phase = 0
  const step = (what: string) => log(`\n[${++phase}/${phases}] ${what}`)

  step('bundles: wrangler deploy --dry-run (as shipped, and --minify)')
  const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`
  const [shipped, minified, control, against] = await Promise.all([
    buildBundle(join(tmp, 'shipped'), false, abort.signal),
    buildBundle(join(tmp, 'min'), true, abort.signal),
    // Off the request path, and other work in a shared tree may leave it unbuildable for a while: its size is
    // reported when it builds, and its failure never stops the edge's measurement.
    buildBundle(join(tmp, 'control'), true, abort.signal, 'wrangler.control.toml').catch((err: Error) => err),
    flags.against === undefined ? undefined : buildBundleAt(flags.against, join(tmp, 'against'), abort.signal),
  ])
  if (against) log(`  edge at ${flags.against}: ${kib(against.bytes)} raw, ${kib(against.gzipBytes)} gzip -9 (as shipped then)`)
  for (const [label, b] of [
    ['edge, as shipped', shipped],
    ['edge, --minify', minified],
    ['control, --minify', control],
  ] as const) {
    if (b instanceof Error) {
      log(`  ${label.padEnd(17)} build failed: ${/ERROR.*\n\s*(.*)/.exec(b.message)?.[1] ?? b.message.split('\n')[0]}`)
      continue
    }
    log(`  ${label.padEnd(17)} ${kib(b.bytes)} raw, ${kib(b.gzipBytes)} gzip -9   (wrangler: ${b.wranglerSays})`)
    if (b !== shipped)
      log(
        `    by origin: ${b.parts
          .slice(0, 8)
          .map(([k, v]) => `${k} ${kib(v)}`)
          .join(', ')}`,
      )
  }

  const shadowStep = () =>
    step(`shadow: a non-mirrored visitor during a shadow step, and a mirrored one against a slow canary, ${cfg.rounds} alternating rounds`)
  const out = join(HERE, 'out')
  const writeRecord = async (r: Record<string, unknown>) => {
    await mkdir(out, { recursive: true })
    await writeFile(
      join(out, 'last-run.json'),
      `${JSON.stringify({ started: started.toISOString(), machine, cfg, argv: process.argv.slice(2), ...r }, null, 2)}\n`,
    )
    log(`\nraw figures: ${join('bench', 'out', 'last-run.json')}`)
  }
  if (cfg.onlyShadow) {
    step('start origins')
    const origins = await startOrigins()
    shadowStep()
    const shadow = await runShadowPhase({ sluiceBundle: shipped.path, stable: origins.stable, viaEntry: cfg.viaEntry }, cfg, log, (stop) => stops.push(stop))
    await writeRecord({ bundle: { shipped, minified }, shadow })
    return shadow.failures
  }

  let micro: MicroResult[] = []
  if (!flags['skip-micro']) {
    step('micro-benchmark (Node, own process)')
    micro = await runMicroChild(flags.quick)
    log('  CPU time per call, median of runs (min run; wall-clock median)')
    for (const m of micro) log(`  ${m.name.padEnd(46)} ${fmt(m.nsPerOp, 0).padStart(6)} ns/op  (min ${fmt(m.minNs, 0)}; wall ${fmt(m.wallNs, 0)})`)
  }

  step('start origins and workers, check them')
  const origins = await startOrigins()
  const targetOptions = { sluiceBundle: shipped.path, stable: origins.stable, canary: origins.canary, weight: cfg.weight, viaEntry: cfg.viaEntry }
  const targets = await startTargets(targetOptions)
  for (const t of targets) stops.push(() => t.dispose())
  if (against) {
    const before = await startSluice({ ...targetOptions, sluiceBundle: against.path }, `sluice@${flags.against}`)
    stops.push(() => before.dispose())
    targets.push(before)
  }
  const requests = requestMix(cfg.path, 1000)
  for (const t of targets) {
    const p = await preflight(t, requests.slice(0, 200))
    const st = Object.entries(p.statuses)
      .map(([s, n]) => `${s} x${n}`)
      .join(', ')
    log(`  ${t.name.padEnd(7)} ${t.url}  ${st}; canary ${(p.canaryShare * 100).toFixed(1)} %; Set-Cookie ${(p.setCookieShare * 100).toFixed(1)} %`)
    if (Object.keys(p.statuses).some((s) => Number(s) !== 200)) throw new Error(`${t.name} does not answer 200 on ${cfg.path}`)
  }
  for (const t of targets) await runLoad(t.url, { connections: cfg.connections, seconds: cfg.warmup, requests })

  step(`load: ${cfg.rounds} alternating rounds`)
  const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]))
  for (let round = 0; round < cfg.rounds; round++) {
    // Rotate the order so no target always runs right after a given other one.
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!)
    for (const t of order) {
      const before = await t.kvReads()
      const cpu0 = t.cpuSeconds()
      const loaded = await runLoad(t.url, { connections: cfg.connections, seconds: cfg.seconds, requests })
      const cpuUs = ((t.cpuSeconds() - cpu0) * 1e6) / loaded.total
      const serial = await runLoad(t.url, { connections: 1, seconds: cfg.serialSeconds, requests })
      const kvReads = (await t.kvReads()) - before
      samples.get(t.name)!.push({ round, loaded, serial, kvReads, cpuUs })
      const bad = loaded.non2xx + loaded.errors + serial.non2xx + serial.errors
      log(
        `  round ${round + 1}/${cfg.rounds} ${t.name.padEnd(7)} ${fmt(loaded.rps, 0).padStart(6)} req/s  p50 ${fmt(loaded.p50)} p99 ${fmt(loaded.p99)} ms  cpu ${fmt(cpuUs, 0)} us/req` +
          ` | 1 conn: p50 ${fmt(serial.p50, 3)} p99 ${fmt(serial.p99, 3)} ms | KV reads +${kvReads}${bad ? ` | ${bad} non-2xx/errors` : ''}`,
      )
    }
  }

  // ---- summary ----
  const bare = samples.get('bare')!
  const floor = samples.get('floor')!
  const summary = targets.map((t) => {
    const s = samples.get(t.name)!
    const perRound = <T>(f: (x: Sample, b: Sample) => T) => s.map((x, i) => f(x, bare[i]!))
    const perFloorRound = <T>(f: (x: Sample, b: Sample) => T) => s.map((x, i) => f(x, floor[i]!))
    const requestsSent = s.reduce((a, x) => a + x.loaded.total + x.serial.total, 0)
    const kvReads = s.reduce((a, x) => a + x.kvReads, 0)
    return {
      name: t.name,
      rps: median(s.map((x) => x.loaded.rps)),
      ratio: median(perRound((x, b) => x.loaded.rps / b.loaded.rps)),
      p50: median(s.map((x) => x.loaded.p50)),
      p50Delta: median(perRound((x, b) => x.loaded.p50 - b.loaded.p50)),
      p99: median(s.map((x) => x.loaded.p99)),
      serialP50: median(s.map((x) => x.serial.p50)),
      serialP50Delta: median(perRound((x, b) => x.serial.p50 - b.serial.p50)),
      serialP99: median(s.map((x) => x.serial.p99)),
      cpuUs: median(s.map((x) => x.cpuUs)),
      cpuDelta: median(perRound((x, b) => x.cpuUs - b.cpuUs)),
      // The issue-11 view: Sluice against the cheapest proxy that makes the same header changes.
      floorRatio: median(perFloorRound((x, f) => x.loaded.rps / f.loaded.rps)),
      floorCpuDelta: median(perFloorRound((x, f) => x.cpuUs - f.cpuUs)),
      floorSerialP50Delta: median(perFloorRound((x, f) => x.serial.p50 - f.serial.p50)),
      rpsRange: [Math.min(...s.map((x) => x.loaded.rps)), Math.max(...s.map((x) => x.loaded.rps))],
      requests: requestsSent,
      kvReads,
      kvPerRequest: kvReads / requestsSent,
      failures: s.reduce((a, x) => a + x.loaded.non2xx + x.loaded.errors + x.serial.non2xx + x.serial.errors, 0),
    }
  })

  log(`\nResults: median over ${cfg.rounds} rounds; "x bare" and deltas are medians of per-round comparisons with bare.`)
  log(`Loaded = ${cfg.connections} connections for ${cfg.seconds} s (closed loop, so p50 there is mostly queueing); 1c = one connection, one request`)
  log(`at a time for ${cfg.serialSeconds} s (the latency a request pays); cpu = the target's workerd process CPU time per request under load.`)
  const head = ['target', 'req/s', 'x bare', 'p50 ms', 'd p50', 'p99 ms', '1c p50', 'd 1c p50', '1c p99', 'cpu us/req', 'd cpu', 'KV reads/req', 'req/s range']
  const rows = summary.map((s) => [
    s.name,
    fmt(s.rps, 0),
    fmt(s.ratio, 3),
    fmt(s.p50),
    s.name === 'bare' ? '' : signed(s.p50Delta),
    fmt(s.p99),
    fmt(s.serialP50, 3),
    s.name === 'bare' ? '' : signed(s.serialP50Delta, 3),
    fmt(s.serialP99, 3),
    fmt(s.cpuUs, 0),
    s.name === 'bare' ? '' : signed(s.cpuDelta, 0),
    s.name === 'bare' ? '-' : `${s.kvPerRequest.toExponential(2)} (${s.kvReads}/${s.requests})`,
    `${fmt(s.rpsRange[0]!, 0)}-${fmt(s.rpsRange[1]!, 0)}`,
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`
  log(line(head))
  log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`)
  for (const r of rows) log(line(r))
  log('\nAgainst floor (medians of per-round comparisons with floor):')
  for (const s of summary) {
    if (s.name === 'bare' || s.name === 'floor') continue
    log(`  ${s.name.padEnd(7)} x floor ${fmt(s.floorRatio, 3)}  d cpu ${signed(s.floorCpuDelta, 0)} us/req  d 1c p50 ${signed(s.floorSerialP50Delta, 3)} ms`)
  }

  const sl = summary.find((s) => s.name === 'sluice')!
  const assignNs = micro[0]?.nsPerOp ?? NaN
  const verdict = (ok: boolean) => (ok ? 'MET ' : 'MISS')
  log('\nTargets:')
  log(`  ${verdict(sl.ratio >= GOAL.ratio)} throughput >= ${GOAL.ratio}x bare: ${fmt(sl.ratio, 3)}x`)
  log(
    `  ${verdict(sl.floorRatio >= GOAL.floorRatio)} throughput >= ${GOAL.floorRatio}x floor: ${fmt(sl.floorRatio, 3)}x (cpu ${signed(sl.floorCpuDelta, 0)} us/req over floor; 1c p50 ${signed(sl.floorSerialP50Delta, 3)} ms)`,
  )
  log(
    `  ${verdict(sl.serialP50Delta <= GOAL.p50DeltaMs)} p50 <= +${GOAL.p50DeltaMs} ms over bare (1 connection): ${signed(sl.serialP50Delta, 3)} ms   (loaded: ${signed(sl.p50Delta)} ms)`,
  )
  log(
    `  ${verdict(sl.kvPerRequest < 0.001)} KV reads/request at steady state ~0: ${sl.kvPerRequest.toExponential(2)} (naive: ${fmt(summary.find((s) => s.name === 'naive')!.kvPerRequest, 3)})`,
  )
  if (micro.length)
    log(
      `  ${verdict(assignNs <= GOAL.microNs)} assign() <= ${GOAL.microNs / 1000} us: ${fmt(assignNs / 1000, 2)} us (bucketOf alone ${fmt(micro[3]!.nsPerOp, 0)} ns)`,
    )
  log(
    `  ${verdict(minified.gzipBytes / 1024 <= GOAL.gzipKiB)} edge worker bundle <= ${GOAL.gzipKiB} KiB gzip: ${kib(minified.gzipBytes)} (minified; the control worker, off the request path: ${control instanceof Error ? 'did not build' : kib(control.gzipBytes)})`,
  )
  let failures = summary.reduce((a, s) => a + s.failures, 0)
  if (failures) log(`  WARNING: ${failures} non-2xx responses or errors during load; see the per-round lines`)

  let rum: RumResult | undefined
  if (cfg.rum) {
    step(`RUM: the cost of injection, rum-off and rum-on (same bundle) on an HTML page and a non-HTML answer, ${cfg.rounds} alternating rounds`)
    rum = await runRumPhase({ ...targetOptions, ...origins.pages }, cfg, log, (stop) => stops.push(stop))
    failures += rum.failures
    if (rum.failures) log(`  WARNING: ${rum.failures} non-2xx responses or errors during the RUM phase; see the per-round lines`)
  }

  let shadow: ShadowResult | undefined
  if (cfg.shadow) {
    shadowStep()
    shadow = await runShadowPhase(targetOptions, cfg, log, (stop) => stops.push(stop))
    failures += shadow.failures
    if (shadow.failures) log(`  WARNING: ${shadow.failures} non-2xx responses or errors during the shadow phase; see the per-round lines`)
  }

  await writeRecord({
    bundle: { shipped, minified, against, control: control instanceof Error ? { error: control.message } : control },
    micro,
    summary,
    samples: Object.fromEntries(samples),
    rum,
    shadow,
  })
  return failures
}

try {
  const failures = await main()
  process.exitCode = failures ? 1 : 0
} catch (err) {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err)
  process.exitCode = 1
} finally {
  await stopAll()
  clearTimeout(watchdog)
}
