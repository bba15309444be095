/**
 * @module
 * The CLI's commands: their usage text, which options each takes, and what
 * each does. One table drives parsing, `--help` and dispatch, so the help
 * cannot list an option a command does not accept.
 */
import type { CommandBody } from '../../src/contract/index.ts'
import type { Json } from './config-file.ts'
import { UsageError } from './errors.ts'
import { type DiffReport, type RolloutStatus, type HistoryPage, formatDiff, formatHistory, formatList, formatStatus } from './format.ts'
import { ApiRefused, ok, request } from './http.ts'
import type { CommandDef, Context, OptionName } from './types.ts'
import { wait } from './wait.ts'

export type { CommandDef, Context, Io, OptionName, Options } from './types.ts'

/** Descriptions of every option, shown under each command that takes it. */
export const OPTION_HELP: Record<OptionName, string> = {
  url: '--url URL        the worker (env SLUICE_URL, default http://localhost:8787)',
  token: '--token TOKEN    admin API bearer token (env SLUICE_TOKEN)',
  json: "--json           print the API's JSON instead of text",
  reason: "--reason TEXT    why; recorded in the rollout's history",
  'if-match': '--if-match REV   only if the rollout is still at revision REV (else 412, exit 1)',
  release: "--release LABEL  the canary's release label (required), recorded with every metric",
  canary: '--canary URL     the origin serving this release, set in the same write as the start',
  stable: '--stable URL     the stable origin for this release, set in the same write as the start',
  limit: '--limit N        entries per page, 1-200 (default 50)',
  before: '--before SEQ     entries older than SEQ (the "--before" hint of the previous page)',
  'dry-run': '--dry-run        validate and show the diff; send nothing',
  timeout: '--timeout D      give up after D (45m, 90s, 1h or seconds; default 45m)',
  interval: '--interval D     time between polls (default 10s)',
  help: '-h, --help       this help',
}

const GLOBAL: OptionName[] = ['url', 'token', 'json', 'help']

// ---- argument helpers -------------------------------------------------------

/** The rollout id; the API checks its form (a 400 naming path.id), so the CLI needs no copy of the rule. */
function idArg(c: Context, name: string): string {
  const id = c.args[0]
  if (id === undefined) throw new UsageError(`${name}: missing <id>`, name)
  return id
}

function intOption(c: Context, name: string, option: 'limit' | 'before'): number | undefined {
  const v = c.opts[option]
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v)) throw new UsageError(`${name}: --${option} must be a whole number, not "${v}"`, name)
  return Number(v)
}

/** `If-Match` from `--if-match 7` (also `"7"`); the API compares it with the rollout's revision. */
function ifMatchHeader(c: Context, name: string): Record<string, string> {
  const v = c.opts['if-match']
  if (v === undefined) return {}
  const m = /^(?:W\/)?"?(\d{1,15})"?$/.exec(v.trim())
  if (!m) throw new UsageError(`${name}: --if-match must be a revision number such as 7, not "${v}"`, name)
  return { 'if-match': `"${m[1]}"` }
}

const path = (id: string) => `/rollouts/${encodeURIComponent(id)}`

/** `?reason=…` for PUT and DELETE, whose bodies are not commands (the API reads the reason from the query there). */
const reasonQuery = (c: Context) => (c.opts.reason !== undefined ? `?${new URLSearchParams({ reason: c.opts.reason })}` : '')

function printStatus(c: Context, s: RolloutStatus) {
  c.io.out(c.opts.json ? JSON.stringify(s, null, 2) : formatStatus(s))
}

// ---- commands ---------------------------------------------------------------

