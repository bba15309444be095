/**
 * @module
 * `npm run simulate`: the real controller and judge, ticked once a simulated
 * minute against synthetic traffic, over many seeds (see bench/SIMULATION.md).
 *
 *   node bench/simulate.ts <scenario.json> [--seeds N] [--first-seed S] [--judge sluice|threshold] [--json] [--override JSON]
 *   node bench/simulate.ts --compare [--seeds N] [--first-seed S] [--dir bench/scenarios] [--override JSON]
 *   node bench/simulate.ts --schema [--check]
 *
 * Default output: one line per seed, then a summary. `--json`: only the
 * summary, as one JSON object. `--compare`: every scenario in the directory
 * with both judges, as one markdown table. `--schema` writes
 * bench/scenario.schema.json from the zod schema (`--check`: fail if stale).
 * `--override '{"judge":{"alpha":0.05}}'` merges JSON into every scenario
 * before validation, to try a different default without editing any file.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ScenarioError, loadScenario, scenarioJsonSchema } from './sim/scenario.ts'
import { JUDGES, type JudgeKind, prepare, simulateSeeds } from './sim/run.ts'
import { type TableRow, seedLine, summarize, summaryLines, table } from './sim/summary.ts'

const HERE = fileURLToPath(new URL('.', import.meta.url))
const SCHEMA_FILE = join(HERE, 'scenario.schema.json')
const USAGE = `usage: node bench/simulate.ts <scenario.json> [--seeds N] [--first-seed S] [--judge sluice|threshold] [--json] [--override JSON]
       node bench/simulate.ts --compare [--seeds N] [--first-seed S] [--dir DIR] [--override JSON]
       node bench/simulate.ts --schema [--check]`

class UsageError extends Error {}

function positiveInt(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(v)}`)
  return n
}

async function main(argv: string[]): Promise<number> {
  const { values: flags, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      seeds: { type: 'string' },
      'first-seed': { type: 'string' },
      judge: { type: 'string', default: 'sluice' },
      json: { type: 'boolean', default: false },
      compare: { type: 'boolean', default: false },
      dir: { type: 'string', default: join(HERE, 'scenarios') },
      schema: { type: 'boolean', default: false },
      check: { type: 'boolean', default: false },
      override: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (flags.help) {
    console.log(USAGE)
    return 0
  }
  if (flags.schema) return schema(flags.check)

  const count = positiveInt(flags.seeds, 'seeds', 200)
  const first = positiveInt(flags['first-seed'], 'first-seed', 1)
  const seeds = Array.from({ length: count }, (_, i) => first + i)
  let override: unknown
  if (flags.override !== undefined) {
    try {
      override = JSON.parse(flags.override)
    } catch (err) {
      throw new UsageError(`--override is not JSON: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  if (flags.compare) return compare(flags.dir, seeds, override)

  if (positionals.length !== 1) throw new UsageError('give exactly one scenario file')
  const judgeKind = flags.judge as JudgeKind
  if (!JUDGES.includes(judgeKind)) throw new UsageError(`--judge must be one of ${JUDGES.join(', ')}, got ${JSON.stringify(flags.judge)}`)
  const file = positionals[0]!
  const scenario = await loadScenario(file, override)
  const results = simulateSeeds(prepare(scenario), seeds, judgeKind)
  const summary = summarize(results)
  if (flags.json) {
    console.log(JSON.stringify(summary))
    return 0
  }
  for (const r of results) console.log(seedLine(r))
  console.log('')
  for (const line of summaryLines(scenario, basename(file), judgeKind, results, summary)) console.log(line)
  return 0
}

async function schema(check: boolean): Promise<number> {
  const text = scenarioJsonSchema()
  if (check) {
    const current = await readFile(SCHEMA_FILE, 'utf8').catch(() => '')
    if (current === text) return 0
    console.error('bench/scenario.schema.json is stale: run `node bench/simulate.ts --schema`.')
    return 1
  }
  await writeFile(SCHEMA_FILE, text)
  console.log(`wrote ${SCHEMA_FILE}`)
  return 0
}

async function compare(dir: string, seeds: number[], override: unknown): Promise<number> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()
  if (files.length === 0) throw new UsageError(`no scenario files in ${dir}`)
  const rows: TableRow[] = []
  for (const f of files) {
    const scenario = await loadScenario(join(dir, f), override)
    const p = prepare(scenario)
    for (const judgeKind of JUDGES) {
      const started = performance.now()
      const summary = summarize(simulateSeeds(p, seeds, judgeKind))
      const seconds = ((performance.now() - started) / 1000).toFixed(1)
      console.error(`${f} × ${judgeKind}: ${seeds.length} seeds in ${seconds} s`)
      rows.push({ scenario: f.replace(/\.json$/, ''), expect: scenario.expect ?? '-', judge: judgeKind, summary })
    }
  }
  console.log(table(rows))
  return 0
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  if (err instanceof UsageError) {
    console.error(`${err.message}\n${USAGE}`)
    process.exitCode = 2
  } else if (err instanceof ScenarioError) {
    console.error(err.message)
    process.exitCode = 1
  } else if (err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')) {
    console.error(`${err.message}\n${USAGE}`)
    process.exitCode = 2
  } else {
    throw err
  }
}
