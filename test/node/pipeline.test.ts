/**
 * @module
 * Sluice as a CD pipeline's step: scripts/pipeline.ts (all of the GitHub
 * Action's logic; one case runs action.yml's own shell step) and `sluice
 * wait` (through bin/sluice.js, as `npx sluice` runs it), each a child
 * process against the `npm start` stack: real origins, a real wrangler,
 * controller ticks, visitors from the traffic generator. One stack for the
 * file. Rollouts that need no verdict from traffic match a host no visitor
 * sends, so only `demo` sees traffic; a loopback proxy in front of the stack
 * plays the outages (connections refused, then the edge's 503 while the
 * control worker is away) and holds requests where a test must order events.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type Stack, startStack } from '../../scripts/lib/stack.ts'
import { runTraffic } from '../../scripts/traffic.ts'
import { FAST_ROLLOUT, api } from '../e2e/support.ts'
import { ADMIN_TOKEN } from '../support/tokens.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const NODE = join(ROOT, 'node_modules', '.bin', 'node')

vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 })

let s: Stack
let tmp: string

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'sluice-pipeline-'))
  s = await startStack({ port: 0, token: ADMIN_TOKEN, tickSeconds: 2, rollout: FAST_ROLLOUT, log: () => {} })
})

afterAll(async () => {
  await s?.stop()
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

// ---- processes -------------------------------------------------------------------

interface Proc {
  child: ChildProcess
  stdout: string
  stderr: string
  /** Resolves with the exit code and the GitHub Actions outputs the run wrote. */
  done: Promise<{ code: number | null; outputs: Record<string, string> }>
}

let runs = 0

/** Spawns `command` in the repository with SLUICE_URL (default: the stack), SLUICE_TOKEN and a fresh GITHUB_OUTPUT. */
function run(command: string, args: string[], env: Record<string, string> = {}): Proc {
  const outputFile = join(tmp, `outputs-${++runs}`)
  const child = spawn(command, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmp,
      NODE_COMPILE_CACHE: join(tmp, 'compile-cache'),
      SLUICE_URL: s.url,
      SLUICE_TOKEN: ADMIN_TOKEN,
      GITHUB_OUTPUT: outputFile,
      ...env,
    },
  })
  const p: Proc = {
    child,
    stdout: '',
    stderr: '',
    done: new Promise((resolve) => {
      child.on('close', async (code) => resolve({ code, outputs: await readOutputs(outputFile) }))
    }),
  }
  child.stdout!.on('data', (d: Buffer) => (p.stdout += d))
  child.stderr!.on('data', (d: Buffer) => (p.stderr += d))
  return p
}

/** `name=value` lines and `name<<DELIM … DELIM` blocks, as GitHub Actions reads them. */
async function readOutputs(file: string): Promise<Record<string, string>> {
  const text = await readFile(file, 'utf8').catch(() => '')
  const out: Record<string, string> = {}
  for (const m of text.matchAll(/^(\w+)(?:=(.*)|<<(\S+)\n([\s\S]*?)\n\3)$/gm)) out[m[1]!] = m[2] ?? m[4]!
  return out
}

const pipeline = (args: string[], env?: Record<string, string>) => run(NODE, [join(ROOT, 'scripts', 'pipeline.ts'), ...args], env)

/** `npx sluice wait …`'s launcher, made to take its re-exec path (as on a system Node older than 22). */
const wait = (args: string[], env?: Record<string, string>) =>
  run(process.execPath, ['--no-experimental-strip-types', join(ROOT, 'bin', 'sluice.js'), 'wait', ...args], env)

/** action.yml's shell step, run as the runner runs it: bash in the action's directory, inputs in the environment. */
async function actionStep(inputs: Record<string, string>): Promise<Proc> {
  const yml = await readFile(join(ROOT, 'action.yml'), 'utf8')
  const m = /id: sluice\n[\s\S]*?\n( +)run: \|\n((?:\1 {2}.*\n)+)/.exec(yml)
  expect(m, 'the sluice step of action.yml').not.toBeNull()
  const script = m![2]!.replace(new RegExp(`^${m![1]}  `, 'gm'), '')
  return run('bash', ['-eo', 'pipefail', '-c', script], { SLUICE_CANARY: '', SLUICE_TIMEOUT: '45m', SLUICE_INTERVAL: '1s', SLUICE_FAIL: 'true', ...inputs })
}

/** Polls `check` (which throws until it holds); every wait in this file is bounded. */
const eventually = <T>(check: () => T | Promise<T>, timeout = 30_000) => vi.waitFor(check, { timeout, interval: 100 })

