/**
 * @module
 * The `sluice` CLI (scripts/sluice.ts) as operators run it: a child process
 * against a real worker under `wrangler dev`, no mocks. Where a test must
 * see or time the requests (nothing sent on a usage error, a write landing
 * between apply's read and its PUT), a recording proxy sits in between.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { type IncomingHttpHeaders, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type DevServer, startDev } from '../../scripts/lib/dev-server.ts'
import { deadPort } from '../../lib/origin-server.ts'
import { ADMIN_TOKEN, READ_TOKEN } from '../support/tokens.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const NODE = join(ROOT, 'node_modules', '.bin', 'node')
const CLI = join(ROOT, 'scripts', 'sluice.ts')
const EXAMPLE = join(ROOT, 'config', 'example.rollout.json')

// Each test runs the CLI several times; on a loaded 2-core machine a run can take half a second.
vi.setConfig({ testTimeout: 30_000, hookTimeout: 90_000 })

let dev: DevServer
let tmp: string
let dead: string

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'sluice-cli-'))
  dead = `http://127.0.0.1:${await deadPort()}`
  dev = await startDev({
    vars: {
      SLUICE_ADMIN_TOKEN: ADMIN_TOKEN,
      SLUICE_TOKENS: JSON.stringify([{ name: 'viewer', role: 'read', token: READ_TOKEN }]),
      // The CLI never proxies traffic; the origins only need to be valid.
      STABLE_ORIGIN: 'http://127.0.0.1:8081',
      CANARY_ORIGIN: 'http://127.0.0.1:8082',
    },
  })
})

afterAll(async () => {
  await dev?.stop()
  if (tmp) await rm(tmp, { recursive: true, force: true })
})

// ---- helpers -------------------------------------------------------------------

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the CLI as a child process; SLUICE_URL/SLUICE_TOKEN default to the dev server and the admin token. */
function sluice(args: string[], env: { url?: string; token?: string | null } = {}): Promise<Run> {
  const vars: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    // Compiled modules cached from the entry module on, not just after it: ~40 ms a run instead of ~110.
    NODE_COMPILE_CACHE: join(tmp, 'compile-cache'),
    SLUICE_URL: env.url ?? dev.url,
  }
  const token = env.token === undefined ? ADMIN_TOKEN : env.token
  if (token !== null) vars.SLUICE_TOKEN = token
  return new Promise((resolve) => {
    const child = execFile(NODE, [CLI, ...args], { cwd: ROOT, env: vars, timeout: 20_000 }, (_err, stdout, stderr) => {
      resolve({ code: child.exitCode, stdout, stderr })
    })
  })
}

/** The admin API directly, to set up and check state independently of the CLI. */
async function api(path: string, init: { method?: string; body?: unknown; headers?: Record<string, string> } = {}) {
  const res = await fetch(`${dev.url}/__sluice/api${path}`, {
    method: init.method ?? (init.body ? 'POST' : 'GET'),
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...init.headers },
    ...(init.body ? { body: JSON.stringify(init.body) } : {}),
  })
  const text = await res.text()
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : null }
}

/** The example config with another id (and any top-level overrides), written to a temp file. */
async function configFile(id: string, over: Record<string, unknown> = {}, name = `${id}.json`): Promise<string> {
  const example = JSON.parse(await readFile(EXAMPLE, 'utf8')) as Record<string, unknown>
  const file = join(tmp, name)
  await writeFile(file, JSON.stringify({ ...example, id, ...over }, null, 2))
  return file
}

async function applied(id: string, over: Record<string, unknown> = {}) {
  const r = await sluice(['apply', await configFile(id, over)])
  expect(r.code, r.stderr).toBe(0)
  return r
}

interface Seen {
  method: string
  path: string
  headers: IncomingHttpHeaders
  body: string
}

/**
 * A recording proxy in front of the dev server. `before` runs when a request
 * arrives and before it is forwarded, so a test can slip a write in between
 * two requests of one CLI command.
 */
