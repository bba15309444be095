/**
 * @module
 * `npm run deploy [-- --env production]`: deploys Sluice's two workers with
 * wrangler, the control worker first (the edge worker's CONTROL service
 * binding must point at a worker that exists), then the edge worker. Any
 * arguments go to both `wrangler deploy` runs. `--dry-run` builds both
 * bundles into `.wrangler/dry-run/` without uploading (`npm test` runs it).
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { ROOT, WRANGLER } from './lib/dev-server.ts'

export const WORKERS = [
  { name: 'control', config: 'wrangler.control.toml' },
  { name: 'edge', config: 'wrangler.toml' },
] as const

const args = process.argv.slice(2)
for (const w of WORKERS) {
  const outdir = args.includes('--dry-run') && !args.includes('--outdir') ? ['--outdir', join('.wrangler', 'dry-run', w.name)] : []
  console.log(`\n> wrangler deploy -c ${w.config} ${[...args, ...outdir].join(' ')}`)
  const r = spawnSync(process.execPath, [WRANGLER, 'deploy', '-c', w.config, ...args, ...outdir], { cwd: ROOT, stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`\nwrangler deploy of the ${w.name} worker failed${w.name === 'edge' ? ' (the control worker is already deployed)' : '; the edge worker was not touched'}.`)
    process.exit(r.status ?? 1)
  }
}