/** Visitors on the stack for as long as `fn` runs, like `npm run traffic`. */
async function underTraffic<T>(fn: () => Promise<T>): Promise<T> {
  const stop = new AbortController()
  const traffic = runTraffic({ url: s.url, rps: 40, durationS: 120, visitors: 300, cookieless: 0.2, rollout: 'demo', signal: stop.signal })
  try {
    return await fn()
  } finally {
    stop.abort()
    await traffic
  }
}

let quiet = 0

/** A rollout no visitor reaches, so that only operators decide it; its first step bakes a minute. */
async function quietRollout(): Promise<string> {
  const id = `quiet-${++quiet}`
  await api(
    s,
    `/rollouts/${id}`,
    {
      id,
      stable: s.stable.url,
      canary: s.canary.url,
      match: { host: 'quiet.invalid' },
      schedule: [{ weight: 10, bakeMinutes: 1, minRequests: 50 }, { weight: 100 }],
      analysis: { lagMinutes: 0, windowSeconds: 5, noDataPauseMinutes: 60 },
    },
    'PUT',
  )
  return id
}

// ---- a proxy that can fail -------------------------------------------------------

/**
 * A loopback proxy in front of the stack: `up` forwards, `503` answers as the
 * edge does while the control worker is away, `hold` keeps requests waiting
 * until `release()`, and `down()` closes the port (connections refused).
 */
async function proxy() {
  const p = {
    mode: 'up' as 'up' | '503' | 'hold',
    seen: [] as string[],
    served503: 0,
    held: [] as (() => void)[],
    url: '',
    release() {
      p.mode = 'up'
      for (const go of p.held.splice(0)) go()
    },
    down: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
    up: () => new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)),
  }
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    p.seen.push(`${req.method} ${req.url}`)
    if (p.mode === '503') {
      p.served503++
      res.writeHead(503, { 'content-type': 'application/problem+json' })
      return res.end(JSON.stringify({ status: 503, title: 'Service Unavailable', detail: 'the control plane is unavailable' }))
    }
    if (p.mode === 'hold') await new Promise<void>((go) => p.held.push(go))
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k))) as Record<
      string,
      string
    >
    const body = Buffer.concat(chunks)
    const up = await fetch(`${s.url}${req.url}`, { method: req.method!, headers, ...(body.length ? { body } : {}) })
    res.writeHead(up.status, Object.fromEntries([...up.headers].filter(([k]) => !['content-encoding', 'content-length', 'transfer-encoding'].includes(k))))
    res.end(Buffer.from(await up.arrayBuffer()))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  p.url = `http://127.0.0.1:${port}`
  return p
}

const statusGets = (seen: string[], id: string) => seen.filter((r) => r === `GET /__sluice/api/rollouts/${id}`).length

// ---- tests -----------------------------------------------------------------------