/** start, weight, pause, …: POST /rollouts/:id/:command, answering the new status. */
function stateCommand(name: string, summary: string, details: string, extra: OptionName[] = [], positional = ''): CommandDef {
  return {
    args: `<id>${positional}`,
    summary,
    details,
    options: [...extra, 'reason', 'if-match'],
    async run(c) {
      const id = idArg(c, name)
      // The contract's body (the API makes it a command with commandOf); a type only, so the CLI loads no zod for it.
      const body: Partial<CommandBody<'start'> & CommandBody<'weight'>> = {}
      if (name === 'start') {
        if (!c.opts.release) throw new UsageError('start: missing --release LABEL', name)
        body.release = c.opts.release
        // The API checks the origins (a 400 naming the field), as it does the config's.
        if (c.opts.canary !== undefined) body.canary = c.opts.canary
        if (c.opts.stable !== undefined) body.stable = c.opts.stable
      }
      if (name === 'weight') {
        const raw = c.args[1]
        if (raw === undefined) throw new UsageError('weight: missing <percent>', name)
        // "12.5" or "12.5%"; the API checks the range and the 0.01 resolution.
        if (!/^\d+(?:\.\d+)?%?$/.test(raw)) throw new UsageError(`weight: <percent> must be a number from 0 to 100, not "${raw}"`, name)
        body.weight = Number(raw.replace('%', ''))
      }
      if (c.opts.reason !== undefined) body.reason = c.opts.reason
      const headers = ifMatchHeader(c, name)
      const s = ok<RolloutStatus>(await request(c.endpoint(), 'POST', `${path(id)}/${name}`, { body, headers }))
      printStatus(c, s)
      // On stderr, so a script reading the status (or --json) still gets only that on stdout.
      for (const w of s.warnings ?? []) c.io.err(`warning: ${w}`)
    },
  }
}

