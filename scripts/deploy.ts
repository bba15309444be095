/**
 * @module
 * `npm run deploy [-- --env production]`: deploys Sluice's two workers with
 * wrangler, the control worker first (the edge worker's CONTROL service
 * binding must point at a worker that exists), then the edge worker. Other
 * arguments go to both `wrangler deploy` runs. `--dry-run` builds both
 * bundles without uploading (`npm test` runs it), each in its own
 * subdirectory of `--outdir` (default `.wrangler/dry-run`).
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { runWrangler } from './lib/wrangler.ts'

const WORKERS = [
  { name: 'control', config: 'wrangler.control.toml' },
  { name: 'edge', config: 'wrangler.toml' },
] as const

// Only --outdir is ours to rewrite; everything else passes through untouched.
const { values, tokens } = parseArgs({ options: { outdir: { type: 'string' } }, strict: false, tokens: true })
const passed = process.argv
  .slice(2)
  .filter((_, i) => !tokens.some((t) => t.kind === 'option' && t.name === 'outdir' && (t.index === i || (t.inlineValue === false && t.index + 1 === i))))
const dryRun = passed.includes('--dry-run')
const outdir = typeof values.outdir === 'string' ? values.outdir : dryRun ? join('.wrangler', 'dry-run') : undefined

for (const w of WORKERS) {
  const args = ['deploy', '-c', w.config, ...passed, ...(outdir ? ['--outdir', join(outdir, w.name)] : [])]
  console.log(`\n> wrangler ${args.join(' ')}`)
  const status = runWrangler(args)
  if (status !== 0) {
    console.error(
      `\nwrangler deploy of the ${w.name} worker failed${w.name === 'edge' ? ' (the control worker is already deployed)' : '; the edge worker was not touched'}.`,
    )
    process.exit(status)
  }
}