describe('the pipeline step against a real rollout', () => {
  it('promotes a healthy canary: action.yml\'s step exits 0 with outcome "promoted" and the reason in the history', async () => {
    // The release brings its own canary origin (here the demo canary's, as another address of it), set with the start.
    const canary = s.canary.url.replace('127.0.0.1', 'localhost')
    const step = await actionStep({
      SLUICE_ROLLOUT: 'demo',
      SLUICE_RELEASE: 'v2-good',
      SLUICE_REASON: 'deploy workflow run 7 (abc1234)',
      SLUICE_CANARY: canary,
    })
    const { code, outputs } = await underTraffic(() => step.done)
    expect(code, step.stderr).toBe(0)
    expect(outputs).toMatchObject({ code: '0', outcome: 'promoted' })
    expect(outputs.reason).toContain('v2-good is promoted')
    expect(step.stdout).toMatch(/^promoted \(exit 0\): v2-good is promoted/m)
    // One line per change, with step k/n and the canary requests counted against the step's minimum.
    expect(step.stderr).toContain('started v2-good on demo')
    expect(step.stderr).toMatch(/^\d\d:\d\d:\d\d demo v2-good: progressing at 20%, step 1\/3, baked, canary requests \d+\/60; /m)
    expect(step.stderr).toMatch(/demo v2-good: promoted at 100%, step 3\/3/)
    const lines = step.stderr.split('\n').filter((l) => / demo v2-good: /.test(l))
    expect(new Set(lines).size).toBe(lines.length)
    const history = await api<{ entries: { command: string; reason?: string; data?: { canary?: string } }[] }>(s, '/rollouts/demo/history?limit=20')
    const start = history.entries.find((e) => e.command === 'start')
    expect(start?.reason).toBe('deploy workflow run 7 (abc1234)')
    expect(start?.data?.canary).toBe(canary)
    expect((await api<{ spec: { canary: string } }>(s, '/rollouts/demo')).spec.canary).toBe(canary)
    await api(s, '/rollouts/demo/rollback', { reason: 'make room for the next test' })
  })

  it('exits 2 ("rolled-back") when the controller rolls a bad canary back, well within the timeout', async () => {
    await s.canary.configure({ errorRate: 0.3 })
    try {
      const started = Date.now()
      const p = pipeline(['demo', '--release', 'v2-bad', '--timeout', '100s', '--interval', '1s'])
      const { code, outputs } = await underTraffic(() => p.done)
      expect(code, p.stderr).toBe(2)
      expect(outputs).toMatchObject({ code: '2', outcome: 'rolled-back' })
      expect(outputs.reason).toMatch(/^the controller rolled v2-bad back: \S/)
      expect(Date.now() - started).toBeLessThan(100_000)
    } finally {
      await s.canary.configure({ errorRate: 0 })
    }
  })

  it('exits 4 ("timeout") when --timeout passes first, showing the bake time left', async () => {
    const id = await quietRollout()
    const started = Date.now()
    const p = pipeline([id, '--release', 'v3', '--timeout', '4s', '--interval', '1s'])
    const { code, outputs } = await p.done
    expect(code, p.stderr).toBe(4)
    expect(outputs).toMatchObject({ code: '4', outcome: 'timeout' })
    expect(outputs.reason).toMatch(/^v3 was not decided within [34] s \(progressing at 10 %\); the rollout goes on$/)
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_000)
    // "in 59s", "in 1m" or "in 1m 2s": the first look may fall on either side of a whole minute.
    expect(p.stderr).toMatch(new RegExp(`${id} v3: progressing at 10%, step 1/2, bake ends in (\\d+m ?)?(\\d+s)?, canary requests 0/50`))
    expect((await api<{ phase: string }>(s, `/rollouts/${id}`)).phase).toBe('progressing')
  })

  it('exits 5 ("superseded") when someone else starts another release while it waits', async () => {
    const id = await quietRollout()
    const px = await proxy()
    const p = pipeline([id, '--release', 'mine', '--interval', '1s', '--timeout', '60s'], { SLUICE_URL: px.url })
    await eventually(() => expect(statusGets(px.seen, id)).toBeGreaterThan(0))
    // Held, so that the wait's next look comes after both commands, not between them.
    px.mode = 'hold'
    await eventually(() => expect(px.held.length).toBe(1))
    await api(s, `/rollouts/${id}/rollback`, {})
    await api(s, `/rollouts/${id}/start`, { release: 'theirs' })
    px.release()
    const { code, outputs } = await p.done
    await px.down()
    expect(code, p.stderr).toBe(5)
    expect(outputs).toMatchObject({ code: '5', outcome: 'superseded', reason: `release theirs started on ${id} while waiting for mine` })
  })

  it('exits 3 ("paused") when an operator pauses; with fail "false" the Action\'s step succeeds and says so in its outputs', async () => {
    const id = await quietRollout()
    const step = await actionStep({ SLUICE_ROLLOUT: id, SLUICE_RELEASE: 'v4', SLUICE_REASON: 'ci', SLUICE_FAIL: 'false' })
    await eventually(() => expect(step.stderr).toContain(`${id} v4: progressing at 10%`))
    await api(s, `/rollouts/${id}/pause`, { reason: 'looking at the dashboards' })
    const { code, outputs } = await step.done
    expect(code, step.stderr).toBe(0)
    expect(outputs).toMatchObject({ code: '3', outcome: 'paused', reason: `an operator paused v4; \`sluice resume ${id}\` hands it back` })
  })

  it('keeps waiting while the API refuses connections and then answers 503, and exits 0 once promoted', async () => {
    const id = await quietRollout()
    const px = await proxy()
    const p = pipeline([id, '--release', 'v5', '--interval', '1s', '--timeout', '90s'], { SLUICE_URL: px.url })
    await eventually(() => expect(statusGets(px.seen, id)).toBeGreaterThan(0))
    await px.down()
    // A request in flight when the API goes down may fail first as a closed connection, so the back-off has grown.
    await eventually(() => expect(p.stderr).toMatch(/connection refused \(ECONNREFUSED\); retrying in \d+ s/))
    // Refused for a few retries, as while a worker restarts.
    await new Promise((r) => setTimeout(r, 3_000))
    px.mode = '503'
    await px.up()
    await eventually(() => expect(px.served503).toBeGreaterThan(0), 40_000)
    expect(p.child.exitCode).toBeNull()
    px.mode = 'up'
    await eventually(() => expect(p.stderr).toMatch(/the API answers again, after \d+ s/), 40_000)
    expect(p.child.exitCode).toBeNull()
    await api(s, `/rollouts/${id}/promote`, {})
    const { code, outputs } = await p.done
    await px.down()
    expect(code, p.stderr).toBe(0)
    expect(outputs.outcome).toBe('promoted')
    expect(p.stderr).toContain('the API answered 503: the control plane is unavailable; retrying in')
  })

  it("follows a release already under way when a re-run's start is refused with 409", async () => {
    const id = await quietRollout()
    await api(s, `/rollouts/${id}/start`, { release: 'v6' })
    const p = pipeline([id, '--release', 'v6', '--interval', '1s', '--timeout', '30s'])
    await eventually(() => expect(p.stderr).toContain(`v6 is already under way on ${id}`))
    await api(s, `/rollouts/${id}/rollback`, {})
    const { code, outputs } = await p.done
    expect(code, p.stderr).toBe(2)
    expect(outputs).toMatchObject({ outcome: 'rolled-back', reason: `an operator rolled v6 back (sluice history ${id})` })
  })
})