export const COMMANDS: Record<string, CommandDef> = {
  status: {
    args: '[id]',
    summary: 'one rollout in detail, or all of them',
    details: 'Shows phase, weight, release, the current step with the end of its bake time, the next step,\n' + 'and the last decision of the controller.',
    options: [],
    async run(c) {
      if (c.args[0] === undefined) {
        const { rollouts } = ok<{ rollouts: RolloutStatus[] }>(await request(c.endpoint(), 'GET', '/rollouts'))
        if (c.opts.json) return c.io.out(JSON.stringify({ rollouts }, null, 2))
        return c.io.out(rollouts.length ? rollouts.map((s) => formatStatus(s)).join('\n\n') : 'no rollouts')
      }
      printStatus(c, ok<RolloutStatus>(await request(c.endpoint(), 'GET', path(idArg(c, 'status')))))
    },
  },
  list: {
    args: '',
    summary: 'one line per rollout: phase, weight, release, revision',
    options: [],
    async run(c) {
      const list = ok<{ rollouts: RolloutStatus[] }>(await request(c.endpoint(), 'GET', '/rollouts'))
      c.io.out(c.opts.json ? JSON.stringify(list, null, 2) : formatList(list.rollouts))
    },
  },
  history: {
    args: '<id>',
    summary: 'who changed what and why, newest first',
    details: 'One line per entry: #seq time actor command from → to reason.\nThe history outlives a deleted rollout.',
    options: ['limit', 'before'],
    async run(c) {
      const id = idArg(c, 'history')
      const q = new URLSearchParams()
      const limit = intOption(c, 'history', 'limit')
      const before = intOption(c, 'history', 'before')
      if (limit !== undefined) q.set('limit', String(limit))
      if (before !== undefined) q.set('before', String(before))
      const page = ok<HistoryPage>(await request(c.endpoint(), 'GET', `${path(id)}/history${q.size ? `?${q}` : ''}`))
      c.io.out(c.opts.json ? JSON.stringify(page, null, 2) : formatHistory(id, page))
    },
  },
  diff: {
    args: '<id>',
    summary: "the shadow step's diff report: what the canary answers differently from stable",
    details: [
      'Per route: requests compared, those stable was asked twice for (noise-sampled), status mismatches and errors.',
      "Per field: the judge's verdict (differs, noise, pending, ignored), how it differs, its path, the share of",
      "compared requests where the canary's answer differed there, the share of noise-sampled ones where stable's two",
      'answers did, and one example pair, each value cut to 200 characters.',
    ].join('\n'),
    options: [],
    async run(c) {
      const report = ok<DiffReport>(await request(c.endpoint(), 'GET', `${path(idArg(c, 'diff'))}/diff`))
      c.io.out(c.opts.json ? JSON.stringify(report, null, 2) : formatDiff(report))
    },
  },
  start: stateCommand(
    'start',
    'start a release on the first step of the schedule',
    'Allowed when idle or rolled back. With --canary and --stable, the origins change with the start, in one write:\n' +
      'the release never runs against the previous canary. Warns (on stderr) when the traffic of the last hour\n' +
      'would keep the release from reaching 100 % within a day, naming the step and requirement that hold it back.',
    ['release', 'canary', 'stable'],
  ),
  weight: stateCommand(
    'weight',
    'set the canary weight by hand (pauses the controller)',
    'Percent from 0 to 100 in steps of 0.01, e.g. 12.5. The rollout is paused; `resume` hands it back to the controller.',
    [],
    ' <percent>',
  ),
  pause: stateCommand('pause', 'hold the current weight; the controller stops advancing', 'Allowed while progressing or awaiting approval.'),
  resume: stateCommand(
    'resume',
    'hand a paused rollout back to the controller',
    'Continues from the highest step at or below the current weight; its bake time starts over.',
  ),
  approve: stateCommand('approve', 'let a rollout awaiting approval enter its gated step', 'Allowed only while awaiting approval.'),
  promote: stateCommand('promote', 'send all traffic (100 %) to the canary now', 'Allowed while progressing, paused or awaiting approval.'),
  rollback: stateCommand('rollback', 'send no traffic (0 %) to the canary now', 'Allowed in any active phase; rolling back twice is harmless.'),
  complete: stateCommand(
    'complete',
    'finish a promoted release: the canary becomes the new stable',
    'Swaps the stable and canary origins and returns to idle.',
  ),
  apply: {
    args: '<file.json>',
    summary: 'validate a rollout config locally, show the diff, and write it',
    details: [
      "Validates the file with the worker's own schema first; on an error it prints each invalid",
      'field and exits 2 without calling the API. "//field" keys are comments and "$schema" is',
      'ignored; any other unknown field is an error. Secrets are write-only: the live config shows',
      '"secret": "set", and a file saying "set" keeps the live secret.',
      'Then shows a per-field diff against the live config ("no changes" when equal) and PUTs it',
      'with If-Match of the live revision, so a change made meanwhile fails with 412 instead of',
      'being overwritten. A new rollout is created with If-None-Match: *.',
      '',
      'Example: sluice apply config/example.rollout.json --dry-run',
    ].join('\n'),
    options: ['dry-run', 'reason', 'if-match'],
    async run(c) {
      const file = c.args[0]
      if (file === undefined) throw new UsageError('apply: missing <file.json>', 'apply')
      const ifMatch = ifMatchHeader(c, 'apply')
      // Loaded here: zod and the schema cost more startup time than every other command needs.
      const { diff, formatChanges, loadConfig } = await import('./config-file.ts')
      const { id, spec } = await loadConfig(file)
      const liveReply = await request(c.endpoint(), 'GET', path(id))
      const live = liveReply.status === 404 ? null : ok<RolloutStatus>(liveReply)
      const changes = diff(live?.spec as Json | undefined, spec)
      // With --json, stdout carries only JSON; the diff goes to stderr for whoever watches.
      const say = c.opts.json ? c.io.err : c.io.out
      say(live ? `${id}: live revision ${live.revision} → ${file}` : `${id}: new rollout, from ${file}`)
      if (live && changes.length === 0) {
        say('no changes')
        if (c.opts.json) c.io.out(JSON.stringify(live, null, 2))
        return
      }
      say(formatChanges(changes))
      // `complete` swaps the live origins; re-applying the file as it was would send everyone back to the old release.
      const swapsOrigins = live && live.spec.stable !== live.spec.canary && live.spec.stable === spec.canary && live.spec.canary === spec.stable
      if (swapsOrigins) {
        c.io.err(
          'warning: this swaps stable and canary; `complete` swapped the live ones when the canary was promoted.\n' +
            'Swap them in the file too, unless you mean to send all traffic back to the old release.',
        )
      }
      if (c.opts['dry-run']) {
        say('dry run: nothing sent')
        if (c.opts.json) c.io.out(JSON.stringify({ id, create: !live, revision: live?.revision ?? null, changes }, null, 2))
        return
      }
      // The revision the diff was computed against; --if-match pins an older one the operator reviewed.
      const precondition = live ? { 'if-match': `"${live.revision}"`, ...ifMatch } : { 'if-none-match': '*', ...ifMatch }
      const reply = await request(c.endpoint(), 'PUT', `${path(id)}${reasonQuery(c)}`, { body: spec, headers: precondition })
      if (reply.status === 412 && c.opts['if-match'] === undefined) {
        const hint = `${id} changed after this diff was computed (someone else wrote it); run apply again to review the new diff`
        throw new ApiRefused(reply, hint)
      }
      const s = ok<RolloutStatus>(reply)
      if (c.opts.json) return c.io.out(JSON.stringify(s, null, 2))
      c.io.out(reply.status === 201 ? `created ${id} (revision ${s.revision})` : `updated ${id} to revision ${s.revision}`)
    },
  },
  delete: {
    args: '<id>',
    summary: 'remove a rollout (its history stays)',
    details: 'The edge stops routing its traffic at the next config refresh.',
    options: ['reason', 'if-match'],
    async run(c) {
      const id = idArg(c, 'delete')
      ok(await request(c.endpoint(), 'DELETE', `${path(id)}${reasonQuery(c)}`, { headers: ifMatchHeader(c, 'delete') }))
      c.io.out(c.opts.json ? JSON.stringify({ id, deleted: true }) : `deleted ${id}`)
    },
  },
  wait,
}

