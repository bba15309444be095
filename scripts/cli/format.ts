/**
 * @module
 * Human-readable output of the CLI: a rollout's status, the rollout list, a
 * history page, a shadow step's diff report and problem details. `--json`
 * bypasses all of this. A status shows the last decision's figures per
 * cohort: the server's, the 4xx test's and, for a rollout with real-user
 * signals, the beacons' (`data.rum`).
 *
 * The shapes are the contract's (src/contract/), imported as types only: the
 * CLI starts without loading zod.
 */
import type { DiffReport, HistoryEntry, HistoryPage, RolloutStatus } from '../../src/contract/index.ts'
import { vitalRating } from '../../src/core/judge/vital-rating.ts'
import type { Problem } from './http.ts'

export type { DiffReport, HistoryPage, RolloutStatus }

const pct = (n: number) => `${n}%`

const iso = (t: string) => new Date(t).toISOString()

/** "in 4m 10s" / "3m ago": bake ends are easier to act on relative to now. */
export function relative(t: string | number, now = Date.now()): string {
  const ms = new Date(t).getTime() - now
  let s = Math.round(Math.abs(ms) / 1000)
  const parts: string[] = []
  for (const [unit, size] of [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
  ] as const) {
    if (s >= size) {
      parts.push(`${Math.floor(s / size)}${unit}`)
      s %= size
    }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`)
  const span = parts.slice(0, 2).join(' ')
  return ms >= 0 ? `in ${span}` : `${span} ago`
}

/** A step's weight, named by its audience for a ring step: `ring staff at 100%`. */
const target = (step: { weight: number; audience?: string | undefined }) =>
  `${step.audience === undefined ? '' : `ring ${step.audience} `}at ${pct(step.weight)}`

function stepLine(s: RolloutStatus, now: number): string {
  const step = s.step
  if (!step) return 'none (no release started)'
  const total = s.spec.schedule?.length
  // A shadow step serves the canary to nobody: it mirrors a share of visitors, and its minimum counts compared requests.
  const shadow = s.spec.schedule?.[step.index]?.shadow
  const where = shadow === undefined ? target(step) : `shadow step mirroring ${pct(shadow)} of visitors`
  let line = `${step.index + 1}${total ? `/${total}` : ''} ${where}, bake ${step.bakeMinutes} min`
  if (step.minRequests > 0) line += `, min ${step.minRequests} ${shadow === undefined ? 'canary' : 'compared'} requests`
  if (step.bakeEndsAt) {
    const ended = new Date(step.bakeEndsAt).getTime() <= now
    line += `; bake ${ended ? 'ended' : 'ends'} ${iso(step.bakeEndsAt)} (${relative(step.bakeEndsAt, now)})`
  }
  return line
}

function nextLine(s: RolloutStatus): string | undefined {
  if (!s.step || !s.spec.schedule) return undefined
  const next = s.spec.schedule[s.step.index + 1]
  if (!next) return undefined
  const to = next.audience === undefined ? pct(next.weight) : target(next)
  return `${to}${next.gate ? ' after an operator approves' : ''}`
}

/** Each ring's weight, then everyone else's (visitors in no ring); undefined for a rollout with no ring in force. */
function ringsLine(s: RolloutStatus): string | undefined {
  const rings = Object.entries(s.rings ?? {})
  if (rings.length === 0) return undefined
  return `${rings.map(([name, w]) => `${name} ${pct(w)}`).join(', ')} (everyone else ${pct(s.weight)})`
}

/** One ring's part of a decision, as `ringsRecord` (src/core/rollout/decide.ts) writes it into `data.rings`. */
interface RingRecord {
  label?: string
  weight?: number
  verdict?: string
  reason?: string
  numbers?: Record<string, number | null>
}

const count = (n: unknown) => (typeof n === 'number' && Number.isFinite(n) ? String(n) : '-')

/**
 * One line per ring the last decision judged: its verdict at its weight; per cohort, the window's requests/errors
 * and the error test's units (fresh clients/first failures, summed over the release); then its reason.
 */
function ringLines(d: RolloutStatus['lastDecision']): string[] {
  const rings = d?.data?.rings
  if (rings === null || typeof rings !== 'object') return []
  const all = Object.entries(rings as Record<string, RingRecord | null>).filter((e): e is [string, RingRecord] => e[1] !== null && typeof e[1] === 'object')
  return all.map(([key, r]) => {
    const n = r.numbers ?? {}
    const pair = (a: string, b: string) => `${count(n[a])}/${count(n[b])}`
    const window = `canary ${pair('windowCanaryRequests', 'windowCanaryErrors')}, stable ${pair('windowStableRequests', 'windowStableErrors')}`
    const units = `canary ${pair('canaryUnits', 'canaryUnitFailures')}, stable ${pair('stableUnits', 'stableUnitFailures')}`
    const reason = r.reason ? `; ${r.reason}` : ''
    return `${r.label ?? key} at ${count(r.weight)}%: ${r.verdict ?? '?'}; requests/errors in the window ${window}; fresh clients/first failures ${units}${reason}`
  })
}

/** When the step and the schedule will be done, absolute and relative, then what that rests on. */
function etaLine(s: RolloutStatus, now: number): string | undefined {
  const eta = s.eta
  if (!eta) return undefined
  const when = (label: string, t: string | null) => t && `${label} ${iso(t)} (${relative(t, now)})`
  const times = [when('step done', eta.stepDoneAt), when('100 %', eta.rolloutDoneAt)].filter(Boolean)
  return times.length ? `${times.join(', ')}; ${eta.basis}` : eta.basis
}

function decisionLine(d: RolloutStatus['lastDecision']): string {
  if (!d) return 'none'
  return `${d.kind} at ${iso(d.at)}: ${d.reason}`
}

const record = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {})
const amount = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined)
/** A share in percent, at most two decimals: `0.5 %`. */
const share = (part: number | undefined, whole: number | undefined) =>
  part === undefined || whole === undefined || whole <= 0 ? '-' : `${Number(((part / whole) * 100).toFixed(2))} %`
const both = (o: unknown, show: (c: Record<string, unknown>) => string) => `${show(record(record(o).stable))} / ${show(record(record(o).canary))}`
const shown = (v: unknown) => count(amount(v))
/** Text from the data for a terminal: control and bidi characters would act on it, so they show as `?`; long text is cut. */
const printable = (v: string) => {
  const t = v.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, '?')
  return t.length > 300 ? `${t.slice(0, 299)}…` : t
}

export { vitalRating }

/** The server's figures for the last window: requests, 5xx and the judged latency quantile, stable / canary. */
function serverLine(s: RolloutStatus): string | undefined {
  const n = record(s.lastDecision?.data?.numbers)
  if (amount(n.windowStableRequests) === undefined && amount(n.windowCanaryRequests) === undefined) return undefined
  const rate = (c: 'Stable' | 'Canary') => share(amount(n[`window${c}Errors`]), amount(n[`window${c}Requests`]))
  const ms = (v: unknown) => (amount(v) === undefined ? '-' : `${Math.round(amount(v)!)} ms`)
  const q = s.spec.judge?.latency?.quantile ?? 'latency'
  const latency = amount(n.latencyStable) === undefined && amount(n.latencyCanary) === undefined ? '' : `, ${q} ${ms(n.latencyStable)} / ${ms(n.latencyCanary)}`
  return `requests stable ${shown(n.windowStableRequests)} / canary ${shown(n.windowCanaryRequests)}, 5xx ${rate('Stable')} / ${rate('Canary')}${latency}`
}

/** The 4xx test's figures: 4xx answers of the window's requests, stable / canary. */
function clientErrorLine(d: RolloutStatus['lastDecision']): string | undefined {
  const ce = d?.data?.clientErrors
  if (ce === null || typeof ce !== 'object') return undefined
  const of = (c: unknown, noun: string) =>
    `${shown(record(c).errors)} of ${shown(record(c).requests)}${noun} (${share(amount(record(c).errors), amount(record(c).requests))})`
  return `stable ${of(record(ce).stable, ' requests')} / canary ${of(record(ce).canary, '')}`
}

/** A vital's p75 in its unit: ms for LCP and INP, unitless for CLS, with its rating. */
function vitalText(vital: string, v: unknown): string {
  const p75 = amount(record(v).p75)
  if (p75 === undefined) return '-'
  return `${vital === 'cls' ? Number(p75.toFixed(3)) : `${Math.round(p75)} ms`} (${vitalRating(vital, p75)})`
}

/**
 * The beacons' figures (`data.rum`): page views in the window and since the release began, the share with a
 * JavaScript error and each vital's p75, stable / canary; then pages left untagged for their CSP and the canary's
 * most frequent first errors, one line each. Nothing for a decision without them.
 */
function rumLines(d: RolloutStatus['lastDecision']): [string, string][] {
  const raw = d?.data?.rum
  if (raw === null || typeof raw !== 'object') return []
  const rum = record(raw)
  const parts: string[] = []
  const w = record(rum.window)
  if (Object.keys(w).length > 0) {
    const pv = record(rum.pageViews)
    const release = Object.keys(pv).length > 0 ? ` (since the release began ${shown(pv.stable)} / ${shown(pv.canary)})` : ''
    const errored = both(w, (c) => share(amount(c.errored), amount(c.pageViews)))
    parts.push(`page views stable ${shown(record(w.stable).pageViews)} / canary ${shown(record(w.canary).pageViews)}${release}, with an error ${errored}`)
  }
  const vitals = record(rum.vitals)
  for (const v of ['lcp', 'inp', 'cls']) {
    const s = record(vitals.stable)[v]
    const c = record(vitals.canary)[v]
    if (s !== undefined || c !== undefined) parts.push(`${v.toUpperCase()} p75 ${vitalText(v, s)} / ${vitalText(v, c)}`)
  }
  const lines: [string, string][] = parts.length ? [['real-user', parts.join('; ')]] : []
  const inj = record(rum.injection)
  const csp = (c: unknown) => amount(record(c).csp) ?? 0
  if (csp(inj.stable) > 0 || csp(inj.canary) > 0)
    lines.push(['', `left without the RUM script for their CSP: stable ${csp(inj.stable)} / canary ${csp(inj.canary)} HTML answers`])
  for (const e of Array.isArray(rum.canaryErrors) ? rum.canaryErrors : []) {
    const f = record(e)
    if (typeof f.fingerprint !== 'string') continue
    const clients = amount(f.clients)
    lines.push([
      '',
      `${f.newInCanary === true ? 'new in canary' : 'canary error'}: ${printable(f.fingerprint)} (${count(clients)} client${clients === 1 ? '' : 's'})`,
    ])
  }
  return lines
}

/** One rollout in detail (`status <id>`, and the answer to every command). */
export function formatStatus(s: RolloutStatus, now = Date.now()): string {
  const match = s.spec.match ?? {}
  const rows: [string, string | undefined][] = [
    ['phase', s.phase],
    ['weight', `${pct(s.weight)} to the canary`],
    ['rings', ringsLine(s)],
    ['release', s.release ?? 'none'],
    ['step', stepLine(s, now)],
    ['next', nextLine(s)],
    ['eta', etaLine(s, now)],
    ['decision', decisionLine(s.lastDecision)],
    ...ringLines(s.lastDecision).map((line): [string, string] => ['', line]),
    ['server', serverLine(s)],
    ['4xx', clientErrorLine(s.lastDecision)],
    ...rumLines(s.lastDecision),
    ['stable', s.spec.stable],
    ['canary', s.spec.canary],
    ['match', `host ${match.host ?? 'any'}, path ${match.pathPrefix ?? '/'}`],
  ]
  const lines = [`${s.id}  (revision ${s.revision}, updated ${s.updatedAt})`]
  for (const [k, v] of rows) if (v !== undefined) lines.push(`  ${k.padEnd(9)} ${v}`)
  return lines.join('\n')
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

export function formatList(rollouts: RolloutStatus[]): string {
  if (rollouts.length === 0) return 'no rollouts'
  return table([
    ['ID', 'PHASE', 'WEIGHT', 'RELEASE', 'REV', 'UPDATED'],
    ...rollouts.map((r) => [r.id, r.phase, pct(r.weight), r.release ?? '-', String(r.revision), r.updatedAt]),
  ])
}

const snap = (s: HistoryEntry['from']) => (s ? `${s.phase} ${pct(s.weight)}` : '(none)')

/** Primitive `data` values (e.g. the release of a start), so a line shows what the reason does not. */
function dataOf(e: HistoryEntry): string {
  const parts = Object.entries(e.data ?? {})
    .filter(([, v]) => v === null || typeof v !== 'object')
    .map(([k, v]) => `${k}=${String(v)}`)
  return parts.length ? `[${parts.join(' ')}]` : ''
}

/** One line per entry: `#seq time actor command from→to reason`. */
export function formatHistory(id: string, page: HistoryPage): string {
  if (page.entries.length === 0) return `no history for ${id}`
  const rows = page.entries.map((e) => [
    `#${e.seq}`,
    e.at,
    e.actor.kind === 'controller' ? `controller` : e.actor.name,
    e.command,
    `${snap(e.from)} → ${snap(e.to)}`,
    [e.reason ?? '', dataOf(e)].filter(Boolean).join(' '),
  ])
  let out = table(rows)
  if (page.next !== null) out += `\n… older entries: sluice history ${id} --before ${page.next}`
  return out
}

/** A rate (0 to 1) as a percentage with one decimal, `12.0 %`; a dash for none. */
const rate = (r: number | null) => (r === null ? '-' : `${(r * 100).toFixed(1)} %`)

/** An example value, quoted so an empty or space-padded value shows as such; it comes from an origin, so printable. */
const quoted = (v: string) => printable(JSON.stringify(v))

/**
 * A shadow step's diff report (`diff <id>`): a header with the verdict and the counts; per route a line; per field
 * its verdict, kind and path, the canary's differences (rate and count of the compared) and noise's (rate, and
 * count of the noise-sampled), with the example pair indented under it.
 */
export function formatDiff(r: DiffReport): string {
  const mirroring = r.shadowWeight > 0 ? `, mirroring ${pct(r.shadowWeight)} of visitors` : ''
  const span = r.since ? `; ${iso(r.since)} to ${r.until ? iso(r.until) : 'now'}` : ''
  const lines = [`${r.rolloutId}  ${r.verdict}: ${r.compared} compared, ${r.noiseSampled} noise-sampled (release ${r.release ?? 'none'}${mirroring}${span})`]
  if (r.routes.length === 0) lines.push('  no mirrored request compared yet')
  for (const route of r.routes) {
    const errors = `errors canary ${route.canaryErrors} / stable ${route.stableErrors}`
    lines.push(
      `  ${printable(route.route)}  ${route.compared} compared, ${route.noiseSampled} noise-sampled, ${route.statusMismatches} status mismatches, ${errors}`,
    )
    for (const f of route.fields) {
      const canary = `canary ${rate(f.canaryRate)} (${f.canary})`
      const noise = `noise ${rate(f.noiseRate)} (${f.noise}/${route.noiseSampled})`
      lines.push(`    ${f.verdict.padEnd(7)} ${f.kind.padEnd(7)} ${printable(f.field)}  ${canary}  ${noise}`)
      if (f.example) lines.push(`        stable ${quoted(f.example.stable)}`, `        canary ${quoted(f.example.canary)}`)
    }
  }
  return lines.join('\n')
}

/** Problem details for stderr: the title and status, the detail, then each field error. */
export function formatProblem(p: Problem, status: number): string {
  const lines = [`error: ${p.status ?? status} ${p.title ?? 'HTTP error'}`]
  const errors = p.errors ?? []
  // A 400's detail is its field errors joined; print them once, one per line.
  if (p.detail && p.detail !== errors.map((e) => `${e.field}: ${e.message}`).join('; ')) lines.push(`  ${p.detail}`)
  for (const e of errors) lines.push(`  - ${e.field}: ${e.message}`)
  return lines.join('\n')
}
