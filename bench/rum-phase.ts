/**
 * @module
 * The RUM phase of `npm run bench`: what injecting the RUM script tag costs.
 * Two Sluice targets from the same bundle, one whose published rollout has
 * RUM off (the default) and one with `rum: { enabled: true, sampleRate: 1 }`,
 * each loaded with an HTML page (page.ts) and with a non-HTML answer, in
 * alternating rounds; compared by per-round differences, RUM on minus RUM off.
 *
 * Every request is a returning browser (a valid `sluice` cookie and the
 * Sec-Fetch-* headers), so every visitor is placed by the weight and, at
 * sample rate 1, every HTML answer of the RUM-on target is injected: the
 * figure is the cost of an injected page, not diluted by visitors the script
 * skips. A preflight checks that it really is, so the phase cannot silently
 * measure nothing.
 */
import { RUM_SCRIPT_PATH } from '../src/contract/rum-limits.ts'
import { type LoadResult, requestMix, runLoad } from './load.ts'
import { PAGE_PATH } from './page.ts'
import { fmt, median, signed } from './stats.ts'
import { type Target, type TargetOptions, startSluice } from './targets.ts'

export interface RumPhaseConfig {
  rounds: number
  seconds: number
  serialSeconds: number
  connections: number
  warmup: number
}

/** The non-HTML answer: the request-path phases' default route, which the page origins serve alike. */
export const OTHER_PATH = '/status/200'

const PATHS = [
  { kind: 'html', path: PAGE_PATH },
  { kind: 'other', path: OTHER_PATH },
] as const
type Kind = (typeof PATHS)[number]['kind']

export interface RumSample {
  round: number
  loaded: LoadResult
  serial: LoadResult
  /** CPU time of the target's workerd process per request during the loaded run, in microseconds. */
  cpuUs: number
}

export interface RumComparison {
  kind: Kind
  path: string
  off: { rps: number; cpuUs: number; serialP50: number }
  on: { rps: number; cpuUs: number; serialP50: number }
  /** Per round, RUM on minus RUM off (CPU µs/request), in round order. */
  cpuDeltas: number[]
  cpuDelta: number
  /** Medians of per-round ratios, RUM on over RUM off. */
  rpsRatio: number
  cpuRatio: number
  serialP50Delta: number
}

export interface RumResult {
  pageBytes: number
  injectedBytes: number
  samples: Record<string, RumSample[]>
  comparisons: RumComparison[]
  /**
   * Per round, the HTML delta minus the non-HTML delta (CPU µs/request), in round order, and their median: injection's
   * cost net of whatever separates the two workerd processes when both do the same work (see RESULTS.md, History).
   */
  netDeltas: number[]
  netDelta: number
  failures: number
}

/** The planned length of the phase in seconds, for run.ts's watchdog. */
export const rumPlannedSeconds = (c: RumPhaseConfig) => 20 + 4 * c.warmup + c.rounds * 4 * (c.seconds + c.serialSeconds + 1)

/**
 * Checks what the targets answer, one request at a time: 200 everywhere, the tag in every HTML answer of RUM on
 * and in no other answer. Throws otherwise. Returns the page's size as the origin sent it and as injected.
 */
async function verify(off: Target, on: Target, mix: Record<Kind, ReturnType<typeof requestMix>>) {
  const sizes = { pageBytes: 0, injectedBytes: 0 }
  for (const t of [off, on]) {
    for (const { kind, path } of PATHS) {
      let tagged = 0
      const sample = mix[kind].slice(0, 50)
      for (const r of sample) {
        const res = await fetch(t.url + path, { headers: r.headers })
        const body = await res.text()
        if (res.status !== 200) throw new Error(`RUM phase: ${t.name} answered ${res.status} on ${path}`)
        if (body.includes(RUM_SCRIPT_PATH)) tagged++
        if (kind === 'html') sizes[t === on ? 'injectedBytes' : 'pageBytes'] = Buffer.byteLength(body)
      }
      const want = t === on && kind === 'html' ? sample.length : 0
      if (tagged !== want)
        throw new Error(
          `RUM phase: ${t.name} carried ${RUM_SCRIPT_PATH} in ${tagged} of ${sample.length} answers on ${path}, expected ${want}: the figures would not measure injection`,
        )
    }
  }
  return sizes
}