export const EXIT_CODES = `Exit codes:
  0  ok
  1  the API refused (4xx/5xx); its problem details are printed to stderr
  2  usage error: unknown command or option, missing or malformed argument, or a config file
     that fails local validation; nothing was sent
  3  cannot reach the API (connection refused, DNS failure, timeout)`

export function usageLine(name: string, def: CommandDef = COMMANDS[name]!): string {
  const flags = def.flags ?? (def.options.includes('release') ? '--release LABEL' : '')
  return `sluice ${name}${def.args ? ` ${def.args}` : ''}${flags ? ` ${flags}` : ''}`
}

export function mainHelp(): string {
  const rows = Object.entries(COMMANDS).map(([name, def]) => [usageLine(name, def).slice('sluice '.length), def.summary])
  const width = Math.max(...rows.map(([u]) => u!.length))
  return [
    'Usage: sluice <command> [arguments] [options]      (npm run sluice -- <command> …)',
    '',
    "Drives Sluice rollouts through the worker's admin API (/__sluice/api/).",
    '',
    'Commands:',
    ...rows.map(([u, s]) => `  ${u!.padEnd(width)}  ${s}`),
    '',
    "Options (each command's --help lists the ones it takes):",
    ...(['url', 'token', 'json', 'reason', 'if-match', 'help'] as const).map((o) => `  ${OPTION_HELP[o]}`),
    '',
    EXIT_CODES,
    '`wait` has exit codes of its own, for pipelines (0 promoted, 2 rolled back, 3 paused, 4 timed out,',
    '5 superseded, 1 usage or API error): see `sluice wait --help`.',
  ].join('\n')
}

export function commandHelp(name: string): string {
  const def = COMMANDS[name]!
  return [
    `Usage: ${usageLine(name, def)} [options]`,
    '',
    `${def.summary[0]!.toUpperCase()}${def.summary.slice(1)}.`,
    ...(def.details ? [def.details] : []),
    '',
    'Options:',
    ...[...def.options, ...GLOBAL].map((o) => `  ${def.optionHelp?.[o] ?? OPTION_HELP[o]}`),
    '',
    def.exits?.table ?? EXIT_CODES,
  ].join('\n')
}
