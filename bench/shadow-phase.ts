/**
 * @module
 * The shadow phase of `npm run bench`: what shadow traffic costs the visitors. Three Sluice targets from the same
 * bundle, all with canary weight 0 (every visitor on stable) and a canary that answers only after SLOW_CANARY_MS:
 *
 *   shadow-off        shadowWeight 0: the request path outside a shadow step (the control)
 *   shadow-unsampled  shadowWeight 100 with an `include` no request matches: every request runs every check of
 *                     mirrorable() and is not mirrored, the most a non-mirrored visitor can pay during a shadow step
 *   shadow-mirrored   shadowWeight 100, maxInFlight 256, noiseSampleRate 0: every request is mirrored to the slow
 *                     canary while the isolate has a slot free
 *   shadow-fast       as shadow-mirrored, against a canary that answers at once
 *
 * loaded in alternating rounds like the other phases and compared by per-round differences against shadow-off:
 * (a) CPU per request and throughput of unsampled against off; (b) the one-connection latency of mirrored against
 * off, which is what a mirrored visitor pays in all, and against shadow-fast, which is what the canary's slowness
 * adds to it (nothing, if the visitor never waits for the canary). The canaries count the copies they get, so each run also
 * says what share of its requests were mirrored (under load the isolate's 256 slots fill, 200 ms each, and the rest
 * are skipped as designed). A preflight checks that each target mirrors what it should, so the phase cannot
 * silently measure nothing.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type LoadResult, requestMix, runLoad } from './load.ts'
import { fmt, median, signed } from './stats.ts'
import { type Target, type TargetOptions, startSluice } from './targets.ts'

export interface ShadowPhaseConfig {
  rounds: number
  seconds: number
  serialSeconds: number
  connections: number
  warmup: number
}

/** How long the canary takes to answer: far longer than stable, so any wait for it would show in the visitor's latency. */
export const SLOW_CANARY_MS = 200
const PATH = '/status/200'
const NAMES = ['shadow-off', 'shadow-unsampled', 'shadow-mirrored', 'shadow-fast'] as const
type Name = (typeof NAMES)[number]

export interface ShadowSample {
  round: number
  loaded: LoadResult
  serial: LoadResult
  cpuUs: number
  /** Shares of the loaded and the one-connection run's requests that the canary got a copy of. */
  loadedMirrored: number
  serialMirrored: number
}

export interface ShadowComparison {
  name: Name
  rps: number
  cpuUs: number
  serialP50: number
  serialP99: number
  /** Medians of per-round comparisons against shadow-off. */
  rpsRatio: number
  cpuDelta: number
  cpuDeltas: number[]
  serialP50Delta: number
  serialP99Delta: number
  loadedMirrored: number
  serialMirrored: number
}

export interface ShadowResult {
  samples: Record<string, ShadowSample[]>
  comparisons: ShadowComparison[]
  /** Per round, shadow-mirrored minus shadow-fast (1c p50, ms), and their median: what the canary's delay costs a mirrored visitor. */
  slowCanaryDeltas: number[]
  slowCanaryDelta: number
  failures: number
}

