/**
 * @module
 * Summaries of many seeds: outcome counts, minutes to rollback and to
 * promotion, canary exposure, in the shape `simulate --json` prints, plus the
 * human-readable lines and the comparison table of bench/SIMULATION.md. A
 * schedule that starts with a shadow step adds how and when seeds left it.
 */
import { median, percentile } from '../stats.ts'
import type { Scenario } from './scenario.ts'
import type { JudgeKind, SeedResult } from './run.ts'

export interface Summary {
  seeds: number
  promoted: number
  rolledBack: number
  other: number
  rollbackMinute: { median: number | null; p90: number | null }
  promoteMinute: { median: number | null; p90: number | null }
  canaryRequests: { median: number | null }
  canaryErrors: { median: number | null }
  /** A scenario with rings: the same exposure medians per ring (`everyone-else` for visitors in no ring). */
  rings?: Record<string, { canaryRequests: { median: number | null }; canaryErrors: { median: number | null } }>
  /** A schedule starting with a shadow step: seeds that advanced from it, paused in it (no visitor ever served by the canary), or neither. */
  shadow?: ShadowSummary
}

export interface ShadowSummary {
  advanced: number
  paused: number
  /** Still in the shadow step when time ran out, or left it otherwise (a gate). */
  other: number
  advanceMinute: { median: number | null; p90: number | null }
  pauseMinute: { median: number | null; p90: number | null }
}

const orNull = (x: number) => (Number.isNaN(x) ? null : x)
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b)

function quantiles(minutes: number[]) {
  const xs = sorted(minutes)
  return { median: orNull(median(xs)), p90: orNull(percentile(xs, 0.9)) }
}

const minutesOf = (results: readonly SeedResult[], outcome: string) =>
  quantiles(results.filter((r) => r.outcome === outcome && r.minute !== null).map((r) => r.minute!))

/** How seeds left the shadow step, for a schedule that starts with one. */
function shadowOf(results: readonly SeedResult[]): Pick<Summary, 'shadow'> {
  if (!results.some((r) => r.shadow !== undefined)) return {}
  const left = (kind: string) => results.flatMap((r) => (r.shadow?.left === kind ? [r.shadow.minute] : []))
  const advanced = left('advance')
  const paused = left('pause')
  return {
    shadow: {
      advanced: advanced.length,
      paused: paused.length,
      other: results.length - advanced.length - paused.length,
      advanceMinute: quantiles(advanced),
      pauseMinute: quantiles(paused),
    },
  }
}

const exposureOf = (xs: readonly { canaryRequests: number; canaryErrors: number }[]) => ({
  canaryRequests: { median: orNull(median(xs.map((x) => x.canaryRequests))) },
  canaryErrors: { median: orNull(median(xs.map((x) => x.canaryErrors))) },
})

/** Each ring's exposure medians (every seed of a scenario with rings reports every ring). */
function ringsOf(results: readonly SeedResult[]): Pick<Summary, 'rings'> {
  const rings = results[0]?.rings
  if (!rings) return {}
  return { rings: Object.fromEntries(Object.keys(rings).map((n) => [n, exposureOf(results.map((r) => r.rings![n]!))])) }
}

export function summarize(results: readonly SeedResult[]): Summary {
  const promoted = results.filter((r) => r.outcome === 'promoted').length
  const rolledBack = results.filter((r) => r.outcome === 'rolled-back').length
  return {
    seeds: results.length,
    promoted,
    rolledBack,
    other: results.length - promoted - rolledBack,
    rollbackMinute: minutesOf(results, 'rolled-back'),
    promoteMinute: minutesOf(results, 'promoted'),
    ...exposureOf(results),
    ...ringsOf(results),
    ...shadowOf(results),
  }
}

/** Seeds left neither promoted nor rolled back, by phase, e.g. "paused 2, progressing 1". */
export function otherPhases(results: readonly SeedResult[]): string {
  const counts = new Map<string, number>()
  for (const r of results) {
    if (r.outcome !== 'promoted' && r.outcome !== 'rolled-back') counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1)
  }
  return [...counts].map(([k, v]) => `${k} ${v}`).join(', ')
}

