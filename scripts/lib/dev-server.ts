/**
 * @module
 * Runs Sluice's two workers under one `wrangler dev --local` on a loopback
 * port (the edge worker serves it; the control worker sits behind its CONTROL
 * binding), for `npm start` and for Node-side tests and benchmarks that need
 * real workers (admin API, Durable Object, KV) rather than mocks.
 *
 *   const dev = await startDev({ vars: { SLUICE_ADMIN_TOKEN: '…' } })
 *   try { await fetch(`${dev.url}/__sluice/healthz`) } finally { await dev.stop() }
 *
 * Wrangler is spawned detached, in its own process group, because it forks
 * esbuild and two workerd processes; `stop()` signals the whole group so none
 * of them outlives the test, even when the test fails. A `DevServer` is a
 * supervisable `Run` (scripts/lib/supervise.ts): `npm start` restarts a
 * wrangler that died, on the same port and state directory.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { experimental_readRawConfig } from 'wrangler'
import { type Exit, type Run, exitOf, terminate } from './supervise.ts'
import { ROOT, WRANGLER } from './wrangler.ts'

export interface DevOptions {
  /** Port to listen on; default: a free one (retried if another process grabs it first). */
  port?: number
  /**
   * `[vars]` overrides for both workers (e.g. SLUICE_ADMIN_TOKEN, STABLE_ORIGIN). `--var` reaches only the first
   * worker of a multi-worker `wrangler dev`, so the control worker gets them from a `.dev.vars` beside a temporary
   * copy of its config.
   */
  vars?: Record<string, string>
  /**
   * Settings for the control worker alone (SLUICE_ADMIN_TOKEN, SLUICE_TOKENS, AE_API_TOKEN…): only in its `.dev.vars`,
   * never on wrangler's command line, where any local user could read them with `ps`.
   */
  secrets?: Record<string, string>
  /** Directory for local KV/Durable Object state; default: a fresh temp dir, removed on stop. */
  persistTo?: string
  /** How long to wait for `GET /__sluice/healthz`; default 60 s. */
  timeoutMs?: number
  /** Extra `wrangler dev` flags, e.g. `--test-scheduled`. */
  args?: string[]
}

export interface DevServer extends Run {
  /** Base URL of the worker, e.g. `http://127.0.0.1:41234`. */
  url: string
  port: number
  /** Wrangler's pid, which is also its process group's id. */
  pid: number
  /** Settles when wrangler itself has exited (`stop()` ends the rest of its group). */
  exited: Promise<Exit>
  /** What wrangler printed so far (the last 64 KiB), for diagnosing a failure. */
  output(): string
  /** Kills wrangler and its children; removes the temp config copy and state dir. Safe to call twice. */
  stop(): Promise<void>
}

const BIN = join(ROOT, 'node_modules', '.bin')
// Wrangler needs Node 22+ (and running .ts needs 23.6+); the system node may be older, so prefer the project's pinned node.
export const NODE = existsSync(join(BIN, 'node')) ? join(BIN, 'node') : process.execPath
const OUTPUT_LIMIT = 64 * 1024
const STOP_GRACE_MS = 5_000

