/**
 * @module
 * `node scripts/pipeline.ts <rollout> --release LABEL [--canary URL] [--timeout 45m] [--interval 10s] [--reason TEXT]`:
 * the Sluice step of a CD pipeline, and all of the GitHub Action's logic
 * (action.yml only installs and calls this). It runs the CLI's `start` (with
 * `--canary` when given), then `wait`, and exits with wait's code (`sluice
 * wait --help`): 0 promoted, 1 usage or API error, 2 rolled back, 3 a human
 * is needed, 4 timed out, 5 superseded. SLUICE_URL and SLUICE_TOKEN as for
 * the CLI. With GITHUB_OUTPUT set (GitHub Actions), it also writes the
 * outputs `code`, `outcome` and `reason` there.
 *
 * A re-run of a pipeline job must not fail on its own earlier start: a start
 * refused (409) because this very release is already under way follows that
 * release instead. An unreachable API, or a 5xx, at start is retried as wait
 * retries its polls, within the same timeout.
 */
import { randomUUID } from 'node:crypto'
import { appendFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { UsageError } from './cli/errors.ts'
import { main } from './cli/main.ts'
import { type Outcome, type WaitEvent, formatEvent, parseDuration, summaryLine } from './cli/wait.ts'

interface PipelineResult {
  code: number
  /** wait's outcome, or `usage` for a command line that never reached the API. */
  outcome: Outcome | 'usage'
  reason: string
}

interface PipelineOptions {
  rollout: string
  release: string
  canary?: string
  reason?: string
  timeoutMs: number
  interval: string
}

const USAGE = 'usage: node scripts/pipeline.ts <rollout> --release LABEL [--canary URL] [--timeout 45m] [--interval 10s] [--reason TEXT]'
const MAX_RETRY_MS = 30_000

const log = (line: string) => process.stderr.write(`${line}\n`)

/** Runs one CLI command in this process; its stdout and stderr lines are handed back. */
async function sluice(argv: string[], onOut: (line: string) => void = () => {}) {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, process.env, {
    out: (t) => {
      out.push(t)
      onOut(t)
    },
    err: (t) => err.push(t),
  })
  return { code, out, err }
}

/** The problem details `sluice … --json` prints on stderr when the API refuses (its first line). */
function problemStatus(err: string[]): number | undefined {
  try {
    return (JSON.parse(err[0] ?? '') as { status?: number }).status
  } catch {
    return undefined
  }
}

/** Starts the release; undefined once it is under way (started now, or by an earlier run of this job), else the result. */
async function start(o: PipelineOptions, deadline: number): Promise<PipelineResult | undefined> {
  const argv = ['start', o.rollout, '--release', o.release, '--json']
  if (o.canary !== undefined) argv.push('--canary', o.canary)
  if (o.reason !== undefined) argv.push('--reason', o.reason)
  for (let retryMs = 1_000; ; retryMs = Math.min(retryMs * 2, MAX_RETRY_MS)) {
    const r = await sluice(argv)
    if (r.code === 0) {
      log(`started ${o.release} on ${o.rollout}`)
      return undefined
    }
    const status = r.code === 1 ? problemStatus(r.err) : undefined
    const why = r.err.join('\n')
    if (r.code === 3 || (status !== undefined && status >= 500)) {
      const left = deadline - Date.now()
      if (left <= 0) return { code: 1, outcome: 'refused', reason: `could not start ${o.release} before the timeout: ${why}` }
      log(`${why}; retrying the start in ${retryMs / 1000} s`)
      await sleep(Math.min(retryMs, left))
      continue
    }
    if (status === 409) {
      const live = await sluice(['status', o.rollout, '--json'])
      if (live.code === 0 && (JSON.parse(live.out.join('\n')) as { release: string | null }).release === o.release) {
        log(`${o.release} is already under way on ${o.rollout} (an earlier run started it); following it`)
        return undefined
      }
    }
    return { code: 1, outcome: r.code === 2 ? 'usage' : 'refused', reason: `start refused: ${why}` }
  }
}

/** Follows the release with `sluice wait --json`, showing its events as text. */
async function follow(o: PipelineOptions, deadline: number): Promise<PipelineResult> {
  const seconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000))
  const argv = ['wait', o.rollout, '--release', o.release, '--timeout', `${seconds}s`, '--interval', o.interval, '--json']
  let result: PipelineResult | undefined
  const r = await sluice(argv, (line) => {
    const e = JSON.parse(line) as WaitEvent
    if (e.event === 'result') result = { code: e.code, outcome: e.outcome, reason: e.reason }
    else log(formatEvent(e))
  })
  // Without a result event, wait refused its command line before asking the API.
  return result ?? { code: r.code, outcome: 'usage', reason: r.err.join('\n') }
}

async function runPipeline(o: PipelineOptions): Promise<PipelineResult> {
  const deadline = Date.now() + o.timeoutMs
  return (await start(o, deadline)) ?? (await follow(o, deadline))
}

function parse(argv: string[]): PipelineOptions {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        release: { type: 'string' },
        canary: { type: 'string' },
        timeout: { type: 'string', default: '45m' },
        interval: { type: 'string', default: '10s' },
        reason: { type: 'string' },
      },
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values, positionals } = parsed
  if (positionals.length !== 1) throw new UsageError('exactly one <rollout> is needed')
  if (!values.release) throw new UsageError('missing --release LABEL')
  return {
    rollout: positionals[0]!,
    release: values.release,
    // Empty means "not given", as an unset optional input of the Action arrives.
    ...(values.canary ? { canary: values.canary } : {}),
    ...(values.reason ? { reason: values.reason } : {}),
    timeoutMs: parseDuration(values.timeout, 'timeout'),
    interval: values.interval,
  }
}

/** GitHub Actions outputs; the reason may span lines, so it is written as a heredoc with a delimiter it cannot contain. */
async function writeOutputs(file: string, r: PipelineResult) {
  const eof = `SLUICE_${randomUUID()}`
  await appendFile(file, `code=${r.code}\noutcome=${r.outcome}\nreason<<${eof}\n${r.reason}\n${eof}\n`)
}

if (import.meta.main) {
  let result: PipelineResult
  try {
    result = await runPipeline(parse(process.argv.slice(2)))
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    result = { code: 1, outcome: 'usage', reason: `${err.message}\n${USAGE}` }
  }
  process.stdout.write(`${summaryLine(result)}\n`)
  if (process.env.GITHUB_OUTPUT) await writeOutputs(process.env.GITHUB_OUTPUT, result)
  process.exitCode = result.code
}