async function withProxy(fn: (url: string, seen: Seen[]) => Promise<void>, before?: (req: Seen) => Promise<void>) {
  const seen: Seen[] = []
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const r: Seen = { method: req.method!, path: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() }
    seen.push(r)
    await before?.(r)
    const hop = ['host', 'connection', 'content-length']
    const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !hop.includes(k))) as Record<string, string>
    const up = await fetch(`${dev.url}${r.path}`, { method: r.method, headers, ...(r.body ? { body: r.body } : {}) })
    // fetch has already decoded and de-chunked the body.
    const framing = ['content-encoding', 'content-length', 'transfer-encoding']
    const back = Object.fromEntries([...up.headers].filter(([k]) => !framing.includes(k)))
    res.writeHead(up.status, back)
    res.end(Buffer.from(await up.arrayBuffer()))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  try {
    await fn(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen)
  } finally {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

const json = (r: Run) => JSON.parse(r.stdout) as Record<string, any>

// ---- tests -----------------------------------------------------------------------

describe('help and usage errors', () => {
  it('prints the usage, every command and the exit codes with --help', async () => {
    for (const args of [['--help'], ['help'], ['-h']]) {
      const r = await sluice(args, { token: null })
      expect(r.code).toBe(0)
      expect(r.stdout).toContain('Usage: sluice <command>')
      const commands = ['status [id]', 'list', 'history <id>', 'start <id> --release LABEL', 'weight <id> <percent>', 'pause <id>', 'resume <id>']
      commands.push('approve <id>', 'promote <id>', 'rollback <id>', 'complete <id>', 'apply <file.json>', 'delete <id>', 'diff <id>')
      for (const cmd of commands) expect(r.stdout).toContain(`  ${cmd} `)
      expect(r.stdout).toMatch(/Exit codes:\n\s+0\s+ok\n\s+1\s+the API refused[^\n]*\n\s+2\s+usage error[\s\S]*\n\s+3\s+cannot reach the API/)
      expect(r.stdout).toContain('SLUICE_URL')
      expect(r.stdout).toContain('SLUICE_TOKEN')
    }
  })

  it("prints each command's own options with <command> --help", async () => {
    const start = await sluice(['start', '--help'], { token: null })
    expect(start.code).toBe(0)
    expect(start.stdout).toContain('Usage: sluice start <id> --release LABEL [options]')
    expect(start.stdout).toContain('--reason TEXT')
    expect(start.stdout).toContain('--if-match REV')
    expect(start.stdout).not.toContain('--limit')
    expect((await sluice(['help', 'start'], { token: null })).stdout).toBe(start.stdout)
    const history = await sluice(['history', '--help'], { token: null })
    expect(history.stdout).toContain('--limit N')
    expect(history.stdout).toContain('--before SEQ')
    const apply = await sluice(['apply', '-h'], { token: null })
    expect(apply.stdout).toContain('--dry-run')
    expect(apply.stdout).toContain('--reason TEXT')
    expect(apply.stdout).toContain('If-None-Match')
  })

  it('exits 2 on usage errors, says what is wrong, and sends nothing', async () => {
    const cases: [string[], RegExp][] = [
      [[], /missing command/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['status', '--bogus'], /Unknown option '--bogus'/],
      [['start'], /start: missing <id>/],
      [['start', 'web'], /missing --release LABEL/],
      [['weight', 'web'], /missing <percent>/],
      [['weight', 'web', 'lots'], /must be a number/],
      [['pause', 'web', 'extra'], /unexpected argument "extra"/],
      [['pause', 'web', '--limit', '3'], /pause does not take --limit/],
      [['pause', 'web', '--if-match', 'yesterday'], /--if-match must be a revision number/],
      [['history', 'web', '--limit', 'ten'], /--limit must be a whole number/],
      [['apply'], /missing <file.json>/],
      [['start', 'web', '--release'], /argument missing/],
    ]
    await withProxy(async (url, seen) => {
      const runs = await Promise.all(cases.map(([args]) => sluice(args, { url })))
      runs.forEach((r, i) => {
        const [args, message] = cases[i]!
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2)
        expect(r.stderr).toMatch(message)
        expect(r.stdout).toBe('')
      })
      expect(seen).toEqual([])
    })
  })

  it('exits 2 without a token, before calling the API', async () => {
    const r = await sluice(['list'], { url: dead, token: null })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('set SLUICE_TOKEN or pass --token')
  })
})

describe('reaching the API', () => {
  it('exits 3 when the API cannot be reached', async () => {
    const r = await sluice(['list'], { url: dead })
    expect(r.code).toBe(3)
    expect(r.stderr).toContain(`cannot reach the API at ${dead}`)
    expect(r.stderr).toContain('ECONNREFUSED')
    // --url beats SLUICE_URL.
    expect((await sluice(['list', '--url', dead])).code).toBe(3)
    expect((await sluice(['list', '--url', dev.url], { url: dead })).code).toBe(0)
  })

  it('exits 1 with the problem details on a wrong token, and --token beats SLUICE_TOKEN', async () => {
    const r = await sluice(['list'], { token: 'not-the-token-0123456789' })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('error: 401 Unauthorized')
    expect(r.stderr).toContain('The token is not valid.')
    expect(r.stdout).toBe('')
    expect((await sluice(['list', '--token', ADMIN_TOKEN], { token: 'not-the-token-0123456789' })).code).toBe(0)
  })

  it('lets a read-only token read but not write', async () => {
    await applied('readonly')
    expect((await sluice(['status', 'readonly'], { token: READ_TOKEN })).code).toBe(0)
    const r = await sluice(['start', 'readonly', '--release', 'v1'], { token: READ_TOKEN })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('error: 403 Forbidden')
    expect(r.stderr).toContain('token "viewer" is read-only')
    expect((await api('/rollouts/readonly')).body!.phase).toBe('idle')
  })
})