describe('sluice wait', () => {
  it('prints NDJSON events with --json, and ends with 1 ("deleted") when the rollout is deleted mid-wait', async () => {
    const id = await quietRollout()
    await api(s, `/rollouts/${id}/start`, { release: 'w1' })
    const p = wait([id, '--json', '--interval', '1s', '--timeout', '30s'])
    await eventually(() => expect(p.stdout).toContain('"event":"progress"'))
    await api(s, `/rollouts/${id}`, undefined, 'DELETE')
    const { code } = await p.done
    expect(code, p.stderr).toBe(1)
    expect(p.stderr).toBe('')
    const events = p.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(events[0]).toMatchObject({
      event: 'progress',
      id,
      release: 'w1',
      phase: 'progressing',
      weight: 10,
      step: { number: 1, count: 2, weight: 10, canaryRequests: 0, minRequests: 50 },
    })
    expect(events.at(-1)).toMatchObject({ event: 'result', outcome: 'deleted', code: 1, reason: `${id} was deleted while waiting`, release: 'w1' })
  })

  it('exits 1 on a usage error with nothing on stdout, and 1 for an unknown rollout ("not-found") or a refused token ("refused")', async () => {
    for (const args of [[], ['x', '--timeout', 'soon'], ['x', '--interval', '0s'], ['x', '--limit', '3']]) {
      const r = wait(args)
      const { code } = await r.done
      expect(code, args.join(' ')).toBe(1)
      expect(r.stdout).toBe('')
      expect(r.stderr).toMatch(/^sluice: .*\nusage: sluice wait <id> \[--release LABEL\]/)
    }
    const r = wait(['no-such-rollout'])
    const { code } = await r.done
    expect(code).toBe(1)
    expect(r.stdout).toBe('not-found (exit 1): no rollout no-such-rollout\n')
    const denied = wait(['demo'], { SLUICE_TOKEN: 'not-the-token-0123456789' })
    expect((await denied.done).code).toBe(1)
    expect(denied.stdout).toMatch(/^refused \(exit 1\): the API answered 401 Unauthorized; /)
  })

  it('runs as `npx sluice` in the clone (package.json "bin")', async () => {
    // --no: were the bin missing, npx must fail rather than fetch some other "sluice" from the registry.
    const r = run('npx', ['--no', 'sluice', 'wait', '--help'])
    expect((await r.done).code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^Usage: sluice wait <id> \[--release LABEL\] \[options\]/)
  })

  it('shows its own exit codes in --help', async () => {
    const r = wait(['--help'])
    expect((await r.done).code).toBe(0)
    expect(r.stdout).toMatch(
      /Exit codes \(wait's own[^\n]*\n\s+0\s+promoted[\s\S]*\n\s+1\s+usage error[\s\S]*\n\s+2\s+rolled back[\s\S]*\n\s+3\s+a human is needed[\s\S]*\n\s+4\s+not decided within --timeout[\s\S]*\n\s+5\s+another release/,
    )
    expect(r.stdout).toContain('--timeout D')
    expect(r.stdout).toContain('--interval D')
  })
})
