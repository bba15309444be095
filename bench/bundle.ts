/**
 * @module
 * Builds a worker the way `wrangler deploy` would (`--dry-run --outdir`), from
 * the repo's wrangler.toml (the edge worker, the one in front of traffic) or
 * wrangler.control.toml, and measures it. The build as shipped is what the
 * load test runs (the edge's config sets `minify`; the control worker's does
 * not); the `--minify` build is what the size target is about.
 */
import { execFileSync, spawn } from 'node:child_process'
import { mkdir, readFile, symlink } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'
import { ROOT, WRANGLER } from '../scripts/lib/wrangler.ts'

/** No telemetry, no update check (the banner does one), no prompts. */
export const QUIET_WRANGLER_ENV = { WRANGLER_SEND_METRICS: 'false', WRANGLER_HIDE_BANNER: 'true', CI: '1' }

export interface Bundle {
  path: string
  bytes: number
  /** gzip -9 of the bundle, as a deploy would upload it compressed. */
  gzipBytes: number
  /** Wrangler's own "Total Upload" line, for cross-checking. */
  wranglerSays: string
  /** Bytes in the bundle by origin (npm package, or src/ folder), largest first, from esbuild's metafile. */
  parts: [string, number][]
}

interface Metafile {
  outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>
}

/** `node_modules/@scope/pkg/...` -> `@scope/pkg`, `src/edge/x.ts` -> `src/edge`. */
function partOf(input: string): string {
  const nm = input.lastIndexOf('node_modules/')
  if (nm !== -1) {
    const [a, b] = input.slice(nm + 'node_modules/'.length).split('/')
    return a?.startsWith('@') ? `${a}/${b}` : (a ?? input)
  }
  const src = /(?:^|\/)src\/([^/]+)\//.exec(input)
  if (src) return `src/${src[1]}`
  return input.replace(/^.*\//, '')
}

/** Runs wrangler with Node 24 (this process's node) and returns its output; rejects on a non-zero exit or when `signal` aborts (which kills it). */
export function wrangler(args: string[], signal?: AbortSignal, timeoutMs = 120_000, cwd = ROOT): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [WRANGLER, ...args], {
      cwd,
      env: { ...process.env, ...QUIET_WRANGLER_ENV },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      ...(signal ? { signal } : {}),
    })
    let out = ''
    child.stdout.on('data', (d: Buffer) => (out += d))
    child.stderr.on('data', (d: Buffer) => (out += d))
    child.on('error', reject)
    child.on('close', (code) => (code === 0 ? resolvePromise(out) : reject(new Error(`wrangler ${args.join(' ')} exited ${code}:\n${out}`))))
  })
}

export async function buildBundle(outdir: string, minify: boolean, signal?: AbortSignal, config = 'wrangler.toml', root = ROOT): Promise<Bundle> {
  const meta = join(outdir, 'meta.json')
  const out = await wrangler(
    ['deploy', '-c', config, '--dry-run', '--outdir', outdir, '--metafile', meta, ...(minify ? ['--minify'] : [])],
    signal,
    undefined,
    root,
  )
  const parts = new Map<string, number>()
  const { outputs } = JSON.parse(await readFile(meta, 'utf8')) as Metafile
  // One module: the worker's entry, named after its `main`.
  const js = Object.keys(outputs).filter((file) => file.endsWith('.js'))
  if (js.length !== 1) throw new Error(`expected one module from ${config}, got: ${js.join(', ')}`)
  for (const [input, { bytesInOutput }] of Object.entries(outputs[js[0]!]!.inputs)) parts.set(partOf(input), (parts.get(partOf(input)) ?? 0) + bytesInOutput)
  const path = resolve(root, js[0]!)
  const code = await readFile(path)
  return {
    parts: [...parts].sort((a, b) => b[1] - a[1]),
    path,
    bytes: code.length,
    gzipBytes: gzipSync(code, { level: 9 }).length,
    wranglerSays: /Total Upload: [^\n]*/.exec(out)?.[0] ?? '(not printed)',
  }
}

/**
 * The edge worker as it was at a git commit, built the same way: the commit's tree is exported (`git archive`, which
 * reads the object store and touches neither the working tree nor the index) into `dir`, with this checkout's
 * node_modules, so a before/after comparison runs both in one benchmark.
 */
export async function buildBundleAt(ref: string, dir: string, signal?: AbortSignal): Promise<Bundle> {
  const tree = join(dir, 'tree')
  await mkdir(tree, { recursive: true })
  execFileSync('sh', ['-c', 'git -C "$0" archive --format=tar "$1" | tar -x -C "$2"', ROOT, ref, tree])
  await symlink(join(ROOT, 'node_modules'), join(tree, 'node_modules'))
  return buildBundle(join(dir, 'out'), false, signal, 'wrangler.toml', tree)
}