describe('apply', () => {
  it('validates the example config and creates it with If-None-Match: *', async () => {
    await withProxy(async (url, seen) => {
      const dry = await sluice(['apply', EXAMPLE, '--dry-run'], { url })
      expect(dry.code, dry.stderr).toBe(0)
      expect(dry.stdout).toContain('web: new rollout')
      expect(dry.stdout).toContain('+ stable: "http://127.0.0.1:8081"')
      expect(dry.stdout).toContain('+ schedule.2.gate: true')
      expect(dry.stdout).toContain('dry run: nothing sent')
      expect(seen.map((s) => s.method)).toEqual(['GET'])

      const r = await sluice(['apply', EXAMPLE], { url })
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toContain('created web (revision 1)')
      const put = seen.find((s) => s.method === 'PUT')!
      expect(put.path).toBe('/__sluice/api/rollouts/web')
      expect(put.headers['if-none-match']).toBe('*')
      expect(put.headers['if-match']).toBeUndefined()
      // Comments and $schema stay local.
      const keys = Object.keys(JSON.parse(put.body) as object)
      expect(keys).toContain('stable')
      expect(keys.filter((k) => k.startsWith('//') || k === '$schema')).toEqual([])
    })
    const live = await api('/rollouts/web')
    expect(live.body).toMatchObject({ phase: 'idle', revision: 1 })
    expect(live.body!.spec).toMatchObject({ canary: 'http://127.0.0.1:8082', identity: { header: 'x-user-id' } })
    expect(live.body!.spec.schedule.map((s: { weight: number }) => s.weight)).toEqual([1, 10, 50, 100])
  })

  it('says "no changes" and writes nothing when the file matches the live config', async () => {
    await applied('same')
    await withProxy(async (url, seen) => {
      const r = await sluice(['apply', join(tmp, 'same.json')], { url })
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toBe('same: live revision 1 → ' + join(tmp, 'same.json') + '\nno changes\n')
      expect(seen.map((s) => s.method)).toEqual(['GET'])
    })
    expect((await api('/rollouts/same')).body!.revision).toBe(1)
  })

  it('shows a per-field diff, and writes it with If-Match of the live revision', async () => {
    await applied('diffed')
    const example = JSON.parse(await readFile(EXAMPLE, 'utf8')) as { cookie: object; schedule: object[] }
    const file = await configFile('diffed', { cookie: { ...example.cookie, name: 'cohort' }, salt: 'new-salt' }, 'diffed-2.json')

    const dry = await sluice(['apply', file, '--dry-run'])
    expect(dry.code, dry.stderr).toBe(0)
    const diffLines = dry.stdout.split('\n').filter((l) => /^[-+] /.test(l))
    // In the schema's field order: salt comes before cookie.
    expect(diffLines).toEqual(['+ salt: "new-salt"', '- cookie.name: "sluice"', '+ cookie.name: "cohort"'])
    expect((await api('/rollouts/diffed')).body).toMatchObject({ revision: 1, spec: { cookie: { name: 'sluice' } } })

    await withProxy(async (url, seen) => {
      const r = await sluice(['apply', file], { url })
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toContain('updated diffed to revision 2')
      expect(seen.find((s) => s.method === 'PUT')!.headers['if-match']).toBe('"1"')
    })
    expect((await api('/rollouts/diffed')).body).toMatchObject({ revision: 2, spec: { cookie: { name: 'cohort' }, salt: 'new-salt' } })

    // --json: the API's answer on stdout, the diff on stderr.
    const third = await configFile('diffed', { schedule: [{ weight: 5 }, { weight: 100 }] }, 'diffed-3.json')
    const r = await sluice(['apply', third, '--json'])
    expect(r.code, r.stderr).toBe(0)
    expect(json(r)).toMatchObject({ id: 'diffed', revision: 3, spec: { schedule: [{ weight: 5 }, { weight: 100 }] } })
    expect(r.stderr).toContain('- schedule.0.weight: 1\n+ schedule.0.weight: 5')
    expect(r.stderr).toContain('- schedule.2.weight: 50')
    expect(r.stderr).toContain('- cookie.name: "cohort"\n+ cookie.name: "sluice"')
  })

  it('names every invalid field, exits 2 and sends nothing when the file fails validation', async () => {
    await applied('guarded')
    const before = await api('/rollouts/guarded')
    const file = await configFile(
      'guarded',
      {
        canary: 'ftp://files.example.com',
        schedule: [{ weight: 10 }, { weight: 5 }],
        cokie: { name: 'typo' },
        failover: { enabled: 'yes' },
        judge: { latency: { maxRatoi: 2 } },
      },
      'guarded-bad.json',
    )
    await withProxy(async (url, seen) => {
      const r = await sluice(['apply', file], { url })
      expect(r.code).toBe(2)
      expect(r.stderr).toContain('is not a valid rollout; nothing was sent')
      expect(r.stderr).toMatch(/- canary: must be an http\(s\) origin/)
      expect(r.stderr).toContain('- schedule: step weights must rise strictly')
      expect(r.stderr).toContain('- schedule: the last step must be 100 (the promotion)')
      expect(r.stderr).toMatch(/- failover\.enabled: .*expected boolean/)
      expect(r.stderr).toContain('- cokie: unknown field')
      expect(r.stderr).toContain('- judge.latency.maxRatoi: unknown field')
      expect(r.stdout).toBe('')
      expect(seen).toEqual([])
    })
    const notJson = join(tmp, 'broken.json')
    await writeFile(notJson, '{"id": "guarded",')
    const broken = await sluice(['apply', notJson])
    expect(broken.code).toBe(2)
    expect(broken.stderr).toContain('is not valid JSON')
    expect(await api('/rollouts/guarded')).toEqual(before)
  })

  it('fails with 412 (exit 1) when the rollout changes between the diff and the write', async () => {
    await applied('raced')
    const file = await configFile('raced', { salt: 'mine' }, 'raced-2.json')
    // Another operator's write lands after apply read the live revision, before its PUT.
    const interfere = async (req: Seen) => {
      if (req.method === 'PUT') await api('/rollouts/raced/weight', { body: { weight: 3 } })
    }
    await withProxy(async (url) => {
      const r = await sluice(['apply', file], { url })
      expect(r.code).toBe(1)
      expect(r.stdout).toContain('+ salt: "mine"')
      expect(r.stderr).toContain('error: 412 Precondition Failed')
      expect(r.stderr).toContain('If-Match revision 1 is stale: the rollout is at revision 2')
      expect(r.stderr).toContain('raced changed after this diff was computed')
    }, interfere)
    // The other write stands; ours was not applied over it.
    const live = (await api('/rollouts/raced')).body!
    expect(live).toMatchObject({ revision: 2, weight: 3 })
    expect(live.spec.salt).toBeUndefined()

    // The same for a create: someone else creates the rollout first.
    const fresh = await configFile('raced-new')
    const create = async (req: Seen) => {
      if (req.method === 'PUT') await api('/rollouts/raced-new', { method: 'PUT', body: { id: 'raced-new', stable: dead, canary: dead } })
    }
    await withProxy(async (url) => {
      const r = await sluice(['apply', fresh], { url })
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('rollout raced-new already exists')
    }, create)
    expect((await api('/rollouts/raced-new')).body!.spec.stable).toBe(dead)
  })

  it('warns when the file would undo the origin swap of a completed release', async () => {
    const file = join(tmp, 'swapped.json')
    await applied('swapped')
    for (const cmd of ['start', 'promote', 'complete']) await api(`/rollouts/swapped/${cmd}`, { body: cmd === 'start' ? { release: 's1' } : {} })
    const r = await sluice(['apply', file, '--dry-run'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('- stable: "http://127.0.0.1:8082"\n+ stable: "http://127.0.0.1:8081"')
    expect(r.stderr).toContain('warning: this swaps stable and canary')
    // An unrelated change carries no warning.
    const plain = await sluice(['apply', await configFile('diffed-warn', {}), '--dry-run'])
    expect(plain.stderr).toBe('')
  })

  it('sends --reason with the write, and the history records it', async () => {
    await applied('reasoned')
    const r = await sluice(['apply', await configFile('reasoned', { salt: 'pepper' }, 'reasoned-2.json'), '--reason', 'ticket 7: new salt'])
    expect(r.code, r.stderr).toBe(0)
    expect((await api('/rollouts/reasoned/history?limit=1')).body!.entries[0]).toMatchObject({ command: 'replace', reason: 'ticket 7: new salt' })
  })

  it('treats secrets as write-only: "set" in the file keeps the live one, a real one is sent but never printed', async () => {
    const secret = 'cli-override-secret-0123'
    const example = JSON.parse(await readFile(EXAMPLE, 'utf8')) as { overrides: object }
    const real = await configFile('secretive', { overrides: { ...example.overrides, secret } })
    const created = await sluice(['apply', real])
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toContain("+ overrides.secret: (the file's secret, not shown)\n")
    expect(json(await sluice(['status', 'secretive', '--json'])).spec.overrides.secret).toBe('set')

    // The live secret reads "set", so a real one in the file cannot be compared: it is a change, sent as is.
    const again = await sluice(['apply', real, '--dry-run', '--json'])
    expect(again.code, again.stderr).toBe(0)
    expect(again.stderr).toContain(
      '- overrides.secret: "set"\n+ overrides.secret: (the file\'s secret, not shown; the live one is write-only, so it is sent as is)',
    )
    expect(json(again).changes).toEqual([{ path: 'overrides.secret', from: 'set', writeOnly: true }])
    expect(again.stdout + again.stderr).not.toContain(secret)

    const keep = await configFile('secretive', { overrides: { ...example.overrides, secret: 'set' } }, 'secretive-set.json')
    await withProxy(async (url, seen) => {
      const r = await sluice(['apply', keep], { url })
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toContain('no changes')
      expect(seen.map((s) => s.method)).toEqual(['GET'])
    })
    // With another change, "set" goes to the API, which keeps the live secret.
    const salted = await configFile('secretive', { overrides: { ...example.overrides, secret: 'set' }, salt: 'pepper' }, 'secretive-salted.json')
    await withProxy(async (url, seen) => {
      const r = await sluice(['apply', salted], { url })
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toBe(`secretive: live revision 1 → ${salted}\n+ salt: "pepper"\nupdated secretive to revision 2\n`)
      expect(JSON.parse(seen.find((s) => s.method === 'PUT')!.body).overrides.secret).toBe('set')
    })
    expect((await api('/rollouts/secretive')).body!.spec.overrides.secret).toBe('set')
  })

  it('sends --if-match REV instead of the live revision', async () => {
    await applied('pinned')
    await api('/rollouts/pinned/weight', { body: { weight: 1 } })
    const r = await sluice(['apply', await configFile('pinned', { salt: 'x' }, 'pinned-2.json'), '--if-match', '1'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('If-Match revision 1 is stale')
    expect((await api('/rollouts/pinned')).body!.revision).toBe(2)
  })
})

describe('commands', () => {
  it('starts a release with its own origins in one write, and status prints the ETA', async () => {
    await applied('own-origins')
    const help = await sluice(['start', '--help'], { token: null })
    expect(help.stdout).toContain('--canary URL')
    expect(help.stdout).toContain('--stable URL')

    const r = await sluice(['start', 'own-origins', '--release', 'v5', '--canary', 'http://127.0.0.1:9092', '--stable', 'http://127.0.0.1:9091'])
    expect(r.code, r.stderr).toBe(0)
    // No traffic history yet: nothing to warn about.
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/\n {2}release {3}v5\n/)
    expect(r.stdout).toMatch(/\n {2}stable {4}http:\/\/127.0.0.1:9091\n {2}canary {4}http:\/\/127.0.0.1:9092\n/)
    const { entries } = (await api('/rollouts/own-origins/history')).body!
    expect(entries.map((e: { command: string }) => e.command)).toEqual(['start', 'create'])
    expect(entries[0].data).toEqual({ release: 'v5', stable: 'http://127.0.0.1:9091', canary: 'http://127.0.0.1:9092' })

    const status = await sluice(['status', 'own-origins'])
    expect(status.code, status.stderr).toBe(0)
    // 500 canary requests (judge.minRequests) in the first step's 4 judged minutes at 1 %: 12500 a minute in total.
    expect(status.stdout).toContain(
      '\n  eta       no canary traffic judged at 1 % yet; the schedule keeps to its bake times from 208 requests/s in total (judge.minRequests at step 1)\n',
    )
    expect(json(await sluice(['status', 'own-origins', '--json'])).eta).toMatchObject({ stepDoneAt: null, needs: { requestsPerMinute: 12500, step: 0 } })

    // An origin the config would refuse is the API's 400 naming the field; nothing changes.
    await applied('bad-origin')
    const bad = await sluice(['start', 'bad-origin', '--release', 'v5', '--canary', 'ftp://files.example.com'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/^error: 400 Invalid request\n(?: {2}- canary: .*\n)+$/)
    expect((await api('/rollouts/bad-origin')).body).toMatchObject({ phase: 'idle', revision: 1, spec: { canary: 'http://127.0.0.1:8082' } })
  })

  it("prints a start's warnings on stderr, keeping stdout for the status with its ETA", async () => {
    // The worker warns only with an hour of thin traffic judged (test/control/start-release.test.ts); here an
    // answer of that shape comes from a stand-in, the status itself from the real worker.
    await applied('warned')
    const status = (await api('/rollouts/warned')).body!
    const warning = 'at the 0.2 requests/s seen in the last hour of judged windows, this release would take about 2d 7h to reach 100 %'
    // Whole minutes from now, and the relative times printed from them.
    const soon = (minutes: number) => new Date(Math.ceil(Date.now() / 60_000) * 60_000 + minutes * 60_000).toISOString()
    const basis = '2.4 canary requests/min over the 10m judged at 1 %; this step waits for judge.minRequests (476 more canary requests)'
    const eta = {
      stepDoneAt: soon(209),
      rolloutDoneAt: soon(338),
      canaryRequestsPerMinute: 2.4,
      needs: { requestsPerMinute: 12500, step: 0, field: 'judge.minRequests' },
      basis,
    }
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ ...status, phase: 'progressing', eta, warnings: [warning] }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
      const r = await sluice(['start', 'warned', '--release', 'v2'], { url })
      expect(r.code, r.stderr).toBe(0)
      expect(r.stderr).toBe(`warning: ${warning}\n`)
      expect(r.stdout).toMatch(/^warned {2}\(revision 1,/)
      const line = /\n {2}eta {7}step done (\S+) \(in 3h (?:29m|28m)\), 100 % (\S+) \(in 5h (?:38m|37m)\); (.*)\n/.exec(r.stdout)
      expect(line, r.stdout).not.toBeNull()
      expect(line!.slice(1)).toEqual([eta.stepDoneAt, eta.rolloutDoneAt, basis])
      const j = await sluice(['start', 'warned', '--release', 'v2', '--json'], { url })
      expect(json(j).warnings).toEqual([warning])
      expect(j.stderr).toBe(`warning: ${warning}\n`)
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it('walks a release through start, pause, resume, weight, promote and complete, printing the status', async () => {
    await applied('walk', { stable: 'http://127.0.0.1:8081', canary: 'http://127.0.0.1:8082' })
    const step = async (args: string[]) => {
      const r = await sluice(args)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0)
      expect(r.stderr).toBe('')
      return r.stdout
    }
    const started = await step(['start', 'walk', '--release', 'v2', '--reason', 'ship it'])
    expect(started).toMatch(/^walk {2}\(revision 2, updated \d{4}-\d\d-\d\dT[\d:.]+Z\)\n/)
    expect(started).toMatch(/\n {2}phase {5}progressing\n/)
    expect(started).toMatch(/\n {2}weight {4}1% to the canary\n/)
    expect(started).toMatch(/\n {2}release {3}v2\n/)
    // Step 1 of the example bakes 5 minutes: its end is printed, absolute and relative.
    const bakeEnd = /step {6}1\/4 at 1%, bake 5 min, min 100 canary requests; bake ends (\S+) \(in (?:5m|4m \d+s)\)/.exec(started)
    expect(bakeEnd, started).not.toBeNull()
    expect(Math.abs(Date.parse(bakeEnd![1]!) - Date.now() - 5 * 60_000)).toBeLessThan(60_000)
    expect(started).toMatch(/\n {2}next {6}10%\n/)
    expect(started).toMatch(/\n {2}decision {2}none\n/)

    expect(await step(['pause', 'walk'])).toMatch(/phase {5}paused\n/)
    expect(await step(['resume', 'walk'])).toMatch(/phase {5}progressing\n/)
    const manual = await step(['weight', 'walk', '12.5'])
    expect(manual).toMatch(/phase {5}paused\n {2}weight {4}12.5% to the canary/)
    const resumed = await step(['resume', 'walk', '--reason', 'looks fine'])
    expect(resumed).toMatch(/phase {5}progressing\n/)
    expect(resumed).toMatch(/step {6}2\/4 at 10%/)
    expect(resumed).toMatch(/next {6}50% after an operator approves/)
    expect(await step(['promote', 'walk'])).toMatch(/phase {5}promoted\n {2}weight {4}100% to the canary/)
    const done = await step(['complete', 'walk', '--reason', 'all good'])
    expect(done).toMatch(/phase {5}idle\n {2}weight {4}0% to the canary\n {2}release {3}none\n {2}step {6}none/)
    // complete swaps the origins: the canary is the new stable.
    expect(done).toMatch(/stable {4}http:\/\/127.0.0.1:8082\n {2}canary {4}http:\/\/127.0.0.1:8081/)

    const history = await step(['history', 'walk'])
    const lines = history.trimEnd().split('\n')
    expect(lines.map((l) => l.split(/\s+/)[3])).toEqual(['complete', 'promote', 'resume', 'weight', 'resume', 'pause', 'start', 'create'])
    expect(lines[0]).toMatch(/^#\d+ +\d{4}-\d\d-\d\dT[\d:.]+Z +admin +complete +promoted 100% → idle 0% +all good \[/)
    // The swapped origins are recorded with the entry.
    expect(lines[0]).toMatch(/\[stable=http:\/\/127.0.0.1:8082 canary=http:\/\/127.0.0.1:8081\]$/)
    expect(lines[2]).toMatch(/paused 12.5% → progressing 12.5% +looks fine$/)
    // A start records the origins its release runs against.
    expect(lines[6]).toMatch(/ start +idle 0% → progressing 1% +ship it \[release=v2 stable=http:\/\/127.0.0.1:8081 canary=http:\/\/127.0.0.1:8082\]$/)
    expect(lines[7]).toMatch(/ create +\(none\) → idle 0%$/)
  })

  it('prints ring weights, and names ring steps by their audience', async () => {
    const audiences = { staff: { header: { name: 'x-staff', values: ['1'] } }, nz: { country: ['NZ'] } }
    const schedule = [
      { audience: 'staff', weight: 100, bakeMinutes: 5 },
      { weight: 5, bakeMinutes: 5 },
      { audience: 'nz', weight: 25, bakeMinutes: 5 },
      { weight: 100, bakeMinutes: 0 },
    ]
    await applied('ringed', { audiences, schedule })
    const run = async (args: string[]) => {
      const r = await sluice(args)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0)
      return r.stdout
    }
    const idle = await run(['status', 'ringed'])
    expect(idle).not.toMatch(/\n {2}rings /)

    const started = await run(['start', 'ringed', '--release', 'r1'])
    expect(started).toMatch(/\n {2}weight {4}0% to the canary\n {2}rings {5}staff 100% \(everyone else 0%\)\n/)
    expect(started).toMatch(/\n {2}step {6}1\/4 ring staff at 100%, bake 5 min; bake ends /)
    expect(started).toMatch(/\n {2}next {6}5%\n/)

    // A manual weight clears the rings; resuming enters the highest step at or below it, the nz ring at everyone's
    // 5 %, and brings back every ring up to that step.
    expect(await run(['weight', 'ringed', '5'])).not.toMatch(/\n {2}rings /)
    const resumed = await run(['resume', 'ringed'])
    expect(resumed).toMatch(/\n {2}weight {4}5% to the canary\n {2}rings {5}staff 100%, nz 25% \(everyone else 5%\)\n/)
    expect(resumed).toMatch(/\n {2}step {6}3\/4 ring nz at 25%, bake 5 min/)
    expect(resumed).toMatch(/\n {2}next {6}100%\n/)
  })

  it("prints the API's JSON with --json", async () => {
    await applied('machine')
    const started = await sluice(['start', 'machine', '--release', 'v7', '--json'])
    expect(started.code, started.stderr).toBe(0)
    expect(json(started)).toMatchObject({ id: 'machine', phase: 'progressing', weight: 1, release: 'v7', revision: 2 })
    expect(json(started).step).toMatchObject({ index: 0, bakeMinutes: 5 })
    expect(json(await sluice(['status', 'machine', '--json']))).toEqual(json(started))
    const list = json(await sluice(['list', '--json']))
    expect(list.rollouts.map((r: { id: string }) => r.id)).toContain('machine')
    expect(json(await sluice(['status', '--json']))).toEqual(list)
    const history = json(await sluice(['history', 'machine', '--json']))
    expect(history).toMatchObject({ next: null, entries: [{ command: 'start', data: { release: 'v7' } }, { command: 'create' }] })
    // Refusals keep stdout empty and put the problem, as JSON, on stderr.
    const refused = await sluice(['approve', 'machine', '--json'])
    expect(refused.code).toBe(1)
    expect(refused.stdout).toBe('')
    expect(JSON.parse(refused.stderr)).toMatchObject({ status: 409, title: 'Conflict' })
  })

  it('lists rollouts one per line, and shows all of them in detail with status', async () => {
    await applied('listed-a')
    await applied('listed-b')
    await api('/rollouts/listed-b/start', { body: { release: 'b1' } })
    const list = await sluice(['list'])
    expect(list.code).toBe(0)
    const rows = list.stdout.trimEnd().split('\n')
    expect(rows[0]).toMatch(/^ID +PHASE +WEIGHT +RELEASE +REV +UPDATED$/)
    expect(rows).toContainEqual(expect.stringMatching(/^listed-a +idle +0% +- +1 +\d{4}-/))
    expect(rows).toContainEqual(expect.stringMatching(/^listed-b +progressing +1% +b1 +2 +\d{4}-/))
    const all = await sluice(['status'])
    expect(all.code).toBe(0)
    expect(all.stdout).toMatch(/^listed-a {2}\(revision 1,[\s\S]*\n\nlisted-b {2}\(revision 2,/m)
  })

  it('rolls back with a reason, and exits 1 on 409, 404 and 400 with the problem details', async () => {
    await applied('trouble')
    const idle = await sluice(['pause', 'trouble'])
    expect(idle.code).toBe(1)
    expect(idle.stdout).toBe('')
    expect(idle.stderr).toBe('error: 409 Conflict\n  cannot pause while idle\n')

    expect((await sluice(['start', 'trouble', '--release', 'v3'])).code).toBe(0)
    const rolled = await sluice(['rollback', 'trouble', '--reason', 'errors up'])
    expect(rolled.code).toBe(0)
    expect(rolled.stdout).toMatch(/phase {5}rolled-back\n {2}weight {4}0% to the canary/)
    expect((await api('/rollouts/trouble/history?limit=1')).body!.entries[0]).toMatchObject({ command: 'rollback', reason: 'errors up' })

    const missing = await sluice(['status', 'nope'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('error: 404 Not Found\n  no rollout nope')
    expect((await sluice(['promote', 'nope'])).code).toBe(1)

    const badId = await sluice(['pause', 'Not_Valid'])
    expect(badId.code).toBe(1)
    expect(badId.stderr).toMatch(/^error: 400 Invalid request\n {2}- path\.id: must be 1-63 chars/)

    const tooMuch = await sluice(['weight', 'trouble', '150'])
    expect(tooMuch.code).toBe(1)
    expect(tooMuch.stderr).toMatch(/^error: 400 Invalid request\n {2}- weight: /)
  })

  it('sends approve with its reason (409 unless the controller gated the rollout)', async () => {
    await applied('gated')
    await api('/rollouts/gated/start', { body: { release: 'g1' } })
    await withProxy(async (url, seen) => {
      const r = await sluice(['approve', 'gated', '--reason', 'numbers look good'], { url })
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('nothing to approve while progressing')
      expect(seen).toMatchObject([{ method: 'POST', path: '/__sluice/api/rollouts/gated/approve' }])
      expect(JSON.parse(seen[0]!.body)).toEqual({ reason: 'numbers look good' })
      expect(seen[0]!.headers['content-type']).toBe('application/json')
    })
  })

  it('sends If-Match with --if-match, and a stale revision is a 412 (exit 1)', async () => {
    await applied('guard')
    const ok = await sluice(['start', 'guard', '--release', 'v1', '--if-match', '1'])
    expect(ok.code, ok.stderr).toBe(0)
    const stale = await sluice(['pause', 'guard', '--if-match', '"1"'])
    expect(stale.code).toBe(1)
    expect(stale.stderr).toContain('error: 412 Precondition Failed\n  If-Match revision 1 is stale: the rollout is at revision 2')
    expect((await api('/rollouts/guard')).body!.phase).toBe('progressing')
    expect((await sluice(['delete', 'guard', '--if-match', '1'])).code).toBe(1)
    expect((await api('/rollouts/guard')).status).toBe(200)
  })

  it('deletes a rollout, keeping its history', async () => {
    await applied('doomed')
    const r = await sluice(['delete', 'doomed', '--reason', 'retired'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe('deleted doomed\n')
    expect((await api('/rollouts/doomed')).status).toBe(404)
    expect((await sluice(['delete', 'doomed'])).code).toBe(1)
    const history = await sluice(['history', 'doomed'])
    expect(history.stdout).toMatch(/ delete +idle 0% → \(none\) +retired\n.* create /)
  })

  it("prints a shadow step's diff report, its JSON with --json, and exits 1 for an unknown rollout", async () => {
    // No metrics source here, so nothing is compared: the report of a rollout mirroring, with no routes yet (the
    // text of routes and fields is tested in test/node/format.test.ts).
    await applied('shadowed', { schedule: [{ shadow: 25, bakeMinutes: 5 }, { weight: 100 }] })
    await api('/rollouts/shadowed/start', { body: { release: 's1' } })
    const text = await sluice(['diff', 'shadowed'])
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toBe('shadowed  clean: 0 compared, 0 noise-sampled (release s1, mirroring 25% of visitors)\n  no mirrored request compared yet\n')
    const asJson = await sluice(['diff', 'shadowed', '--json'])
    expect(json(asJson)).toEqual((await api('/rollouts/shadowed/diff')).body)
    expect(json(asJson)).toMatchObject({ rolloutId: 'shadowed', shadowWeight: 25, routes: [] })
    const missing = await sluice(['diff', 'nope'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toContain('error: 404 Not Found\n  no rollout nope')
  })

  it('pages through history with --limit and --before', async () => {
    await applied('paged')
    for (const cmd of ['start', 'pause', 'resume', 'rollback']) {
      await api(`/rollouts/paged/${cmd}`, { body: cmd === 'start' ? { release: 'p1' } : {} })
    }
    const first = await sluice(['history', 'paged', '--limit', '2'])
    expect(first.code, first.stderr).toBe(0)
    const lines = first.stdout.trimEnd().split('\n')
    expect(lines.slice(0, 2).map((l) => l.split(/\s+/)[3])).toEqual(['rollback', 'resume'])
    const before = /^… older entries: sluice history paged --before (\d+)$/.exec(lines[2]!)
    expect(before, first.stdout).not.toBeNull()
    const rest = await sluice(['history', 'paged', '--before', before![1]!])
    expect(
      rest.stdout
        .trimEnd()
        .split('\n')
        .map((l) => l.split(/\s+/)[3]),
    ).toEqual(['pause', 'start', 'create'])
  })
})