const pct = (n: number, d: number) => (d > 0 ? `${((100 * n) / d).toFixed(1)} %` : '-')
const show = (x: number | null) => (x === null ? '-' : String(x))

export function seedLine(r: SeedResult): string {
  const at = r.minute === null ? 'time ran out' : `minute ${String(r.minute).padStart(3)}`
  const why = r.reason === null ? '' : `  ${r.reason.length > 140 ? `${r.reason.slice(0, 137)}...` : r.reason}`
  const exposure = `canary ${r.canaryRequests} req, ${r.canaryErrors} err`
  return `seed ${String(r.seed).padStart(5)}  ${r.outcome.padEnd(17)} ${at.padEnd(12)} ${exposure}${why}`
}

export function summaryLines(sc: Scenario, name: string, judgeKind: JudgeKind, results: readonly SeedResult[], summary = summarize(results)): string[] {
  const s = summary
  const row = (label: string, n: number, rest: string) => `  ${label.padEnd(12)} ${String(n).padStart(5)}  ${pct(n, s.seeds).padStart(7)}   ${rest}`
  const minutes = (m: Summary['rollbackMinute']) => `minute median ${show(m.median)}, p90 ${show(m.p90)}`
  const lines = [`${name}: judge ${judgeKind}, ${s.seeds} seeds${sc.expect ? `, expected: ${sc.expect}` : ''}`]
  lines.push(row('promoted', s.promoted, minutes(s.promoteMinute)))
  lines.push(row('rolled back', s.rolledBack, minutes(s.rollbackMinute)))
  lines.push(row('other', s.other, otherPhases(results)))
  lines.push(`  canary exposure per seed (median): ${show(s.canaryRequests.median)} requests, ${show(s.canaryErrors.median)} errors`)
  for (const [ring, e] of Object.entries(s.rings ?? {})) {
    lines.push(`    ${ring}: ${show(e.canaryRequests.median)} requests, ${show(e.canaryErrors.median)} errors`)
  }
  const sh = s.shadow
  if (sh) {
    lines.push(`  shadow step: advanced ${sh.advanced} (${pct(sh.advanced, s.seeds)}), ${minutes(sh.advanceMinute)}`)
    lines.push(`               paused   ${sh.paused} (${pct(sh.paused, s.seeds)}), ${minutes(sh.pauseMinute)}; neither ${sh.other}`)
  }
  if (sc.expect === 'promote') {
    lines.push(`  false-rollback rate: ${pct(s.rolledBack, s.seeds)} (the canary is no worse than stable)`)
    if (sh) lines.push(`  false-pause rate in the shadow step: ${pct(sh.paused, s.seeds)}`)
  }
  if (sc.expect === 'rollback') lines.push(`  detection rate: ${pct(s.rolledBack, s.seeds)}; promoted a worse canary: ${pct(s.promoted, s.seeds)}`)
  if (sc.expect === 'pause') {
    lines.push(`  stopped before any visitor was served: ${pct(sh?.paused ?? 0, s.seeds)}; promoted a different canary: ${pct(s.promoted, s.seeds)}`)
  }
  return lines
}

export interface TableRow {
  scenario: string
  expect: string
  judge: JudgeKind
  summary: Summary
}

/** The comparison table (GitHub markdown), one row per scenario × judge. */
export function table(rows: readonly TableRow[]): string {
  const head = [
    'scenario',
    'expect',
    'judge',
    'seeds',
    'promoted',
    'rolled back',
    'other',
    'rollback min median / p90',
    'promote min median / p90',
    'canary req (median)',
    'canary err (median)',
  ]
  const out = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 3 ? ' --- ' : ' ---: ')).join('|')}|`]
  for (const { scenario, expect, judge, summary: s } of rows) {
    out.push(
      `| ${[
        scenario,
        expect,
        judge,
        s.seeds,
        s.promoted,
        s.rolledBack,
        s.other,
        `${show(s.rollbackMinute.median)} / ${show(s.rollbackMinute.p90)}`,
        `${show(s.promoteMinute.median)} / ${show(s.promoteMinute.p90)}`,
        show(s.canaryRequests.median),
        show(s.canaryErrors.median),
      ].join(' | ')} |`,
    )
  }
  return out.join('\n')
}