/** Starts the two targets, verifies them, measures, prints the per-round lines and the summary. */
export async function runRumPhase(
  o: TargetOptions,
  c: RumPhaseConfig,
  log: (s?: string) => void,
  onStart: (stop: () => Promise<unknown>) => void,
): Promise<RumResult> {
  const off = await startSluice(o, 'rum-off')
  onStart(() => off.dispose())
  const on = await startSluice({ ...o, rum: { enabled: true, sampleRate: 1 } }, 'rum-on')
  onStart(() => on.dispose())

  // Returning browsers only (see the module comment); the same seeded ids on both paths.
  const mix = { html: requestMix(PAGE_PATH, 1000, { returning: 1, fresh: 0 }), other: requestMix(OTHER_PATH, 1000, { returning: 1, fresh: 0 }) }
  const sizes = await verify(off, on, mix)
  log(
    `  rum-off ${off.url}, rum-on ${on.url}: 200 on ${PAGE_PATH} and ${OTHER_PATH}; ${RUM_SCRIPT_PATH} in 50/50 of rum-on's pages and in nothing else` +
      ` (page ${sizes.pageBytes} B, injected ${sizes.injectedBytes} B)`,
  )

  const cells = [off, on].flatMap((t) => PATHS.map((p) => ({ t, ...p, key: `${t.name} ${p.kind}` })))
  for (const cell of cells) await runLoad(cell.t.url, { connections: c.connections, seconds: c.warmup, requests: mix[cell.kind] })

  const samples: Record<string, RumSample[]> = Object.fromEntries(cells.map((x) => [x.key, []]))
  let failures = 0
  for (let round = 0; round < c.rounds; round++) {
    // Rotated as in the request-path phase, so no cell always follows the same other one.
    for (const cell of cells.map((_, i) => cells[(i + round) % cells.length]!)) {
      const requests = mix[cell.kind]
      const cpu0 = cell.t.cpuSeconds()
      const loaded = await runLoad(cell.t.url, { connections: c.connections, seconds: c.seconds, requests })
      const cpuUs = ((cell.t.cpuSeconds() - cpu0) * 1e6) / loaded.total
      const serial = await runLoad(cell.t.url, { connections: 1, seconds: c.serialSeconds, requests })
      samples[cell.key]!.push({ round, loaded, serial, cpuUs })
      const bad = loaded.non2xx + loaded.errors + serial.non2xx + serial.errors
      failures += bad
      log(
        `  round ${round + 1}/${c.rounds} ${cell.key.padEnd(13)} ${fmt(loaded.rps, 0).padStart(6)} req/s  p50 ${fmt(loaded.p50)} p99 ${fmt(loaded.p99)} ms  cpu ${fmt(cpuUs, 0)} us/req` +
          ` | 1 conn: p50 ${fmt(serial.p50, 3)} p99 ${fmt(serial.p99, 3)} ms${bad ? ` | ${bad} non-2xx/errors` : ''}`,
      )
    }
  }

  const comparisons = PATHS.map(({ kind, path }): RumComparison => {
    const a = samples[`rum-off ${kind}`]!
    const b = samples[`rum-on ${kind}`]!
    const per = (f: (on: RumSample, off: RumSample) => number) => b.map((x, i) => f(x, a[i]!))
    const of = (s: RumSample[]) => ({
      rps: median(s.map((x) => x.loaded.rps)),
      cpuUs: median(s.map((x) => x.cpuUs)),
      serialP50: median(s.map((x) => x.serial.p50)),
    })
    const cpuDeltas = per((x, y) => x.cpuUs - y.cpuUs)
    return {
      kind,
      path,
      off: of(a),
      on: of(b),
      cpuDeltas,
      cpuDelta: median(cpuDeltas),
      rpsRatio: median(per((x, y) => x.loaded.rps / y.loaded.rps)),
      cpuRatio: median(per((x, y) => x.cpuUs / y.cpuUs)),
      serialP50Delta: median(per((x, y) => x.serial.p50 - y.serial.p50)),
    }
  })

  log(`\nRUM: medians over ${c.rounds} rounds; "on/off" and the deltas are medians of per-round comparisons (RUM on against RUM off, same round).`)
  const head = ['answer', 'off req/s', 'on req/s', 'req/s on/off', 'off cpu us', 'on cpu us', 'd cpu us', 'cpu on/off', 'd 1c p50 ms', 'per-round d cpu us']
  const rows = comparisons.map((x) => [
    `${x.kind === 'html' ? 'HTML' : 'non-HTML'} ${x.path}`,
    fmt(x.off.rps, 0),
    fmt(x.on.rps, 0),
    fmt(x.rpsRatio, 3),
    fmt(x.off.cpuUs, 0),
    fmt(x.on.cpuUs, 0),
    signed(x.cpuDelta, 1),
    fmt(x.cpuRatio, 3),
    signed(x.serialP50Delta, 3),
    x.cpuDeltas.map((d) => signed(d, 0)).join(' '),
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  // The answer left-aligned, the figures right-aligned, the per-round list as it comes (nothing after it to align).
  const line = (cells: string[]) =>
    `  ${cells.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : i === cells.length - 1 ? x : x.padStart(widths[i]!))).join('  ')}`
  log(line(head))
  log(`  ${widths.map((w) => '-'.repeat(w)).join('  ')}`)
  for (const r of rows) log(line(r))
  const [html, other] = comparisons as [RumComparison, RumComparison]
  // The non-HTML pair differs by a content-type check only: the spread of its per-round deltas is the run's noise.
  const noise = (Math.max(...other.cpuDeltas) - Math.min(...other.cpuDeltas)) / 2
  const netDeltas = html.cpuDeltas.map((d, i) => d - other.cpuDeltas[i]!)
  const netDelta = median(netDeltas)
  log(
    `  injected page: ${signed(html.cpuDelta, 1)} us CPU/request (x${fmt(html.cpuRatio, 3)}); non-HTML answer: ${signed(other.cpuDelta, 1)} us (x${fmt(other.cpuRatio, 3)});` +
      ` noise (half the range of the non-HTML per-round deltas): +-${fmt(noise, 1)} us`,
  )
  log(`  injected page net of the non-HTML delta (per round, HTML d - non-HTML d): ${signed(netDelta, 1)} us (${netDeltas.map((d) => signed(d, 0)).join(' ')})`)
  return { ...sizes, samples, comparisons, netDeltas, netDelta, failures }
}