/** The planned length of the phase in seconds, for run.ts's watchdog. */
export const shadowPlannedSeconds = (c: ShadowPhaseConfig) => 25 + 4 * c.warmup + c.rounds * 4 * (c.seconds + c.serialSeconds + 2)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A canary answering `/status/:code` after `delayMs`, counting the shadow copies (`x-sluice-shadow: 1`). */
async function startCanary(delayMs: number) {
  let copies = 0
  const server = createServer((req, res) => {
    if (req.headers['x-sluice-shadow'] === '1') copies++
    const code = Number(/^\/status\/(\d{3})/.exec(req.url ?? '')?.[1] ?? 404)
    setTimeout(() => {
      res.writeHead(code, { 'x-origin': 'canary', 'content-type': 'text/plain' })
      res.end(`canary says ${code}`)
    }, delayMs).unref()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    copies: () => copies,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

const ROLLOUTS: Record<Name, Record<string, unknown>> = {
  'shadow-off': { shadowWeight: 0 },
  'shadow-unsampled': { shadowWeight: 100, shadow: { include: ['/never-mirrored/'] } },
  'shadow-mirrored': { shadowWeight: 100, shadow: { maxInFlight: 256, noiseSampleRate: 0 } },
  'shadow-fast': { shadowWeight: 100, shadow: { maxInFlight: 256, noiseSampleRate: 0 } },
}
const MIRRORING: readonly Name[] = ['shadow-mirrored', 'shadow-fast']

/** Starts the slow canary and the three targets, verifies them, measures, prints the per-round lines and the summary. */
export async function runShadowPhase(
  o: Omit<TargetOptions, 'canary' | 'weight' | 'rollout'>,
  c: ShadowPhaseConfig,
  log: (s?: string) => void,
  onStart: (stop: () => Promise<unknown>) => void,
): Promise<ShadowResult> {
  const slow = await startCanary(SLOW_CANARY_MS)
  onStart(() => slow.close())
  const fast = await startCanary(0)
  onStart(() => fast.close())
  const canaryOf = (name: Name) => (name === 'shadow-fast' ? fast : slow)
  const targets = {} as Record<Name, Target>
  for (const name of NAMES) {
    const t = await startSluice({ ...o, canary: canaryOf(name).url, weight: 0, rollout: ROLLOUTS[name] }, name)
    onStart(() => t.dispose())
    targets[name] = t
  }

  // The request-path phases' mix: returning browsers, first visits and cookieless API clients, all on stable.
  const requests = requestMix(PATH, 1000)
  // Each copy reaches the canary at once; waiting for the slowest answer is the longest any comparison runs.
  const settle = () => sleep(SLOW_CANARY_MS + 300)
  for (const name of NAMES) {
    const canary = canaryOf(name)
    const before = canary.copies()
    for (const r of requests.slice(0, 50)) {
      const res = await fetch(targets[name].url + PATH, { headers: r.headers as Record<string, string> })
      await res.arrayBuffer()
      if (res.status !== 200 || res.headers.get('x-origin') !== 'stable')
        throw new Error(`shadow phase: ${name} answered ${res.status} from ${res.headers.get('x-origin')}`)
    }
    await settle()
    const got = canary.copies() - before
    const want = MIRRORING.includes(name) ? 50 : 0
    if (got !== want) throw new Error(`shadow phase: the canary got ${got} copies of ${name}'s 50 requests, expected ${want}`)
  }
  log(
    `  canaries ${slow.url} (${SLOW_CANARY_MS} ms) and ${fast.url} (at once); ${NAMES.map((n) => `${n} ${targets[n].url}`).join(', ')}: all stable 200; copies 0, 0, 50 and 50 of 50`,
  )

  for (const name of NAMES) await runLoad(targets[name].url, { connections: c.connections, seconds: c.warmup, requests })
  await settle()

  const samples: Record<string, ShadowSample[]> = Object.fromEntries(NAMES.map((n) => [n, []]))
  let failures = 0
  for (let round = 0; round < c.rounds; round++) {
    for (const name of NAMES.map((_, i) => NAMES[(i + round) % NAMES.length]!)) {
      const t = targets[name]
      const canary = canaryOf(name)
      const cpu0 = t.cpuSeconds()
      const copies0 = canary.copies()
      const loaded = await runLoad(t.url, { connections: c.connections, seconds: c.seconds, requests })
      const cpuUs = ((t.cpuSeconds() - cpu0) * 1e6) / loaded.total
      // Copies of the loaded run still arriving, and comparisons still holding slots, must not count for the next run.
      await settle()
      const copies1 = canary.copies()
      const serial = await runLoad(t.url, { connections: 1, seconds: c.serialSeconds, requests })
      await settle()
      const sample = {
        round,
        loaded,
        serial,
        cpuUs,
        loadedMirrored: (copies1 - copies0) / loaded.total,
        serialMirrored: (canary.copies() - copies1) / serial.total,
      }
      samples[name]!.push(sample)
      const bad = loaded.non2xx + loaded.errors + serial.non2xx + serial.errors
      failures += bad
      log(
        `  round ${round + 1}/${c.rounds} ${name.padEnd(16)} ${fmt(loaded.rps, 0).padStart(6)} req/s  p50 ${fmt(loaded.p50)} p99 ${fmt(loaded.p99)} ms  cpu ${fmt(cpuUs, 0)} us/req` +
          ` mirrored ${fmt(sample.loadedMirrored * 100, 0)} % | 1 conn: p50 ${fmt(serial.p50, 3)} p99 ${fmt(serial.p99, 3)} ms mirrored ${fmt(sample.serialMirrored * 100, 0)} %${bad ? ` | ${bad} non-2xx/errors` : ''}`,
      )
    }
  }

  const off = samples['shadow-off']!
  const comparisons = NAMES.map((name): ShadowComparison => {
    const s = samples[name]!
    const per = (f: (x: ShadowSample, y: ShadowSample) => number) => s.map((x, i) => f(x, off[i]!))
    const cpuDeltas = per((x, y) => x.cpuUs - y.cpuUs)
    return {
      name,
      rps: median(s.map((x) => x.loaded.rps)),
      cpuUs: median(s.map((x) => x.cpuUs)),
      serialP50: median(s.map((x) => x.serial.p50)),
      serialP99: median(s.map((x) => x.serial.p99)),
      rpsRatio: median(per((x, y) => x.loaded.rps / y.loaded.rps)),
      cpuDelta: median(cpuDeltas),
      cpuDeltas,
      serialP50Delta: median(per((x, y) => x.serial.p50 - y.serial.p50)),
      serialP99Delta: median(per((x, y) => x.serial.p99 - y.serial.p99)),
      loadedMirrored: median(s.map((x) => x.loadedMirrored)),
      serialMirrored: median(s.map((x) => x.serialMirrored)),
    }
  })

  log(`\nShadow: medians over ${c.rounds} rounds; ratios and deltas are medians of per-round comparisons with shadow-off (same round).`)
  const head = ['target', 'req/s', 'x off', 'cpu us', 'd cpu us', '1c p50 ms', 'd 1c p50', '1c p99 ms', 'd 1c p99', 'mirrored (load, 1c)', 'per-round d cpu us']
  const rows = comparisons.map((x) => [
    x.name,
    fmt(x.rps, 0),
    fmt(x.rpsRatio, 3),
    fmt(x.cpuUs, 0),
    x.name === 'shadow-off' ? '' : signed(x.cpuDelta, 1),
    fmt(x.serialP50, 3),
    x.name === 'shadow-off' ? '' : signed(x.serialP50Delta, 3),
    fmt(x.serialP99, 3),
    x.name === 'shadow-off' ? '' : signed(x.serialP99Delta, 3),
    `${fmt(x.loadedMirrored * 100, 0)} %, ${fmt(x.serialMirrored * 100, 0)} %`,
    x.name === 'shadow-off' ? '' : x.cpuDeltas.map((d) => signed(d, 0)).join(' '),
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) =>
    `  ${cells.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : i === cells.length - 1 ? x : x.padStart(widths[i]!))).join('  ')}`
  log(line(head))
  log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`)
  for (const r of rows) log(line(r))
  const [, unsampled, mirrored] = comparisons as [ShadowComparison, ShadowComparison, ShadowComparison, ShadowComparison]
  const slowCanaryDeltas = samples['shadow-mirrored']!.map((x, i) => x.serial.p50 - samples['shadow-fast']![i]!.serial.p50)
  const slowCanaryDelta = median(slowCanaryDeltas)
  log(
    `  (a) not mirrored during a shadow step: ${signed(unsampled.cpuDelta, 1)} us CPU/request, x${fmt(unsampled.rpsRatio, 3)} req/s, 1c p50 ${signed(unsampled.serialP50Delta, 3)} ms`,
  )
  log(
    `  (b) mirrored to a ${SLOW_CANARY_MS} ms canary (${fmt(mirrored.serialMirrored * 100, 0)} % of 1c requests): 1c p50 ${signed(mirrored.serialP50Delta, 3)} ms, p99 ${signed(mirrored.serialP99Delta, 3)} ms;` +
      ` the comparison's own cost ${signed(mirrored.cpuDelta, 1)} us CPU/request at ${fmt(mirrored.loadedMirrored * 100, 0)} % mirrored under load`,
  )
  log(
    `  (b) the canary's ${SLOW_CANARY_MS} ms, mirrored against shadow-fast (per round, 1c p50): ${signed(slowCanaryDelta, 3)} ms (${slowCanaryDeltas.map((d) => signed(d, 3)).join(' ')})`,
  )
  return { samples, comparisons, slowCanaryDeltas, slowCanaryDelta, failures }
}
