/**
 * @module
 * The CLI proper (entry: scripts/sluice.ts): parses the command line, runs one
 * command (commands.ts) and turns the outcome into an exit code: 0 ok, 1 the
 * API refused, 2 usage error, 3 the API is unreachable. `wait` returns codes
 * of its own, for pipelines (wait.ts).
 */
import { parseArgs } from 'node:util'
import { COMMANDS, type Context, type Io, type OptionName, type Options, commandHelp, mainHelp, usageLine } from './commands.ts'
import { InvalidConfig, UsageError } from './errors.ts'
import { formatProblem } from './format.ts'
import { ApiRefused, type Endpoint, Unreachable, problemOf } from './http.ts'

const DEFAULT_URL = 'http://localhost:8787'

// Own properties only: `sluice toString` is an unknown command, not Object.prototype's.
const commandOf = (name: string | undefined) => (name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined)

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  reason: { type: 'string' },
  'if-match': { type: 'string' },
  release: { type: 'string' },
  canary: { type: 'string' },
  stable: { type: 'string' },
  limit: { type: 'string' },
  before: { type: 'string' },
  'dry-run': { type: 'boolean' },
  timeout: { type: 'string' },
  interval: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

/** The worker's base URL: flag, then env, then the `wrangler dev` default; a trailing `/__sluice/api` is tolerated. */
function endpointOf(opts: Options, env: NodeJS.ProcessEnv): Endpoint {
  const raw = opts.url ?? (env.SLUICE_URL || DEFAULT_URL)
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new UsageError(`invalid URL "${raw}" (from ${opts.url ? '--url' : 'SLUICE_URL'})`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`the URL must be http or https, not "${raw}"`)
  const base = `${url.origin}${url.pathname}`.replace(/\/+$/, '').replace(/\/__sluice\/api$/, '')
  const token = (opts.token ?? env.SLUICE_TOKEN ?? '').trim()
  if (!token) throw new UsageError('no API token: set SLUICE_TOKEN or pass --token')
  return { url: base, token }
}

/** Runs one command line; returns the exit code. */
export async function main(argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  let command: string | undefined
  let json = false
  try {
    let parsed: { values: Options; positionals: string[] }
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true }) as typeof parsed
    } catch (err) {
      throw new UsageError(
        (err as Error).message.replace(/\. To specify a positional.*$/s, ''),
        argv.find((a) => commandOf(a)),
      )
    }
    const { values: opts, positionals } = parsed
    json = opts.json === true
    // `sluice help [command]` is `sluice [command] --help`.
    if (positionals[0] === 'help') {
      positionals.shift()
      opts.help = true
    }
    const [name, ...args] = positionals
    if (name === undefined && opts.help) {
      io.out(mainHelp())
      return 0
    }
    if (name === undefined) throw new UsageError('missing command')
    const def = commandOf(name)
    if (!def) throw new UsageError(`unknown command "${name}"`)
    command = name
    if (opts.help) {
      io.out(commandHelp(name))
      return 0
    }
    const allowed = new Set<OptionName>([...def.options, 'url', 'token', 'json', 'help'])
    for (const key of Object.keys(opts) as OptionName[]) {
      if (!allowed.has(key)) throw new UsageError(`${name} does not take --${key}`, name)
    }
    const maxArgs = def.args.split(' ').filter(Boolean).length
    if (args.length > maxArgs) throw new UsageError(`${name}: unexpected argument "${args[maxArgs]}"`, name)
    let endpoint: Endpoint | undefined
    const ctx: Context = { endpoint: () => (endpoint ??= endpointOf(opts, env)), args, opts, io }
    const code = await def.run(ctx)
    // Only a number is an exit code: commands end with `return c.io.out(…)`, typed void, a write's boolean at run time.
    return typeof code === 'number' ? code : 0
  } catch (err) {
    if (err instanceof UsageError) {
      const which = err.command ?? command
      const how = which ? `usage: ${usageLine(which)} [options]; see \`sluice ${which} --help\`` : 'Run `sluice --help` for the commands.'
      io.err(`sluice: ${err.message}\n${how}`)
      // wait's 2 means "rolled back", so its usage errors take its own code.
      return commandOf(which)?.exits?.usage ?? 2
    }
    if (err instanceof InvalidConfig) {
      io.err([`sluice: ${err.message}; nothing was sent`, ...err.errors.map((e) => `  - ${e.field}: ${e.message}`)].join('\n'))
      return 2
    }
    if (err instanceof ApiRefused) {
      const p = problemOf(err.reply)
      io.err(json ? JSON.stringify(p) : formatProblem(p, err.reply.status))
      if (err.hint) io.err(`hint: ${err.hint}`)
      else if (err.reply.status === 401 && !json) io.err('hint: check SLUICE_TOKEN (or --token)')
      return 1
    }
    if (err instanceof Unreachable) {
      io.err(`sluice: ${err.message}`)
      return 3
    }
    throw err
  }
}