/** Process groups still running, with the temp dirs each owns; cleaned up on exit so a crashed run leaves no workerd behind. */
const live = new Map<number, string[]>()
process.once('exit', () => {
  for (const [pgid, dirs] of live) {
    signalGroup(pgid, 'SIGKILL')
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
})

/** A value for a `.dev.vars` line: quoted with a character it does not contain, because dotenv does not unescape. */
function dotenvQuoted(key: string, value: string): string {
  const quote = ["'", '`', '"'].find((q) => !value.includes(q))
  if (quote === undefined || /[\r\n]/.test(value)) throw new Error(`the value of ${key} cannot be written to .dev.vars as it is`)
  return `${quote}${value}${quote}`
}

/**
 * wrangler.control.toml as JSON in `dir`, its `main` made absolute. Wrangler reads secrets from a `.dev.vars` beside
 * the config, so one goes there too: the project's own `.dev.vars` (or `.env`), then `vars`, which win (for a key
 * given twice, the last line counts).
 */
async function controlConfig(dir: string, vars: Record<string, string>): Promise<string> {
  const { rawConfig } = experimental_readRawConfig({ config: join(ROOT, 'wrangler.control.toml') })
  const { env: _environments, ...config } = rawConfig
  const path = join(dir, 'wrangler.control.json')
  await writeFile(path, JSON.stringify({ ...config, main: join(ROOT, String(config.main)) }, null, 2))
  const own = await readFile(join(ROOT, '.dev.vars'), 'utf8').catch(() => readFile(join(ROOT, '.env'), 'utf8').catch(() => ''))
  const given = Object.entries(vars).map(([k, v]) => `${k}=${dotenvQuoted(k, v)}`)
  await writeFile(join(dir, '.dev.vars'), `${own}\n${given.join('\n')}\n`)
  return path
}

function signalGroup(pgid: number, signal: NodeJS.Signals) {
  try {
    process.kill(-pgid, signal)
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** A port nothing listens on right now (the OS picks it; wrangler binds it a moment later). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

export async function startDev(opts: DevOptions = {}): Promise<DevServer> {
  const persistTo = opts.persistTo ?? (await mkdtemp(join(tmpdir(), 'sluice-dev-')))
  const owned = opts.persistTo === undefined
  // Only a port we picked ourselves can be swapped for another when the race for it is lost.
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(opts.port ?? (await freePort()), persistTo, owned, opts)
    } catch (err) {
      const lostRace = err instanceof Error && /address already in use/i.test(err.message)
      if (opts.port === undefined && lostRace && attempt < 3) continue
      if (owned) await rm(persistTo, { recursive: true, force: true })
      throw err
    }
  }
}

async function launch(port: number, persistTo: string, owned: boolean, opts: DevOptions): Promise<DevServer> {
  const vars = Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ['--var', `${k}:${v}`])
  const configDir = await mkdtemp(join(tmpdir(), 'sluice-dev-config-'))
  const dropConfig = () => rm(configDir, { recursive: true, force: true })
  const temps = owned ? [configDir, persistTo] : [configDir]
  const control = await controlConfig(configDir, { ...opts.vars, ...opts.secrets }).catch(async (err: unknown) => {
    await dropConfig()
    throw err
  })
  const args = [
    // The edge worker first: it is the one served on the port; the control worker behind its CONTROL binding.
    WRANGLER,
    'dev',
    '-c',
    'wrangler.toml',
    '-c',
    control,
    '--local',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    // Port 0: a random inspector port, so parallel dev servers do not fight over 9229.
    '--inspector-port',
    '0',
    '--persist-to',
    persistTo,
    '--show-interactive-dev-session=false',
    ...(opts.args ?? []),
    ...vars,
  ]
  let output = ''
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-OUTPUT_LIMIT)
  }
  const child = spawn(NODE, args, {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: 'false',
      FORCE_COLOR: '0',
      NO_COLOR: '1',
      PATH: `${BIN}${delimiter}${process.env.PATH ?? ''}`,
    },
  })
  child.once('error', (err) => collect(Buffer.from(`${err}\n`)))
  // No pid: the node binary could not be spawned at all (the 'error' above follows; nothing to clean up).
  if (child.pid === undefined) {
    await dropConfig()
    throw new Error(`cannot run ${NODE} ${WRANGLER}`)
  }
  const pgid = child.pid
  live.set(pgid, temps)
  // Always drain both pipes: a full pipe would block wrangler.
  child.stdout!.on('data', collect)
  child.stderr!.on('data', collect)
  const exited = exitOf(child)

  let stopping: Promise<void> | undefined
  const stop = () =>
    (stopping ??= (async () => {
      await terminate((signal) => signalGroup(pgid, signal), exited, STOP_GRACE_MS)
      live.delete(pgid)
      await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })))
    })())

  const url = `http://127.0.0.1:${port}`
  const timeoutMs = opts.timeoutMs ?? 60_000
  const deadline = Date.now() + timeoutMs
  let lastError = 'no answer yet'
  for (;;) {
    if (hasExited(child)) {
      live.delete(pgid)
      signalGroup(pgid, 'SIGKILL')
      // The state dir, if ours, goes in startDev (which may retry with it); the config copy is this launch's.
      await dropConfig()
      throw new Error(`wrangler dev exited (${child.exitCode ?? child.signalCode}) before ${url} was healthy:\n${output}`)
    }
    try {
      const res = await fetch(`${url}/__sluice/healthz`, { signal: AbortSignal.timeout(2_000) })
      const body = (await res.json().catch(() => null)) as { ok?: unknown } | null
      if (res.ok && body?.ok === true) break
      lastError = `healthz answered ${res.status}`
    } catch (err) {
      lastError = String((err as Error & { cause?: unknown }).cause ?? err)
    }
    if (Date.now() > deadline) {
      await stop()
      // "Address already in use" in the output lets startDev retry on another port.
      throw new Error(`wrangler dev did not answer GET ${url}/__sluice/healthz within ${timeoutMs} ms (${lastError}). Output:\n${output}`)
    }
    await sleep(200)
  }
  return { url, port, pid: pgid, exited, output: () => output, stop }
}
